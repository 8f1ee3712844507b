package check

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestFindLateWrites(t *testing.T) {
	unknown := func(client int, key, value string, inv, comp int) history.Op {
		return with(wr(client, key, value, inv, comp), history.Unknown)
	}
	tests := []struct {
		name  string
		ops   []history.Op
		final map[string]string
		late  []string // "write after ack by observer", observer a read's value@invoke or "final"
		keys  []string
	}{
		{
			name:  "seen by a read after a later ack: late",
			ops:   []history.Op{unknown(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20), rd(3, "a", "a0", 30, 35)},
			final: map[string]string{"a": "a0"},
			late:  []string{"a0 after a1 by a0@30ms"},
			keys:  []string{"a"},
		},
		{
			name:  "seen only in the final read-back after a later ack: late",
			ops:   []history.Op{unknown(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20)},
			final: map[string]string{"a": "a0"},
			late:  []string{"a0 after a1 by final"},
			keys:  []string{"a"},
		},
		{
			name: "seen while still concurrent with the unknown write: not late",
			ops:  []history.Op{unknown(2, "a", "a0", 0, 50), wr(1, "a", "a1", 10, 20), rd(3, "a", "a0", 30, 35)},
		},
		{
			name:  "seen before the later ack was acknowledged: not late",
			ops:   []history.Op{unknown(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 40), rd(3, "a", "a0", 30, 35)},
			final: map[string]string{"a": "a1"},
		},
		{
			name: "seen before the later ack began: a stale read, not a late write",
			ops: []history.Op{
				unknown(2, "a", "a0", 0, 5), rd(3, "a", "a0", 6, 8),
				wr(1, "a", "a1", 10, 20), rd(3, "a", "a0", 30, 35),
			},
			final: map[string]string{"a": "a0"},
		},
		{
			name: "the earliest read after the earliest ack observes it",
			ops: []history.Op{
				unknown(2, "a", "a0", 0, 5),
				wr(1, "a", "a1", 10, 30), wr(1, "a", "a2", 12, 20), // a2 acknowledged first
				rd(3, "a", "a0", 15, 18), // before any ack: not yet late
				rd(3, "a", "a0", 40, 45), rd(4, "a", "a0", 25, 28),
			},
			final: map[string]string{"a": "a2"},
			late:  []string{"a0 after a2 by a0@25ms"},
			keys:  []string{"a"},
		},
		{
			name: "several keys, ordered by the write's Invoke",
			ops: []history.Op{
				unknown(2, "b", "b0", 0, 5), wr(1, "b", "b1", 10, 20),
				unknown(2, "a", "a0", 1, 6), wr(1, "a", "a1", 10, 20),
				unknown(2, "c", "c0", 2, 7), // nothing acknowledged after it
			},
			final: map[string]string{"a": "a0", "b": "b0", "c": "c0"},
			late:  []string{"b0 after b1 by final", "a0 after a1 by final"},
			keys:  []string{"a", "b"},
		},
		{
			name:  "a failed write's value in the final read-back is foreign, not late",
			ops:   []history.Op{with(wr(2, "a", "a0", 0, 5), history.Failed), wr(1, "a", "a1", 10, 20)},
			final: map[string]string{"a": "a0"},
		},
		{
			name:  "an acknowledged write is never late",
			ops:   []history.Op{wr(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20), rd(3, "a", "a0", 30, 35)},
			final: map[string]string{"a": "a0"},
		},
		{
			name: "a value two writes share names neither",
			ops: []history.Op{
				unknown(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20), unknown(3, "a", "a0", 30, 40),
				rd(3, "a", "a0", 50, 55),
			},
			final: map[string]string{"a": "a0"},
		},
		{
			name: "an unknown write nobody saw is not late",
			ops:  []history.Op{unknown(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20), rd(3, "a", "a1", 30, 35)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := slices.Clone(tt.ops)
			slices.Reverse(ops)
			h := history.History{Ops: ops, Final: tt.final}
			l := FindLateWrites(h)
			if got := lateSummary(l); !slices.Equal(got, tt.late) || !slices.Equal(l.Keys, tt.keys) || l.Count() != len(tt.late) {
				t.Fatalf("late = %q keys %q\nwant   %q keys %q", got, l.Keys, tt.late, tt.keys)
			}
			if lw := LostAcknowledgedWrites(h).Late; !slices.Equal(lateSummary(lw), tt.late) {
				t.Fatalf("LostWrites.Late = %q, want %q", lateSummary(lw), tt.late)
			}
		})
	}
}

