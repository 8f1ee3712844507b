package workload

import (
	"sync/atomic"
	"time"
)

// End lets the caller move the workload's end while it runs, as an offset
// from its start: the engine ends the cool-down a set time after the last
// heal, however long the heals took. Config.Duration stays the longest the
// workload may run (its schedule is made for that long). The zero value is
// "no end set": the workload runs for Duration.
type End struct{ at atomic.Int64 }

// Set moves the end to d after the start. Ops already launched stay: the
// history's end is never before the last op invoked.
func (e *End) Set(d time.Duration) { e.at.Store(int64(d)) }

// get is the end, or max when none was set.
func (e *End) get(max time.Duration) time.Duration {
	if e == nil {
		return max
	}
	if d := time.Duration(e.at.Load()); d > 0 && d < max {
		return d
	}
	return max
}
