package check

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

const s = time.Second

func regionOfServer(server string) string { return strings.SplitN(server, "-", 2)[0] }

func TestRegionsCountsWhoServed(t *testing.T) {
	h := history.History{
		Ops: []history.Op{
			{Client: 0, Invoke: 1 * s, Outcome: history.OK, Server: "east-web-1"},
			{Client: 0, Invoke: 1 * s, Outcome: history.OK, Server: "east-web-2"},
			{Client: 9, Invoke: 1 * s, Outcome: history.OK, Server: "west-web-1"},
			{Client: 9, Invoke: 1 * s, Outcome: history.Failed},                   // no server: not counted
			{Client: 9, Invoke: 3 * s, Outcome: history.OK, Server: "west-web-1"}, // outside
		},
	}
	r := RegionsIn(h, Window{From: 0, To: 2 * s}, "east", regionOfServer)
	if r.Total != 3 || r.Served["east"] != 2 || r.Served["west"] != 1 || r.Share < 0.66 || r.Share > 0.67 {
		t.Errorf("served: %+v", r)
	}
}

func TestMovedJudgesOnlyRequestsSentAfterTheBound(t *testing.T) {
	h := history.History{Ops: []history.Op{
		{Invoke: 2 * s, Outcome: history.OK},
		{Invoke: 3 * s, Outcome: history.Unknown}, // before the bound: allowed, but counted in LastFailed
		{Invoke: 7 * s, Outcome: history.OK},
		{Invoke: 8 * s, Outcome: history.OK},
		{Invoke: 11 * s, Outcome: history.Failed}, // after the heal
	}}
	m := MovedAfter(h, 2*s, 10*s, 5*s)
	if m.Sent != 2 || m.Failed != 0 || m.LastFailed != 1*s {
		t.Errorf("moved: %+v", m)
	}
	h.Ops = append(h.Ops, history.Op{Client: 4, Invoke: 9 * s, Outcome: history.Failed, Error: "timeout"})
	m = MovedAfter(h, 2*s, 10*s, 5*s)
	if m.Sent != 3 || m.Failed != 1 || m.LastFailed != 7*s || len(m.FirstFailed) != 1 {
		t.Errorf("a failure after the bound: %+v", m)
	}
}

func TestCachedAnswersCoversRequestsWithinTheirClientsTTL(t *testing.T) {
	h := history.History{
		Lookups: []history.Lookup{
			{Client: 1, Invoke: 1 * s, Complete: 1 * s, Answer: "a", TTL: 2 * s}, // valid until 3 s
			{Client: 1, Invoke: 4 * s, Complete: 5 * s, Error: "timeout"},
			{Client: 2, Invoke: 2 * s, Complete: 2 * s, Answer: "a", TTL: 2 * s}, // valid until 4 s
		},
		Ops: []history.Op{
			{Client: 1, Invoke: 2500 * time.Millisecond, Outcome: history.OK},     // covered
			{Client: 1, Invoke: 3500 * time.Millisecond, Outcome: history.Failed}, // expired
			{Client: 2, Invoke: 3 * s, Outcome: history.Failed},                   // covered, failed
			{Client: 3, Invoke: 3 * s, Outcome: history.OK},                       // never looked up
			{Client: 2, Invoke: 9 * s, Outcome: history.Failed},                   // outside
		},
	}
	c := CachedAnswersIn(h, Window{From: 2 * s, To: 6 * s})
	if c.Covered != 2 || c.CoveredFailed != 1 || c.Uncovered != 2 || c.UncoveredFailed != 1 || len(c.FirstFailed) != 1 || c.FirstFailed[0].Client != 2 {
		t.Errorf("cached answers: %+v", c)
	}
}
