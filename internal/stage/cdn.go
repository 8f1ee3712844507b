package stage

import (
	"fmt"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 6.
const (
	AssetsLoad       = "assets-load"       // every asset a page names loads, from the edge or the origin
	AssetsFailFast   = "assets-fail-fast"  // a slow edge costs an asset at most the client's edge timeout
	EdgeServesStale  = "edge-serves-stale" // with the origin down, the edge serves the copies it holds
	FreshAssets      = "fresh-assets"      // a page's assets come in the version the page names
	OriginOffloadMin = "origin-offload"    // most asset loads never reach the origin
)

// Settings of stage 6.
var (
	cdnMaxAge = Duration("max_age", "2s",
		"the Cache-Control max-age the origin gives its assets (whole seconds): how long the edge may serve a copy without asking the origin. 0: no-store, the edge keeps nothing").Checked(cdnWholeSeconds)
	cdnServeStale = OnOff("serve_stale", "on",
		"the edge serves an expired copy when the origin fails (nginx proxy_cache_use_stale), and refreshes it in the background")
	cdnFallback = Choice("fallback", "origin",
		"what a browser does when the edge fails or is slower than cdn_timeout: origin (fetch the asset from the origin), none (the asset is missing)",
		"origin", "none")
	cdnVersioned = OnOff("versioned", "on",
		"the page names its assets with their version (/static/app.js?v=2): a new version is a new URL, which no cache holds yet")
	cdnTimeout = Duration("cdn_timeout", "300ms",
		"how long a browser waits for the edge before falling back to the origin; 0: no bound but the request's own 1 s").Checked(cdnBelowClientTimeout)
	// cdn-latency's
	cdnLatency = Duration("latency", "1s", "latency added to the client->cdn link, each way")
)

// cdnClientTimeout is how long a browser waits for a page or an asset.
const cdnClientTimeout = time.Second

// cdnAssets is how many assets the page names (mysite's app.js, app.css,
// logo.svg).
const cdnAssets = 3

// Stage 6: a CDN. An edge cache (nginx's proxy_cache, the pull model of a
// CDN) in front of the origin's static assets: browsers load the page from
// the origin and its assets from the edge, which asks the origin once per
// max-age. The origin no longer serves most asset requests; the new ways to
// fail are the edge itself (down, slow), an origin the edge cannot refresh
// from, and copies older than the page that names them.
func init() {
	register(Stage{
		ID: "cdn", Number: 6, Title: "CDN",
		Adds:  "an edge cache (nginx proxy_cache) in front of the origin's static assets: pages name their assets with a version, browsers load them from the edge",
		Fixes: "most asset requests never reach the origin; assets come from a server near the user",
		Weak:  "an edge that is down or slow (clients must fall back to the origin), an origin the edge cannot refresh from, copies older than the page",
		Lab:   "labs/06-cdn",
		Settings: []Setting{cdnMaxAge.Setting, cdnServeStale.Setting, cdnFallback.Setting,
			cdnVersioned.Setting, cdnTimeout.Setting},
		Stack:    cdnStack,
		Entry:    "client->origin",
		EdgeLink: "client->cdn",
		// A browser gives up on a page after 1 s (the origin answers in
		// milliseconds): a dead origin, whose connections hang behind
		// Toxiproxy, costs a page load that second, after which the
		// browser loads the assets of the page it had (see PageLoads).
		// With 5 s, a 5 s outage would see hardly an asset load.
		ClientTimeout: cdnClientTimeout,
		// The origin's count of asset requests answered, and the asset
		// version it serves: the offload is measured against it.
		Counters: stacks.MysiteAssets,
		PageLoads: func(set Settings) workload.AssetsConfig {
			return workload.AssetsConfig{EdgeTimeout: cdnTimeout.Get(set), Fallback: cdnFallback.Get(set) == "origin"}
		},
		Faults: []Fault{
			{
				ID:     "cdn-outage",
				Help:   "SIGKILL the edge under load: browsers that fall back to the origin still load every asset",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "cdn"}} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cdnAssetsLoad(ev)}
				},
				Controls: []Control{cdnNoFallbackControl},
			},
			{
				ID:       "cdn-latency",
				Help:     "add latency to the client->cdn link: browsers give up on the edge after cdn_timeout and fetch from the origin",
				Settings: []Setting{cdnLatency.Setting},
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Latency{Link: "client->cdn", Latency: cdnLatency.Get(set)}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					g := cdnAssetsFailFast(ev, set)
					if lat := cdnLatency.Get(set); lat <= cdnFailFastBound(set) {
						g.Vacuous = fmt.Sprintf("latency=%v is within the bound %v (cdn_timeout + %v): even a browser that waits it out is not slower", lat, cdnFailFastBound(set), cdnMargin)
					}
					return []verdict.Guarantee{cdnAssetsLoad(ev), g}
				},
				Controls: []Control{
					// Every asset then waits out the latency at the edge
					// (a round trip is two of it) before it comes.
					{Name: "no edge timeout", Set: Values(cdnTimeout.Is(0)), Breaks: []string{AssetsFailFast}},
					// A browser that gave up on the slow edge has nowhere
					// else to go.
					cdnNoFallbackControl,
				},
			},
			{
				ID:     "origin-outage",
				Help:   "SIGKILL the origin under load while the edge holds the assets: their copies expire during the outage",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "origin"}} },
				// Not judged: the pages themselves, which only the origin
				// serves. Browsers load the assets of the last page they
				// had (workload.AssetsConfig), so the edge is still asked.
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					g := cdnEdgeServesStale(ev)
					if d := ev.Windows.During.Duration(); d > 0 && cdnExpiry(set) >= d {
						g.Vacuous = fmt.Sprintf("max_age=%v (+1 s: nginx counts whole seconds) outlives the outage (%v): no copy expires while the origin is down, so serving stale is never needed",
							cdnMaxAge.Get(set), d)
					}
					if cdnMaxAge.Get(set) == 0 {
						g.Vacuous = "max_age=0: the edge holds nothing to serve"
					}
					return []verdict.Guarantee{g}
				},
				Controls: []Control{
					// Copies expire max_age (+1 s) into the outage; the
					// edge then asks the dead origin and answers 502, and
					// the browser's fallback goes to the same dead origin.
					{Name: "the edge does not serve stale copies", Set: Values(cdnServeStale.Is(false)), Breaks: []string{EdgeServesStale}},
				},
			},
			{
				ID:   "asset-change",
				Help: "publish a new version of every asset on the origin under load (POST /static/publish)",
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Command{Node: "origin", What: "publish new assets",
						Cmd:   []string{"curl", "-fsS", "-X", "POST", "--max-time", "2", "http://127.0.0.1:8080/static/publish"},
						Probe: []string{"curl", "-fsS", "--max-time", "2", "http://127.0.0.1:8080/static-stats"}, Want: `"version":2`}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cdnFreshAssets(ev), cdnOriginOffload(ev, set)}
				},
				Controls: []Control{
					// The page then names /static/app.js whatever the
					// version: the edge serves its copy of the old bytes
					// until it expires, to pages that already name the new
					// version. With max_age=2s that window was 0-0.7 s
					// (0, 10 and 74 stale loads in three runs): the copies
					// are first fetched as the run starts and refreshed
					// every 2 s, and the publish lands 2.5 s in, just as
					// they are refreshed. A 10 s max_age, the usual long
					// TTL of assets, makes the window about 7.5 s.
					{Name: "unversioned asset URLs", Set: Values(cdnVersioned.Is(false), cdnMaxAge.Is(10*time.Second)), Breaks: []string{FreshAssets}},
					// Every asset request then goes through the edge to
					// the origin.
					{Name: "the origin forbids caching", Set: Values(cdnMaxAge.Is(0)), Breaks: []string{OriginOffloadMin}},
				},
			},
		},
	})
}

