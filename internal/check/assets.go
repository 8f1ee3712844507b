package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/scalelab/scalelab/internal/history"
)

// AssetStats is what the browser-like clients saw of the static assets in
// one window (stage 6, CDN): how many loads succeeded, who served them, and
// how many came older than the page that named them promised.
type AssetStats struct {
	Window Window `json:"window"`
	// Total counts the asset loads invoked in Window; OK those that got a
	// 200 from the edge or the origin, Failed all the others (Total = OK +
	// Failed: a load whose result the client cannot vouch for is not a
	// success, as in Counts).
	Total  int `json:"total"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// FromEdge and FromOrigin split OK by who answered (history.Op.Source):
	// a load the origin answered is one the edge did not take off it.
	FromEdge   int `json:"from_edge"`
	FromOrigin int `json:"from_origin"`
	// Stale counts the OK loads whose bytes were older than the page
	// promised: Value, as a number, below Expect. StaleKeys are their
	// assets' paths, sorted and distinct.
	Stale     int      `json:"stale"`
	StaleKeys []string `json:"stale_keys,omitempty"`
	// NoData: no asset load was invoked in Window.
	NoData bool `json:"no_data"`
}

// Availability is OK/Total, or 0 when NoData: check NoData first (an empty
// window is neither an outage nor a success).
func (s AssetStats) Availability() float64 {
	if s.Total == 0 {
		return 0
	}
	return float64(s.OK) / float64(s.Total)
}

func (s AssetStats) String() string {
	if s.NoData {
		return fmt.Sprintf("%s: no data (0 asset loads)", s.Window.Name)
	}
	return fmt.Sprintf("%s: %d/%d asset loads ok (%d from the edge, %d from the origin), %d stale",
		s.Window.Name, s.OK, s.Total, s.FromEdge, s.FromOrigin, s.Stale)
}

// Assets measures the asset loads (history.Asset ops) invoked in w. Pages
// and every other kind of op are not counted: availability.go has them.
func Assets(h history.History, w Window) AssetStats {
	s := AssetStats{Window: w}
	for _, op := range h.Ops {
		if op.Kind == history.Asset && w.Contains(op.Invoke) {
			s.add(op)
		}
	}
	slices.Sort(s.StaleKeys)
	s.StaleKeys = slices.Compact(s.StaleKeys)
	s.NoData = s.Total == 0
	return s
}

func (s *AssetStats) add(op history.Op) {
	s.Total++
	if op.Outcome != history.OK {
		s.Failed++
		return
	}
	s.OK++
	switch op.Source {
	case history.SourceEdge:
		s.FromEdge++
	case history.SourceOrigin:
		s.FromOrigin++
	}
	if olderThanPromised(op.Value, op.Expect) {
		s.Stale++
		s.StaleKeys = append(s.StaleKeys, op.Key)
	}
}

// olderThanPromised reports whether version got is a number below the
// number want. A version that is not a number (none sent, an unversioned
// origin) cannot be compared: it is not counted stale, because a checker
// must not report an anomaly it cannot show.
func olderThanPromised(got, want string) bool {
	g, errG := strconv.ParseFloat(strings.TrimSpace(got), 64)
	w, errW := strconv.ParseFloat(strings.TrimSpace(want), 64)
	return errG == nil && errW == nil && g < w
}

// OffloadIn is the share of loads the origin never saw in w: 1 - the
// growth of the origin's served counter key in w (IncreaseIn) / loads, the
// asset loads the clients made in w. ok is false when the counter was not
// sampled in w (fewer than two samples) or loads is 0. It can be below 0:
// an edge that misses and a client that falls back both reach the origin
// for one load.
func OffloadIn(samples []CounterSample, w Window, key string, loads int) (offload float64, ok bool) {
	served := IncreaseIn(samples, w, key)
	if served.NoData() || loads <= 0 {
		return 0, false
	}
	return 1 - served.Delta/float64(loads), true
}
