package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Live is a stage's workload driven at a stack that stays up (`scalelab
// up`'s page): the clients of a run, recorded on one clock, with no fault
// schedule and no verdict: faults come and go when the user asks, and are
// recorded on the same clock (Rec.Event).
type Live struct {
	Rec *workload.Recorder
	// Timeout is the clients' request timeout: an op invoked at t has its
	// outcome by t + Timeout.
	Timeout time.Duration
	done    chan error
}

// liveKeep is how much of the history a live workload keeps: the page's
// chart shows the last minute; the rest is headroom for its guarantees'
// windows.
const liveKeep = 5 * time.Minute

// StartLive waits until the booted stack serves, then drives the stage's
// workload (the lab's defaults, as a run's) at it until ctx ends.
func StartLive(ctx context.Context, st stage.Stage, set stage.Settings, stack *stacks.Stack) (*Live, error) {
	at, err := reachStack(ctx, st, set, stack)
	if err != nil {
		return nil, err
	}
	spec := DefaultSpec(Spec{Stage: st.ID})
	wcfg, err := stageWorkload(ctx, st, set, stack, at, spec.Workload)
	if err != nil {
		return nil, err
	}
	// As long as the stack is up: ctx ends it (and the workload then waits
	// for its requests in flight).
	wcfg.Duration = 24 * time.Hour
	if err := wcfg.Validate(); err != nil {
		return nil, fmt.Errorf("live workload: %w", err)
	}
	l := &Live{Rec: workload.NewRecorder(nil), Timeout: wcfg.Timeout, done: make(chan error, 1)}
	go func() {
		_, _, err := workload.Run(ctx, wcfg, at.base, nil, l.Rec)
		l.done <- err
	}()
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.Rec.Forget(l.Rec.Clock().Now() - liveKeep)
			}
		}
	}()
	return l, nil
}

// Wait waits until the workload stopped (after ctx ended).
func (l *Live) Wait() error { return <-l.done }

// LiveVerdict judges a fault's guarantees on a live workload's history
// around one injection of it (scalelab up's page), as a run would: h holds
// the ops from some seconds before inject on; heal is 0 while the fault is
// in place, and its window then ends at end. end is now less the clients'
// timeout, so that every op judged has its outcome. A guarantee whose time
// bound lies past end, or counts from a heal that has not come, is not
// judged yet; one whose evidence the live page does not gather (a read-back
// after the run, the stack's counters) says so as a run would.
func LiveVerdict(st stage.Stage, faultID string, set stage.Settings, h history.History, inject, heal, end, timeout time.Duration) ([]verdict.Guarantee, error) {
	f, err := st.Fault(faultID)
	if err != nil {
		return nil, err
	}
	healed := heal > 0 && heal <= end
	if !healed {
		heal = end
	}
	if inject >= heal {
		return nil, nil // nothing of the fault's window has completed yet
	}
	lh := history.History{End: end, Events: []history.Event{
		{Kind: history.FaultInjected, At: inject, Fault: faultID},
		{Kind: history.FaultHealed, At: heal, Fault: faultID},
	}}
	if healed {
		// A flood's tally is recorded at its heal: the last fault's is
		// the last one.
		lh.Tallies = h.Tallies
	}
	for _, op := range h.Ops {
		if op.Invoke < end {
			lh.Ops = append(lh.Ops, op)
		}
	}
	ev, _ := evidenceOf(lh, timeout, nil)
	var out []verdict.Guarantee
	for _, g := range f.Guarantees(ev, set) {
		switch b := g.Bound; {
		case g.Vacuous != "" && !healed:
			// Judged on a window that ends now: what it says of the
			// window may change once the heal ends it.
			g = verdict.NotJudgedBecause(g, "not until the heal ends the fault's window ("+g.Vacuous+")")
		case g.Vacuous != "":
			g = verdict.NotJudgedBecause(g, "it cannot fail with these settings: "+g.Vacuous)
		case b != nil && b.Since == verdict.SinceHeal && !healed:
			g = verdict.NotJudgedBecause(g, "not healed yet: it is judged from the heal on")
		case b != nil && b.Since == verdict.SinceHeal && heal+b.D > end:
			g = verdict.NotJudgedBecause(g, fmt.Sprintf("judged once %v have passed since the heal", b.D))
		case b != nil && b.Since == verdict.SinceInject && inject+b.D > end:
			g = verdict.NotJudgedBecause(g, fmt.Sprintf("judged once %v have passed since the injection", b.D))
		}
		out = append(out, g)
	}
	return out, nil
}
