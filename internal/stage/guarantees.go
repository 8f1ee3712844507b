package stage

import (
	"time"

	"github.com/scalelab/scalelab/internal/verdict"
)

// Guarantee names shared by stages. Specs and controls refer to them.
const (
	SPOFShown     = "spof-shown"      // availability during the fault falls to ~0
	DownDuring    = "errors-during"   // the fault makes requests fail (it is not hidden)
	Recovers      = "recovers"        // availability returns after the heal, within a bound
	NoLostWrites  = "no-lost-writes"  // every acknowledged write survives
	FailFast      = "fail-fast"       // requests fail within the app's timeout, never hang
	AvailableHigh = "stays-available" // availability during the fault stays high
)

func named(name string, g verdict.Guarantee) verdict.Guarantee {
	g.Name = name
	return g
}

// spofShown: with one box, a dead box means no service at all. 2% leaves room
// for requests that completed in the instant between the kill and the first
// refused connection (measured: 0-3 such ops at 100 ops/s).
func spofShown(ev Evidence) verdict.Guarantee {
	return named(SPOFShown, verdict.AvailabilityAtMost("", ev.During, 0.02))
}

// downDuring: the fault shows as errors: availability during the fault is
// below 50%. Its control (a no-op in place of the fault) must break it.
func downDuring(ev Evidence) verdict.Guarantee {
	return named(DownDuring, verdict.AvailabilityAtMost("", ev.During, 0.5))
}

// recovers: after the heal, requests succeed steadily (>= 99% per 250 ms
// bucket) within d. d comes from each stage's measurements.
func recovers(ev Evidence, d time.Duration) verdict.Guarantee {
	return named(Recovers, verdict.RecoveredWithinAfterHeal(ev.Recovery, d))
}

func noLostWrites(ev Evidence) verdict.Guarantee {
	return named(NoLostWrites, verdict.NoLostWrites(ev.Lost))
}

// failFast: the p99 latency of requests during the fault stays under bound.
func failFast(ev Evidence, bound time.Duration) verdict.Guarantee {
	return named(FailFast, verdict.LatencyP99Below(ev.LatencyDuring, bound))
}

// asyncCommitControl is the lost-write control of every stage with a
// database: Postgres acknowledges commits before their WAL is on disk
// (synchronous_commit=off), and a kill loses what was not yet written out.
//
// The loss happens by chance: the WAL writer is woken whenever a full 8 KB
// page of async commits is waiting, so what a kill can lose is the last,
// partial page: 0 to ~16 writes, about uniformly. Measured over 16 runs at
// 100 ops/s (half writes): 5-15 writes lost in 15 runs, 0 in one. Three
// attempts make a control that sees nothing in all of them a ~1 in 4000 event.
var asyncCommitControl = Control{
	Name:     "commits acknowledged before they are durable",
	Set:      Settings{"durability": "async"},
	Breaks:   []string{NoLostWrites},
	Attempts: 3,
}
