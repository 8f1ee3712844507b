package check

import (
	"slices"
	"testing"

	"github.com/scalelab/scalelab/internal/history"
)

func TestFindRYWViolations(t *testing.T) {
	tests := []struct {
		name       string
		ops        []history.Op
		reads      int
		violations []string // values read by violating reads
	}{
		{
			name:  "client reads its own write",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10), rd(1, "a", "a1", 20, 25)},
			reads: 1,
		},
		{
			name:       "client reads a value older than its own write",
			ops:        []history.Op{wr(2, "a", "a0", 0, 5), wr(1, "a", "a1", 10, 20), rd(1, "a", "a0", 30, 35)},
			reads:      1,
			violations: []string{"a0"},
		},
		{
			name: "an unknown write may land after the client's own write",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(1, "a", "a0", 30, 35),
			},
			reads: 1,
		},
		{
			name: "an unknown write seen before the client's own write began is older",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				rd(2, "a", "a0", 6, 8),
				wr(1, "a", "a1", 10, 20),
				rd(1, "a", "a0", 30, 35),
			},
			reads:      1,
			violations: []string{"a0"},
		},
		{
			name:       "client does not see its own first write",
			ops:        []history.Op{wr(1, "a", "a1", 10, 20), rd(1, "a", "", 30, 35)},
			reads:      1,
			violations: []string{""},
		},
		{
			name: "stale against another client's write is not a RYW violation",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), wr(2, "a", "a2", 20, 30), rd(1, "a", "a1", 40, 45)},
			// client 1 sees its own a1; missing client 2's a2 is merely stale
			reads: 1,
		},
		{
			name:  "another client's newer write satisfies RYW",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10), wr(2, "a", "a2", 20, 30), rd(1, "a", "a2", 40, 45)},
			reads: 1,
		},
		{
			name:  "reads before any own write are not at risk",
			ops:   []history.Op{wr(2, "a", "a1", 0, 10), rd(1, "a", "", 20, 25)},
			reads: 0,
		},
		{
			name:  "own write concurrent with the read is fine",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 40), rd(1, "a", "a1", 30, 35)},
			reads: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := FindRYWViolations(history.History{Ops: tt.ops})
			var got []string
			for _, v := range r.Violations {
				got = append(got, v.Read.Value)
			}
			if r.Reads != tt.reads || !slices.Equal(got, tt.violations) {
				t.Fatalf("reads=%d violations=%q, want reads=%d violations=%q", r.Reads, got, tt.reads, tt.violations)
			}
		})
	}
}
