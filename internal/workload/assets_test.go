package workload

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// fakeStatic is mysite's static part as the contract has it: GET /page
// names three assets at the current version, GET /static/{name} serves
// one with its version. Set fail to make /page answer 503.
type fakeStatic struct {
	version atomic.Int64
	fail    atomic.Bool
	pages   atomic.Int64 // GET /page requests
	served  atomic.Int64 // asset requests answered 200
}

var fakeAssets = []string{"/static/app.css", "/static/app.js", "/static/logo.svg"}

func newFakeStatic(t *testing.T) (*fakeStatic, *httptest.Server) {
	t.Helper()
	f := &fakeStatic{}
	f.version.Store(2)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeStatic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := strconv.FormatInt(f.version.Load(), 10)
	switch {
	case r.URL.Path == PagePath:
		f.pages.Add(1)
		if f.fail.Load() {
			http.Error(w, `{"error":"page down"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set(AssetVersionHeader, v)
		q := "?v=" + v
		fmt.Fprintf(w, `<!doctype html><html><head><link rel="stylesheet" href="/static/app.css%[1]s">
<script src="/static/app.js%[1]s"></script><a href="/about">about</a></head>
<body><img src="/static/logo.svg%[1]s"></body></html>`, q)
	case slices.Contains(fakeAssets, r.URL.Path):
		f.served.Add(1)
		w.Header().Set(AssetVersionHeader, v)
		w.Header().Set(ServerHeader, "origin")
		fmt.Fprintf(w, "/* %s version %s */", r.URL.Path, v)
	default:
		http.NotFound(w, r)
	}
}

// fakeEdge serves every asset from its "cache" at version, marked HIT, or
// runs hook first when set (returning true when it answered).
func fakeEdge(t *testing.T, version string, hook func(http.ResponseWriter, *http.Request) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		if !slices.Contains(fakeAssets, r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set(AssetVersionHeader, version)
		w.Header().Set("X-Cache-Status", "HIT")
		fmt.Fprintf(w, "/* %s version %s */", r.URL.Path, version)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is the URL of a server that is gone: connections are refused.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func pageConfig(edge string, fallback bool) Config {
	cfg := testConfig()
	cfg.Rate, cfg.Duration, cfg.Clients = 20, 300*time.Millisecond, 2 // 6 page loads
	cfg.Assets = &AssetsConfig{Edge: edge, Fallback: fallback}
	return cfg
}

// split returns the page ops and the asset ops of h.
func split(h history.History) (pages, assets []history.Op) {
	for _, op := range h.Ops {
		switch op.Kind {
		case history.Page:
			pages = append(pages, op)
		case history.Asset:
			assets = append(assets, op)
		}
	}
	return pages, assets
}

func TestPageLoads(t *testing.T) {
	slowEdge := func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		return true
	}
	answer503 := func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "edge sick", http.StatusServiceUnavailable)
		return true
	}
	// edge makes an edge serving version, hook first (nil: none).
	edge := func(version string, hook func(http.ResponseWriter, *http.Request) bool) func(t *testing.T) string {
		return func(t *testing.T) string { return fakeEdge(t, version, hook).URL }
	}
	const edgeTimeout = 100 * time.Millisecond
	for _, tc := range []struct {
		name        string
		edge        func(t *testing.T) string
		fallback    bool
		edgeTimeout time.Duration
		outcome     history.Outcome
		source      string
		status      int
		value       string // the assets' version received
		err         string // part of a failed asset's error
		minLatency  time.Duration
	}{
		{"edge ok", edge("2", nil), false, 0, history.OK, history.SourceEdge, 200, "2", "", 0},
		{"edge serves an older version", edge("1", nil), false, 0, history.OK, history.SourceEdge, 200, "1", "", 0},
		{"edge down, fallback", closedURL, true, 0, history.OK, history.SourceOrigin, 200, "2", "", 0},
		{"edge down, no fallback", closedURL, false, 0, history.Failed, history.SourceEdge, 0, "", "connection refused", 0},
		{"edge 503, fallback", edge("2", answer503), true, 0, history.OK, history.SourceOrigin, 200, "2", "", 0},
		{"edge 503, no fallback", edge("2", answer503), false, 0, history.Failed, history.SourceEdge, 503, "", "503", 0},
		{"edge slow, fallback after the edge timeout", edge("2", slowEdge), true, edgeTimeout,
			history.OK, history.SourceOrigin, 200, "2", "", edgeTimeout},
		{"edge slow, no fallback: a timeout is failed", edge("2", slowEdge), false, edgeTimeout,
			history.Failed, history.SourceEdge, 0, "", "timeout", edgeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin, srv := newFakeStatic(t)
			cfg := pageConfig(tc.edge(t), tc.fallback)
			cfg.Assets.EdgeTimeout = tc.edgeTimeout
			rec, stats, err := Run(context.Background(), cfg, srv.URL, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := rec.History()
			pages, assets := split(h)
			// The assets of the last pages may be cut by the end when
			// they are slow (100 ms each, the last page at 250 ms of 300).
			if len(pages) != 6 || len(assets)+stats.AssetsCut != 18 || len(assets) < 12 || len(h.Ops) != 6+len(assets) ||
				stats.Sent != 6 || origin.pages.Load() != 6 {
				t.Fatalf("%d pages, %d assets of %d ops, stats %+v: want 6 page loads of 3 assets", len(pages), len(assets), len(h.Ops), stats)
			}
			for _, p := range pages {
				if p.Outcome != history.OK || p.Key != PagePath || p.Value != "2" || p.Status != 200 {
					t.Fatalf("page %+v", p)
				}
			}
			for _, a := range assets {
				if !slices.Contains(fakeAssets, a.Key) {
					t.Fatalf("asset key %q: want one of %v, without the query", a.Key, fakeAssets)
				}
				if a.Outcome != tc.outcome || a.Source != tc.source || a.Status != tc.status || a.Expect != "2" ||
					a.Complete < a.Invoke || a.Invoke >= h.End || a.Latency() < tc.minLatency {
					t.Fatalf("asset %+v; want outcome %s source %s status %d expect 2, latency >= %v, invoked before the end %v",
						a, tc.outcome, tc.source, tc.status, tc.minLatency, h.End)
				}
				if tc.outcome == history.OK && (a.Value != tc.value || a.Error != "") {
					t.Fatalf("asset %+v: want value %q and no error", a, tc.value)
				}
				if tc.outcome != history.OK && !strings.Contains(a.Error, tc.err) {
					t.Fatalf("asset %+v: want an error containing %q", a, tc.err)
				}
			}
			fromOrigin := 0
			if tc.source == history.SourceOrigin && tc.outcome == history.OK {
				fromOrigin = len(assets)
			}
			if got := origin.served.Load(); got != int64(fromOrigin) {
				t.Fatalf("origin served %d assets, want %d", got, fromOrigin)
			}
		})
	}
}

// Both the edge and the origin failing is a failed load whose error names
// both, with the origin's status.
func TestAssetFallbackBothFail(t *testing.T) {
	_, srv := newFakeStatic(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	cfg := pageConfig(closedURL(t), true)
	l, err := newPageLoader(newHTTPClient(4, time.Second), srv.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.origin = broken.URL
	r := l.asset(context.Background(), "/static/app.js?v=2")
	if r.outcome != history.Failed || r.source != history.SourceOrigin || r.status != 500 ||
		!strings.Contains(r.err, "edge: connection refused") || !strings.Contains(r.err, "origin: 500") {
		t.Fatalf("%+v", r)
	}
}

// The stale-detection data the checker needs: the page promised version 3,
// the edge served version 2.
func TestStaleAssetsRecorded(t *testing.T) {
	origin, srv := newFakeStatic(t)
	origin.version.Store(3)
	rec, _, err := Run(context.Background(), pageConfig(fakeEdge(t, "2", nil).URL, true), srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	s := check.Assets(h, check.WholeRun(h))
	if s.Total != 18 || s.OK != 18 || s.FromEdge != 18 || s.Stale != 18 || !slices.Equal(s.StaleKeys, []string{"/static/app.css", "/static/app.js", "/static/logo.svg"}) {
		t.Fatalf("%+v", s)
	}
}

// newPageEngine is an engine for page loads driven one op at a time, so
// that what a client remembers between loads is deterministic.
func newPageEngine(t *testing.T, cfg Config, origin string) *engine {
	t.Helper()
	hc := newHTTPClient(4, cfg.Timeout)
	t.Cleanup(hc.CloseIdleConnections)
	l, err := newPageLoader(hc, origin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := NewClock()
	return &engine{clock: clock, rec: NewRecorder(clock), pages: l, cap: 10, duration: time.Hour, inFlight: map[int]history.Op{}}
}

// loadOne launches one page load of client and waits until it is recorded.
func (e *engine) loadOne(seq, client int) {
	e.launch(context.Background(), Decision{Seq: seq, At: e.clock.Now() - e.start, Client: client, Kind: history.Page, Key: PagePath})
	e.wg.Wait()
}

// A failed page still loads the assets of the client's last page, as a
// browser with the page in its cache; a client that never had a page loads
// nothing.
func TestFailedPageLoadsLastAssets(t *testing.T) {
	origin, srv := newFakeStatic(t)
	e := newPageEngine(t, pageConfig(fakeEdge(t, "2", nil).URL, false), srv.URL)
	e.loadOne(0, 0) // client 0 gets the page at version 2
	origin.fail.Store(true)
	origin.version.Store(3) // what a failed page would have said: must not show
	e.loadOne(1, 0)         // page fails: the version-2 assets are loaded again
	e.loadOne(2, 1)         // client 1 never had a page: nothing to load

	var byClient [2][]history.Op
	for _, op := range e.rec.History().Ops {
		byClient[op.Client] = append(byClient[op.Client], op)
	}
	c0, c1 := byClient[0], byClient[1]
	if len(c0) != 8 || len(c1) != 1 {
		t.Fatalf("client 0: %d ops, client 1: %d ops; want 8 (two page loads) and 1 (the page only)", len(c0), len(c1))
	}
	if p := c0[4]; p.Kind != history.Page || p.Outcome != history.Failed || p.Status != 503 || p.Value != "" {
		t.Fatalf("failed page %+v", p)
	}
	for i, a := range c0[5:] {
		if a.Kind != history.Asset || a.Outcome != history.OK || a.Expect != "2" || a.Key != c0[1+i].Key || a.Invoke < c0[4].Complete {
			t.Fatalf("asset after a failed page %+v, want %s of the version-2 page, after the page", a, c0[1+i].Key)
		}
	}
	if p := c1[0]; p.Kind != history.Page || p.Outcome != history.Failed {
		t.Fatalf("client 1: %+v", p)
	}
	if s := e.finalStats(); s.Sent != 3 || s.OK != 7 || s.Failed != 2 {
		t.Fatalf("stats %v", s)
	}
}

// No asset is started once the workload's end has come: the history holds
// no op invoked at or after its End.
func TestAssetsCutAtTheEnd(t *testing.T) {
	_, srv := newFakeStatic(t)
	e := newPageEngine(t, pageConfig(fakeEdge(t, "2", nil).URL, false), srv.URL)
	e.duration = time.Nanosecond // the end has come by the time the page answers
	e.loadOne(0, 0)
	ops := e.rec.History().Ops
	if len(ops) != 1 || ops[0].Kind != history.Page || ops[0].Outcome != history.OK {
		t.Fatalf("ops %+v, want the page alone", ops)
	}
	if s := e.finalStats(); s.AssetsCut != 3 {
		t.Fatalf("stats %+v, want 3 assets cut", s)
	}
}

// At the drain deadline the asset in flight is recorded abandoned (failed:
// a read) and the page load stops there.
func TestPageLoadAbandoned(t *testing.T) {
	_, srv := newFakeStatic(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	edge := fakeEdge(t, "2", func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		return true
	})
	cfg := pageConfig(edge.URL, true)
	cfg.Timeout = 5 * time.Second
	e := newPageEngine(t, cfg, srv.URL)
	ctx, abandon := context.WithCancelCause(context.Background())
	e.launch(ctx, Decision{Seq: 0, Kind: history.Page, Key: PagePath})
	for deadline := time.Now().Add(2 * time.Second); e.rec.Len() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	e.drain(50*time.Millisecond, abandon)
	e.wg.Wait()
	ops := e.rec.History().Ops
	if len(ops) != 2 || ops[0].Kind != history.Page || ops[1].Kind != history.Asset ||
		ops[1].Outcome != history.Failed || ops[1].Error != errAbandoned.Error() || ops[1].Key != "/static/app.css" {
		t.Fatalf("ops %+v, want the page and its first asset abandoned", ops)
	}
}

func TestAssetPaths(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       []string
	}{
		{"versioned", `<link rel="stylesheet" href="/static/app.css?v=3"><script src="/static/app.js?v=3"></script><img src="/static/logo.svg?v=3">`,
			[]string{"/static/app.css?v=3", "/static/app.js?v=3", "/static/logo.svg?v=3"}},
		{"unversioned", `<script src="/static/app.js"></script><img src="/static/logo.svg">`,
			[]string{"/static/app.js", "/static/logo.svg"}},
		{"each once, in order", `<img src="/static/b.svg"><img src="/static/a.svg"><img src="/static/b.svg">`,
			[]string{"/static/b.svg", "/static/a.svg"}},
		{"only /static/", `<a href="/about">x</a><img src="https://cdn.example/static/x.png"><img src="static/y.png">`, nil},
		{"escaped query", `<script SRC = "/static/app.js?v=3&amp;x=1"></script>`, []string{"/static/app.js?v=3&x=1"}},
		{"no page", ``, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := assetPaths([]byte(tt.body)); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAssetKey(t *testing.T) {
	for path, want := range map[string]string{
		"/static/app.js?v=3":   "/static/app.js",
		"/static/app.js":       "/static/app.js",
		"/static/app.js#x":     "/static/app.js",
		"/static/app.js?v=3#x": "/static/app.js",
	} {
		if got := assetKey(path); got != want {
			t.Errorf("assetKey(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestAssetsConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		assets AssetsConfig
		edit   func(*Config)
		err    string // part of the error; "" for none
	}{
		{"ok", AssetsConfig{Edge: "http://edge:8080"}, nil, ""},
		{"ok with an edge timeout", AssetsConfig{Edge: "http://edge:8080/", EdgeTimeout: 200 * time.Millisecond, Fallback: true}, nil, ""},
		{"no edge", AssetsConfig{}, nil, "assets edge"},
		{"edge without scheme", AssetsConfig{Edge: "edge:8080"}, nil, "assets edge"},
		{"edge not http", AssetsConfig{Edge: "ftp://edge"}, nil, "assets edge"},
		{"negative edge timeout", AssetsConfig{Edge: "http://edge", EdgeTimeout: -time.Second}, nil, "edge timeout must be >= 0"},
		{"edge timeout = timeout", AssetsConfig{Edge: "http://edge", EdgeTimeout: time.Second}, nil, "below the op timeout"},
		{"with sessions", AssetsConfig{Edge: "http://edge"}, func(c *Config) { c.Sessions = true }, "sessions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig() // Timeout 1s
			cfg.Assets = &tt.assets
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			err := cfg.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// With Assets every decision is a page load; the clients are still drawn
// from the seed.
func TestScheduleOfPages(t *testing.T) {
	cfg := pageConfig("http://edge", false)
	ds := decisions(t, cfg)
	if len(ds) != 6 {
		t.Fatalf("%d decisions", len(ds))
	}
	for _, d := range ds {
		if d.Kind != history.Page || d.Key != PagePath || d.WriteID != "" || d.Client < 0 || d.Client >= cfg.Clients {
			t.Fatalf("decision %+v", d)
		}
	}
	if again := decisions(t, cfg); !slices.EqualFunc(ds, again, func(a, b Decision) bool { return a.Client == b.Client && a.At == b.At }) {
		t.Fatal("the same seed made another schedule")
	}
}

// An edge that uses up the whole Timeout (no EdgeTimeout) leaves nothing
// to fall back with: the origin is not asked, and the load failed at the
// edge.
func TestAssetNoTimeLeftToFallBack(t *testing.T) {
	origin, srv := newFakeStatic(t)
	slow := fakeEdge(t, "2", func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	cfg := pageConfig(slow.URL, true)
	cfg.Timeout = 150 * time.Millisecond
	l, err := newPageLoader(newHTTPClient(4, cfg.Timeout), srv.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := l.asset(context.Background(), "/static/app.js?v=2")
	if r.outcome != history.Failed || r.source != history.SourceEdge || r.err != "timeout" || origin.served.Load() != 0 {
		t.Fatalf("%+v (origin served %d)", r, origin.served.Load())
	}
}
