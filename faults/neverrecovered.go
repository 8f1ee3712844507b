package faults

import (
	"context"

	"github.com/scalelab/scalelab/stacks"
)

// NeverRecovered is a fault whose heal does nothing: a node that never
// comes back, a link that stays cut. It is the control of a "recovers"
// guarantee where the system must not be seen back at all. Nothing is
// undone when the stack is torn down either: teardown removes it.
type NeverRecovered struct{ Fault Fault }

func (f NeverRecovered) Name() string   { return f.Fault.Name() + " (never recovered)" }
func (f NeverRecovered) Target() string { return f.Fault.Target() }
func (f NeverRecovered) Inject(ctx context.Context, s *stacks.Stack) error {
	return f.Fault.Inject(ctx, s)
}
func (f NeverRecovered) Landed(ctx context.Context, s *stacks.Stack) error {
	return f.Fault.Landed(ctx, s)
}
func (NeverRecovered) Recover(context.Context, *stacks.Stack) error { return nil }
func (NeverRecovered) Healed(context.Context, *stacks.Stack) error  { return nil }
