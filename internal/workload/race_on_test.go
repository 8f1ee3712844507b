//go:build race

package workload

// The race detector slows goroutines several times over; timing margins
// scale with it.
const raceSlowdown = 4
