package check

import (
	"testing"
	"time"
)

func TestIncreaseIn(t *testing.T) {
	const s = time.Second
	at := func(d time.Duration, v float64) CounterSample {
		return CounterSample{At: d, Values: map[string]float64{"hits": v}}
	}
	gap := func(d time.Duration) CounterSample {
		return CounterSample{At: d, Values: map[string]float64{"other": 1}}
	}
	w := Window{From: 1 * s, To: 5 * s, Name: During}

	for _, c := range []struct {
		name    string
		samples []CounterSample
		delta   float64
		resets  int
		n       int
		rate    float64 // per second; -1: no rate
	}{
		{"growth", []CounterSample{at(0, 5), at(1*s, 10), at(2*s, 30), at(3*s, 60)}, 50, 0, 3, 25},
		// [From, To): the sample at To belongs to the next window, the one
		// before From to the previous one.
		{"half-open", []CounterSample{at(500*time.Millisecond, 0), at(1*s, 10), at(4*s, 40), at(5*s, 1000)}, 30, 0, 2, 10},
		// The server restarted between 2 s and 3 s: 4 counted since, and the
		// growth after it.
		{"reset", []CounterSample{at(1*s, 100), at(2*s, 150), at(3*s, 4), at(4*s, 24)}, 50 + 4 + 20, 1, 4, 74.0 / 3},
		// Samples without the key (the server did not answer) are a gap.
		{"gap", []CounterSample{at(1*s, 10), gap(2 * s), gap(3 * s), at(4*s, 40)}, 30, 0, 2, 10},
		// Unordered input is measured in time order.
		{"unordered", []CounterSample{at(3*s, 60), at(1*s, 10), at(2*s, 30)}, 50, 0, 3, 25},
		{"one sample", []CounterSample{at(2*s, 30)}, 0, 0, 1, -1},
		{"none", []CounterSample{gap(2 * s)}, 0, 0, 0, -1},
		// Two samples at one instant: an increase, but no span for a rate.
		{"same instant", []CounterSample{at(2*s, 30), at(2*s, 31)}, 1, 0, 2, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := IncreaseIn(c.samples, w, "hits")
			if got.Delta != c.delta || got.Resets != c.resets || got.Samples != c.n {
				t.Errorf("IncreaseIn = %+v, want delta %v, %d resets, %d samples", got, c.delta, c.resets, c.n)
			}
			if got.NoData() != (c.n < 2) {
				t.Errorf("NoData = %v with %d samples", got.NoData(), c.n)
			}
			rate, ok := got.PerSecond()
			if ok != (c.rate >= 0) || ok && (rate-c.rate > 1e-9 || c.rate-rate > 1e-9) {
				t.Errorf("PerSecond = %v %v, want %v", rate, ok, c.rate)
			}
			if got.String() == "" {
				t.Error("empty String")
			}
		})
	}
}
