package stage

import (
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Stage 2: the database moves to its own server. Web and data tiers scale
// apart, and a network now lies between them: it can be slow or gone.
func init() {
	register(Stage{
		ID: "separate-db", Number: 2, Title: "Separate database",
		Adds:  "the database on its own server, reached over the link web->db",
		Fixes: "web and data tiers no longer compete for CPU and memory; they scale apart",
		Weak:  "the network between app and database: latency, database unreachable",
		Lab:   "labs/02-separate-db",
		Settings: []Setting{
			{Name: "timeout", Default: "2s", Check: IsDuration,
				Help: "mysite's database timeout; 0s means none (requests wait as long as the database does)"},
			{Name: "durability", Default: "sync", Check: OneOf("sync", "async"),
				Help: "sync: a commit is acknowledged once on disk; async: before (synchronous_commit=off)"},
		},
		Stack: func(set Settings) stacks.Topology {
			return stacks.Topology{
				Name: "separate-db",
				Nodes: []stacks.Node{
					{Name: "db", Role: stacks.Postgres(), Args: pgDurability(set["durability"])},
					{Name: "web", Role: stacks.Mysite(), Args: []string{
						"-db", "postgres://postgres@${db}/postgres?sslmode=disable",
						"-db-timeout", set["timeout"],
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
				ID:   "db-latency",
				Help: "add round-trip latency on web->db, by default above the app's timeout",
				Settings: []Setting{{Name: "latency", Default: "3s", Check: IsDuration,
					Help: "round-trip latency added to web->db"}},
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Latency{Link: "web->db", Latency: set.Duration("latency")}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						failFast(ev, failFastBound(set)),
						// Measured: steady again at the heal (in-flight requests
						// complete when Toxiproxy releases what it held).
						recovers(ev, 10*time.Second),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					{Name: "mysite without a database timeout", Set: Settings{"timeout": "0s"}, Breaks: []string{FailFast}},
				},
			},
			{
				ID:     "db-down",
				Help:   "take the link web->db down: the database is unreachable",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Down{Link: "web->db"}} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						downDuring(ev),
						failFast(ev, failFastBound(set)),
						recovers(ev, 10*time.Second),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					{Name: "no-op in place of the cut", NoOp: true, Breaks: []string{DownDuring}},
				},
			},
			{
				ID:     "kill-db",
				Help:   "SIGKILL the database server, then start it again",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "db"}} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						downDuring(ev),
						recovers(ev, 10*time.Second),
						noLostWrites(ev),
					}
				},
				Controls: []Control{
					asyncCommitControl,
				},
			},
		},
	})
}

// failFastBound is how long a request may take while the database is slow or
// gone: the app's timeout plus a margin for the request's own work and the
// machine's scheduling. Measured at 100 ops/s on 2 cores: p99 during
// db-latency is the timeout + 14 ms (2.014 s), during db-down 4 ms; without a
// timeout the control's p99 is 4.98 s. With no timeout (0s) the bound is the
// default timeout's, which the control must then exceed.
func failFastBound(set Settings) time.Duration {
	t := set.Duration("timeout")
	if t == 0 {
		t = 2 * time.Second
	}
	return t + 500*time.Millisecond
}
