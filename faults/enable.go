package faults

import (
	"context"
	"fmt"

	"github.com/scalelab/scalelab/stacks"
)

// Enable puts a server into an HAProxy load balancer's rotation (state
// ready), and Recover drains it again, waiting until nothing is in flight:
// the inverse of Drain. Injected after AddNode it makes a scale-out whose
// heal is a clean scale-in: faults are recovered in reverse order, so the
// new server is drained at the load balancer before it is stopped.
type Enable struct {
	LB     string
	Server string
}

func (f Enable) Name() string   { return fmt.Sprintf("enable %s at %s", f.Server, f.LB) }
func (f Enable) Target() string { return f.LB + "/" + f.Server }

func (f Enable) Inject(ctx context.Context, s *stacks.Stack) error {
	return setServerState(ctx, s, f.LB, f.Server, "ready")
}

func (f Enable) Recover(ctx context.Context, s *stacks.Stack) error {
	return setServerState(ctx, s, f.LB, f.Server, "drain")
}

func (f Enable) Landed(ctx context.Context, s *stacks.Stack) error {
	return inRotation(ctx, s, f.LB, f.Server)
}

func (f Enable) Healed(ctx context.Context, s *stacks.Stack) error {
	return drained(ctx, s, f.LB, f.Server)
}
