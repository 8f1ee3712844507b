package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestLatencyIn(t *testing.T) {
	// 100 ops in [0, 1000ms) with latencies 1..100ms; every 10th failed, and
	// one read timed out at 500ms: failures and timeouts count.
	var ops []history.Op
	for i := 1; i <= 100; i++ {
		out := history.OK
		if i%10 == 0 {
			out = history.Failed
		}
		ops = append(ops, other(i*5, i*5+i, out))
	}
	ops = append(ops, op(1, history.Read, "k", "", 900, 1400, history.Unknown))
	h := faulted(2000, 3000, 4000, ops...)
	within := func(got, want time.Duration) bool { // histogram precision: 0.1%
		d := got - want
		return d >= -want/1000 && d <= want/1000
	}

	all := LatencyIn(h, Window{From: 0, To: time.Second, Name: "x"})
	if all.Count != 101 || all.Max != 500*ms || all.NoData {
		t.Fatalf("all: %+v", all)
	}
	// 101 values: 1..100ms and 500ms. p50 = 51st = 51ms, p90 = ceil(90.9) = 91st = 91ms,
	// p99 = ceil(99.99) = 100th = 100ms.
	if !within(all.P50, 51*ms) || !within(all.P90, 91*ms) || !within(all.P99, 100*ms) {
		t.Fatalf("quantiles: %v", all)
	}

	reads := LatencyIn(h, Window{From: 0, To: time.Second}, history.Read)
	if reads.Count != 1 || reads.P50 != 500*ms || reads.P99 != 500*ms || reads.Max != 500*ms {
		t.Fatalf("reads only: %+v", reads)
	}

	if none := LatencyIn(h, Window{From: 5 * time.Second, To: 6 * time.Second}); !none.NoData || none.Count != 0 {
		t.Fatalf("empty window: %+v", none)
	}
}

func TestLatencyClampsAbsurdValues(t *testing.T) {
	h := history.History{Ops: []history.Op{
		{Kind: history.Other, Invoke: 0, Complete: 2 * time.Hour, Outcome: history.Unknown},
		{Kind: history.Other, Invoke: 10, Complete: 5, Outcome: history.OK}, // clock bug: counted as 0
	}}
	l := LatencyIn(h, Window{From: 0, To: time.Second})
	if l.Count != 2 || l.Max != 2*time.Hour || l.P99 > l.Max || l.P50 < 0 {
		t.Fatalf("%+v", l)
	}
}
