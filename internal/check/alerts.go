package check

import (
	"cmp"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// AlertSpan is one alert as the pager heard it (stage 10: the alert log's
// firing gauge, sampled every 250 ms): from the first sample that showed
// it firing to the first that showed it resolved.
type AlertSpan struct {
	AlertName, Instance string
	FiredAt             time.Duration
	// ResolvedAt is 0 while it was not seen resolved (Resolved false).
	ResolvedAt time.Duration
	Resolved   bool
}

// alertLabels reads a firing line's labels, as the alert log writes them:
// gauge{alertname="TargetDown",instance="web-1"}.
var alertLabels = regexp.MustCompile(`^\{alertname="([^"]*)",instance="([^"]*)"\}$`)

// AlertSpans reads every alert's spans off the samples' gauge lines (1:
// firing, 0: resolved), in the order they fired. An alert that fired again
// after it resolved has a span for each time.
func AlertSpans(samples []CounterSample, gauge string) []AlertSpan {
	sorted := slices.SortedFunc(slices.Values(samples), func(a, b CounterSample) int { return cmp.Compare(a.At, b.At) })
	var out []AlertSpan
	open := map[[2]string]int{} // alert -> its open span in out
	for _, s := range sorted {
		for _, key := range slices.Sorted(maps.Keys(s.Values)) {
			i := strings.Index(key, gauge+"{")
			if i < 0 {
				continue
			}
			m := alertLabels.FindStringSubmatch(key[i+len(gauge):])
			if m == nil {
				continue
			}
			id := [2]string{m[1], m[2]}
			j, isOpen := open[id]
			switch firing := s.Values[key] == 1; {
			case firing && !isOpen:
				open[id] = len(out)
				out = append(out, AlertSpan{AlertName: m[1], Instance: m[2], FiredAt: s.At})
			case !firing && isOpen:
				out[j].ResolvedAt, out[j].Resolved = s.At, true
				delete(open, id)
			}
		}
	}
	return out
}
