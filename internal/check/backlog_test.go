package check

import (
	"testing"
	"time"
)

func TestBacklogOfReadsThePeakAndTheFirstEmptySampleAfterTheHeal(t *testing.T) {
	s := func(at time.Duration, v float64) CounterSample {
		return CounterSample{At: at, Values: map[string]float64{"queue:messages": v}}
	}
	samples := []CounterSample{s(1*time.Second, 0), s(5*time.Second, 300), s(10*time.Second, 900), s(12*time.Second, 400), s(14*time.Second, 0), s(16*time.Second, 0)}
	b := BacklogOf(samples, "queue:messages", Window{From: 0, To: 20 * time.Second}, 10*time.Second)
	if !b.Sampled || b.Peak != 900 || !b.Drained || b.DrainedAfter != 4*time.Second || b.LastAfterHeal != 6*time.Second {
		t.Errorf("got %+v, want peak 900, drained 4s after the heal, last sample 6s after it", b)
	}
	// Not empty again before the samples end: not drained, and how long it
	// was watched.
	b = BacklogOf(samples[:4], "queue:messages", Window{From: 0, To: 20 * time.Second}, 10*time.Second)
	if b.Drained || b.LastAfterHeal != 2*time.Second {
		t.Errorf("got %+v, want not drained, watched 2s after the heal", b)
	}
	// The empty queue before the fault is not a drain.
	b = BacklogOf(samples[:1], "queue:messages", Window{From: 0, To: 20 * time.Second}, 10*time.Second)
	if b.Drained || b.Peak != 0 || !b.Sampled {
		t.Errorf("got %+v, want sampled, nothing after the heal", b)
	}
	if b = BacklogOf(nil, "queue:messages", Window{From: 0, To: 20 * time.Second}, 0); b.Sampled {
		t.Errorf("no samples: got %+v, want not sampled", b)
	}
}
