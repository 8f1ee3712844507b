// Package check turns a run's history into measured numbers: availability,
// latency, recovery time, lost writes, stale reads, read-your-writes
// violations, late writes, linearizability, lost sessions, asset loads,
// shares of sampled counters, and the assumptions a run must meet to count.
//
// Every checker is a pure function over a history.History (counters.go: over
// sampled counters): no clock, no network, no global state, so a saved
// history can be checked again offline and the result is always the same.
// Checkers never rely on the order of h.Ops; the ones that need an order sort
// what they need, and none is worse than O(n log n) except Linearizable
// (porcupine, bounded by a timeout).
//
// One file per checker, and one of helpers they share:
//
//	windows.go       before / during / after the fault, from h.Events
//	availability.go  share of OK ops per window and per time bucket
//	latency.go       p50 / p90 / p99 / max per window (hdrhistogram)
//	recovery.go      time to steady availability after inject and after heal
//	resumption.go    when one kind of op was served again, by completion
//	lostwrites.go    acknowledged writes missing from h.Final (RPO)
//	late.go          timed-out writes that took effect after later acknowledged ones
//	stale.go         reads older than an acknowledged write, and phantoms
//	ryw.go           read-your-writes per client
//	linearizable.go  porcupine register model per key
//	sessions.go      login sessions established and lost (401 after login)
//	assets.go        a browser's asset loads: ok, served by the edge or the origin, older than the page promised
//	counters.go      a counter's share of the growth in a window, and when it first grew
//	increase.go      a counter's growth in a window, across resets (a restarted server's counters)
//	gauges.go        how long a gauge stood at a level, its peak in a window; failures by kind
//	assumptions.go   does the run count at all
//	index.go         shared: the write behind each value, and when reads saw unknown writes land
//
// Time windows are half-open, [From, To), and ops belong to them by Invoke.
// "Strictly before" between two ops always means a.Complete < b.Invoke; ops
// whose intervals touch are concurrent, as in porcupine.
package check
