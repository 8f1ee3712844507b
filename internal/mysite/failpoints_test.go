package mysite

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFailpointsOverHTTP(t *testing.T) {
	fp := &Failpoints{}
	s := NewServer(Options{Store: newMemStore(), Failpoints: fp})
	steps := []struct {
		method, path, body string
		code               int
		slowFill           time.Duration
		list               string
	}{
		{"GET", "/failpoints", "", 200, 0, ""},
		{"PUT", "/failpoints/slow-fill", "150ms", 204, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"PUT", "/failpoints/slow-fill", "soon", 400, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"PUT", "/failpoints/slow-fill", "0s", 400, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"PUT", "/failpoints/slow-fill", "2m", 400, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"PUT", "/failpoints/no-such", "1s", 404, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"POST", "/failpoints/slow-fill", "1s", 405, 150 * time.Millisecond, "slow-fill=150ms\n"},
		{"DELETE", "/failpoints/slow-fill", "", 204, 0, ""},
	}
	for _, st := range steps {
		r := do(t, s, st.method, st.path, st.body)
		if r.code != st.code {
			t.Errorf("%s %s %q: %d %s, want %d", st.method, st.path, st.body, r.code, strings.TrimSpace(r.body), st.code)
		}
		if got := fp.SlowFill(); got != st.slowFill {
			t.Errorf("after %s %s %q: slow-fill %v, want %v", st.method, st.path, st.body, got, st.slowFill)
		}
		if l := do(t, s, "GET", "/failpoints", ""); l.code != http.StatusOK || l.body != st.list {
			t.Errorf("after %s %s %q: GET /failpoints %d %q, want %q", st.method, st.path, st.body, l.code, l.body, st.list)
		}
	}
}

// Without -failpoints there is no /failpoints, and nothing pauses.
func TestFailpointsOff(t *testing.T) {
	s := NewServer(Options{Store: newMemStore()})
	if r := do(t, s, "PUT", "/failpoints/slow-fill", "1s"); r.code != http.StatusNotFound {
		t.Errorf("PUT without -failpoints: %d, want 404", r.code)
	}
	var off *Failpoints
	start := time.Now()
	off.pauseFill(context.Background())
	if off.SlowFill() != 0 || time.Since(start) > 50*time.Millisecond {
		t.Error("a nil Failpoints paused")
	}
}

// A slow fill delays the fill, not the lookup: the request that fills
// waits it out, and a later request finds the entry.
func TestSlowFillDelaysTheFill(t *testing.T) {
	m := startFakeRedis(t)
	db := newCountingStore()
	db.seed("42", "a", 1)
	fp := &Failpoints{}
	fp.slowFill.Store(int64(100 * time.Millisecond))
	c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: CacheGuardNone, Failpoints: fp})
	start := time.Now()
	mustGet(t, c, "42")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("the filling read took %v, want at least the 100ms pause", d)
	}
	if _, ok := cached(t, m, "42"); !ok {
		t.Error("no entry after the fill")
	}
}
