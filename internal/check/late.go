package check

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// LateWrite is a write of unknown outcome (the client timed out) seen to take
// effect after a later acknowledged write: the app finished the store call in
// the background, or a frozen server applied the request when it thawed,
// after the client had given up. Allowed (the write may be ordered last),
// and not a lost write, but a user sees an old value come back.
type LateWrite struct {
	Write history.Op `json:"write"` // the write of unknown outcome
	// After is an acknowledged write to the same key, invoked after Write
	// completed, that Write took effect after: of those, the one
	// acknowledged first.
	After history.Op `json:"after"`
	// ObservedBy is what saw Write's value once After was acknowledged:
	// "read" (Read, the earliest such read) or "final" (the read-back).
	ObservedBy string      `json:"observed_by"`
	Read       *history.Op `json:"read,omitempty"`
}

// What saw a late write's value.
const (
	ObservedByRead  = "read"
	ObservedByFinal = "final"
)

// LateWrites is the result of the late-write check.
type LateWrites struct {
	// Writes holds one entry per late write, ordered by the write's Invoke.
	Writes []LateWrite `json:"writes,omitempty"`
	// Keys are the keys with a late write, sorted.
	Keys []string `json:"keys,omitempty"`
}

// Count is how many writes took effect late.
func (l LateWrites) Count() int { return len(l.Writes) }

func (l LateWrites) String() string {
	return fmt.Sprintf("%d late writes on %d keys", l.Count(), len(l.Keys))
}

// FindLateWrites finds the writes of unknown outcome that took effect after
// a later acknowledged write.
//
// A write u of unknown outcome to key k is late when an observation o of its
// value (a successful read, or the final read-back h.Final) and an OK write a
// to k exist such that
//
//   - a was invoked after u completed (a.Invoke > u.Complete),
//   - a was acknowledged before o began (a.Complete < o.Invoke; always for
//     the read-back, which comes after the run), and
//   - u may still have taken effect after a began: no read that returned
//     u's value had completed before a was invoked (see FindStaleReads).
//
// Then a took effect before o, and o seeing u means u took effect after a,
// so after the client gave up on it. If a read had returned u's value before
// a began, u took effect before a, and o seeing it is a stale read (or, for
// the read-back, a lost write) instead, reported by those checkers.
//
// Every write's value is unique; should two writes that may have happened
// share one anyway, neither is reported: a read of it names no single write.
func FindLateWrites(h history.History) LateWrites {
	prod := producers(h.Ops)
	seen := sightings(h.Ops, prod)
	return lateWrites(h, prod, seen, landedBy(h.Ops, seen))
}

