package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// CounterIncrease is how much one sampled counter grew within a window,
// measured from the samples inside it, across resets of the counter.
type CounterIncrease struct {
	Window Window `json:"window"`
	Key    string `json:"key"`
	// Delta is the sum of the steps between consecutive samples in the
	// window that carry Key. A rise counts as it is. A drop means the
	// counter started again from 0 (its server restarted: a cache comes
	// back empty, statistics included), so the step is the new value, what
	// it counted since the restart. What it counted between the sample
	// before and the restart is lost: across a reset Delta is a lower bound.
	Delta float64 `json:"delta"`
	// Resets is how many drops Delta counted.
	Resets int `json:"resets"`
	// Samples is how many samples in the window carried Key (samples
	// without it, e.g. while its server did not answer, are skipped: a gap,
	// not a reset); From and To are the first and last of them, the span
	// Delta was measured over.
	Samples  int           `json:"samples"`
	From, To time.Duration `json:"-"`
}

// NoData: fewer than two samples carried the key in the window, so
// nothing was measured (Delta 0 says nothing).
func (c CounterIncrease) NoData() bool { return c.Samples < 2 }

// PerSecond is Delta over the span it was measured in (From to To), per
// second; ok is false when there is no data or the span is empty.
func (c CounterIncrease) PerSecond() (rate float64, ok bool) {
	if c.NoData() || c.To <= c.From {
		return 0, false
	}
	return c.Delta / (c.To - c.From).Seconds(), true
}

func (c CounterIncrease) String() string {
	if c.NoData() {
		return fmt.Sprintf("%s in %s: no data (%d samples)", c.Key, c.Window, c.Samples)
	}
	return fmt.Sprintf("%s +%.0f between %v and %v (%d samples, %d resets)", c.Key, c.Delta, c.From, c.To, c.Samples, c.Resets)
}

// IncreaseIn measures how much key grew in w ([From, To), like every
// window), over the samples in w that carry it, in time order whatever
// the order of samples. The growth from the last sample before w to the
// first one in it is not counted: it belongs to no sample of w.
func IncreaseIn(samples []CounterSample, w Window, key string) CounterIncrease {
	type point struct {
		at time.Duration
		v  float64
	}
	var in []point
	for _, s := range samples {
		if v, ok := s.Values[key]; ok && w.Contains(s.At) {
			in = append(in, point{s.At, v})
		}
	}
	slices.SortStableFunc(in, func(a, b point) int { return cmp.Compare(a.at, b.at) })
	c := CounterIncrease{Window: w, Key: key, Samples: len(in)}
	if len(in) == 0 {
		return c
	}
	c.From, c.To = in[0].at, in[len(in)-1].at
	for i := 1; i < len(in); i++ {
		prev, v := in[i-1].v, in[i].v
		if v < prev {
			c.Delta += v
			c.Resets++
			continue
		}
		c.Delta += v - prev
	}
	return c
}
