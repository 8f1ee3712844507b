package check

import (
	"slices"
	"testing"
	"time"
)

// Samples out of order: an alert that fires and resolves, one that fires
// twice, one never resolved; lines that are not firing gauges are ignored.
func TestAlertSpans(t *testing.T) {
	const g = "alertlog_firing"
	s := func(at time.Duration, web1, web2 float64) CounterSample {
		v := map[string]float64{
			`alertlog_notifications_total{alertname="TargetDown",instance="web-1",status="firing"}`: 1,
		}
		if web1 >= 0 {
			v[g+`{alertname="TargetDown",instance="web-1"}`] = web1
		}
		if web2 >= 0 {
			v[g+`{alertname="TargetDown",instance="web-2"}`] = web2
		}
		return CounterSample{At: at, Values: v}
	}
	samples := []CounterSample{
		s(3*time.Second, 0, 1),
		s(time.Second, -1, -1),
		s(2*time.Second, 1, -1),
		s(4*time.Second, 1, 1),
		s(5*time.Second, 0, 1),
	}
	want := []AlertSpan{
		{AlertName: "TargetDown", Instance: "web-1", FiredAt: 2 * time.Second, ResolvedAt: 3 * time.Second, Resolved: true},
		{AlertName: "TargetDown", Instance: "web-2", FiredAt: 3 * time.Second},
		{AlertName: "TargetDown", Instance: "web-1", FiredAt: 4 * time.Second, ResolvedAt: 5 * time.Second, Resolved: true},
	}
	if got := AlertSpans(samples, g); !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := AlertSpans(nil, g); got != nil {
		t.Errorf("no samples: %v", got)
	}
}
