package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
)

// A quiet run: 100 ops, every one ok, a fault from 1 s to 2 s.
func quietHistory() history.History {
	h := history.History{
		Events: []history.Event{
			{At: time.Second, Kind: history.FaultInjected, Fault: "f"},
			{At: 2 * time.Second, Kind: history.FaultHealed, Fault: "f"},
		},
		End:   3 * time.Second,
		Final: map[string]string{},
	}
	for i := range 300 {
		at := time.Duration(i) * 10 * time.Millisecond
		h.Ops = append(h.Ops, history.Op{Kind: history.Other, Invoke: at, Complete: at + time.Millisecond, Outcome: history.OK})
	}
	return h
}

var holdsAlways = stage.Fault{ID: "f", Guarantees: func(ev stage.Evidence, _ stage.Settings) []verdict.Guarantee {
	return []verdict.Guarantee{verdict.AvailabilityAtLeast("", ev.During, 0.99)}
}}

// Latency is measured from the schedule: a generator that fell behind would
// blame the system for its own lateness. Such a run does not count; it
// never breaks a guarantee.
func TestAGeneratorThatFellBehindIsNotJudged(t *testing.T) {
	for _, tc := range []struct {
		lag    time.Duration
		counts bool
	}{{3 * time.Millisecond, true}, {maxSendLagP99, true}, {80 * time.Millisecond, false}} {
		res := &Result{History: quietHistory()}
		res.Stats.LagP99 = tc.lag
		res.judge([]stage.Fault{holdsAlways}, stage.Settings{}, nil, nil)
		if res.Verdict.Counts() != tc.counts {
			t.Errorf("lag p99 %v: counts=%v, want %v (%v)", tc.lag, res.Verdict.Counts(), tc.counts, res.Verdict.Assumptions)
		}
		if !tc.counts && !strings.Contains(strings.Join(res.Verdict.Assumptions, ";"), "load generator fell behind") {
			t.Errorf("lag p99 %v: assumptions %v", tc.lag, res.Verdict.Assumptions)
		}
		if len(res.Verdict.Breaches()) != 0 {
			t.Errorf("lag p99 %v: the generator's lateness broke a guarantee: %v", tc.lag, res.Verdict.Breaches())
		}
	}
}

// The cool-down is counted from the last heal: heals that took longer than
// planned lengthen the run, and the end is never before now.
func TestCoolDownEndFollowsTheLastHeal(t *testing.T) {
	spec := Spec{Warmup: 2 * time.Second, FaultFor: 5 * time.Second, Cooldown: 3 * time.Second}
	rec := workload.NewRecorder(workload.NewClock())
	rec.Event(history.FaultHealed, "quick", "") // at ~0: the planned end wins
	if got := coolDownEnd(rec, spec); got != 10*time.Second {
		t.Errorf("planned heal: end %v, want the planned 10s", got)
	}
	// Healed only now, late: observed observeAfterHealed beyond now.
	late := spec
	late.Warmup, late.FaultFor, late.Cooldown = 0, 0, 0
	before := rec.Clock().Now()
	got := coolDownEnd(rec, late)
	if after := rec.Clock().Now(); got < before+observeAfterHealed || got > after+observeAfterHealed {
		t.Errorf("end %v, want %v after the call (between %v and %v)", got, observeAfterHealed, before, after)
	}
}
