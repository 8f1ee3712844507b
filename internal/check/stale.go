package check

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// StaleRead is a successful read that returned a value definitely older than
// a write that had been acknowledged before the read began.
type StaleRead struct {
	Read history.Op `json:"read"`
	// Missed is the newest such write: the latest acknowledged write the read
	// should have seen (or something newer).
	Missed history.Op `json:"missed"`
	// SinceNewest is Read.Invoke - Missed.Complete: how long before the read
	// the newest missed write was acknowledged. A lower bound on staleness.
	SinceNewest time.Duration `json:"since_newest_ns"`
	// Staleness is Read.Invoke minus the Complete of the earliest missed
	// write: how long the returned value had already been superseded. Under
	// replica lag L this is about L, whatever the write rate, which is why it
	// is the number to compare with a lag or TTL bound.
	Staleness time.Duration `json:"staleness_ns"`
	// VersionsBehind is how many versions the value is behind: from
	// Op.Version when the writes carry it, else the count of acknowledged
	// writes that completed before the read and are definitely newer.
	VersionsBehind int64 `json:"versions_behind"`
}

// Phantom is a read whose value cannot be explained by any write that may
// have happened before it returned. Not staleness: a bug.
type Phantom struct {
	Read   history.Op `json:"read"`
	Reason string     `json:"reason"`
}

// StaleReads is the result of the stale-read check.
type StaleReads struct {
	Reads             int           `json:"reads"` // successful reads examined
	Stale             []StaleRead   `json:"stale,omitempty"`
	Phantoms          []Phantom     `json:"phantoms,omitempty"`
	MaxStaleness      time.Duration `json:"max_staleness_ns"`
	MaxVersionsBehind int64         `json:"max_versions_behind"`
}

func (s StaleReads) String() string {
	return fmt.Sprintf("%d stale of %d reads (max staleness %v, max %d versions behind), %d phantom",
		len(s.Stale), s.Reads, s.MaxStaleness.Round(time.Millisecond), s.MaxVersionsBehind, len(s.Phantoms))
}

// FindStaleReads checks every successful read against the acknowledged
// writes to its key.
//
// A read r of key k returning v is stale when some OK write w to k completed
// before r was invoked (w.Complete < r.Invoke) and the write that produced v
// had taken effect before w was invoked, so v is definitely older than w; a
// read of "" (key missing) is stale as soon as any such w exists, since
// writes never delete. Writes concurrent with the read, or with each other,
// never make a read stale: either order was allowed.
//
// An acknowledged write took effect by its Complete. A write of unknown
// outcome has no such deadline (the app may apply it in the background after
// the client timed out), so it took effect by the earliest Complete of any
// read that returned its value: a read of it is stale only if it missed an OK
// write that began after some read had already returned that value. One that
// can only have landed after later acknowledged writes is a LateWrite (see
// FindLateWrites), not staleness.
//
// A read whose value no OK/Unknown write produced, or whose producing write
// was invoked only after the read completed, is reported as a Phantom.
func FindStaleReads(h history.History) StaleReads {
	var s StaleReads
	reads, acks, phantoms := readsAndAcks(h.Ops, false)
	s.Reads = len(reads) + len(phantoms)
	s.Phantoms = phantoms
	slices.SortFunc(s.Phantoms, func(a, b Phantom) int { return opCompare(a.Read, b.Read) })

	var sw sweeper
	eachGroup(reads, acks, func(reads []readRec, acks []ackRec) {
		stale, _ := sw.run(h.Ops, reads, acks)
		s.Stale = append(s.Stale, stale...)
	})
	sortStale(s.Stale)
	for _, r := range s.Stale {
		s.MaxStaleness = max(s.MaxStaleness, r.Staleness)
		s.MaxVersionsBehind = max(s.MaxVersionsBehind, r.VersionsBehind)
	}
	return s
}

// group is what reads are checked within: a key, or a key of one client.
// Keys are numbered so that sorting compares integers, not strings.
type group struct{ key, client int }

func (g group) compare(o group) int {
	return cmp.Or(cmp.Compare(g.key, o.key), cmp.Compare(g.client, o.client))
}

// readRec and ackRec are the few fields of a successful read or an
// acknowledged write the sweep needs, plus the op's position in the history.
// Sorting these small records instead of whole ops is several times faster.
type readRec struct {
	group
	invoke time.Duration
	// srcLatest is the latest time the write whose value was read may have
	// taken effect (writeIndex.latestEffect).
	srcLatest  time.Duration
	srcVersion int64 // and its Version
	fromOrigin bool  // the read returned "": the key's initial absence
	op         int
}

