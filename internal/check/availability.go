package check

import (
	"fmt"
	"slices"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Counts tallies operations by outcome.
type Counts struct {
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
}

// Total is every counted operation, whatever its outcome.
func (c Counts) Total() int { return c.OK + c.Failed + c.Unknown }

// Ratio is OK/Total. ok is false when nothing was counted: an empty window
// has no availability at all, neither 0 (which would read as an outage) nor
// 1 (which would hide that the workload did not run).
func (c Counts) Ratio() (ratio float64, ok bool) {
	if c.Total() == 0 {
		return 0, false
	}
	return float64(c.OK) / float64(c.Total()), true
}

func (c *Counts) add(o history.Outcome) {
	switch o {
	case history.OK:
		c.OK++
	case history.Failed:
		c.Failed++
	default:
		// Unknown, and any outcome the engine should never write: a request
		// whose result the client cannot vouch for is not a success.
		c.Unknown++
	}
}

// Availability is the share of successful operations in one window.
type Availability struct {
	Window Window `json:"window"`
	Counts
	// Value is OK/Total, or 0 when NoData. Check NoData before using it.
	Value  float64 `json:"value"`
	NoData bool    `json:"no_data"`
}

func (a Availability) String() string {
	if a.NoData {
		return fmt.Sprintf("%s: no data (0 ops)", a.Window.Name)
	}
	return fmt.Sprintf("%s: %.4f (%d/%d ok)", a.Window.Name, a.Value, a.OK, a.Total())
}

// AvailabilityIn measures availability over the ops invoked in w. With kinds
// given, only ops of those kinds count (e.g. reads only); without, all do.
// A request that fails and one that times out both count against it.
func AvailabilityIn(h history.History, w Window, kinds ...history.Kind) Availability {
	a := Availability{Window: w}
	for _, op := range h.Ops {
		if w.Contains(op.Invoke) && (len(kinds) == 0 || slices.Contains(kinds, op.Kind)) {
			a.add(op.Outcome)
		}
	}
	a.Value, a.NoData = ratio(a.Counts)
	return a
}

// Bucket is availability over one slice of time, [Start, End).
type Bucket struct {
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
	Counts
	// Availability is OK/Total, or 0 when NoData (no op was invoked in the
	// bucket). Empty buckets are kept so the series has no holes.
	Availability float64 `json:"availability"`
	NoData       bool    `json:"no_data"`
}

// Buckets slices w into consecutive buckets of the given width, aligned on
// w.From (the last one may be shorter), and measures availability in each.
// Ops are placed by Invoke time. The engine uses width <= 250ms so that a
// short outage shows as a dip, not as a rounding error.
func Buckets(h history.History, w Window, width time.Duration) ([]Bucket, error) {
	if width <= 0 {
		return nil, fmt.Errorf("bucket width must be positive, got %v", width)
	}
	if w.To <= w.From {
		return nil, nil
	}
	n := int((w.Duration() + width - 1) / width)
	buckets := make([]Bucket, n)
	for i := range buckets {
		buckets[i].Start = w.From + time.Duration(i)*width
		buckets[i].End = min(buckets[i].Start+width, w.To)
	}
	for _, op := range h.Ops {
		if w.Contains(op.Invoke) {
			buckets[(op.Invoke-w.From)/width].add(op.Outcome)
		}
	}
	for i := range buckets {
		buckets[i].Availability, buckets[i].NoData = ratio(buckets[i].Counts)
	}
	return buckets, nil
}

// ratio flattens Counts.Ratio into (value, noData) for the JSON-friendly
// structs above (JSON cannot carry NaN, hence no NaN for "no data").
func ratio(c Counts) (float64, bool) {
	r, ok := c.Ratio()
	return r, !ok
}
