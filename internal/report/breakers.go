package report

import (
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/stacks"
)

// BreakerChange is a circuit breaker seen in a state, from the first
// sample that showed it (stage 12: orders' breaker per dependency, read
// every 250 ms from its /metrics).
type BreakerChange struct {
	AtS        float64 `json:"at_s"`
	Dependency string  `json:"dependency"`
	State      string  `json:"state"` // closed, open, half-open
}

// breakerChanges keeps each breaker's first state and every change after
// it, in time order (check.BreakerStates; "none", no breaker, is no state).
func breakerChanges(samples []check.CounterSample) []BreakerChange {
	last := map[string]string{}
	var out []BreakerChange
	for _, s := range check.BreakerStates(samples, stacks.GaugeBreakerState) {
		if s.State == "none" || last[s.Dependency] == s.State {
			continue
		}
		last[s.Dependency] = s.State
		out = append(out, BreakerChange{AtS: seconds(s.At), Dependency: s.Dependency, State: s.State})
	}
	return out
}
