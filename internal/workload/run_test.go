package workload

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// Timing assertions use wide margins: the tests must pass on a loaded 2-core
// machine, and still fail clearly if sends were serialized behind slow ones
// (which costs hundreds of milliseconds, not tens). The properties that
// matter are also checked without timing where possible.
const lagMargin = 250 * time.Millisecond * raceSlowdown

func TestRunRateAndGrid(t *testing.T) {
	_, srv := newFakeSite(t, nil)
	clock := NewClock()
	rec := NewRecorder(clock)
	cfg := testConfig() // 200 ops/s for 1s

	// A fault event recorded mid-run lands on the same clock as the ops.
	go func() {
		time.Sleep(500 * time.Millisecond)
		rec.Event(history.FaultInjected, "test", "")
	}()
	got, stats, err := Run(context.Background(), cfg, srv.URL, clock, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got != rec {
		t.Fatal("Run returned another recorder")
	}
	h := rec.History()
	if len(h.Ops) != 200 || stats.ScheduledOps != 200 || stats.Launched != 200 || stats.Sent != 200 {
		t.Fatalf("%d ops recorded, stats %v; want 200 of each", len(h.Ops), stats)
	}
	start := h.End - cfg.Duration
	if start < 0 || start > 100*time.Millisecond {
		t.Fatalf("end %v: workload start %v is not near the clock's start", h.End, start)
	}
	invokes := make(map[time.Duration]bool)
	for _, op := range h.Ops {
		off := op.Invoke - start
		if off < 0 || off >= cfg.Duration || off%(5*time.Millisecond) != 0 || invokes[off] {
			t.Fatalf("op invoked at %v (offset %v): not a fresh point of the 5ms grid", op.Invoke, off)
		}
		invokes[off] = true
		if op.Outcome != history.OK || op.Complete < op.Invoke {
			t.Fatalf("op %+v", op)
		}
		if op.Kind == history.Write && op.Version < 1 {
			t.Fatalf("write without version: %+v", op)
		}
	}
	if len(h.Events) != 1 || h.Events[0].At < start+400*time.Millisecond || h.Events[0].At > start+900*time.Millisecond {
		t.Fatalf("event %+v not on the run's clock (start %v)", h.Events, start)
	}
	if stats.Seed != 42 || stats.OK != 200 || stats.LagMax > lagMargin || stats.LagP50 > stats.LagP99 || stats.LagP99 > stats.LagMax {
		t.Fatalf("stats %v", stats)
	}
	if stats.AchievedRate < 199 || stats.AchievedRate > 201 {
		t.Fatalf("achieved rate %v, want 200", stats.AchievedRate)
	}
	if keys := rec.WrittenKeys(); len(keys) == 0 || !slices.IsSorted(keys) {
		t.Fatalf("written keys %v", keys)
	}
}

// TestRunOpenModel: a server that holds some requests for 300ms must not
// delay the sends of the others. The slow requests are held until every
// request of the run has arrived (and at least 300ms): if sends waited for
// answers, the rest could never arrive, the hold would run into its bound,
// and the test fails without relying on timing. Arrival times are checked
// against the schedule too, with a margin.
func TestRunOpenModel(t *testing.T) {
	const total = 30 // 100 ops/s for 300ms
	clock := NewClock()
	var (
		mu         sync.Mutex
		arrivals   []time.Duration
		allArrived = make(chan struct{})
		starved    atomic.Int64 // slow requests released by the bound, not by all arriving
	)
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		now := clock.Now()
		mu.Lock()
		arrivals = append(arrivals, now)
		n := len(arrivals)
		if n == total {
			close(allArrived)
		}
		mu.Unlock()
		if n%5 == 1 { // 1, 6, 11, ...: six slow requests spread over the run
			readBody(r)
			time.Sleep(300 * time.Millisecond)
			select {
			case <-allArrived:
			case <-time.After(2 * time.Second):
				starved.Add(1)
			}
		}
		return false // then the fake answers normally
	})
	cfg := testConfig()
	cfg.Rate, cfg.Duration, cfg.Timeout = 100, 300*time.Millisecond, 3*time.Second
	rec, stats, err := Run(context.Background(), cfg, srv.URL, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	mu.Lock()
	defer mu.Unlock()
	if len(h.Ops) != total || len(arrivals) != total {
		t.Fatalf("%d ops, %d requests arrived; want %d each", len(h.Ops), len(arrivals), total)
	}
	if s := starved.Load(); s > 0 {
		t.Fatalf("%d slow requests were still waiting for the others to arrive 2s later: sends are held back by answers", s)
	}
	var invokes []time.Duration
	slow := 0
	for _, op := range h.Ops {
		invokes = append(invokes, op.Invoke)
		if op.Outcome != history.OK {
			t.Fatalf("op %+v", op)
		}
		if op.Latency() >= 300*time.Millisecond {
			slow++
		}
	}
	if slow < 6 || slow > 15 {
		t.Fatalf("%d ops took >= 300ms, want the 6 slow ones (and not most of the others)", slow)
	}
	// Sorted arrivals pair with sorted schedule times when every request is
	// sent on time; one held behind a slow answer would be >= 300ms late.
	slices.Sort(invokes)
	slices.Sort(arrivals)
	for i := range invokes {
		if late := arrivals[i] - invokes[i]; late > lagMargin {
			t.Fatalf("request %d arrived %v after its schedule (stats: %v)", i, late, stats)
		}
	}
}

