package report

import (
	"cmp"
	"regexp"
	"slices"
	"strings"

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

// breakerLabels reads a breaker state line's labels, as orders writes them.
var breakerLabels = regexp.MustCompile(`dependency="([^"]*)",state="([^"]*)"`)

// breakerChanges reads the breakers' states off the samples (a 1 on the
// stacks.GaugeBreakerState line of each breaker's current state) and keeps
// each breaker's first state and every change after it, in time order.
func breakerChanges(samples []check.CounterSample) []BreakerChange {
	sorted := slices.SortedStableFunc(slices.Values(samples), func(a, b check.CounterSample) int { return cmp.Compare(a.At, b.At) })
	last := map[string]string{}
	var out []BreakerChange
	for _, s := range sorted {
		var now []BreakerChange
		for key, v := range s.Values {
			if v != 1 || !strings.Contains(key, stacks.GaugeBreakerState+"{") {
				continue
			}
			m := breakerLabels.FindStringSubmatch(key)
			if m == nil || m[2] == "none" || last[m[1]] == m[2] {
				continue
			}
			now = append(now, BreakerChange{AtS: seconds(s.At), Dependency: m[1], State: m[2]})
		}
		slices.SortFunc(now, func(a, b BreakerChange) int { return cmp.Compare(a.Dependency, b.Dependency) })
		for _, c := range now {
			last[c.Dependency] = c.State
		}
		out = append(out, now...)
	}
	return out
}
