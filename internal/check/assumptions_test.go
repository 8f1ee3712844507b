package check

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestAssumptions(t *testing.T) {
	good := func() history.History {
		// fault [1000, 2000), end 3000, one op every 100ms.
		var ops []history.Op
		for i := 0; i < 30; i++ {
			ops = append(ops, other(i*100, i*100+5, history.OK))
		}
		return faulted(1000, 2000, 3000, ops...)
	}
	req := Requirements{MinOpsBefore: 10}
	tests := []struct {
		name   string
		mutate func(h *history.History)
		req    Requirements
		want   []string // substrings, one per expected message, in order
	}{
		{name: "all met", mutate: func(*history.History) {}, req: req},
		{
			name:   "too few ops before the fault",
			mutate: func(*history.History) {}, req: Requirements{MinOpsBefore: 11},
			want: []string{"only 10 ops before the fault"},
		},
		{
			name:   "no events at all",
			mutate: func(h *history.History) { h.Events = nil },
			req:    req,
			want:   []string{"no fault-injected event", "no fault-healed event"},
		},
		{
			name:   "never healed",
			mutate: func(h *history.History) { h.Events = h.Events[:1] },
			req:    req,
			want:   []string{"no fault-healed event"},
		},
		{
			name: "healed before injected",
			mutate: func(h *history.History) {
				h.Events[0].At, h.Events[1].At = h.Events[1].At, h.Events[0].At
			},
			req:  req,
			want: []string{`fault "kill" healed at 1s without being injected`, `fault "kill" injected at 2s was never healed`},
		},
		{
			name: "second fault never healed",
			mutate: func(h *history.History) {
				h.Events = append(h.Events, history.Event{At: 1500 * ms, Kind: history.FaultInjected, Fault: "lag"})
			},
			req:  req,
			want: []string{`fault "lag" injected at 1.5s was never healed`},
		},
		{
			name: "no ops during the fault",
			mutate: func(h *history.History) {
				h.Ops = dropInvoked(h.Ops, 1000*ms, 2000*ms)
			},
			req:  req,
			want: []string{"only 0 ops during the fault"},
		},
		{
			name:   "too few ops during the fault",
			mutate: func(*history.History) {}, req: Requirements{MinOpsDuring: 11},
			want: []string{"only 10 ops during the fault"},
		},
		{
			name: "workload stopped early: no ops after heal, last op long before end",
			mutate: func(h *history.History) {
				h.Ops = dropInvoked(h.Ops, 2000*ms, 3000*ms)
			},
			req:  req,
			want: []string{"only 0 ops after the heal", "the workload stopped early"},
		},
		{
			name:   "end slack is configurable",
			mutate: func(h *history.History) { h.End = 5 * time.Second },
			req:    Requirements{EndSlack: 3 * time.Second},
		},
		{
			name:   "heal after end",
			mutate: func(h *history.History) { h.Events[1].At = 4 * time.Second; h.End = 3 * time.Second },
			req:    req,
			want:   []string{"after the end of the run", "only 0 ops after the heal"},
		},
		{
			name:   "ops after the end",
			mutate: func(h *history.History) { h.End = 2500 * ms },
			req:    req,
			want:   []string{"5 ops invoked at or after the end"},
		},
		{
			name: "clock bug and bad outcome",
			mutate: func(h *history.History) {
				h.Ops[3].Complete = 0
				h.Ops[4].Outcome = "maybe"
			},
			req:  req,
			want: []string{"1 ops complete before they were invoked", "outcome other than ok/failed/unknown"},
		},
		{
			name:   "empty history",
			mutate: func(h *history.History) { h.Ops = nil; h.End = 0 },
			req:    req,
			want:   []string{"no end time", "no operations"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good()
			tt.mutate(&h)
			got := Assumptions(h, tt.req)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d failed assumptions, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("message %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func dropInvoked(ops []history.Op, from, to time.Duration) []history.Op {
	var kept []history.Op
	for _, o := range ops {
		if o.Invoke < from || o.Invoke >= to {
			kept = append(kept, o)
		}
	}
	return kept
}
