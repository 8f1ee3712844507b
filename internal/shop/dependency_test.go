package shop

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dependencyServer answers every request after delay with status.
func dependencyServer(t *testing.T, delay time.Duration, status *atomic.Int32) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func statusOf(code int) *atomic.Int32 {
	var s atomic.Int32
	s.Store(int32(code))
	return &s
}

func TestCallRetriesAFailedAttemptWithBackoff(t *testing.T) {
	srv, hits := dependencyServer(t, 0, statusOf(http.StatusServiceUnavailable))
	d := newDependency("payments", srv.URL, CallPolicy{Timeout: time.Second, Retries: 2, Backoff: 20 * time.Millisecond})
	start := time.Now()
	if _, err := d.call(context.Background(), http.MethodGet, "/", nil); err == nil {
		t.Fatal("a dependency answering 503 must fail the call")
	}
	if got := hits.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3 (one and two retries)", got)
	}
	// Waits of 20 ms and 40 ms, each at least half of that (jitter +-50%).
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("three attempts took %v: the retries did not back off", took)
	}
}

func TestCallDoesNotRetryA4xx(t *testing.T) {
	srv, hits := dependencyServer(t, 0, statusOf(http.StatusNotFound))
	d := newDependency("users", srv.URL, CallPolicy{Timeout: time.Second, Retries: 3, Backoff: time.Millisecond, Breaker: true, TripAfter: 1, CoolOff: time.Minute})
	for range 3 {
		_, err := d.call(context.Background(), http.MethodGet, "/users/x", nil)
		var p permanent
		if !errors.As(err, &p) || p.status != http.StatusNotFound {
			t.Fatalf("err = %v, want the 404", err)
		}
	}
	if got := hits.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3: a 404 is an answer, neither retried nor a failure for the breaker", got)
	}
	if d.state() != "closed" {
		t.Errorf("breaker %s after three 404s, want closed", d.state())
	}
}

func TestCallTimesOutAnAttempt(t *testing.T) {
	srv, _ := dependencyServer(t, 2*time.Second, statusOf(http.StatusOK))
	d := newDependency("payments", srv.URL, CallPolicy{Timeout: 50 * time.Millisecond})
	start := time.Now()
	if _, err := d.call(context.Background(), http.MethodGet, "/", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the attempt's deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the call took %v, want about the 50 ms timeout", took)
	}
}

func TestBreakerOpensThenLetsATrialThrough(t *testing.T) {
	status := statusOf(http.StatusServiceUnavailable)
	srv, hits := dependencyServer(t, 0, status)
	d := newDependency("payments", srv.URL, CallPolicy{Timeout: time.Second, Breaker: true, TripAfter: 3, CoolOff: 200 * time.Millisecond})
	ctx := context.Background()
	var lastFailure time.Time // before the breaker opened: its cool-off ends after lastFailure+200ms
	for range 3 {
		lastFailure = time.Now()
		d.call(ctx, http.MethodGet, "/", nil)
	}
	if d.state() != "open" {
		t.Fatalf("breaker %s after 3 failures in a row, want open", d.state())
	}
	before := hits.Load()
	if _, err := d.call(ctx, http.MethodGet, "/", nil); !errors.Is(err, errBreakerOpen) {
		t.Fatalf("err = %v while open, want errBreakerOpen", err)
	}
	if hits.Load() != before {
		t.Error("an open breaker let a call reach the dependency")
	}
	status.Store(http.StatusOK)
	// Refused until the cool-off has passed, then a trial goes through.
	start := time.Now()
	for {
		_, err := d.call(ctx, http.MethodGet, "/", nil)
		if err == nil {
			break
		}
		if !errors.Is(err, errBreakerOpen) || time.Since(start) > 2*time.Second {
			t.Fatalf("after %v: %v, want refusals, then a trial that succeeds", time.Since(start), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(lastFailure); took < 200*time.Millisecond {
		t.Errorf("a call went through %v after the breaker opened, before its 200 ms cool-off", took)
	}
	if d.state() != "closed" {
		t.Errorf("breaker %s after a trial that succeeded, want closed", d.state())
	}
	if d.opened.Load() != 1 {
		t.Errorf("opened %d times, want 1", d.opened.Load())
	}
}

func TestBulkheadShedsCallsPastItsBound(t *testing.T) {
	srv, _ := dependencyServer(t, 300*time.Millisecond, statusOf(http.StatusOK))
	d := newDependency("payments", srv.URL, CallPolicy{Timeout: time.Second, Bulkhead: 2})
	var wg sync.WaitGroup
	var shed atomic.Int64
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.call(context.Background(), http.MethodGet, "/", nil); errors.Is(err, errBulkheadFull) {
				shed.Add(1)
			}
		}()
	}
	wg.Wait()
	if shed.Load() != 3 {
		t.Errorf("%d calls shed, want 3 (five at once, a bulkhead of 2)", shed.Load())
	}
}

func TestConfigRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-service", "billing", "-db", "x"},
		{"-service", "orders", "-db", "x"},
		{"-service", "orders", "-db", "x", "-users", "u", "-payments", "p", "-workers", "0"},
		{"-service", "orders", "-db", "x", "-users", "u", "-payments", "p", "-retries", "-1"},
		{"-service", "users"},
	} {
		if _, err := ParseConfig(args, &nopWriter{}); err == nil {
			t.Errorf("ParseConfig(%q) accepted it", args)
		}
	}
	if _, err := ParseConfig([]string{"-service", "orders", "-db", "x", "-users", "u", "-payments", "p"}, &nopWriter{}); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
