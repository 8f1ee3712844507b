package stacks

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// mysiteStub is a mysite whose GET /cache answers code and body.
func mysiteStub(t *testing.T, code int, body string) string {
	t.Helper()
	return mysitePathStub(t, "/cache", code, body)
}

func TestMysiteCache(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       map[string]float64
	}{
		{"all", `{"addr": "cache:6379", "hits": 9, "stats": {"redis_keyspace_hits": 1200, "redis_keyspace_misses": 34,
			"redis_evicted_keys": 5, "db_transactions": 77}}`,
			map[string]float64{CounterCacheHits: 1200, CounterCacheMisses: 34, CounterCacheEvicted: 5, CounterDBTransactions: 77}},
		// Redis did not answer: only the database's count.
		{"redis down", `{"hits": 9, "stats": {"redis_error": "redis INFO stats cache:6379: i/o timeout", "db_transactions": 78}}`,
			map[string]float64{CounterDBTransactions: 78}},
		// A mysite without the stats: nothing, not zeros.
		{"no stats", `{"hits": 9}`, map[string]float64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := MysiteCache(context.Background(), mysiteStub(t, http.StatusOK, c.body)+"/")
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}

	// No cache configured, or not JSON: an error naming the endpoint (the
	// engine skips the sample).
	for _, c := range []struct {
		code int
		body string
		want string
	}{
		{http.StatusNotFound, `{"error": "no cache configured (-cache)"}`, "GET /cache: 404"},
		{http.StatusOK, `<html>`, "GET /cache: "},
	} {
		_, err := MysiteCache(context.Background(), mysiteStub(t, c.code, c.body))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%d %s: err %v, want it to start with %q", c.code, c.body, err, c.want)
		}
	}
}

// mysitePathStub is a mysite whose GET path answers code and body.
func mysitePathStub(t *testing.T, path string, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMysiteAssets(t *testing.T) {
	got, err := MysiteAssets(context.Background(), mysitePathStub(t, "/static-stats", http.StatusOK, `{"version": 3, "served": 41}`)+"/")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{CounterOriginServed: 41, CounterAssetVersion: 3}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	// A mysite without the static part, an edge's error page, or an answer
	// without the numbers: an error naming the endpoint (the engine skips
	// the sample), not zeros.
	for _, c := range []struct {
		code int
		body string
		want string
	}{
		{http.StatusNotFound, `{"error": "no such endpoint: GET /static-stats"}`, "GET /static-stats: 404"},
		{http.StatusBadGateway, `<html>502 Bad Gateway</html>`, "GET /static-stats: 502"},
		{http.StatusOK, `<html>`, "GET /static-stats: "},
		{http.StatusOK, `{"version": 3}`, "GET /static-stats: no version or served"},
	} {
		_, err := MysiteAssets(context.Background(), mysitePathStub(t, "/static-stats", c.code, c.body))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%d %s: err %v, want it to start with %q", c.code, c.body, err, c.want)
		}
	}
}

// The gateway's route to a service's /metrics: the key is sent, lines with
// labels and comments are skipped, an error answer is an error.
func TestGatewayMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get(GatewayKeyHeader) != "ops":
			http.Error(w, "unknown API key", http.StatusUnauthorized)
		case r.URL.Path != "/ops/payments/metrics":
			http.NotFound(w, r)
		default:
			w.Write([]byte("# HELP x\nshop_requests_total 1234\nshop_calls_total{dependency=\"users\"} 7\nbroken line\n"))
		}
	}))
	t.Cleanup(srv.Close)
	got, err := GatewayMetrics("/ops/payments/metrics", "ops", "payments:")(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"payments:shop_requests_total": 1234, `payments:shop_calls_total{dependency="users"}`: 7}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	bad := GatewayMetrics("/ops/payments/metrics", "nope", "payments:")
	if _, err := bad(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a refused key: err %v", err)
	}
	// Merged: one that fails is left out; all failing is an error.
	good := GatewayMetrics("/ops/payments/metrics", "ops", "payments:")
	if m, err := MergeCounters(good, bad)(context.Background(), srv.URL); err != nil || len(m) != 2 {
		t.Errorf("merged with a failing one: %v, %v", m, err)
	}
	if _, err := MergeCounters(bad, bad)(context.Background(), srv.URL); err == nil {
		t.Error("all failing: no error")
	}
}
