package stage

import (
	"fmt"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Settings of stage 1; durability is stage 2's too, dbTimeout stage 4's.
var (
	durability = Choice("durability", "sync",
		"sync: a commit is acknowledged once on disk; async: before (synchronous_commit=off)", "sync", "async")
	dbTimeout = Duration("timeout", "2s", "mysite's database timeout")
)

// Stage 1: everything in one box. The starting point; its weakness is that
// the box is a single point of failure.
func init() {
	register(Stage{
		ID: "single-server", Number: 1, Title: "Single server",
		Adds:     "the web app and its database in one box",
		Fixes:    "nothing: the starting point",
		Weak:     "the box is a single point of failure",
		Lab:      "labs/01-single-server",
		Settings: []Setting{durability.Setting, dbTimeout.Setting},
		Stack: func(set Settings) stacks.Topology {
			return stacks.Topology{
				Name: "single-server",
				Nodes: []stacks.Node{{Name: "server", Role: stacks.OneBox(
					pgDurability(durability.Get(set)),
					[]string{"-db-timeout", dbTimeout.Arg(set)},
				)}},
				Links: []stacks.Link{{From: stacks.Client, To: "server"}},
			}
		},
		Entry: "client->server",
		// A dead box is silent at first: clients hang until they give up. A
		// user gives up after a second; without that, requests sent during
		// the outage and answered seconds later, once the box is back, would
		// count as served.
		ClientTimeout: time.Second,
		Faults: []Fault{{
			ID:     "kill-server",
			Help:   "SIGKILL the one box, then start it again",
			Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "server"}} },
			Guarantees: func(ev Evidence, _ Settings) []verdict.Guarantee {
				return []verdict.Guarantee{
					spofShown(ev),
					recovers(ev, boxRecoverBound),
					noLostWrites(ev),
				}
			},
			Controls: []Control{
				{Name: "no-op in place of the kill", NoOp: true, Breaks: []string{SPOFShown}},
				asyncCommitControl,
				lateRecovery(boxRecoverBound),
			},
		}},
	})
}

// boxRecoverBound: the heal starts the box again. Measured (make test, 2
// cores): it serves steadily 1.75-2.25 s after the start (container start,
// Postgres crash recovery, mysite reconnecting); requests sent just before
// that wait for the client's timeout (1 s); plus loadedMachineMargin:
// 2.25 s + 1 s + 6 s.
const boxRecoverBound = 2250*time.Millisecond + time.Second + loadedMachineMargin

// pgDurability is the Postgres side of the durability setting. "async" is
// synchronous_commit=off: Postgres acknowledges a commit before its WAL is
// flushed, and a crash loses what the WAL writer had not yet written (it
// wakes every wal_writer_delay, 200 ms by default).
func pgDurability(mode string) []string {
	switch mode {
	case "async":
		return []string{"-c", "synchronous_commit=off"}
	case "sync", "":
		return nil
	}
	panic(fmt.Sprintf("durability %q was not validated", mode))
}
