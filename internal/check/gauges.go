package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Gauges: numbers the stack reports that go up and down (a replication
// lag, how many nodes accept writes), read from the same samples as the
// counters (CounterSample).

// TimeAtLeast is how long gauge key stood at or above min, each sample
// counting until the next one (the last sample counts for nothing: its end
// is unknown), and how many samples carried the key at all.
func TimeAtLeast(samples []CounterSample, key string, min float64) (d time.Duration, seen int) {
	for i, s := range samples {
		v, ok := s.Values[key]
		if !ok {
			continue
		}
		seen++
		if v >= min && i+1 < len(samples) {
			d += samples[i+1].At - s.At
		}
	}
	return d, seen
}

// MaxGauge is the highest value, within w, of the gauges whose names start
// with prefix, and which gauge it was (names in sorted order break ties;
// "" when none was sampled).
func MaxGauge(samples []CounterSample, w Window, prefix string) (float64, string) {
	var best float64
	var who string
	for _, s := range samples {
		if !w.Contains(s.At) {
			continue
		}
		keys := make([]string, 0, len(s.Values))
		for k := range s.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && (who == "" || s.Values[k] > best) {
				best, who = s.Values[k], k
			}
		}
	}
	return best, who
}

// Failures counts the operations invoked in w that did not succeed, and
// how many of them were the clear answer the system promises (clear
// decides); the others are grouped by status and error, for the report.
type Failures struct {
	Failed, Clear int
	Other         map[string]int // "status 504: ..." or the error -> count
}

// FailuresIn sorts the failures of the ops invoked in w.
func FailuresIn(h history.History, w Window, clear func(history.Op) bool) Failures {
	f := Failures{Other: map[string]int{}}
	for _, op := range h.Ops {
		if !w.Contains(op.Invoke) || op.Outcome == history.OK {
			continue
		}
		f.Failed++
		if clear(op) {
			f.Clear++
			continue
		}
		why := op.Error
		if op.Status != 0 {
			why = fmt.Sprintf("status %d: %s", op.Status, op.Error)
		}
		if len(why) > 80 {
			why = why[:80]
		}
		f.Other[why]++
	}
	return f
}