func lateSummary(l LateWrites) []string {
	var out []string
	for _, w := range l.Writes {
		by := w.ObservedBy
		if w.Read != nil {
			by = fmt.Sprintf("%s@%v", w.Read.Value, w.Read.Invoke)
		}
		out = append(out, fmt.Sprintf("%s after %s by %s", w.Write.Value, w.After.Value, by))
	}
	return out
}

// TestLateWritesMatchNaive cross-checks FindLateWrites (a range-minimum
// tree) against its definition applied literally on random messy histories.
func TestLateWritesMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	total := 0
	for round := range 300 {
		ops := messyOps(rng)
		final := map[string]string{}
		for _, o := range ops {
			if o.Kind == history.Write && rng.IntN(3) == 0 {
				final[o.Key] = o.Value
			}
		}
		h := history.History{Ops: ops, Final: final}
		got, want := lateSummary(FindLateWrites(h)), lateSummary(naiveLate(h))
		if !slices.Equal(got, want) {
			t.Fatalf("round %d:\n got  %q\n want %q", round, got, want)
		}
		total += len(got)
	}
	if total < 50 {
		t.Fatalf("random histories too tame: %d late writes", total)
	}
	t.Logf("%d late writes cross-checked", total)
}

func naiveLate(h history.History) LateWrites {
	prod := producers(h.Ops)
	var l LateWrites
	for _, u := range h.Ops {
		if u.Kind != history.Write || u.Outcome != history.Unknown {
			continue
		}
		// The reads of u's value, and when u had landed at the latest.
		var reads []history.Op
		latest := time.Duration(math.MaxInt64)
		for _, r := range h.Ops {
			if r.Kind == history.Read && r.Outcome == history.OK && r.Key == u.Key && r.Value == u.Value {
				if _, reason := source(r, prod); reason == "" {
					reads = append(reads, r)
					latest = min(latest, r.Complete)
				}
			}
		}
		var after *history.Op
		for i, a := range h.Ops {
			if a.Kind == history.Write && a.Outcome == history.OK && a.Key == u.Key && a.Invoke > u.Complete && a.Invoke <= latest {
				if after == nil || a.Complete < after.Complete || (a.Complete == after.Complete && a.Invoke < after.Invoke) {
					after = &h.Ops[i]
				}
			}
		}
		if after == nil {
			continue
		}
		var first *history.Op
		for i, r := range reads {
			if after.Complete < r.Invoke && (first == nil || opCompare(r, *first) < 0) {
				first = &reads[i]
			}
		}
		switch {
		case first != nil:
			l.Writes = append(l.Writes, LateWrite{Write: u, After: *after, ObservedBy: ObservedByRead, Read: first})
		case h.Final[u.Key] == u.Value:
			l.Writes = append(l.Writes, LateWrite{Write: u, After: *after, ObservedBy: ObservedByFinal})
		}
	}
	slices.SortFunc(l.Writes, func(a, b LateWrite) int { return opCompare(a.Write, b.Write) })
	return l
}

func TestArgminTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		vals := make([]time.Duration, n)
		for i := range vals {
			vals[i] = time.Duration(rng.IntN(10))
		}
		tree := newArgminTree(vals)
		for lo := 0; lo <= n; lo++ {
			for hi := lo; hi <= n; hi++ {
				want := -1
				for i := lo; i < hi; i++ {
					if want < 0 || vals[i] < vals[want] {
						want = i
					}
				}
				if got := tree.query(lo, hi); got != want {
					t.Fatalf("n=%d [%d,%d): got %d, want %d (%v)", n, lo, hi, got, want, vals)
				}
			}
		}
	}
}
