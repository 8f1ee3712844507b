// Package workload drives HTTP traffic at mysite and records every operation
// in a history.History for the checkers.
//
// It is an open-model load generator: operations are scheduled at fixed
// intervals (1/Rate) from the start, and each one is sent at its scheduled
// time in its own goroutine whether or not earlier ones have answered. An
// operation's Invoke is its scheduled time, so a slow server shows up as
// latency instead of silently lowering the offered load (no coordinated
// omission). Every decision (when, which client, read or write, which key,
// what content) comes from one RNG seeded by Config.Seed, so a seed replays
// the same schedule.
//
// One file per job:
//
//	config.go    Config and its validation
//	clock.go     the run's one monotonic clock, shared with fault events
//	schedule.go  the seeded, deterministic schedule of decisions
//	client.go    one HTTP exchange and its outcome classification
//	recorder.go  collects ops and events into a history.History
//	run.go       the engine: launch on schedule, cap in-flight, drain
//	stats.go     what the engine measured about itself (schedule lag, rate)
//	readback.go  the final read-back of every written key after healing
//	sessions.go  logged-in clients (Config.Sessions): login, cookie, re-login after 401
//	assets.go    page loads (Config.Assets): the page from the origin, its assets from the edge
//	wait.go      WaitServing, polling a URL until it answers 200
package workload
