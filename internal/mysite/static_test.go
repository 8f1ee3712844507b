package mysite

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// newStaticServer is a server with the given static options; its store is
// never called by the static routes.
func newStaticServer(t *testing.T, o StaticOptions) *Server {
	t.Helper()
	return NewServer(Options{Store: newMemStore(), Static: o, Name: "web1"})
}

// staticStatsOf reads GET /static-stats.
func staticStatsOf(t *testing.T, h http.Handler) staticStats {
	t.Helper()
	r := do(t, h, http.MethodGet, "/static-stats", "")
	if r.code != http.StatusOK {
		t.Fatalf("GET /static-stats: %d %s", r.code, r.body)
	}
	var st staticStats
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatalf("GET /static-stats: %v: %s", err, r.body)
	}
	return st
}

func TestStaticAssets(t *testing.T) {
	s := newStaticServer(t, StaticOptions{})
	for i, c := range []struct {
		path, name, contentType string
	}{
		{"/static/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/static/app.css?v=1", "app.css", "text/css; charset=utf-8"},
		// The query string names a version but does not choose one.
		{"/static/logo.svg?v=7", "logo.svg", "image/svg+xml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, c.path, "")
			if r.code != http.StatusOK {
				t.Fatalf("status %d: %s", r.code, r.body)
			}
			for h, want := range map[string]string{
				"Content-Type": c.contentType, "Cache-Control": "public, max-age=60",
				AssetVersionHeader: "1", ServerHeader: "web1",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if first, _, _ := strings.Cut(r.body, "\n"); !strings.Contains(first, c.name+" version 1 ") {
				t.Errorf("first line %q does not name %s version 1", first, c.name)
			}
			if n := len(r.body); n < 200 || n > 1000 {
				t.Errorf("body is %d bytes, want a few hundred", n)
			}
			if got := staticStatsOf(t, s).Served; got != int64(i+1) {
				t.Errorf("served %d, want %d", got, i+1)
			}
		})
	}
}

func TestStaticNotFound(t *testing.T) {
	s := newStaticServer(t, StaticOptions{})
	for _, path := range []string{"/static/app.jsx", "/static/APP.JS", "/static/js/app.js", "/static/"} {
		if r := do(t, s, http.MethodGet, path, ""); r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}
	if got := staticStatsOf(t, s).Served; got != 0 {
		t.Errorf("served %d after only 404s, want 0", got)
	}
}

func TestStaticCacheControl(t *testing.T) {
	for _, c := range []struct {
		maxAge time.Duration
		want   string
	}{
		{0, "public, max-age=60"},
		{5 * time.Second, "public, max-age=5"},
		{time.Hour, "public, max-age=3600"},
		{StaticNoStore, "no-store"},
	} {
		r := do(t, newStaticServer(t, StaticOptions{MaxAge: c.maxAge}), http.MethodGet, "/static/app.css", "")
		if got := r.header.Get("Cache-Control"); r.code != http.StatusOK || got != c.want {
			t.Errorf("max-age %v: %d Cache-Control %q, want 200 %q", c.maxAge, r.code, got, c.want)
		}
	}
}

func TestStaticPage(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  StaticOptions
		query string
	}{
		{"versioned", StaticOptions{}, "?v=1"},
		{"unversioned", StaticOptions{Unversioned: true}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStaticServer(t, c.opts)
			r := do(t, s, http.MethodGet, "/page", "")
			if r.code != http.StatusOK {
				t.Fatalf("status %d: %s", r.code, r.body)
			}
			for h, want := range map[string]string{
				"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
				AssetVersionHeader: "1", ServerHeader: "web1",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			for _, tag := range []string{
				`<script src="/static/app.js` + c.query + `"></script>`,
				`<link rel="stylesheet" href="/static/app.css` + c.query + `">`,
				`<img src="/static/logo.svg` + c.query + `">`,
			} {
				if n := strings.Count(r.body, tag); n != 1 {
					t.Errorf("%s appears %d times, want once:\n%s", tag, n, r.body)
				}
			}
			for _, name := range []string{"app.js", "app.css", "logo.svg"} {
				if n := strings.Count(r.body, name); n != 1 {
					t.Errorf("%s is named %d times, want once", name, n)
				}
			}
			if got := staticStatsOf(t, s).Served; got != 0 {
				t.Errorf("the page counted as %d assets served", got)
			}
		})
	}
}

func TestStaticPublish(t *testing.T) {
	s := newStaticServer(t, StaticOptions{})
	wantJSON(t, do(t, s, http.MethodPost, "/static/publish", ""), http.StatusOK, `{"version": 2}`)
	wantJSON(t, do(t, s, http.MethodPost, "/static/publish", ""), http.StatusOK, `{"version": 3}`)

	r := do(t, s, http.MethodGet, "/static/app.js?v=1", "")
	if r.header.Get(AssetVersionHeader) != "3" || !strings.HasPrefix(r.body, "/* app.js version 3 */\n") {
		t.Errorf("after two publishes: Asset-Version %q, body %q", r.header.Get(AssetVersionHeader), r.body)
	}
	r = do(t, s, http.MethodGet, "/page", "")
	if r.header.Get(AssetVersionHeader) != "3" || !strings.Contains(r.body, `<img src="/static/logo.svg?v=3">`) {
		t.Errorf("page after two publishes: Asset-Version %q, body %s", r.header.Get(AssetVersionHeader), r.body)
	}
	wantJSON(t, do(t, s, http.MethodGet, "/static-stats", ""), http.StatusOK, `{"version": 3, "served": 1}`)
}

