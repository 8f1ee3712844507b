package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// The lifecycle of a fault as the engine, `scalelab up` and the specs drive
// it, in the way of CockroachDB's failure injection: Apply (inject, then
// wait until the break is seen), then Heal (recover, then wait until the
// system is seen back), a step of like faults at a time (Steps). The driver
// decides when; this file decides how.
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
	ins, err := ApplyStep(ctx, s, []Fault{f}, nil)
	if len(ins) == 0 {
		return nil, err
	}
	return ins[0], err
}

// Steps splits what a fault injects into the steps of its lifecycle: the
// faults of one kind that come one after another (the links of a partition,
// the nodes of a data center) are one step, injected together and awaited
// together; a step of another kind comes after the one before it has landed
// (a bandwidth cap before the kill that it is there to show). One fault
// after another, each awaited before the next, a partition of nine links
// took nine probes' time to be in place (each up to a second on a loaded
// machine, and a latency's probe a whole round trip): most of a 5 s window,
// and the heal's links came back over 10 s, a state in between that the
// guarantees judged as the fault.
func Steps(fs []Fault) [][]Fault { return runsOfKind(fs, func(f Fault) Fault { return f }) }

// runsOfKind splits xs into runs of neighbours whose faults (fault) are of
// one kind: the steps of faults (Steps) and of their injections (HealAll).
func runsOfKind[T any](xs []T, fault func(T) Fault) [][]T {
	var runs [][]T
	for i, x := range xs {
		if i > 0 && kind(fault(x)) == kind(fault(xs[i-1])) {
			runs[len(runs)-1] = append(runs[len(runs)-1], x)
			continue
		}
		runs = append(runs, []T{x})
	}
	return runs
}

// kind is a fault's kind: its type (Kill, Down, Latency, or the wrapper's:
// Delayed, LateRecovery).
func kind(f Fault) string { return fmt.Sprintf("%T", f) }

// ApplyStep injects a step's faults into s, one after another (before, when
// set, is called as each injection starts: the engine records it on the
// run's clock there), then waits until every one has landed. The
// Injections are returned even on error (some may be in place): heal them.
func ApplyStep(ctx context.Context, s *stacks.Stack, step []Fault, before func(Fault)) ([]*Injection, error) {
	var ins []*Injection
	for _, f := range step {
		if before != nil {
			before(f)
		}
		in, err := Inject(ctx, s, f)
		if in != nil {
			ins = append(ins, in)
		}
		if err != nil {
			return ins, err
		}
	}
	return ins, together(ins, func(in *Injection) error {
		if err := Eventually(ctx, LandedWithin, func(ctx context.Context) error { return in.Fault.Landed(ctx, s) }); err != nil {
			return fmt.Errorf("%w: %s not seen in effect within %s: %w", ErrNotLanded, in.Fault.Name(), LandedWithin, err)
		}
		return nil
	})
}

// Heal recovers the injection and waits until the system is healed.
func (in *Injection) Heal(ctx context.Context) error {
	return HealAll(ctx, []*Injection{in}, nil)
}

// HealAll heals injections in the reverse of their order, a step (Steps)
// at a time: the last step first (a server started by the heal is enabled
// at the load balancer only after it runs); a step's faults are recovered
// one after another and awaited together. before, when set, is called as
// each recovery starts (the engine records the heal on the run's clock
// there). Every injection is healed whatever the others do; the errors are
// joined.
func HealAll(ctx context.Context, ins []*Injection, before func(*Injection)) error {
	var errs []error
	for _, step := range slices.Backward(runsOfKind(ins, func(in *Injection) Fault { return in.Fault })) {
		var recovered []*Injection
		for _, in := range slices.Backward(step) {
			if before != nil {
				before(in)
			}
			if err := in.Recover(ctx); err != nil {
				errs = append(errs, err)
				continue
			}
			recovered = append(recovered, in)
		}
		errs = append(errs, together(recovered, func(in *Injection) error {
			if err := Eventually(ctx, HealedWithin, func(ctx context.Context) error { return in.Fault.Healed(ctx, in.Stack) }); err != nil {
				return fmt.Errorf("%s did not heal within %s: %w", in.Fault.Name(), HealedWithin, err)
			}
			return nil
		}))
	}
	return errors.Join(errs...)
}

// together runs wait for every injection at once and joins the errors.
func together(ins []*Injection, wait func(*Injection) error) error {
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = wait(in)
		}()
	}
	wg.Wait()
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
