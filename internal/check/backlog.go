package check

import "time"

// Backlog is how a queue's depth (a gauge) went: its peak within a window,
// and when it was first empty again after the heal.
type Backlog struct {
	// Sampled: some sample within the window asked for carried the gauge.
	Sampled bool
	// Peak is the most messages at once within the window asked for; 0 when
	// none was sampled there.
	Peak float64
	// Drained: the gauge read 0 at a sample at or after the heal;
	// DrainedAfter is how long after the heal that sample was.
	Drained      bool
	DrainedAfter time.Duration
	// LastAfterHeal is how long after the heal the gauge was sampled last
	// (0 when never after it): a queue not seen empty was watched this long.
	LastAfterHeal time.Duration
}

// BacklogOf reads gauge from samples: its peak within peakIn, and its
// first 0 at or after heal.
func BacklogOf(samples []CounterSample, gauge string, peakIn Window, heal time.Duration) Backlog {
	var b Backlog
	var who string
	b.Peak, who = MaxGauge(samples, peakIn, gauge)
	b.Sampled = who != ""
	for _, s := range samples {
		v, ok := s.Values[gauge]
		if !ok || s.At < heal {
			continue
		}
		b.LastAfterHeal = s.At - heal
		if v == 0 && !b.Drained {
			b.Drained, b.DrainedAfter = true, s.At-heal
		}
	}
	return b
}