// Concurrent publishes each get their own version: none is lost or given
// twice.
func TestStaticPublishConcurrent(t *testing.T) {
	s := newStaticServer(t, StaticOptions{})
	const n = 50
	versions := make(chan int64, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var got struct{ Version int64 }
			r := do(t, s, http.MethodPost, "/static/publish", "")
			if err := json.Unmarshal([]byte(r.body), &got); r.code != http.StatusOK || err != nil {
				t.Errorf("publish: %d %s %v", r.code, r.body, err)
			}
			versions <- got.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] || v < 2 || v > n+1 {
			t.Errorf("version %d given twice or out of range", v)
		}
		seen[v] = true
	}
	if got := staticStatsOf(t, s).Version; got != n+1 {
		t.Errorf("version %d after %d publishes, want %d", got, n, n+1)
	}
}

func TestStaticMethods(t *testing.T) {
	s := newStaticServer(t, StaticOptions{})
	for _, c := range []struct {
		method, path, allow string
	}{
		{http.MethodPost, "/static/app.js", "GET, HEAD"},
		{http.MethodPut, "/static/nope", "GET, HEAD"},
		{http.MethodGet, "/static/publish", "POST"},
		{http.MethodPut, "/static/publish", "POST"},
		{http.MethodPost, "/static-stats", "GET, HEAD"},
		{http.MethodPost, "/page", "GET, HEAD"},
	} {
		r := do(t, s, c.method, c.path, "")
		if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", c.method, c.path, r.code, r.header.Get("Allow"), c.allow)
		}
	}
	// HEAD is served (and counted: it reached the origin) without a body.
	r := do(t, s, http.MethodHead, "/static/logo.svg", "")
	if r.code != http.StatusOK || r.body != "" || r.header.Get(AssetVersionHeader) != "1" {
		t.Errorf("HEAD: %d %q %v", r.code, r.body, r.header)
	}
	wantJSON(t, do(t, s, http.MethodGet, "/static-stats", ""), http.StatusOK, `{"version": 1, "served": 1}`)
}

func TestConfigStatic(t *testing.T) {
	for _, c := range []struct {
		name        string
		args        []string
		env         []string
		maxAge      time.Duration
		unversioned bool
	}{
		{"defaults", nil, nil, 0, false},
		{"flags", []string{"-static-max-age", "30s", "-static-versioned=false"}, nil, 30 * time.Second, true},
		{"no-store", []string{"-static-max-age", "0"}, nil, StaticNoStore, false},
		{"env", nil, []string{EnvStaticMaxAge, "2m", EnvStaticVersioned, "false"}, 2 * time.Minute, true},
		{"flags win", []string{"-static-max-age", "5s", "-static-versioned"}, []string{EnvStaticMaxAge, "0", EnvStaticVersioned, "false"},
			5 * time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig(append([]string{"-db", testDSN}, c.args...), env(c.env...), nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.StaticMaxAge != c.maxAge || cfg.StaticUnversioned != c.unversioned {
				t.Errorf("max-age %v unversioned %v, want %v %v", cfg.StaticMaxAge, cfg.StaticUnversioned, c.maxAge, c.unversioned)
			}
		})
	}
}

func TestConfigStaticErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-static-max-age", "-1s"}, nil, "must be >= 0"},
		{[]string{"-static-max-age", "1500ms"}, nil, "whole seconds"},
		{[]string{"-static-max-age", "soon"}, nil, "-static-max-age"},
		{[]string{"-static-versioned=maybe"}, nil, "-static-versioned"},
		{nil, []string{EnvStaticMaxAge, "soon"}, EnvStaticMaxAge},
		{nil, []string{EnvStaticVersioned, "maybe"}, EnvStaticVersioned},
	} {
		_, err := ParseConfig(append([]string{"-db", testDSN}, c.args...), env(c.env...), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q %q: error %v, want one line containing %q", c.args, c.env, err, c.want)
		}
	}
	// A Config built in code is checked too.
	for _, d := range []time.Duration{-2 * time.Second, 100 * time.Millisecond} {
		if err := (Config{Listen: ":1", DB: testDSN, MaxConns: 1, StaticMaxAge: d}).Validate(); err == nil {
			t.Errorf("StaticMaxAge %v: no error", d)
		}
	}
	for _, d := range []time.Duration{0, StaticNoStore, time.Second} {
		if err := (Config{Listen: ":1", DB: testDSN, MaxConns: 1, StaticMaxAge: d}).Validate(); err != nil {
			t.Errorf("StaticMaxAge %v: %v", d, err)
		}
	}
}

// The usage text documents both flags.
func TestConfigStaticHelp(t *testing.T) {
	var out strings.Builder
	if _, err := ParseConfig([]string{"-h"}, env(), &out); err != ErrHelp {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"-static-max-age", EnvStaticMaxAge, "no-store", "-static-versioned", EnvStaticVersioned} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
