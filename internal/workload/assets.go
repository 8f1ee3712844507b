package workload

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Page loads (Config.Assets, stage 6, CDN): every scheduled op is a browser
// loading a page.
//
// The client GETs PagePath from the origin (the base URL Run was given),
// bounded by Timeout, and records a history.Page op with Value = the page's
// AssetVersionHeader. It parses the static assets the page names (src="..."
// and href="..." starting with /static/) and loads each in turn, as a
// browser does on one connection: from the edge, and, with Fallback, from
// the origin when the edge fails. Every asset is one history.Asset op,
// recorded as it completes.
//
// A client remembers the last page it parsed. When the page fails it loads
// that page's assets anyway, like a browser showing a page from its own
// cache, so an outage of the origin's pages still exercises the edge; a
// client that never got a page loads nothing.
//
// Assets are reads: no load has an effect, so none is ever Unknown (see
// classifyTransportError: a read without an answer is Failed, a timeout
// included).

// PagePath is the page a browser-like client loads: it names the assets.
const PagePath = "/page"

// AssetVersionHeader is mysite's version of a page's assets, or of the
// bytes of one asset; an edge cache keeps it with the copy it stores. (The
// same name as mysite.AssetVersionHeader, repeated because the wire, not
// the app's Go package, is the contract.)
const AssetVersionHeader = "Asset-Version"

// AssetsConfig makes every op a page load (Config.Assets).
type AssetsConfig struct {
	// Edge is the base URL of the edge cache that serves the assets'
	// paths: http://host[:port].
	Edge string `json:"edge"`
	// EdgeTimeout bounds one attempt at the edge, so that a slow edge
	// leaves time to fall back to the origin; 0 means only the op's
	// Timeout bounds it (and a timed-out edge leaves no time to fall back).
	EdgeTimeout time.Duration `json:"edge_timeout_ns,omitempty"`
	// Fallback: when the edge fails (no answer, a timeout, or an answer
	// other than 200), fetch the same path from the origin within what is
	// left of the op's Timeout.
	Fallback bool `json:"fallback,omitempty"`
}

// validate reports the problems of a within workload c.
func (a AssetsConfig) validate(c Config) []error {
	var errs []error
	if _, err := parseBaseURL(a.Edge); err != nil {
		errs = append(errs, fmt.Errorf("assets edge: %w", err))
	}
	switch {
	case a.EdgeTimeout < 0:
		errs = append(errs, fmt.Errorf("assets edge timeout must be >= 0 (0 = the op timeout only), got %v", a.EdgeTimeout))
	case a.EdgeTimeout > 0 && c.Timeout > 0 && a.EdgeTimeout >= c.Timeout:
		errs = append(errs, fmt.Errorf("assets edge timeout %v must be below the op timeout %v, to leave time to fall back", a.EdgeTimeout, c.Timeout))
	}
	if c.Sessions {
		errs = append(errs, errors.New("assets and sessions cannot be combined: a page load is not a logged-in request"))
	}
	return errs
}

// pageLoader loads pages and their assets for one Run.
type pageLoader struct {
	client       *http.Client
	origin, edge string // base URLs, no trailing slash
	timeout      time.Duration
	edgeTimeout  time.Duration // 0: only timeout
	fallback     bool

	mu   sync.Mutex
	last []page // per client: the last page parsed
}

// page is what a client learnt from a page: the version it was rendered
// with and the assets it names (paths with their query, as named).
type page struct {
	version string
	assets  []string
}

func newPageLoader(client *http.Client, origin string, cfg Config) (*pageLoader, error) {
	o, err := parseBaseURL(origin)
	if err != nil {
		return nil, err
	}
	e, err := parseBaseURL(cfg.Assets.Edge)
	if err != nil {
		return nil, fmt.Errorf("assets edge: %w", err)
	}
	return &pageLoader{client: client, origin: o, edge: e, timeout: cfg.Timeout,
		edgeTimeout: cfg.Assets.EdgeTimeout, fallback: cfg.Assets.Fallback, last: make([]page, cfg.Clients)}, nil
}

// loadPage runs slot d as a page load: the page, then each asset it names,
// each recorded as its own op when it completes. The slot stays in flight
// from the page to the last asset, so the in-flight cap and the drain
// count the whole load.
//
// Assets are not started once the workload's end has come: the history
// holds no op invoked at or after its End, and a load cut there is what
// any op scheduled after the end is, not sent (counted in Stats.AssetsCut).
func (e *engine) loadPage(ctx context.Context, d Decision, onSend func()) {
	res, p := e.pages.page(ctx, onSend)
	if res.outcome == history.OK {
		e.pages.remember(d.Client, p)
	} else {
		p = e.pages.recall(d.Client)
	}
	complete := e.clock.Now()
	for i, path := range p.assets {
		invoke := e.clock.Now()
		if invoke >= e.start+e.end.get(e.duration) {
			e.cutAssets(len(p.assets) - i)
			break
		}
		next := history.Op{Client: d.Client, Kind: history.Asset, Key: assetKey(path), Expect: p.version, Invoke: invoke}
		if !e.finishThen(d.Seq, res, complete, &next) {
			return // the drain deadline sealed the run
		}
		res = e.pages.asset(ctx, path)
		complete = e.clock.Now()
	}
	e.finish(d.Seq, res, complete)
}