// lateWrites is FindLateWrites with the index, the sightings and their
// bounds (sighted, from landedBy) already computed.
//
// It is O(n log n): the acknowledged writes to the keys in question are
// sorted by Invoke into a range-minimum tree over their Complete, so the
// earliest acknowledged write invoked in (u.Complete, latest effect of u] is
// one O(log n) query per observed write u; each observation is then compared
// with that one write.
func lateWrites(h history.History, prod writeIndex, seen []sighting, sighted map[int]time.Duration) LateWrites {
	var l LateWrites
	if prod.unknown == 0 {
		return l
	}
	// The observed writes of unknown outcome, and whether the read-back
	// holds them.
	observed := make(map[int]bool, len(sighted))
	for w := range sighted {
		observed[w] = false
	}
	for key, value := range h.Final {
		if w, ok := prod.lookup(key, value); ok && value != "" && prod.bounds(w) {
			observed[w] = true
		}
	}
	if len(observed) == 0 {
		return l
	}

	// The acknowledged writes to the observed writes' keys, by key then
	// Invoke: small records, numbered keys, as in readsAndAcks.
	type ack struct {
		key              int
		invoke, complete time.Duration
		op               int
	}
	keyIDs := make(map[string]int)
	for w := range observed {
		if _, ok := keyIDs[h.Ops[w].Key]; !ok {
			keyIDs[h.Ops[w].Key] = len(keyIDs)
		}
	}
	var acks []ack
	for i, op := range h.Ops {
		if op.Kind == history.Write && op.Outcome == history.OK {
			if id, ok := keyIDs[op.Key]; ok {
				acks = append(acks, ack{id, op.Invoke, op.Complete, i})
			}
		}
	}
	slices.SortFunc(acks, func(a, b ack) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.invoke, b.invoke), cmp.Compare(a.op, b.op))
	})
	completes := make([]time.Duration, len(acks))
	for j, a := range acks {
		completes[j] = a.complete
	}
	tree := newArgminTree(completes)

	// after[u] is the earliest acknowledged write that u may have taken
	// effect after, among those invoked after u completed.
	after := make(map[int]int, len(observed))
	for u := range observed {
		w, id := h.Ops[u], keyIDs[h.Ops[u].Key]
		lo, _ := slices.BinarySearchFunc(acks, id, func(a ack, id int) int { return cmp.Compare(a.key, id) })
		hi, _ := slices.BinarySearchFunc(acks, id+1, func(a ack, id int) int { return cmp.Compare(a.key, id) })
		// Invoked after u completed, and not after u's latest effect.
		from := lo + sort.Search(hi-lo, func(j int) bool { return acks[lo+j].invoke > w.Complete })
		latest := prod.latestEffect(u, sighted)
		to := from + sort.Search(hi-from, func(j int) bool { return acks[from+j].invoke > latest })
		if j := tree.query(from, to); j >= 0 {
			after[u] = acks[j].op
		}
	}

	// The earliest read that saw each such write after its After.
	firstRead := make(map[int]int)
	for _, s := range seen {
		a, ok := after[s.write]
		if !ok || h.Ops[a].Complete >= h.Ops[s.read].Invoke {
			continue
		}
		if r, ok := firstRead[s.write]; !ok || opCompare(h.Ops[s.read], h.Ops[r]) < 0 {
			firstRead[s.write] = s.read
		}
	}
	for u, a := range after {
		lw := LateWrite{Write: h.Ops[u], After: h.Ops[a]}
		if r, ok := firstRead[u]; ok {
			read := h.Ops[r]
			lw.ObservedBy, lw.Read = ObservedByRead, &read
		} else if observed[u] {
			lw.ObservedBy = ObservedByFinal
		} else {
			continue // only read before After was acknowledged
		}
		l.Writes = append(l.Writes, lw)
	}
	slices.SortFunc(l.Writes, func(a, b LateWrite) int {
		return cmp.Or(opCompare(a.Write, b.Write), strings.Compare(a.Write.Value, b.Write.Value))
	})
	for _, lw := range l.Writes {
		l.Keys = append(l.Keys, lw.Write.Key)
	}
	slices.Sort(l.Keys)
	l.Keys = slices.Compact(l.Keys)
	return l
}

// argminTree answers "where in [lo, hi) is the smallest value" in O(log n),
// the leftmost on ties, -1 for an empty range: a segment tree of positions.
type argminTree struct {
	vals []time.Duration
	node []int
}

func newArgminTree(vals []time.Duration) argminTree {
	n := len(vals)
	t := argminTree{vals: vals, node: make([]int, 2*n)}
	for i := range n {
		t.node[n+i] = i
	}
	for i := n - 1; i > 0; i-- {
		t.node[i] = t.better(t.node[2*i], t.node[2*i+1])
	}
	return t
}

func (t argminTree) better(i, j int) int {
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	case t.vals[j] < t.vals[i] || (t.vals[j] == t.vals[i] && j < i):
		return j
	}
	return i
}

func (t argminTree) query(lo, hi int) int {
	best := -1
	n := len(t.vals)
	for lo, hi = lo+n, hi+n; lo < hi; lo, hi = lo/2, hi/2 {
		if lo&1 == 1 {
			best = t.better(best, t.node[lo])
			lo++
		}
		if hi&1 == 1 {
			hi--
			best = t.better(best, t.node[hi])
		}
	}
	return best
}
