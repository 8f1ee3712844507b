package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestDivergentKeysAreWrittenOnBothSides(t *testing.T) {
	s := time.Second
	region := func(server string) string { return server[:4] }
	w := func(key, server string, at time.Duration, out history.Outcome) history.Op {
		return history.Op{Kind: history.Write, Key: key, Server: server, Invoke: at, Complete: at + 10*time.Millisecond, Outcome: out}
	}
	h := history.History{Ops: []history.Op{
		w("a", "east-web-1", 2*s, history.OK),
		w("a", "west-web-1", 3*s, history.OK), // a: both sides
		w("b", "east-web-1", 2*s, history.OK),
		w("b", "west-web-2", 3*s, history.Failed),              // not acknowledged
		w("c", "west-web-1", 500*time.Millisecond, history.OK), // before the window
		w("c", "east-web-2", 3*s, history.OK),
		w("d", "west-web-2", 9*s, history.OK), // after it
		w("d", "east-web-2", 3*s, history.OK),
		w("e", "west-web-2", 4*s, history.OK),
		{Kind: history.Read, Key: "e", Server: "east-web-1", Invoke: 4 * s, Outcome: history.OK},
	}}
	d := DivergentKeys(h, s, 8*s, region)
	if len(d.Keys) != 1 || d.Keys[0] != "a" || len(d.Examples) != 2 {
		t.Fatalf("got %+v, want only key a, with one write of each side", d)
	}
	if d.Written["east"] != 4 || d.Written["west"] != 2 {
		t.Errorf("written %v, want east 4 (a b c d), west 2 (a e)", d.Written)
	}
	// One side took writes, then the other (a failover): no split brain.
	seq := history.History{Ops: []history.Op{
		w("a", "east-web-1", 2*s, history.OK), w("b", "east-web-1", 3*s, history.OK),
		w("a", "west-web-1", 5*s, history.OK), w("b", "west-web-1", 6*s, history.OK),
	}}
	if got := DivergentKeys(seq, s, 8*s, region); len(got.Keys) != 0 || got.Written["east"] != 2 || got.Written["west"] != 2 {
		t.Errorf("one side after the other: %+v, want no divergent key", got)
	}
	if got := DivergentKeys(history.History{}, 0, s, region); len(got.Keys) != 0 || len(got.Written) != 0 {
		t.Errorf("empty history: %+v", got)
	}
}
