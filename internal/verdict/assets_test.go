package verdict

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/check"
)

func TestAssetGuarantees(t *testing.T) {
	during := check.Window{Name: check.During}
	loaded := check.AssetStats{Window: during, Total: 100, OK: 99, Failed: 1, FromEdge: 90, FromOrigin: 9}
	stale := loaded
	stale.Stale, stale.StaleKeys = 7, []string{"/a", "/b", "/c", "/d", "/e", "/f"}
	for _, tt := range []struct {
		name   string
		g      Guarantee
		holds  bool
		value  float64
		detail string // a part of Detail
	}{
		{"loads above the floor", AssetsLoadAtLeast("", loaded, 0.99), true, 0.99, "1 failed"},
		{"loads below the floor", AssetsLoadAtLeast("", loaded, 0.995), false, 0.99, "1 failed"},
		{"no stale asset", NoStaleAssets("", loaded), true, 0, ""},
		{"stale assets", NoStaleAssets("", stale), false, 7, "/a, /b, /c, /d, /e and 1 more"},
		{"offload above the floor", OffloadAtLeast("", 0.8, 100, 0.5), true, 0.8, ""},
		{"offload below the floor", OffloadAtLeast("", 0.2, 100, 0.5), false, 0.2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g
			if g.Holds != tt.holds || g.NotJudged != "" || math.Abs(g.Value-tt.value) > 1e-9 || !strings.Contains(g.Detail, tt.detail) {
				t.Fatalf("%+v; want holds %v value %v detail containing %q", g, tt.holds, tt.value, tt.detail)
			}
			if g.Name == "" || g.Threshold == "" || g.Measured == "" {
				t.Fatalf("unnamed or unmeasured: %+v", g)
			}
		})
	}
}

func TestAssetGuaranteeNames(t *testing.T) {
	s := check.AssetStats{Window: check.Window{Name: check.After}, Total: 1, OK: 1}
	for _, tt := range []struct{ got, want string }{
		{AssetsLoadAtLeast("", s, 0.9).Name, "asset loads after"},
		{AssetsLoadAtLeast("pages render", s, 0.9).Name, "pages render"},
		{NoStaleAssets("", s).Name, "no stale assets"},
		{OffloadAtLeast("", 1, 1, 0.5).Name, "edge offload"},
		{OffloadAtLeast("cache takes the load", 1, 1, 0.5).Name, "cache takes the load"},
	} {
		if tt.got != tt.want {
			t.Errorf("name %q, want %q", tt.got, tt.want)
		}
	}
}

// An offload that is not a number must not reach the verdict's JSON, which
// cannot carry it.
func TestOffloadNaNStillEncodes(t *testing.T) {
	var v Verdict
	v.Add(OffloadAtLeast("", math.NaN(), 10, 0.5))
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}
}