type ackRec struct {
	group
	invoke, complete time.Duration
	version          int64
	op               int
}

// readsAndAcks extracts the successful reads (with their source) and the
// acknowledged writes from ops, grouped by key, or by client and key when
// perClient. Reads no write explains are returned as phantoms instead.
func readsAndAcks(ops []history.Op, perClient bool) (reads []readRec, acks []ackRec, phantoms []Phantom) {
	prod := producers(ops)
	keyIDs := make(map[string]int)
	groupOf := func(op history.Op) group {
		id, ok := keyIDs[op.Key]
		if !ok {
			id = len(keyIDs)
			keyIDs[op.Key] = id
		}
		if perClient {
			return group{id, op.Client}
		}
		return group{key: id}
	}
	var nReads, nAcks int
	for _, op := range ops {
		if op.Outcome == history.OK {
			switch op.Kind {
			case history.Read:
				nReads++
			case history.Write:
				nAcks++
			}
		}
	}
	reads, acks = make([]readRec, 0, nReads), make([]ackRec, 0, nAcks)
	// The reads that bound a write of unknown outcome, and where they are in
	// reads: their srcLatest is only known once all of them have been seen.
	var seen []sighting
	var pending []int
	for i, op := range ops {
		if op.Outcome != history.OK {
			continue
		}
		switch op.Kind {
		case history.Write:
			acks = append(acks, ackRec{groupOf(op), op.Invoke, op.Complete, op.Version, i})
		case history.Read:
			src, reason := source(op, prod)
			if reason != "" {
				phantoms = append(phantoms, Phantom{Read: op, Reason: reason})
				continue
			}
			r := readRec{group: groupOf(op), invoke: op.Invoke, srcLatest: origin, fromOrigin: src < 0, op: i}
			if src >= 0 {
				r.srcLatest, r.srcVersion = prod.latestEffect(src, nil), ops[src].Version
				if prod.bounds(src) {
					seen = append(seen, sighting{read: i, write: src})
					pending = append(pending, len(reads))
				}
			}
			reads = append(reads, r)
		}
	}
	if len(seen) > 0 {
		by := landedBy(ops, seen)
		for j, s := range seen {
			reads[pending[j]].srcLatest = by[s.write]
		}
	}
	return reads, acks, phantoms
}

// origin is the latest effect of the "write" a read of "" names: the key's
// initial absence, older than everything.
const origin = time.Duration(math.MinInt64)

// source finds the position in ops of the write whose value a read returned,
// -1 for a read of "" (the key's initial absence). reason is non-empty when
// no write that may have happened explains the value.
func source(r history.Op, prod writeIndex) (w int, reason string) {
	if r.Value == "" {
		return -1, ""
	}
	w, ok := prod.lookup(r.Key, r.Value)
	switch {
	case !ok:
		return -1, "no write produced this value"
	case !mayHaveHappened(prod.ops[w]):
		return w, "value of a write that failed"
	case prod.ops[w].Invoke > r.Complete:
		return w, "value of a write invoked after the read completed"
	}
	return w, ""
}

// eachGroup sorts reads by (group, Invoke) and acks by (group, Complete),
// then calls fn once per group that has reads, with that group's slices.
// Sorting two flat slices once, instead of building a map of small slices,
// keeps a 100k-op history to a handful of allocations.
func eachGroup(reads []readRec, acks []ackRec, fn func([]readRec, []ackRec)) {
	slices.SortFunc(reads, func(a, b readRec) int {
		return cmp.Or(a.group.compare(b.group), cmp.Compare(a.invoke, b.invoke), cmp.Compare(a.op, b.op))
	})
	slices.SortFunc(acks, func(a, b ackRec) int {
		return cmp.Or(a.group.compare(b.group), cmp.Compare(a.complete, b.complete), cmp.Compare(a.invoke, b.invoke))
	})
	a := 0
	for i := 0; i < len(reads); {
		g := reads[i].group
		j := i + 1
		for j < len(reads) && reads[j].group == g {
			j++
		}
		for a < len(acks) && acks[a].group.compare(g) < 0 {
			a++
		}
		b := a
		for b < len(acks) && acks[b].group == g {
			b++
		}
		fn(reads[i:j], acks[a:b])
		i, a = j, b
	}
}

