package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestTimeAtLeast(t *testing.T) {
	ms := time.Millisecond
	s := []CounterSample{
		{At: 0, Values: map[string]float64{"writable": 1}},
		{At: 250 * ms, Values: map[string]float64{"writable": 2}},
		{At: 500 * ms, Values: map[string]float64{"other": 9}},    // no writable: still ends the 2
		{At: 750 * ms, Values: map[string]float64{"writable": 2}}, // last: its end is unknown
	}
	d, seen := TimeAtLeast(s, "writable", 2)
	if d != 250*ms || seen != 3 {
		t.Errorf("TimeAtLeast = %v over %d samples, want 250ms over 3", d, seen)
	}
	if d, seen := TimeAtLeast(nil, "writable", 2); d != 0 || seen != 0 {
		t.Errorf("no samples: %v %d", d, seen)
	}
}

func TestMaxGauge(t *testing.T) {
	w := Window{From: time.Second, To: 2 * time.Second}
	s := []CounterSample{
		{At: 500 * time.Millisecond, Values: map[string]float64{"lag:a": 99}}, // outside w
		{At: 1200 * time.Millisecond, Values: map[string]float64{"lag:a": 3, "lag:b": 7, "x": 100}},
		{At: 1700 * time.Millisecond, Values: map[string]float64{"lag:a": 5}},
	}
	if v, who := MaxGauge(s, w, "lag:"); v != 7 || who != "lag:b" {
		t.Errorf("MaxGauge = %v %q, want 7 lag:b", v, who)
	}
	if _, who := MaxGauge(s, w, "none:"); who != "" {
		t.Errorf("no such gauge: %q", who)
	}
}

func TestFailuresIn(t *testing.T) {
	w := Window{From: 0, To: time.Second}
	h := history.History{Ops: []history.Op{
		{Invoke: 10, Outcome: history.OK},
		{Invoke: 20, Outcome: history.Failed, Status: 503, Error: "session store unavailable"},
		{Invoke: 30, Outcome: history.Failed, Status: 504, Error: "Gateway Timeout"},
		{Invoke: 40, Outcome: history.Unknown, Error: "timeout"},
		{Invoke: 2 * time.Second, Outcome: history.Failed, Status: 504}, // outside w
	}}
	f := FailuresIn(h, w, func(op history.Op) bool { return op.Status == 503 })
	if f.Failed != 3 || f.Clear != 1 || f.Other["status 504: Gateway Timeout"] != 1 || f.Other["timeout"] != 1 {
		t.Errorf("FailuresIn = %+v", f)
	}
}
