package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
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
			{Invoke: 5 * s, Kind: history.Write, Key: "k", Outcome: history.OK, Server: "east-web-1"},
			{Invoke: 6 * s, Kind: history.Write, Key: "k", Outcome: history.OK, Server: "west-web-1"}, // k: both sides
			{Invoke: 8 * s, Outcome: history.OK, Server: "west-web-1"},
		},
		Lookups: []history.Lookup{{Answer: "10.1.0.2", DC: "east"}, {Answer: "10.2.0.2", DC: "west"}, {Error: "timeout"}},
	}
	d := dcWork(h, topo, w, check.LostWrites{Checked: true, Lost: []history.Op{{Key: "k"}}})
	if d == nil || d.Split == nil || *d.Split != 0.667 {
		t.Fatalf("split: %+v", d)
	}
	if d.Served["east"] != (DCServed{Before: 2, During: 2}) || d.Served["west"] != (DCServed{Before: 1, During: 1, After: 1}) {
		t.Errorf("served: %+v", d.Served)
	}
	if d.DNSAnswers["east"] != 1 || d.DNSAnswers["west"] != 1 || d.DNSAnswers["failed"] != 1 {
		t.Errorf("answers: %+v", d.DNSAnswers)
	}
	if d.FailoverS == nil || *d.FailoverS != 1 {
		t.Errorf("failover_s: %v", d.FailoverS)
	}
	if d.WritesLost == nil || *d.WritesLost != 1 {
		t.Errorf("writes_lost %v: want 1", d.WritesLost)
	}
	if d := dcWork(h, topo, check.FaultWindows{Before: w.Before}, check.LostWrites{}); d.WritesLost != nil || d.FailoverS != nil {
		t.Errorf("no read-back, no fault window: %+v", d)
	}
	if dcWork(history.History{Ops: h.Ops}, topo, w, check.LostWrites{}) != nil {
		t.Error("a run without lookups has a dc section")
	}
}

// The multi-dc stack's diagram frames each data center, and the frames
// neither overlap nor leave a node of theirs outside.
func TestDiagramFramesEachDataCenterApart(t *testing.T) {
	topo := Topology{Proxy: "toxiproxy", Links: []string{
		"client->dns", "client->east-lb", "client->west-lb",
		"east-lb->east-web-1", "east-lb->east-web-2", "west-lb->west-web-1", "west-lb->west-web-2",
		"east-web-1->east-db", "east-web-2->east-db", "west-web-1->east-db", "west-web-2->east-db",
	}}
	for _, n := range []struct{ name, net string }{
		{"dns", ""}, {"east-db", "east"}, {"east-web-1", "east"}, {"east-web-2", "east"}, {"east-lb", "east"},
		{"west-web-1", "west"}, {"west-web-2", "west"}, {"west-lb", "west"},
	} {
		topo.Nodes = append(topo.Nodes, Node{Name: n.name, Kind: "k", Network: n.net})
	}
	s := stackDiagram(topo, nil)
	frames := map[string]el{}
	nodes := map[string]el{}
	var texts []el
	for _, e := range s.Els {
		switch {
		case e.Kind == "rect" && e.Class == "network":
			frames[strings.TrimPrefix(e.Title, "network ")] = e
		case e.Kind == "rect" && strings.HasPrefix(e.Class, "node"):
			nodes[fmt.Sprint(e.X, e.Y)] = e
		case e.Kind == "text" && e.Class == "node-name":
			texts = append(texts, e)
		}
	}
	if len(frames) != 2 {
		t.Fatalf("frames: %v", frames)
	}
	e, w := frames["east"], frames["west"]
	if e.Y+e.H > w.Y && w.Y+w.H > e.Y && e.X+e.W > w.X && w.X+w.W > e.X {
		t.Errorf("the frames overlap: east %+v, west %+v", e, w)
	}
	for _, tx := range texts {
		net := ""
		for _, n := range topo.Nodes {
			if n.Name == tx.Text {
				net = n.Network
			}
		}
		f, framed := frames[net]
		inside := func(f el) bool { return tx.X > f.X && tx.X < f.X+f.W && tx.Y > f.Y && tx.Y < f.Y+f.H }
		switch {
		case framed && !inside(f):
			t.Errorf("%s is outside its frame %s", tx.Text, net)
		case !framed && (inside(e) || inside(w)):
			t.Errorf("%s, of no data center, is inside a frame", tx.Text)
		}
	}
}

// report.json's divergent_keys is the no-divergent-writes guarantee's count,
// null where no guarantee judged it (a fault that is not a partition).
func TestDivergentKeysComeFromTheGuarantee(t *testing.T) {
	h := syntheticHistory()
	h.Lookups = []history.Lookup{{Answer: "10.1.0.2", DC: "east"}}
	r := syntheticResult(h)
	if d := FromResult(r).DC; d == nil || d.DivergentKeys != nil {
		t.Fatalf("no such guarantee: dc %+v, want divergent_keys null", d)
	}
	r.Verdict.Add(verdict.Guarantee{Name: stage.NoDivergentWrites, Value: 7})
	if d := FromResult(r).DC; d.DivergentKeys == nil || *d.DivergentKeys != 7 {
		t.Errorf("judged: %v, want 7", d.DivergentKeys)
	}
}
