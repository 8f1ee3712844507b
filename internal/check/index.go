package check

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// kv names one value of one key.
type kv struct{ key, value string }

// writeIndex maps each written (key, value) to the write that wrote it, so a
// read or the final state names its write in O(1). It stores positions in
// the history, not copies of ops, to stay small on long runs.
//
// Every write carries a value unique within the run; if the engine ever
// reused one, the index keeps the write that makes the checkers most lenient
// (one that may have taken effect, Unknown before OK since it has no
// deadline, and among those the latest to complete): a checker must not
// report an anomaly that a duplicate value could explain.
type writeIndex struct {
	ops []history.Op
	at  map[kv]int
	// shared marks the values that more than one write that may have
	// happened wrote: a read of one names no single write, so it bounds
	// none (nil when there are none, as it should be).
	shared map[kv]bool
	// unknown counts the writes of unknown outcome: with none, there is no
	// sighting to look for.
	unknown int
}

func producers(ops []history.Op) writeIndex {
	x := writeIndex{ops: ops, at: make(map[kv]int, len(ops)/2)}
	for i, op := range ops {
		if op.Kind != history.Write {
			continue
		}
		if op.Outcome == history.Unknown {
			x.unknown++
		}
		k := kv{op.Key, op.Value}
		j, seen := x.at[k]
		if seen && mayHaveHappened(op) && mayHaveHappened(ops[j]) {
			if x.shared == nil {
				x.shared = make(map[kv]bool)
			}
			x.shared[k] = true
		}
		if !seen || lenientBetter(op, ops[j]) {
			x.at[k] = i
		}
	}
	return x
}

// lookup returns the position in ops of the write of value to key.
func (x writeIndex) lookup(key, value string) (int, bool) {
	i, ok := x.at[kv{key, value}]
	return i, ok
}

// unbounded is the latest effect of a write of unknown outcome that nothing
// bounds: the app may finish a timed-out store call in the background, and
// a frozen server applies a request when it thaws, long after the client
// gave up. It compares after every real time; never do arithmetic with it.
const unbounded = time.Duration(math.MaxInt64)

// latestEffect is the latest time the write at position i may have taken
// effect: its Complete when acknowledged; when its outcome is unknown, the
// earliest Complete of a read that returned its value (sighted, from
// landedBy), or unbounded if no read did.
func (x writeIndex) latestEffect(i int, sighted map[int]time.Duration) time.Duration {
	w := x.ops[i]
	if w.Outcome != history.Unknown {
		return w.Complete
	}
	if t, ok := sighted[i]; ok {
		return t
	}
	return unbounded
}

// sighting is a successful read that returned the value of a write of
// unknown outcome (positions in ops): the write had landed by the time the
// read completed.
type sighting struct{ read, write int }

// bounds reports whether a read of the value of the write at position i
// bounds when that write took effect: only for a write of unknown outcome
// (an acknowledged one is bounded by its Complete already) whose value no
// other write that may have happened shares.
func (x writeIndex) bounds(i int) bool {
	w := x.ops[i]
	return w.Outcome == history.Unknown && !x.shared[kv{w.Key, w.Value}]
}

// sightings finds every successful read of the value of a write of unknown
// outcome, in one pass over ops.
func sightings(ops []history.Op, prod writeIndex) []sighting {
	if prod.unknown == 0 {
		return nil
	}
	var seen []sighting
	for i, op := range ops {
		if op.Kind != history.Read || op.Outcome != history.OK {
			continue
		}
		if w, reason := source(op, prod); reason == "" && w >= 0 && prod.bounds(w) {
			seen = append(seen, sighting{read: i, write: w})
		}
	}
	return seen
}

// landedBy is, for each sighted write, the earliest Complete of a read that
// returned its value: the write took effect by then.
func landedBy(ops []history.Op, seen []sighting) map[int]time.Duration {
	by := make(map[int]time.Duration, len(seen))
	for _, s := range seen {
		if t, ok := by[s.write]; !ok || ops[s.read].Complete < t {
			by[s.write] = ops[s.read].Complete
		}
	}
	return by
}

// lenientBetter: a write that may have happened beats one that did not, an
// Unknown one (no deadline) beats an OK one, then the later Complete wins.
func lenientBetter(a, b history.Op) bool {
	if mayHaveHappened(a) != mayHaveHappened(b) {
		return mayHaveHappened(a)
	}
	if ua, ub := a.Outcome == history.Unknown, b.Outcome == history.Unknown; ua != ub {
		return ua
	}
	return a.Complete > b.Complete
}

// mayHaveHappened: an OK write happened, an Unknown one may have, a Failed
// one certainly did not.
func mayHaveHappened(op history.Op) bool {
	return op.Outcome == history.OK || op.Outcome == history.Unknown
}

// byCompletion sorts ops by Complete, then Invoke, for a deterministic order.
func byCompletion(ops []history.Op) {
	slices.SortFunc(ops, func(a, b history.Op) int {
		return cmp.Or(cmp.Compare(a.Complete, b.Complete), cmp.Compare(a.Invoke, b.Invoke))
	})
}
