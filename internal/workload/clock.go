package workload

import "time"

// Clock is the run's one monotonic clock. Ops and fault events are both
// stamped with Now(), so their offsets are comparable: a checker asking "was
// this op invoked after the heal?" compares two readings of the same clock.
//
// Start must come from time.Now() in this process: it carries Go's monotonic
// reading, which is what makes Now immune to wall-clock jumps (NTP, manual
// changes). A Start decoded from JSON or built with time.Date has no
// monotonic reading and would silently fall back to the wall clock.
type Clock struct {
	Start time.Time
}

// NewClock starts a clock now.
func NewClock() *Clock { return &Clock{Start: time.Now()} }

// Now is the time elapsed since Start.
func (c *Clock) Now() time.Duration { return time.Since(c.Start) }
