package workload

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitServing(t *testing.T) {
	var probes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	began := time.Now()
	if err := WaitServing(context.Background(), srv.URL+"/readyz", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("took %v for 4 probes", took)
	}
	if probes.Load() != 4 {
		t.Fatalf("%d probes, want 4", probes.Load())
	}
}

func TestWaitServingTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	began := time.Now()
	err := WaitServing(context.Background(), srv.URL, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("error %v, want one naming the last status", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("took %v for a 300ms timeout", took)
	}

	// A hung server: each probe is cut by the deadline, not left hanging.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	began = time.Now()
	if err := WaitServing(context.Background(), hung.URL, 300*time.Millisecond); err == nil {
		t.Fatal("hung server reported serving")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("took %v for a 300ms timeout", took)
	}

	if err := WaitServing(context.Background(), "not a url", time.Second); err == nil {
		t.Error("bad URL accepted")
	}
}