// cdnNoFallbackControl: a browser that does not fall back has nowhere to
// load an asset from while the edge is gone.
var cdnNoFallbackControl = Control{Name: "browsers do not fall back to the origin",
	Set: Values(cdnFallback.Is("none")), Breaks: []string{AssetsLoad}}

// cdnMargin is what an asset load may take beyond the edge timeout on a
// loaded 2-core machine: the fetch from the origin (a few ms), the
// Toxiproxy hop and the scheduling of the stack and the workload.
const cdnMargin = 400 * time.Millisecond

// cdnFailFastBound: a browser waits cdn_timeout for the edge, then the
// origin answers: 700 ms with the defaults.
func cdnFailFastBound(set Settings) time.Duration { return cdnTimeout.Get(set) + cdnMargin }

// cdnExpiry is when a copy the edge holds has surely expired: nginx keeps
// whole seconds, so a copy of max-age N can still be fresh at N + 1 s.
func cdnExpiry(set Settings) time.Duration { return cdnMaxAge.Get(set) + time.Second }

// cdnAssetsDuring is what the browsers' asset loads saw during the fault.
func cdnAssetsDuring(ev Evidence) check.AssetStats {
	return check.Assets(ev.History, ev.Windows.During)
}

// cdnAssetsLoad: an asset is a page's part, not an optional extra: 99% of
// the asset loads during the fault come, from the edge or the origin (the
// 1% leaves room for a load caught in the instant of a kill).
func cdnAssetsLoad(ev Evidence) verdict.Guarantee {
	return named(AssetsLoad, verdict.AssetsLoadAtLeast("", cdnAssetsDuring(ev), 0.99))
}

