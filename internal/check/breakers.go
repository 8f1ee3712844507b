package check

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"
)

// BreakerState is one circuit breaker's state in one sample of a
// service's metrics: the gauge's line labelled with that state read 1.
type BreakerState struct {
	At         time.Duration
	Dependency string
	State      string // closed, open, half-open; none: no breaker
}

// breakerLabels reads a breaker state line's labels, as the shop writes
// them: gauge{dependency="payments",state="open"}.
var breakerLabels = regexp.MustCompile(`\{dependency="([^"]*)",state="([^"]*)"\}`)

// BreakerStates reads every breaker's state off the samples: the keys
// that carry gauge with its labels (after any prefix of the sampler) at
// 1, in time order, by dependency within a sample.
func BreakerStates(samples []CounterSample, gauge string) []BreakerState {
	var out []BreakerState
	for _, s := range samples {
		for key, v := range s.Values {
			i := strings.Index(key, gauge+"{")
			if v != 1 || i < 0 {
				continue
			}
			if m := breakerLabels.FindStringSubmatch(key[i+len(gauge):]); m != nil {
				out = append(out, BreakerState{At: s.At, Dependency: m[1], State: m[2]})
			}
		}
	}
	slices.SortFunc(out, func(a, b BreakerState) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Dependency, b.Dependency))
	})
	return out
}
