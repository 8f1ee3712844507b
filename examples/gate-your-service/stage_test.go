package gate_test

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/scalelab/scalelab"
	"github.com/scalelab/scalelab/faults"
)

// kvservicePath is the kvservice binary the suite built (BeforeSuite).
var kvservicePath string

// Settings of the stage: each declared once, read with Get.
var (
	dbTimeout = scalelab.Duration("db-timeout", "1s", "kvservice's database timeout")
	ack       = scalelab.Choice("ack", "stored",
		"stored: a write is acknowledged once committed; early: once queued (stored 500 ms later)", "stored", "early")
	latency = scalelab.Duration("latency", "200ms", "round-trip latency added to api->db")
)

// apiRecoverBound: the kill's heal starts the api node again. Docker starts
// a container in about 0.5 s on the lab's machines, kvservice is ready at
// once, and a request that was cut waits at most the client's timeout
// (2 s); plus 3 s for a loaded 2-core machine. 5.5 s.
const apiRecoverBound = 5500 * time.Millisecond

// kvStage is the service under test as a stage: its nodes, links, faults,
// guarantees and negative controls, the same data a lab stage is.
var kvStage = scalelab.Stage{
	ID:       "kv",
	Title:    "kvservice: a key-value API over PostgreSQL",
	Settings: []scalelab.Setting{dbTimeout.Setting, ack.Setting},
	Stack: func(set scalelab.Settings) scalelab.Topology {
		return scalelab.Topology{
			Name: "kv",
			Nodes: []scalelab.Node{
				{Name: "db", Role: scalelab.Postgres()},
				{Name: "api", Role: scalelab.Program(kvservicePath, 8080, "/readyz"), Args: []string{
					"-db", scalelab.PostgresDSN("${db}"),
					"-db-timeout", dbTimeout.Arg(set),
					"-ack", ack.Get(set),
				}},
			},
			Links: []scalelab.Link{{From: scalelab.Client, To: "api"}, {From: "api", To: "db"}},
		}
	},
	Entry:         "client->api",
	Ready:         "/readyz",
	ClientTimeout: 2 * time.Second,
	Service:       newKVAPI,
	Faults: []scalelab.Fault{
		{
			ID:       "db-latency",
			Help:     "add round-trip latency on api->db, by default below the service's database timeout",
			Settings: []scalelab.Setting{latency.Setting},
			Inject: func(set scalelab.Settings) []faults.Fault {
				return []faults.Fault{faults.Latency{Link: "api->db", Latency: latency.Get(set)}}
			},
			// 200 ms more per database call stays inside the 1 s timeout:
			// nothing fails. 0.99 leaves room for a request cut by the
			// proxy's re-configuration.
			Guarantees: func(ev scalelab.Evidence, set scalelab.Settings) []scalelab.Guarantee {
				return []scalelab.Guarantee{scalelab.StaysAvailable(ev, 0.99)}
			},
			Controls: []scalelab.Control{{
				Name:   "latency above the database timeout",
				Set:    scalelab.Values(latency.Is(3 * time.Second)),
				Breaks: []string{scalelab.AvailableHigh},
			}},
		},
		{
			ID:     "kill-api",
			Help:   "SIGKILL the api server, then start it again",
			Inject: func(scalelab.Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "api"}} },
			Guarantees: func(ev scalelab.Evidence, set scalelab.Settings) []scalelab.Guarantee {
				return []scalelab.Guarantee{
					scalelab.RecoversWithin(ev, apiRecoverBound),
					scalelab.KeepsAcknowledgedWrites(ev),
				}
			},
			Controls: []scalelab.Control{
				scalelab.LateRecovery(apiRecoverBound),
				{
					// The last 500 ms of acknowledged writes (about 25) are
					// only in the killed process's memory. 1,000 keys, so
					// that the cool-down's writes do not overwrite most of
					// them before the read-back sees they are gone.
					Name:     "acknowledged before stored",
					Set:      scalelab.Values(ack.Is("early")),
					Breaks:   []string{scalelab.NoLostWrites},
					Workload: func(w *scalelab.WorkloadConfig) { w.Keys = 1000 },
				},
			},
		},
	},
}

// kvAPI is the workload's adapter to kvservice: a write is a PUT of the
// value, a read a GET; SendHTTP says what an answer means (a 5xx or a
// timeout after sending leaves a write unknown: it may have been stored).
type kvAPI struct {
	base   string
	client *http.Client
}

func newKVAPI(base string, client *http.Client) (scalelab.Service, error) {
	return kvAPI{base: base, client: client}, nil
}

func (k kvAPI) Write(ctx context.Context, key, value string) scalelab.Reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, k.base+"/kv/"+key, strings.NewReader(value))
	if err != nil {
		return scalelab.Reply{Outcome: scalelab.Failed, Err: err.Error()}
	}
	r, _ := scalelab.SendHTTP(k.client, req, scalelab.Write, nil)
	return r
}

func (k kvAPI) Read(ctx context.Context, key string) scalelab.Reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.base+"/kv/"+key, nil)
	if err != nil {
		return scalelab.Reply{Outcome: scalelab.Failed, Err: err.Error()}
	}
	r, body := scalelab.SendHTTP(k.client, req, scalelab.Read, nil)
	r.Value = string(body)
	return r
}
