package check

import (
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/history"
)

func TestLinearizable(t *testing.T) {
	tests := []struct {
		name    string
		ops     []history.Op
		want    porcupine.CheckResult
		illegal []string
	}{
		{
			name: "sequential register",
			ops:  []history.Op{rd(1, "a", "", 0, 5), wr(1, "a", "a1", 10, 20), rd(2, "a", "a1", 30, 40), wr(2, "a", "a2", 50, 60), rd(1, "a", "a2", 70, 80)},
			want: porcupine.Ok,
		},
		{
			name: "read concurrent with a write may see either value",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 60), rd(2, "a", "a1", 30, 40), rd(3, "a", "a2", 30, 40)},
			want: porcupine.Ok,
		},
		{
			name:    "stale read is not linearizable",
			ops:     []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), rd(2, "a", "a1", 40, 50), wr(1, "b", "b1", 0, 10), rd(2, "b", "b1", 20, 30)},
			want:    porcupine.Illegal,
			illegal: []string{"a"},
		},
		{
			name: "reads that go back in time are not linearizable",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 100),
				rd(2, "a", "a2", 30, 40), rd(3, "a", "a1", 50, 60), // a2 seen, then a1 again
			},
			want:    porcupine.Illegal,
			illegal: []string{"a"},
		},
		{
			name: "an unknown write may take effect at any later time",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 20, 30), history.Unknown),
				rd(3, "a", "a1", 40, 50), rd(3, "a", "a2", 1000, 1010),
			},
			want: porcupine.Ok,
		},
		{
			name: "an unknown write may take effect after a later acknowledged write",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
			want: porcupine.Ok,
		},
		{
			name: "an unknown write seen before a later ack is overwritten by it",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				rd(3, "a", "a0", 6, 8),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
			want:    porcupine.Illegal,
			illegal: []string{"a"},
		},
		{
			name: "a failed write must not be seen",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 20, 30), history.Failed),
				rd(3, "a", "a2", 40, 50),
			},
			want:    porcupine.Illegal,
			illegal: []string{"a"},
		},
		{
			name: "unknown and failed reads constrain nothing",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(rd(2, "a", "zz", 20, 30), history.Unknown), with(rd(2, "a", "", 40, 50), history.Failed),
				other(0, 1, history.OK),
			},
			want: porcupine.Ok,
		},
		{name: "empty history", want: porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Linearizable(history.History{Ops: tt.ops}, 0)
			if l.Result != tt.want || !slices.Equal(l.Illegal, tt.illegal) {
				t.Fatalf("got %+v, want %s illegal %v", l, tt.want, tt.illegal)
			}
		})
	}
}
