package check

import (
	"slices"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// asset is an asset load of key invoked at inv, served by source with
// version got for a page of version want.
func asset(key, got, want, source string, inv int, out history.Outcome) history.Op {
	o := op(0, history.Asset, key, got, inv, inv+5, out)
	o.Expect, o.Source = want, source
	return o
}

func TestAssets(t *testing.T) {
	const edge, origin = history.SourceEdge, history.SourceOrigin
	OK, F := history.OK, history.Failed
	// fault [100, 200), end 300
	h := faulted(100, 200, 300,
		// before: all from the edge, current
		op(0, history.Page, "/page", "2", 0, 5, OK),
		asset("/static/app.js", "2", "2", edge, 10, OK),
		asset("/static/app.css", "2", "2", edge, 20, OK),
		rd(1, "u1", "", 30, 35), // not an asset: not counted
		// during: the edge is down; one fallback, one failure, two stale
		op(0, history.Page, "/page", "3", 100, 105, OK),
		asset("/static/app.js", "2", "3", edge, 110, OK),    // stale
		asset("/static/app.js", "1", "3", edge, 120, OK),    // stale, same key
		asset("/static/logo.svg", "2", "3", edge, 130, OK),  // stale
		asset("/static/app.css", "3", "3", origin, 140, OK), // fallback
		asset("/static/app.css", "", "3", origin, 150, F),   // failed: never stale
		asset("/static/app.js", "1", "3", edge, 160, F),     // failed: never stale
		// after: versions that are not numbers cannot be compared
		asset("/static/app.js", "", "3", edge, 210, OK),
		asset("/static/app.js", "3", "", origin, 220, OK),
		asset("/static/app.js", "x", "3", edge, 230, history.Unknown),
	)
	fw, err := Windows(h)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		w                    Window
		total, ok, failed    int
		fromEdge, fromOrigin int
		stale                int
		staleKeys            []string
		availability         float64
		noData               bool
	}{
		{w: fw.Before, total: 2, ok: 2, fromEdge: 2, availability: 1},
		{w: fw.During, total: 6, ok: 4, failed: 2, fromEdge: 3, fromOrigin: 1, stale: 3,
			staleKeys: []string{"/static/app.js", "/static/logo.svg"}, availability: 4.0 / 6},
		{w: fw.After, total: 3, ok: 2, failed: 1, fromEdge: 1, fromOrigin: 1, availability: 2.0 / 3},
		{w: WholeRun(h), total: 11, ok: 8, failed: 3, fromEdge: 6, fromOrigin: 2, stale: 3,
			staleKeys: []string{"/static/app.js", "/static/logo.svg"}, availability: 8.0 / 11},
		{w: Window{From: 300 * ms, To: 400 * ms, Name: "empty"}, noData: true},
	}
	for _, tt := range tests {
		t.Run(tt.w.Name, func(t *testing.T) {
			s := Assets(h, tt.w)
			if s.Total != tt.total || s.OK != tt.ok || s.Failed != tt.failed || s.FromEdge != tt.fromEdge ||
				s.FromOrigin != tt.fromOrigin || s.Stale != tt.stale || !slices.Equal(s.StaleKeys, tt.staleKeys) ||
				s.Availability() != tt.availability || s.NoData != tt.noData || s.Window != tt.w {
				t.Fatalf("got %+v (availability %v), want %+v", s, s.Availability(), tt)
			}
		})
	}
}

func TestOlderThanPromised(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		stale     bool
	}{
		{"1", "2", true},
		{"2", "2", false},
		{"3", "2", false}, // newer than promised: not stale
		{"9", "10", true}, // compared as numbers, not strings
		{" 1", "2 ", true},
		{"", "2", false},
		{"1", "", false},
		{"v1", "v2", false},
	} {
		if got := olderThanPromised(tt.got, tt.want); got != tt.stale {
			t.Errorf("olderThanPromised(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.stale)
		}
	}
}

func TestOffloadIn(t *testing.T) {
	w := Window{From: 0, To: 1000 * ms, Name: "w"}
	sample := func(at int, served float64) CounterSample {
		return CounterSample{At: time.Duration(at) * ms, Values: map[string]float64{"origin:served": served}}
	}
	for _, tt := range []struct {
		name    string
		samples []CounterSample
		loads   int
		offload float64
		ok      bool
	}{
		{"a quarter reached the origin", []CounterSample{sample(0, 10), sample(500, 20), sample(900, 35)}, 100, 0.75, true},
		{"nothing reached the origin", []CounterSample{sample(0, 10), sample(900, 10)}, 100, 1, true},
		{"across a restart of the origin", []CounterSample{sample(0, 10), sample(400, 20), sample(800, 5)}, 30, 0.5, true},
		{"more than the loads: fallbacks after misses", []CounterSample{sample(0, 0), sample(900, 20)}, 10, -1, true},
		{"one sample: not measured", []CounterSample{sample(500, 10)}, 100, 0, false},
		{"samples outside the window", []CounterSample{sample(1000, 10), sample(1500, 20)}, 100, 0, false},
		{"no loads", []CounterSample{sample(0, 10), sample(900, 10)}, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := OffloadIn(tt.samples, w, "origin:served", tt.loads)
			if got != tt.offload || ok != tt.ok {
				t.Fatalf("got %v %v, want %v %v", got, ok, tt.offload, tt.ok)
			}
		})
	}
}
