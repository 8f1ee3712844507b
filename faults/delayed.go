package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// Delayed injects a fault After a wait: a second failure that follows a
// first one (replicas fall behind, then the primary dies). Recover, Landed
// and Healed are the fault's own.
type Delayed struct {
	After time.Duration
	Fault Fault
}

func (f Delayed) Name() string {
	if f.After == 0 {
		return f.Fault.Name()
	}
	return fmt.Sprintf("%s after %s", f.Fault.Name(), f.After)
}
func (f Delayed) Target() string { return f.Fault.Target() }

func (f Delayed) Inject(ctx context.Context, s *stacks.Stack) error {
	t := time.NewTimer(f.After)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return f.Fault.Inject(ctx, s)
}

func (f Delayed) Recover(ctx context.Context, s *stacks.Stack) error { return f.Fault.Recover(ctx, s) }
func (f Delayed) Landed(ctx context.Context, s *stacks.Stack) error  { return f.Fault.Landed(ctx, s) }
func (f Delayed) Healed(ctx context.Context, s *stacks.Stack) error  { return f.Fault.Healed(ctx, s) }
