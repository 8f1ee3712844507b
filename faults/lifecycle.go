package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// The lifecycle of a fault as the engine, `scalelab up` and the specs drive
// it, in the way of CockroachDB's failure injection: Apply (inject, then
// wait until the break is seen), then Heal (recover, then wait until the
// system is seen back). The driver decides when; this file decides how.
const (
	// LandedWithin bounds the wait for a fault to be seen in effect.
	LandedWithin = 10 * time.Second
	// HealedWithin bounds the wait for the system to be seen back after a
	// recovery (a former primary rebuilding itself takes seconds).
	HealedWithin = 60 * time.Second
)

// ErrNotLanded: the fault was injected but not seen in effect in time.
var ErrNotLanded = errors.New("the fault did not land")

// Apply injects f into s and waits until it has landed. The Injection is
// returned even on error (the fault may be partly in place): heal it.
func Apply(ctx context.Context, s *stacks.Stack, f Fault) (*Injection, error) {
	in, err := Inject(ctx, s, f)
	if err != nil {
		return in, err
	}
	if err := Eventually(ctx, LandedWithin, func(ctx context.Context) error { return f.Landed(ctx, s) }); err != nil {
		return in, fmt.Errorf("%w: %s not seen in effect within %s: %w", ErrNotLanded, f.Name(), LandedWithin, err)
	}
	return in, nil
}

// Heal recovers the injection and waits until the system is healed.
func (in *Injection) Heal(ctx context.Context) error {
	if err := in.Recover(ctx); err != nil {
		return err
	}
	if err := Eventually(ctx, HealedWithin, func(ctx context.Context) error { return in.Fault.Healed(ctx, in.Stack) }); err != nil {
		return fmt.Errorf("%s did not heal within %s: %w", in.Fault.Name(), HealedWithin, err)
	}
	return nil
}

// HealAll heals injections in the reverse of their order (the last
// injected first: a server started by the heal is enabled at the load
// balancer only after it runs). before, when set, is called as each
// recovery starts (the engine records the heal on the run's clock there).
// Every injection is healed whatever the others do; the errors are joined.
func HealAll(ctx context.Context, ins []*Injection, before func(*Injection)) error {
	var errs []error
	for i := len(ins) - 1; i >= 0; i-- {
		if before != nil {
			before(ins[i])
		}
		if err := ins[i].Heal(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Eventually polls cond every 100 ms until it succeeds or within passes,
// and returns cond's last error.
func Eventually(ctx context.Context, within time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}