func (e *engine) cutAssets(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.AssetsCut += n
}

// remember keeps p as client's last page.
func (l *pageLoader) remember(client int, p page) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last[client] = p
}

// recall is client's last page (none when it never got one).
func (l *pageLoader) recall(client int) page {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[client]
}

// page GETs the page from the origin within Timeout. OK takes a 200 whose
// body could be read; its Value is the page's asset version.
func (l *pageLoader) page(parent context.Context, onSend func()) (result, page) {
	ctx, cancel := context.WithTimeout(parent, l.timeout)
	defer cancel()
	f := l.get(ctx, l.origin+PagePath, "text/html", onSend)
	r := f.result()
	if r.outcome != history.OK {
		return r, page{}
	}
	return r, page{version: r.value, assets: assetPaths(f.body)}
}

// asset loads one asset, path with its query, within Timeout: from the
// edge within EdgeTimeout, then, when that failed and Fallback is on, from
// the origin within what is left. The result is the last attempt's, with
// source saying whose it is; when both failed its error names both. When
// nothing is left (the edge used up the whole Timeout) the origin is not
// asked: the load failed at the edge.
func (l *pageLoader) asset(parent context.Context, path string) result {
	ctx, cancel := context.WithTimeout(parent, l.timeout)
	defer cancel()
	edge := l.attempt(ctx, l.edge+path, l.edgeTimeout)
	edge.source = history.SourceEdge
	if edge.outcome == history.OK || !l.fallback || ctx.Err() != nil {
		return edge
	}
	origin := l.attempt(ctx, l.origin+path, 0)
	origin.source = history.SourceOrigin
	if origin.outcome != history.OK {
		origin.err = "edge: " + edge.err + "; origin: " + origin.err
	}
	return origin
}

// attempt GETs url once, within bound when it is > 0 (and ctx's deadline
// in any case).
func (l *pageLoader) attempt(ctx context.Context, url string, bound time.Duration) result {
	if bound > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, bound)
		defer cancel()
	}
	return l.get(ctx, url, "*/*", nil).result()
}

// fetched is one GET's answer, or why there was none.
type fetched struct {
	status int
	header http.Header
	body   []byte
	err    string // "" when a whole answer came, whatever its status
}

// get performs one GET of url on ctx, reading the whole body: a browser
// has not loaded an asset until its last byte came. onSend, when not nil,
// is called just before the request is handed to the transport.
func (l *pageLoader) get(ctx context.Context, url, accept string, onSend func()) fetched {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{err: "building request: " + err.Error()}
	}
	req.Header.Set("Accept", accept)
	if onSend != nil {
		onSend()
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fetched{err: describeError(err, ctx)}
	}
	defer resp.Body.Close()
	f := fetched{status: resp.StatusCode, header: resp.Header}
	f.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		f.err = fmt.Sprintf("%d with unusable body: reading body: %s", resp.StatusCode, describeError(err, ctx))
	}
	return f
}

// result classifies a page or asset GET. Both are reads, so the rules are
// those of classifyTransportError and classifyResponse for reads, with 200
// the only answer that serves the user:
//
//   - no answer (refused, reset, timeout) or a body cut short -> Failed.
//     WHY never Unknown: a GET has no effect, so there is nothing the
//     client could be unsure happened; it only did not get the bytes.
//   - 200 -> OK, Value = the AssetVersionHeader ("" when absent).
//   - any other status -> Failed. WHY 404 is not "OK, missing" as for a
//     user: every asset a page names exists, so a 404 is a broken page.
func (f fetched) result() result {
	r := result{status: f.status, server: f.header.Get(ServerHeader)}
	switch {
	case f.err != "":
		r.outcome, r.err = history.Failed, f.err
	case f.status != http.StatusOK:
		r.outcome, r.err = history.Failed, statusError(f.status, f.body)
	default:
		r.outcome, r.value = history.OK, strings.TrimSpace(f.header.Get(AssetVersionHeader))
	}
	return r
}

// assetRef finds the static assets a page names: the value of a src or
// href attribute that starts with /static/.
var assetRef = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"(/static/[^"]*)"`)

// assetPaths lists the assets body names, each once, in the order named
// (a browser fetches them in that order). Attribute values are unescaped as
// a browser would (&amp; in a query string).
func assetPaths(body []byte) []string {
	var paths []string
	seen := make(map[string]bool)
	for _, m := range assetRef.FindAllSubmatch(body, -1) {
		p := html.UnescapeString(string(m[1]))
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	return paths
}

// assetKey is the history key of an asset: its path without the query (a
// new version is a new URL, but the same asset).
func assetKey(path string) string {
	key, _, _ := strings.Cut(path, "?")
	key, _, _ = strings.Cut(key, "#")
	return key
}
