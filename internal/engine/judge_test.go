package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
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
// planned lengthen the run, and it goes on defaultCooldown once every heal
// has completed.
func TestCoolDownEndFollowsTheLastHeal(t *testing.T) {
	s := time.Second
	spec := Spec{Warmup: 2 * s, FaultFor: 5 * s, Cooldown: 3 * s}
	for _, tc := range []struct {
		name          string
		lastHeal, now time.Duration
		want          time.Duration
	}{
		{"heals on time", 7 * s, 7100 * time.Millisecond, 10100 * time.Millisecond},
		{"heals done before the planned end", 7 * s, 6 * s, 10 * s},
		{"a second heal recorded late", 9 * s, 9100 * time.Millisecond, 12100 * time.Millisecond},
		{"a heal that completed late (a rebuild)", 7 * s, 19 * s, 22 * s},
	} {
		if got := coolDownEnd(spec, tc.lastHeal, tc.now); got != tc.want {
			t.Errorf("%s: end %v, want %v", tc.name, got, tc.want)
		}
	}
	// A bound that needs a longer cool-down counts from the last heal.
	long := spec
	long.Cooldown = 10500 * time.Millisecond
	if got := coolDownEnd(long, 8*s, 8200*time.Millisecond); got != 18500*time.Millisecond {
		t.Errorf("a 10.5 s cool-down after a heal at 8 s: end %v, want 18.5s", got)
	}
}

// A control whose guarantee breaks also measured from when each op was
// sent counts although its generator fell behind: the lateness cannot have
// made it break. One that breaks only with the lateness counted does not.
func TestAControlThatBreaksWhateverTheLagCounts(t *testing.T) {
	slowFrom := func(h history.History, took time.Duration) history.History {
		for i := range h.Ops {
			h.Ops[i].Complete = h.Ops[i].Invoke + took
		}
		return h
	}
	fast := stage.Fault{ID: "f", Guarantees: func(ev stage.Evidence, _ stage.Settings) []verdict.Guarantee {
		l := ev.History.Ops
		worst := time.Duration(0)
		for _, op := range l {
			worst = max(worst, op.Complete-op.Invoke)
		}
		return []verdict.Guarantee{{Name: "fast", Holds: worst < 400*time.Millisecond, Measured: worst.String()}}
	}}
	control := &stage.Control{Name: "slow", Breaks: []string{"fast"}}
	for _, tc := range []struct {
		name        string
		took, lag   time.Duration
		counts      bool
		controlRuns bool
	}{
		{"the system is slow (4 s), the generator 80 ms late", 4 * time.Second, 80 * time.Millisecond, true, true},
		{"the system is fast (20 ms), the generator 500 ms late", 520 * time.Millisecond, 500 * time.Millisecond, false, true},
		{"a fault run gets no such pass", 4 * time.Second, 80 * time.Millisecond, false, false},
	} {
		h := slowFrom(quietHistory(), tc.took)
		for i := range h.Ops {
			h.Ops[i].Lag = tc.lag
		}
		res := &Result{History: h}
		if tc.controlRuns {
			res.Control = control
		}
		res.Stats.LagP99 = tc.lag
		res.judge([]stage.Fault{fast}, stage.Settings{}, nil, nil)
		if res.Verdict.Counts() != tc.counts || res.overloaded() == tc.counts {
			t.Errorf("%s: counts=%v overloaded=%v, want counts=%v (%v)", tc.name, res.Verdict.Counts(), res.overloaded(), tc.counts, res.Verdict.Assumptions)
		}
	}
}
