package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// LateRecovery recovers a fault By later than asked: a restart that takes
// longer than the stage's recovery bound, or a link that comes back late.
// The heal is still recorded when it was asked for, so a guarantee that the
// system recovers within a bound of the heal must see it break: it is the
// negative control of every "recovers" guarantee.
type LateRecovery struct {
	By    time.Duration
	Fault Fault
	// Interrupt, when closed, ends the wait at once (the run's Ctrl-C:
	// Recover itself runs on a context that a cancel does not reach).
	Interrupt <-chan struct{}
	// Group, when set, is shared by the late recoveries of one heal: each
	// waits until By after the first of them was asked to recover, not By
	// after its own turn. Heals go one after another (HealAll): without it
	// the second of two killed workers would come back 2 x By late.
	Group *LateGroup
}

// LateGroup is the clock the LateRecovery values of one heal share.
type LateGroup struct {
	mu    sync.Mutex
	asked time.Time
}

// due is when a recovery asked for now, By late, is to happen: By after
// the group's first ask.
func (g *LateGroup) due(by time.Duration) time.Time {
	if g == nil {
		return time.Now().Add(by)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.asked.IsZero() {
		g.asked = time.Now()
	}
	return g.asked.Add(by)
}

func (f LateRecovery) Name() string {
	return fmt.Sprintf("%s (recovered %v late)", f.Fault.Name(), f.By)
}
func (f LateRecovery) Target() string { return f.Fault.Target() }

func (f LateRecovery) Inject(ctx context.Context, s *stacks.Stack) error {
	return f.Fault.Inject(ctx, s)
}

// Recover waits By, then recovers the fault. A cancelled context or a
// closed Interrupt (Ctrl-C) recovers at once: healing is never skipped.
func (f LateRecovery) Recover(ctx context.Context, s *stacks.Stack) error {
	t := time.NewTimer(time.Until(f.Group.due(f.By)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-f.Interrupt:
	case <-t.C:
	}
	return f.Fault.Recover(ctx, s)
}

func (f LateRecovery) Landed(ctx context.Context, s *stacks.Stack) error {
	return f.Fault.Landed(ctx, s)
}
func (f LateRecovery) Healed(ctx context.Context, s *stacks.Stack) error {
	return f.Fault.Healed(ctx, s)
}
