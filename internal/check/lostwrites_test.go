package check

import (
	"slices"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestLostAcknowledgedWrites(t *testing.T) {
	tests := []struct {
		name    string
		ops     []history.Op
		final   map[string]string
		checked bool
		lost    []string // values of the lost writes, by Complete
		span    time.Duration
		foreign []FinalValue
		late    []string // values of the late writes
	}{
		{
			name:    "last write survives: nothing lost",
			ops:     []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), wr(2, "b", "b1", 0, 10)},
			final:   map[string]string{"a": "a2", "b": "b1"},
			checked: true,
		},
		{
			name: "lost, then overwritten: the later write reuses the lost write's version",
			ops: []history.Op{
				version(wr(1, "a", "a1", 0, 10), 1),
				version(wr(1, "a", "a2", 20, 30), 2),   // lost in a crash
				version(wr(2, "a", "a3", 100, 110), 2), // numbered from the state before a2
			},
			final:   map[string]string{"a": "a3"},
			checked: true,
			lost:    []string{"a2"},
		},
		{
			name: "versions that keep rising: nothing lost",
			ops: []history.Op{
				version(wr(1, "a", "a1", 0, 10), 1),
				version(wr(1, "a", "a2", 20, 30), 2),
				version(wr(2, "a", "a3", 100, 110), 3),
			},
			final:   map[string]string{"a": "a3"},
			checked: true,
		},
		{
			name: "concurrent writes may be numbered in either order: nothing lost",
			ops: []history.Op{
				version(wr(1, "a", "a1", 0, 50), 2),
				version(wr(2, "a", "a2", 10, 40), 1),
			},
			final:   map[string]string{"a": "a1"},
			checked: true,
		},
		{
			name:    "final holds an older value: the newer ack is lost",
			ops:     []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30)},
			final:   map[string]string{"a": "a1"},
			checked: true,
			lost:    []string{"a2"},
		},
		{
			name: "concurrent acknowledged writes: either may win",
			ops:  []history.Op{wr(1, "a", "a1", 0, 30), wr(2, "a", "a2", 10, 20)},
			// a2 completed before a1 did, but not before a1 was invoked.
			final:   map[string]string{"a": "a1"},
			checked: true,
		},
		{
			name: "overwritten by a concurrent unknown write is not lost",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 5, 505), history.Unknown), // timed out, may have applied
			},
			final:   map[string]string{"a": "a2"},
			checked: true,
		},
		{
			name: "overwritten by a later unknown write is not lost",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 100, 600), history.Unknown),
			},
			final:   map[string]string{"a": "a2"},
			checked: true,
		},
		{
			name: "an unknown write may land after a later ack: not lost, a late write",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
			final:   map[string]string{"a": "a0"},
			checked: true,
			late:    []string{"a0"},
		},
		{
			name: "late write seen only in the final read-back",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
			},
			final:   map[string]string{"a": "a0"},
			checked: true,
			late:    []string{"a0"},
		},
		{
			name: "an unknown write a read saw before the ack began cannot overwrite it",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				rd(3, "a", "a0", 6, 8), // a0 had landed by 8
				wr(1, "a", "a1", 10, 20),
			},
			final:   map[string]string{"a": "a0"},
			checked: true,
			lost:    []string{"a1"},
		},
		{
			name: "an unknown write the ack began before a read saw it may overwrite it",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 15, 25), // may have seen a0 just after a1 landed
			},
			final:   map[string]string{"a": "a0"},
			checked: true,
			late:    []string{"a0"},
		},
		{
			name: "an ack really lost: an unknown write of another value explains nothing",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				wr(1, "a", "a2", 20, 30),
				with(wr(2, "a", "a3", 25, 35), history.Unknown),
			},
			final:   map[string]string{"a": "a1"},
			checked: true,
			lost:    []string{"a2"},
		},
		{
			name: "a failed write cannot overwrite: lost, and the value is foreign",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 5, 15), history.Failed),
			},
			final:   map[string]string{"a": "a2"},
			checked: true,
			lost:    []string{"a1"},
			foreign: []FinalValue{{"a", "a2"}},
		},
		{
			name: "key missing from the final read-back: every ack to it is lost, span from first to last",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), wr(1, "b", "b1", 40, 50),
				with(wr(1, "c", "c1", 60, 70), history.Failed),
			},
			final:   map[string]string{"b": "b1"},
			checked: true,
			lost:    []string{"a1", "a2"},
			span:    20 * ms,
		},
		{
			name:    "key present with an empty value counts as missing",
			ops:     []history.Op{wr(1, "a", "a1", 0, 10)},
			final:   map[string]string{"a": ""},
			checked: true,
			lost:    []string{"a1"},
		},
		{
			name:  "no final read-back: not checked, nothing reported",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10)},
			final: nil,
		},
		{
			name: "no final read-back: late writes are still reported from reads",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
			final: nil,
			late:  []string{"a0"},
		},
		{
			name:    "unknown and failed writes are never lost themselves",
			ops:     []history.Op{with(wr(1, "a", "a1", 0, 10), history.Unknown), with(wr(1, "b", "b1", 0, 10), history.Failed)},
			final:   map[string]string{},
			checked: true,
		},
		{
			name:    "a value nobody wrote is foreign",
			ops:     []history.Op{rd(1, "a", "", 0, 10)},
			final:   map[string]string{"a": "zzz"},
			checked: true,
			foreign: []FinalValue{{"a", "zzz"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Shuffle-proof: checkers must not rely on op order.
			ops := slices.Clone(tt.ops)
			slices.Reverse(ops)
			l := LostAcknowledgedWrites(history.History{Ops: ops, Final: tt.final})
			var lost []string
			for _, w := range l.Lost {
				lost = append(lost, w.Value)
			}
			if l.Checked != tt.checked || !slices.Equal(lost, tt.lost) || l.Span != tt.span || !slices.Equal(l.Foreign, tt.foreign) {
				t.Fatalf("got checked=%v lost=%v span=%v foreign=%v\nwant checked=%v lost=%v span=%v foreign=%v",
					l.Checked, lost, l.Span, l.Foreign, tt.checked, tt.lost, tt.span, tt.foreign)
			}
			var late []string
			for _, w := range l.Late.Writes {
				late = append(late, w.Write.Value)
			}
			if !slices.Equal(late, tt.late) {
				t.Fatalf("late = %v, want %v", late, tt.late)
			}
			if len(l.Lost) > 0 && (l.First != l.Lost[0].Complete || l.Last != l.Lost[len(l.Lost)-1].Complete) {
				t.Fatalf("first/last = %v/%v for %+v", l.First, l.Last, l.Lost)
			}
		})
	}
}
