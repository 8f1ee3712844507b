package check

import (
	"fmt"
	"time"
)

// CounterSample is one reading, at At on the run's clock, of named counters
// that only grow (e.g. the requests each web server answered, from a load
// balancer's statistics). The engine takes one every few hundred
// milliseconds while the workload runs, when the stage says how.
type CounterSample struct {
	At     time.Duration      `json:"at_ns"`
	Values map[string]float64 `json:"values"`
}

// CounterShare is one counter's part of the growth of all counters over a
// window: e.g. the share of requests a newly added server answered.
type CounterShare struct {
	Window Window  `json:"window"`
	Key    string  `json:"key"`
	Delta  float64 `json:"delta"` // growth of Key in the window
	Total  float64 `json:"total"` // growth of every counter in the window
	// Value is Delta/Total, or 0 when NoData.
	Value  float64 `json:"value"`
	NoData bool    `json:"no_data"`
	// From and To are the samples the growth was measured between: the
	// first at or after Window.From and the last at or before Window.To.
	From, To time.Duration
}

func (s CounterShare) String() string {
	if s.NoData {
		return fmt.Sprintf("%s in %s: no data", s.Key, s.Window)
	}
	return fmt.Sprintf("%.3f (%s: %.0f of %.0f between %v and %v)", s.Value, s.Key, s.Delta, s.Total, s.From, s.To)
}

// ShareIn measures key's share of the growth of all counters in w, between
// the first sample at or after w.From and the last one at or before w.To.
// Fewer than two such samples, or no growth at all, is NoData.
func ShareIn(samples []CounterSample, w Window, key string) CounterShare {
	s := CounterShare{Window: w, Key: key, NoData: true}
	first, last := -1, -1
	for i, x := range samples {
		if x.At < w.From || x.At > w.To {
			continue
		}
		if first < 0 || x.At < samples[first].At {
			first = i
		}
		if last < 0 || x.At > samples[last].At {
			last = i
		}
	}
	if first < 0 || first == last {
		return s
	}
	a, b := samples[first], samples[last]
	s.From, s.To = a.At, b.At
	for name, v := range b.Values {
		d := v - a.Values[name]
		s.Total += d
		if name == key {
			s.Delta = d
		}
	}
	if s.Total > 0 {
		s.Value, s.NoData = s.Delta/s.Total, false
	}
	return s
}

// FirstGrowth is the time of the first sample after from at which key had
// grown since the sample before it: e.g. when a new server answered its
// first request. ok is false when it never grew.
func FirstGrowth(samples []CounterSample, key string, from time.Duration) (at time.Duration, ok bool) {
	var prev *CounterSample
	for i := range samples {
		x := &samples[i]
		if prev != nil && x.At > from && x.Values[key] > prev.Values[key] {
			return x.At, true
		}
		prev = x
	}
	return 0, false
}