// sweeper finds the reads of one group that missed one of its acks. Its
// buffers are reused from group to group.
//
// Reads are swept in Invoke order while acks are fed, in Complete order, into
// a Fenwick tree over their Invoke times; "how many fed acks were invoked
// after the read's source's latest effect" is then one O(log n) query, and the
// whole check is O(n log n) instead of comparing every read with every write.
type sweeper struct {
	maxInvoke  []time.Duration // prefix maxima of Invoke over acks
	maxVersion []int64         // prefix maxima of Version over acks
	invokes    []time.Duration // the acks' Invoke times, sorted
	tree       fenwick
}

// run takes reads sorted by Invoke and acks sorted by Complete, of one group
// of ops. It returns the stale reads and how many reads had at least one ack
// completed before them (the reads at risk).
func (s *sweeper) run(ops []history.Op, reads []readRec, acks []ackRec) (stale []StaleRead, atRisk int) {
	n := len(acks)
	if len(reads) == 0 || n == 0 {
		return nil, 0
	}
	s.maxInvoke = resize(s.maxInvoke, n)
	s.maxVersion = resize(s.maxVersion, n)
	s.invokes = resize(s.invokes, n)
	s.tree = resize(s.tree, n+1)
	clear(s.tree)
	for i, w := range acks {
		s.maxInvoke[i], s.maxVersion[i], s.invokes[i] = w.invoke, w.version, w.invoke
		if i > 0 {
			s.maxInvoke[i] = max(s.maxInvoke[i], s.maxInvoke[i-1])
			s.maxVersion[i] = max(s.maxVersion[i], s.maxVersion[i-1])
		}
	}
	slices.Sort(s.invokes)
	// invokedBy counts acks invoked at or before t; it is also the 1-based
	// position in the tree up to which those acks are counted.
	invokedBy := func(t time.Duration) int {
		return sort.Search(n, func(i int) bool { return s.invokes[i] > t })
	}

	fed := 0
	for _, r := range reads {
		for fed < n && acks[fed].complete < r.invoke {
			// Position of this Invoke: duplicates share the first one's
			// position, which still falls on the right side of any threshold.
			pos, _ := slices.BinarySearch(s.invokes, acks[fed].invoke)
			s.tree.add(pos+1, 1)
			fed++
		}
		if fed == 0 {
			continue
		}
		atRisk++
		missed := fed - s.tree.sum(invokedBy(r.srcLatest))
		if missed == 0 {
			continue
		}
		// The first ack (in Complete order) whose running max Invoke exceeds
		// the source's latest effect is the earliest missed write.
		first := sort.Search(fed, func(i int) bool { return s.maxInvoke[i] > r.srcLatest })
		newest := fed - 1
		for acks[newest].invoke <= r.srcLatest { // stops at first at the latest
			newest--
		}
		behind := int64(missed)
		if acks[newest].version > 0 && (r.fromOrigin || r.srcVersion > 0) && s.maxVersion[fed-1] > r.srcVersion {
			behind = s.maxVersion[fed-1] - r.srcVersion
		}
		stale = append(stale, StaleRead{
			Read:           ops[r.op],
			Missed:         ops[acks[newest].op],
			SinceNewest:    r.invoke - acks[newest].complete,
			Staleness:      r.invoke - acks[first].complete,
			VersionsBehind: behind,
		})
	}
	return stale, atRisk
}

func resize[T any](s []T, n int) []T { return slices.Grow(s[:0], n)[:n] }

// fenwick is a binary indexed tree of counts, 1-based.
type fenwick []int

func (f fenwick) add(i, n int) {
	for ; i < len(f); i += i & -i {
		f[i] += n
	}
}

// sum is the total of positions 1..i.
func (f fenwick) sum(i int) int {
	s := 0
	for ; i > 0; i -= i & -i {
		s += f[i]
	}
	return s
}

func sortStale(s []StaleRead) {
	slices.SortFunc(s, func(a, b StaleRead) int { return opCompare(a.Read, b.Read) })
}

// opCompare orders ops by Invoke, then client, key and Complete, for
// deterministic reports.
func opCompare(a, b history.Op) int {
	return cmp.Or(cmp.Compare(a.Invoke, b.Invoke), cmp.Compare(a.Client, b.Client),
		strings.Compare(a.Key, b.Key), cmp.Compare(a.Complete, b.Complete))
}
