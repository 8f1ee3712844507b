package verdict

import (
	"fmt"
	"math"
	"strings"

	"github.com/scalelab/scalelab/internal/check"
)

// maxStaleKeys caps the asset paths NoStaleAssets names: a page has a
// handful of assets, so five names usually are all of them.
const maxStaleKeys = 5

// AssetsLoadAtLeast holds when at least min of the asset loads in s's
// window got their bytes, from the edge or from the origin: what a user
// sees of the CDN (a page without its script is a broken page). An empty
// name defaults to "asset loads <window>".
func AssetsLoadAtLeast(name string, s check.AssetStats, min float64) Guarantee {
	if name == "" {
		name = "asset loads " + s.Window.Name
	}
	g := Guarantee{
		Name:      name,
		Threshold: fmt.Sprintf(">= %g", min),
		Measured:  fmt.Sprintf("%.4f (%d/%d ok: %d from the edge, %d from the origin)", s.Availability(), s.OK, s.Total, s.FromEdge, s.FromOrigin),
		Value:     s.Availability(),
		Holds:     !s.NoData && s.Availability() >= min,
		Detail:    fmt.Sprintf("window %s [%v, %v): %d failed", s.Window.Name, s.Window.From, s.Window.To, s.Failed),
	}
	if s.NoData {
		g.Measured, g.Detail = "no data (0 asset loads)", ""
		g = NotJudgedBecause(g, noAssetLoads(s.Window))
	}
	return g
}

// NoStaleAssets holds when no asset came older than the page that named it
// promised (check.AssetStats.Stale): with versioned asset URLs a cache can
// only serve the version asked for, without them it may serve what it kept.
// An empty name defaults to "no stale assets".
func NoStaleAssets(name string, s check.AssetStats) Guarantee {
	if name == "" {
		name = "no stale assets"
	}
	g := Guarantee{
		Name:      name,
		Threshold: "0 stale",
		Measured:  fmt.Sprintf("%d stale of %d assets loaded", s.Stale, s.OK),
		Value:     float64(s.Stale),
		Holds:     s.OK > 0 && s.Stale == 0,
	}
	if s.Stale > 0 {
		g.Detail = "older than their page: " + firstKeys(s.StaleKeys, maxStaleKeys)
	}
	switch {
	case s.NoData:
		g = NotJudgedBecause(g, noAssetLoads(s.Window))
	case s.OK == 0:
		// Only bytes that arrived can be stale: failed loads prove nothing.
		g = NotJudgedBecause(g, fmt.Sprintf("no asset load succeeded in window %s (%d failed): nothing could be stale", s.Window.Name, s.Failed))
	}
	return g
}

// OffloadAtLeast holds when at least min of the total asset loads never
// reached the origin (offload: 1 - what the origin served / total, from
// the origin's own counter), which is what an edge cache is for. total is
// the asset loads offload was measured over; 0 leaves it not judged, and
// so does an offload that is not a number. An empty name defaults to "edge
// offload".
func OffloadAtLeast(name string, offload float64, total int, min float64) Guarantee {
	if name == "" {
		name = "edge offload"
	}
	g := Guarantee{
		Name:      name,
		Threshold: fmt.Sprintf(">= %g", min),
		Measured:  fmt.Sprintf("%.4f of %d asset loads never reached the origin", offload, total),
		Value:     offload,
		Holds:     total > 0 && offload >= min,
	}
	switch {
	case total <= 0:
		g.Value, g.Measured = 0, "no data (0 asset loads)"
		g = NotJudgedBecause(g, "no asset was loaded: nothing to offload")
	case math.IsNaN(offload) || math.IsInf(offload, 0):
		// JSON cannot carry NaN: the report would not even be written.
		g.Value, g.Measured = 0, fmt.Sprintf("not a number (%v) over %d asset loads", offload, total)
		g = NotJudgedBecause(g, "the origin's served count was not measured")
	}
	return g
}

func noAssetLoads(w check.Window) string {
	return fmt.Sprintf("no asset load was invoked in window %s [%v, %v)", w.Name, w.From, w.To)
}

// firstKeys names up to n keys and how many more there are.
func firstKeys(keys []string, n int) string {
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:n], ", "), len(keys)-n)
}
