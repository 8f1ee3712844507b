package faults

import (
	"context"

	"github.com/scalelab/scalelab/stacks"
)

// NoOp is the control: a fault that does nothing. Injected in place of a real
// fault, it proves that a fault's Landed probe (and a guarantee's checker)
// can tell "broken" from "fine".
type NoOp struct{ On string }

func (f NoOp) Name() string                                 { return "no-op on " + f.On }
func (f NoOp) Target() string                               { return f.On }
func (f NoOp) Inject(context.Context, *stacks.Stack) error  { return nil }
func (f NoOp) Recover(context.Context, *stacks.Stack) error { return nil }
func (f NoOp) Landed(context.Context, *stacks.Stack) error  { return nil }
func (f NoOp) Healed(context.Context, *stacks.Stack) error  { return nil }