// cdnAssetsFailFast: the p99 of the asset loads during the fault stays
// under cdn_timeout + cdnMargin.
func cdnAssetsFailFast(ev Evidence, set Settings) verdict.Guarantee {
	return named(AssetsFailFast, verdict.LatencyP99Below(check.LatencyIn(ev.History, ev.Windows.During, history.Asset), cdnFailFastBound(set)))
}

// cdnEdgeServesStale: with the origin down, 99% of the asset loads still
// come (from the edge's copies, expired or not).
func cdnEdgeServesStale(ev Evidence) verdict.Guarantee {
	return named(EdgeServesStale, verdict.AssetsLoadAtLeast("", cdnAssetsDuring(ev), 0.99))
}

// cdnFreshAssets: from a page loaded during or after the publish on, no
// asset comes older than the version the page names (the whole run from
// the publish: a copy may be served stale up to its expiry after it).
func cdnFreshAssets(ev Evidence) verdict.Guarantee {
	w := check.Window{From: ev.Windows.Inject, To: ev.History.End, Name: "from the publish"}
	return named(FreshAssets, verdict.NoStaleAssets("", check.Assets(ev.History, w)))
}

// cdnOriginOffload: the edge asks the origin for each asset URL at most
// once per expiry (proxy_cache_lock makes concurrent misses one request),
// so over the fault window W the origin serves at most
// assets x (W / expiry + 1) per version, and two versions are live around
// a publish: offload >= 1 - 2 x assets x (W/expiry + 1) / loads. With the
// defaults (expiry 3 s, W 5 s, 1,500 loads): 0.989. Browsers that fall
// back count against it too: their loads reach the origin.
func cdnOriginOffload(ev Evidence, set Settings) verdict.Guarantee {
	w := ev.Windows.During
	loads := cdnAssetsDuring(ev).OK
	offload, ok := check.OffloadIn(ev.Counters, w, stacks.CounterOriginServed, loads)
	min := 0.0
	if exp := cdnExpiry(set); loads > 0 {
		perVersion := float64(cdnAssets) * (w.Duration().Seconds()/exp.Seconds() + 1)
		min = 1 - 2*perVersion/float64(loads)
	}
	if !ok {
		loads = 0 // not judged: the origin's count was not sampled
	}
	g := named(OriginOffloadMin, verdict.OffloadAtLeast("", offload, loads, lbRoundDown(min)))
	if cdnMaxAge.Get(set) > 0 && min <= 0 && loads > 0 {
		g.Vacuous = fmt.Sprintf("with %d asset loads in the fault window, the origin may serve them all within the bound: the rate is too low to measure an offload", loads)
	}
	return g
}

func cdnStack(set Settings) stacks.Topology {
	return stacks.Topology{
		Name: "cdn",
		Nodes: []stacks.Node{
			{Name: "db", Role: stacks.Postgres()},
			{Name: "origin", Role: stacks.Mysite(), Args: []string{
				"-db", stacks.PostgresDSN("${db}"),
				"-static-max-age", cdnMaxAge.Arg(set),
				"-static-versioned=" + fmt.Sprint(cdnVersioned.Get(set)),
				"-name", "origin",
			}},
			{Name: "cdn", Role: stacks.Edge(cdnServeStale.Get(set)), Env: map[string]string{"ORIGIN": "${origin}"}},
		},
		Links: []stacks.Link{
			{From: stacks.Client, To: "origin"}, {From: stacks.Client, To: "cdn"},
			{From: "cdn", To: "origin"}, {From: "origin", To: "db"},
		},
	}
}

// cdnWholeSeconds: Cache-Control's max-age counts whole seconds.
func cdnWholeSeconds(v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Errorf("want a duration such as 2s")
	case d < 0 || d%time.Second != 0:
		return fmt.Errorf("want whole seconds, 0 or more (Cache-Control's max-age counts seconds), such as 2s")
	}
	return nil
}

// cdnBelowClientTimeout: the edge timeout must leave time to fall back
// within the request's own timeout.
func cdnBelowClientTimeout(v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return fmt.Errorf("want a duration such as 300ms")
	case d < 0 || d >= cdnClientTimeout:
		return fmt.Errorf("want 0 (no bound) or less than a browser's %v, to leave time to fall back to the origin", cdnClientTimeout)
	}
	return nil
}
