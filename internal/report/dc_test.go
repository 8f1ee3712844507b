package report

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/stacks"
)

func TestDCSectionCountsTrafficByTheServersDataCenter(t *testing.T) {
	const s = time.Second
	topo := stacks.Topology{Nodes: []stacks.Node{
		{Name: "east-web-1", Networks: []string{"east"}},
		{Name: "west-web-1", Networks: []string{"west"}},
	}}
	w := check.FaultWindows{
		Before: check.Window{From: 0, To: 2 * s}, During: check.Window{From: 2 * s, To: 7 * s}, After: check.Window{From: 7 * s, To: 10 * s},
		Inject: 2 * s, Heal: 7 * s,
	}
	h := history.History{
		Ops: []history.Op{
			{Invoke: 1 * s, Outcome: history.OK, Server: "east-web-1"},
			{Invoke: 1 * s, Outcome: history.OK, Server: "west-web-1"},
			{Invoke: 1 * s, Outcome: history.OK, Server: "east-web-1"},
			{Invoke: 3 * s, Outcome: history.Unknown},
			{Invoke: 5 * s, Outcome: history.OK, Server: "east-web-1"},
			{Invoke: 8 * s, Outcome: history.OK, Server: "west-web-1"},
		},
		Lookups: []history.Lookup{{Answer: "10.1.0.2", DC: "east"}, {Answer: "10.2.0.2", DC: "west"}, {Error: "timeout"}},
	}
	d := dcWork(h, topo, w)
	if d == nil || d.Split == nil || *d.Split != 0.667 {
		t.Fatalf("split: %+v", d)
	}
	if d.Served["east"] != (DCServed{Before: 2, During: 1}) || d.Served["west"] != (DCServed{Before: 1, After: 1}) {
		t.Errorf("served: %+v", d.Served)
	}
	if d.DNSAnswers["east"] != 1 || d.DNSAnswers["west"] != 1 || d.DNSAnswers["failed"] != 1 {
		t.Errorf("answers: %+v", d.DNSAnswers)
	}
	if d.FailoverS == nil || *d.FailoverS != 1 {
		t.Errorf("failover_s: %v", d.FailoverS)
	}
	if dcWork(history.History{Ops: h.Ops}, topo, w) != nil {
		t.Error("a run without lookups has a dc section")
	}
}
