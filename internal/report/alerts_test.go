package report

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
)

// An alert heard firing 3 s after the injection and resolved 4 s after the
// heal; one still firing at the end has no resolved time.
func TestAlertsSeen(t *testing.T) {
	w := check.FaultWindows{Inject: 2 * time.Second, Heal: 7 * time.Second}
	s := func(at time.Duration, web1, web2 float64) check.CounterSample {
		return check.CounterSample{At: at, Values: map[string]float64{
			`alertlog_firing{alertname="TargetDown",instance="web-1"}`: web1,
			`alertlog_firing{alertname="TargetDown",instance="web-2"}`: web2,
		}}
	}
	got := alertsSeen([]check.CounterSample{s(4*time.Second, 0, 0), s(5*time.Second, 1, 0), s(9*time.Second, 1, 1), s(11*time.Second, 0, 1)}, w)
	if len(got) != 2 || got[0].Instance != "web-1" || got[0].FiredAtS != 3 || got[0].ResolvedAtS == nil || *got[0].ResolvedAtS != 4 ||
		got[1].Instance != "web-2" || got[1].FiredAtS != 7 || got[1].ResolvedAtS != nil {
		t.Errorf("got %+v", got)
	}
	if alertsSeen(nil, w) != nil {
		t.Error("alerts without samples")
	}
}

// The chart draws each alert as a bar: from its firing to its resolution,
// or to the plot's end while it fires.
func TestTimelineChartDrawsAlerts(t *testing.T) {
	f, h := 2.0, 12.0
	r := Report{Timeline: Timeline{FaultAtS: &f, HealAtS: &h, EndS: 20, BucketS: 0.25},
		Buckets: []Bucket{{TS: 0, OK: 25}, {TS: 19.75, OK: 25}},
		Alerts:  []AlertSeen{{AlertName: "WebServerDown", Instance: "web-1", FiredAtS: 3, ResolvedAtS: ptr(2.5)}, {AlertName: "TargetDown", Instance: "web-1", FiredAtS: 1}}}
	var spans []el
	for _, e := range timelineChart(r).Els {
		if e.Class == "alert-span" {
			spans = append(spans, e)
		}
	}
	if len(spans) != 2 || spans[0].Title != "WebServerDown on web-1: heard firing at 5 s, resolved at 14.5 s" || spans[1].W <= spans[0].W {
		t.Errorf("alert bars: %+v", spans)
	}
}
