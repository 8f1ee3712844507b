package scalelab_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/scalelab/scalelab"
	"github.com/scalelab/scalelab/faults"
)

// store is a Service adapter in memory, for the example: a real one sends
// HTTP requests to the service with scalelab.SendHTTP.
type store map[string]string

func (s store) Write(_ context.Context, key, value string) scalelab.Reply {
	s[key] = value
	return scalelab.Reply{Outcome: scalelab.OK}
}

func (s store) Read(_ context.Context, key string) scalelab.Reply {
	return scalelab.Reply{Outcome: scalelab.OK, Value: s[key]}
}

// A stage of your own: your server next to a database, a fault, its
// guarantees and the controls that break them. Register checks it as the
// lab checks its own stages, before anything runs: here a guarantee that
// no control can break is refused, by name. (With the control added,
// scalelab.Run(ctx, scalelab.Spec{Stage: "shop", Fault: "kill-api"}) runs it.)
func Example() {
	stage := scalelab.Stage{
		ID: "shop",
		Stack: func(scalelab.Settings) scalelab.Topology {
			return scalelab.Topology{
				Name: "shop",
				Nodes: []scalelab.Node{
					{Name: "db", Role: scalelab.Postgres()},
					{Name: "api", Role: scalelab.Program("bin/shop-api", 8080, "/healthz"),
						Args: []string{"-db", scalelab.PostgresDSN("${db}")}},
				},
				Links: []scalelab.Link{{From: scalelab.Client, To: "api"}, {From: "api", To: "db"}},
			}
		},
		Entry: "client->api",
		Ready: "/healthz",
		Service: func(string, *http.Client) (scalelab.Service, error) {
			return store{}, nil
		},
		Faults: []scalelab.Fault{{
			ID:     "kill-api",
			Inject: func(scalelab.Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "api"}} },
			Guarantees: func(ev scalelab.Evidence, _ scalelab.Settings) []scalelab.Guarantee {
				return []scalelab.Guarantee{
					scalelab.RecoversWithin(ev, 5e9),
					scalelab.KeepsAcknowledgedWrites(ev),
				}
			},
			Controls: []scalelab.Control{scalelab.LateRecovery(5e9)},
		}},
	}
	fmt.Println(scalelab.Register(stage))
	// Output:
	// stage "shop" is invalid:
	//   fault kill-api judges "no-lost-writes", but none of its controls breaks it
}
