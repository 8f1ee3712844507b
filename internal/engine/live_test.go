package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
)

// liveHistory is 30 s of writes at 100/s, each 5 ms, all ok.
func liveHistory() history.History {
	var h history.History
	for i := range 3000 {
		at := time.Duration(i) * 10 * time.Millisecond
		h.Ops = append(h.Ops, history.Op{Client: i % 16, Kind: history.Write, Key: "k", Value: "v", Invoke: at, Complete: at + 5*time.Millisecond, Outcome: history.OK})
	}
	return h
}

func TestLiveVerdictWaitsForTheHealAndTheBounds(t *testing.T) {
	st, err := stage.Get("separate-db")
	if err != nil {
		t.Fatal(err)
	}
	set, err := st.Resolve(stage.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	h := liveHistory()
	// In place: nothing counted from the heal is judged.
	gs, err := LiveVerdict(st, "db-latency", set, h, 10*time.Second, 0, 20*time.Second, 5*time.Second)
	if err != nil || len(gs) == 0 {
		t.Fatalf("got %d guarantees, %v", len(gs), err)
	}
	for _, g := range gs {
		if g.Bound != nil && g.Bound.Since == verdict.SinceHeal && !strings.Contains(g.NotJudged, "not healed yet") {
			t.Errorf("%s judged before the heal: %+v", g.Name, g)
		}
	}
	// Healed at 15 s, observed to 29 s: the bounds have passed and the
	// fault did nothing: what is judged holds.
	gs, err = LiveVerdict(st, "db-latency", set, h, 10*time.Second, 15*time.Second, 29*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for _, g := range gs {
		if g.NotJudged == "" {
			judged++
			if !g.Holds {
				t.Errorf("%s broke on a history without a failure: %s", g.Name, g.Measured)
			}
		}
	}
	if judged == 0 {
		t.Errorf("nothing judged after the heal: %+v", gs)
	}
	if _, err := LiveVerdict(st, "no-such-fault", set, h, time.Second, 0, 2*time.Second, time.Second); err == nil {
		t.Error("an unknown fault was judged")
	}
}