func TestRunInFlightCap(t *testing.T) {
	// The two requests that get a slot are held until the other 28 ops have
	// been recorded as overloaded (bounded by 2s), so exactly two are sent
	// however slowly this machine runs the schedule.
	const total = 30 // 100 ops/s for 300ms
	clock := NewClock()
	rec := NewRecorder(clock)
	release := make(chan struct{})
	heldInFlight := -1 // what the recorder saw in flight while the two were held
	go func() {
		defer close(release)
		for deadline := time.Now().Add(2 * time.Second); rec.Len() < total-2 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		heldInFlight = rec.InFlightBefore(clock.Now() + time.Nanosecond)
	}()
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		readBody(r)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	cfg := testConfig()
	cfg.Rate, cfg.Duration, cfg.MaxInFlight, cfg.Timeout = 100, 300*time.Millisecond, 2, 3*time.Second
	_, stats, err := Run(context.Background(), cfg, srv.URL, clock, rec)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	overloaded := 0
	for _, op := range h.Ops {
		switch {
		case op.Error == "client overloaded":
			overloaded++
			if op.Outcome != history.Failed || op.Status != 0 || op.Complete < op.Invoke {
				t.Fatalf("overloaded op %+v", op)
			}
		case op.Outcome != history.OK:
			t.Fatalf("op %+v", op)
		}
	}
	if len(h.Ops) != total || overloaded != total-2 || stats.Overloaded != total-2 || stats.Sent != 2 || stats.PeakInFlight != 2 {
		t.Fatalf("%d ops, %d overloaded; stats %v; want %d ops of which 2 sent", len(h.Ops), overloaded, stats, total)
	}
	// The recorder sees the held requests in flight (the engine's wait for
	// a steady system counts them), and none once they were recorded.
	if heldInFlight != 2 || rec.InFlightBefore(clock.Now()+time.Nanosecond) != 0 {
		t.Fatalf("in flight: %d while held, %d after; want 2, 0", heldInFlight, rec.InFlightBefore(clock.Now()+time.Nanosecond))
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	_, srv := newFakeSite(t, nil)
	cfg := testConfig()
	cfg.Duration = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	rec, stats, err := Run(ctx, cfg, srv.URL, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping the context's", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Run took %v after cancel", took)
	}
	h := rec.History()
	if stats.Launched == 0 || stats.Launched >= stats.ScheduledOps || len(h.Ops) != stats.Launched {
		t.Fatalf("%d ops; stats %v", len(h.Ops), stats)
	}
	// End stays the scheduled end, so the checkers see the early stop.
	if h.End < 10*time.Second {
		t.Fatalf("end %v", h.End)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	if _, _, err := Run(context.Background(), Config{}, "http://localhost:1", nil, nil); err == nil {
		t.Error("invalid config accepted")
	}
	if _, _, err := Run(context.Background(), testConfig(), "localhost:8080", nil, nil); err == nil || !strings.Contains(err.Error(), "target URL") {
		t.Errorf("URL without scheme: %v", err)
	}
	if _, _, err := Run(context.Background(), testConfig(), "http://localhost:1", NewClock(), NewRecorder(nil)); err == nil {
		t.Error("recorder on another clock accepted")
	}
}

func TestAbandonAtDrainDeadline(t *testing.T) {
	clock := NewClock()
	e := &engine{clock: clock, rec: NewRecorder(clock), cap: 10, inFlight: map[int]history.Op{
		1: {Kind: history.Write, Key: "u1", Value: "c0-w1"},
		2: {Kind: history.Read, Key: "u2"},
	}}
	e.abandonAll()
	e.finish(1, result{outcome: history.OK}, clock.Now()) // too late: dropped
	h := e.rec.History()
	if len(h.Ops) != 2 || e.finalStats().Abandoned != 2 {
		t.Fatalf("ops %+v", h.Ops)
	}
	for _, op := range h.Ops {
		want := map[history.Kind]history.Outcome{history.Write: history.Unknown, history.Read: history.Failed}[op.Kind]
		if op.Outcome != want || op.Error != errAbandoned.Error() {
			t.Fatalf("abandoned %s: %+v", op.Kind, op)
		}
	}
}

func TestQuantile(t *testing.T) {
	var lags []time.Duration
	for i := 1; i <= 200; i++ {
		lags = append(lags, time.Duration(i))
	}
	if q := quantile(lags, 0.99); q != 198 {
		t.Errorf("p99 of 1..200 = %d, want 198", q)
	}
	if q := quantile(lags, 0.5); q != 100 {
		t.Errorf("p50 of 1..200 = %d, want 100", q)
	}
	if q := quantile(lags[:1], 0.99); q != 1 {
		t.Errorf("p99 of one sample = %d", q)
	}
}

// The caller can end the workload earlier while it runs (the engine ends
// the cool-down a set time after the last heal): no op is launched at or
// after the new end, and the history ends there.
func TestRunEndMovedWhileRunning(t *testing.T) {
	_, srv := newFakeSite(t, nil)
	cfg := testConfig() // 200 ops/s
	cfg.Duration = 10 * time.Second
	cfg.End = &End{}
	clock := NewClock()
	go func() {
		for clock.Now() < 200*time.Millisecond {
			time.Sleep(5 * time.Millisecond)
		}
		cfg.End.Set(500 * time.Millisecond)
	}()
	rec, stats, err := Run(context.Background(), cfg, srv.URL, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	start := h.End - 500*time.Millisecond
	if stats.ScheduledOps != 100 || stats.Launched != 100 || len(h.Ops) != 100 {
		t.Fatalf("%d ops, stats %v; want the 100 scheduled before the new end", len(h.Ops), stats)
	}
	for _, op := range h.Ops {
		if op.Invoke-start >= 500*time.Millisecond {
			t.Fatalf("op invoked at %v, after the end", op.Invoke-start)
		}
	}
	if problems := check.Assumptions(h, check.Requirements{}); len(problems) > 0 && !strings.Contains(strings.Join(problems, ";"), "fault") {
		t.Errorf("the moved end breaks an assumption: %v", problems)
	}
}
