package stage

import (
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Settings of stage 2 (and durability, stage 1's).
var (
	dbTimeoutOrNone = Duration("timeout", "2s",
		"mysite's database timeout; 0s means none (requests wait as long as the database does)")
	writeMode = Choice("writes", "through",
		"through: mysite acknowledges a write once the database committed it; behind: once queued in memory (write-behind; dropped if not stored within the timeout)",
		"through", "behind")
	// db-latency's
	dbLatency = Duration("latency", "3s", "round-trip latency added to web->db")
	// db-down's
	dbDownHow = Choice("how", "blackhole",
		"blackhole: nothing comes back, clients hang until their timeout (a partition, a dead host); refuse: the link is down, connections are refused at once",
		"blackhole", "refuse")
)

// Stage 2: the database moves to its own server. Web and data tiers scale
// apart, and a network now lies between them: it can be slow or gone.
func init() {
	register(Stage{
		ID: "separate-db", Number: 2, Title: "Separate database",
		Adds:     "the database on its own server, reached over the link web->db",
		Fixes:    "web and data tiers no longer compete for CPU and memory; they scale apart",
		Weak:     "the network between app and database: latency, database unreachable",
		Lab:      "labs/02-separate-db",
		Settings: []Setting{dbTimeoutOrNone.Setting, durability.Setting, writeMode.Setting},
		Stack: func(set Settings) stacks.Topology {
			return stacks.Topology{
				Name: "separate-db",
				Nodes: []stacks.Node{
					{Name: "db", Role: stacks.Postgres(), Args: pgDurability(durability.Get(set))},
					{Name: "web", Role: stacks.Mysite(), Args: []string{
						"-db", stacks.PostgresDSN("${db}"),
						"-db-timeout", dbTimeoutOrNone.Arg(set),
						"-writes", writeMode.Get(set),
					}},
				},
				Links: []stacks.Link{{From: stacks.Client, To: "web"}, {From: "web", To: "db"}},
			}
		},
		Entry: "client->web",
		// Above the app's database timeout (2 s by default), so that a request
		// that fails fast is seen failing and one that hangs is seen hanging.
		ClientTimeout: 5 * time.Second,
		Faults: []Fault{
			{
				ID:       "db-latency",
				Help:     "add round-trip latency on web->db, by default above the app's timeout",
				Settings: []Setting{dbLatency.Setting},
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Latency{Link: "web->db", Latency: dbLatency.Get(set)}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						failFast(ev, failFastBound(set)),
						recovers(ev, linkRecoverBound(set)),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					noTimeoutControl,
					lateRecovery(linkRecoverBound(Settings{})),
					writeBehindControl,
				},
			},
			{
				ID:       "db-down",
				Help:     "the database becomes unreachable over web->db: packets vanish (a black hole), or with how=refuse connections are refused",
				Settings: []Setting{dbDownHow.Setting},
				Inject: func(set Settings) []faults.Fault {
					if dbDownHow.Get(set) == "refuse" {
						return []faults.Fault{faults.Down{Link: "web->db"}}
					}
					return []faults.Fault{faults.Timeout{Link: "web->db"}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						downDuring(ev),
						failFast(ev, failFastBound(set)),
						recovers(ev, linkRecoverBound(set)),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					{Name: "no-op in place of the cut", NoOp: true, Breaks: []string{DownDuring}},
					noTimeoutControl,
					lateRecovery(linkRecoverBound(Settings{})),
					writeBehindControl,
				},
			},
			{
				ID:     "kill-db",
				Help:   "SIGKILL the database server, then start it again",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "db"}} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						downDuring(ev),
						recovers(ev, dbRecoverBound(set)),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					asyncCommitControl,
					{Name: "no-op in place of the kill", NoOp: true, Breaks: []string{DownDuring}},
					lateRecovery(dbRecoverBound(Settings{})),
				},
			},
		},
	})
}

// noTimeoutControl: without a database timeout, requests wait as long as
// the database does: for a black hole or 3 s of latency, until the
// client gives up (5 s).
var noTimeoutControl = Control{Name: "mysite without a database timeout", Set: Values(dbTimeoutOrNone.Is(0)), Breaks: []string{FailFast}}

// appTimeout is mysite's database timeout, or the default (2 s) when it is
// off: the bounds below then stay those of the default configuration.
func appTimeout(set Settings) time.Duration {
	if t := dbTimeoutOrNone.Get(set); t > 0 {
		return t
	}
	return 2 * time.Second
}

// linkRecoverBound: once the link is healed, a request waits at most for
// one database call that started on a connection the fault broke (the
// app's timeout), plus 3 s for the pool to open new connections on a
// loaded machine. Measured: steady again right at the heal (in-flight
// requests complete when Toxiproxy releases what it held). 5 s by default.
func linkRecoverBound(set Settings) time.Duration { return appTimeout(set) + 3*time.Second }

// dbRecoverBound: the heal starts the database again. Requests fail
// within the app's timeout while it starts; Postgres starts with crash
// recovery in 1.7 s (measured, 2 cores); plus loadedMachineMargin. 9.7 s
// by default.
func dbRecoverBound(set Settings) time.Duration {
	return appTimeout(set) + 1700*time.Millisecond + loadedMachineMargin
}

// failFastBound is how long a request may take while the database is slow or
// gone: the app's timeout plus a margin for the request's own work and the
// machine's scheduling. Measured at 100 ops/s on 2 cores: p99 during
// db-latency is the timeout + 14 ms (2.014 s), during db-down 4 ms; without a
// timeout the control's p99 is 4.98 s. With no timeout (0s) the bound is the
// default timeout's, which the control must then exceed.
func failFastBound(set Settings) time.Duration {
	return appTimeout(set) + 500*time.Millisecond
}
