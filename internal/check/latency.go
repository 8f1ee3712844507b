package check

import (
	"fmt"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/scalelab/scalelab/internal/history"
)

// Latency summarizes how long operations took in one window.
//
// Every op invoked in the window counts, whatever its outcome: a fast failure
// and a slow success are both what the user waited for, and dropping failures
// would make a failing system look fast. An Unknown op counts with the
// latency the client recorded, which for a timeout is the timeout itself.
type Latency struct {
	Window Window        `json:"window"`
	Count  int           `json:"count"`
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"` // exact, not from the histogram
	NoData bool          `json:"no_data"`
}

func (l Latency) String() string {
	if l.NoData {
		return fmt.Sprintf("%s: no data (0 ops)", l.Window.Name)
	}
	return fmt.Sprintf("%s: p50 %v, p90 %v, p99 %v, max %v (%d ops)",
		l.Window.Name, l.P50, l.P90, l.P99, l.Max, l.Count)
}

// Histogram range. Quantiles keep 3 significant digits (0.1% error), which is
// far below the noise of a containerized run. Latencies above the range are
// clamped to it; an hour-long request is a hung request whatever its length.
const (
	latencyLowest  = int64(time.Microsecond)
	latencyHighest = int64(time.Hour)
	latencyDigits  = 3
)

// LatencyIn measures latency quantiles of the ops invoked in w. With kinds
// given, only ops of those kinds count (e.g. reads only); without, all do.
func LatencyIn(h history.History, w Window, kinds ...history.Kind) Latency {
	l := Latency{Window: w}
	hist := hdrhistogram.New(latencyLowest, latencyHighest, latencyDigits)
	for _, op := range h.Ops {
		if !w.Contains(op.Invoke) || (len(kinds) > 0 && !slices.Contains(kinds, op.Kind)) {
			continue
		}
		d := max(op.Latency(), 0) // a negative latency is a clock bug; Assumptions flags it
		l.Count++
		l.Max = max(l.Max, d)
		// RecordValue only fails above the range, which the clamp prevents.
		_ = hist.RecordValue(min(int64(d), latencyHighest))
	}
	if l.Count == 0 {
		l.NoData = true
		return l
	}
	// The histogram reports the upper edge of a value's bucket, which may
	// exceed the true maximum by up to 0.1%; never report a quantile above it.
	q := func(p float64) time.Duration { return min(time.Duration(hist.ValueAtQuantile(p)), l.Max) }
	l.P50, l.P90, l.P99 = q(50), q(90), q(99)
	return l
}
