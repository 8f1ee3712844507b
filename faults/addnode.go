package faults

import (
	"context"

	"github.com/scalelab/scalelab/stacks"
)

// AddNode starts a standby node (declared in the topology with Standby: true):
// a server added under load, e.g. scaling the web tier out. Recover takes it
// out again gracefully (SIGTERM, Grace seconds to finish in-flight work), so
// the stack ends as it began.
type AddNode struct {
	Node  string
	Grace int
}

func (f AddNode) Name() string   { return "add " + f.Node }
func (f AddNode) Target() string { return f.Node }

func (f AddNode) Inject(ctx context.Context, s *stacks.Stack) error {
	return s.StartStandby(ctx, f.Node)
}

func (f AddNode) Recover(ctx context.Context, s *stacks.Stack) error {
	st, err := nodeState(ctx, s, f.Node)
	if err != nil || !st.Running {
		return err
	}
	return stopNode(ctx, s, f.Node, f.Grace)
}

// Landed: the added node runs and passes its readiness probe.
func (f AddNode) Landed(ctx context.Context, s *stacks.Stack) error { return nodeUp(ctx, s, f.Node) }

// Healed: the node is out again.
func (f AddNode) Healed(ctx context.Context, s *stacks.Stack) error { return nodeDown(ctx, s, f.Node) }
