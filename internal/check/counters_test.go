package check

import (
	"testing"
	"time"
)

func TestShareInAndFirstGrowth(t *testing.T) {
	s := func(at time.Duration, a, b float64) CounterSample {
		return CounterSample{At: at, Values: map[string]float64{"web-1": a, "web-4": b}}
	}
	samples := []CounterSample{s(0, 0, 0), s(time.Second, 100, 0), s(2*time.Second, 175, 25), s(3*time.Second, 250, 50)}

	got := ShareIn(samples, Window{From: time.Second, To: 3 * time.Second, Name: "w"}, "web-4")
	if got.NoData || got.Delta != 50 || got.Total != 200 || got.Value != 0.25 {
		t.Errorf("ShareIn = %+v, want 50 of 200", got)
	}
	if got := ShareIn(samples, Window{From: 1500 * time.Millisecond, To: 1900 * time.Millisecond}, "web-4"); !got.NoData {
		t.Errorf("a window holding no two samples must have no data: %+v", got)
	}
	if got := ShareIn(samples, Window{From: 0, To: time.Second}, "web-4"); got.NoData || got.Value != 0 {
		t.Errorf("no growth of the key is a share of 0: %+v", got)
	}
	if at, ok := FirstGrowth(samples, "web-4", 0); !ok || at != 2*time.Second {
		t.Errorf("FirstGrowth = %v %v, want 2s", at, ok)
	}
	if _, ok := FirstGrowth(samples[:2], "web-4", 0); ok {
		t.Error("FirstGrowth found growth where there is none")
	}
}
