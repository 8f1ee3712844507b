package check

import (
	"cmp"
	"slices"

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
// (one that may have taken effect, and among those the latest to complete):
// a checker must not report an anomaly that a duplicate value could explain.
type writeIndex struct {
	ops []history.Op
	at  map[kv]int
}

func producers(ops []history.Op) writeIndex {
	x := writeIndex{ops: ops, at: make(map[kv]int, len(ops)/2)}
	for i, op := range ops {
		if op.Kind != history.Write {
			continue
		}
		k := kv{op.Key, op.Value}
		if j, seen := x.at[k]; !seen || lenientBetter(op, ops[j]) {
			x.at[k] = i
		}
	}
	return x
}

// lookup returns the write of value to key.
func (x writeIndex) lookup(key, value string) (history.Op, bool) {
	i, ok := x.at[kv{key, value}]
	if !ok {
		return history.Op{}, false
	}
	return x.ops[i], true
}

func lenientBetter(a, b history.Op) bool {
	if mayHaveHappened(a) != mayHaveHappened(b) {
		return mayHaveHappened(a)
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
