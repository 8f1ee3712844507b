package faults

import (
	"context"

	"github.com/scalelab/scalelab/stacks"
)

// Stop stops a node gracefully (SIGTERM, then SIGKILL after Grace seconds):
// a planned shutdown, during which a server may drain its clients.
type Stop struct {
	Node  string
	Grace int // seconds before SIGKILL
}

func (f Stop) Name() string   { return "stop " + f.Node }
func (f Stop) Target() string { return f.Node }

func (f Stop) Inject(ctx context.Context, s *stacks.Stack) error {
	return stopNode(ctx, s, f.Node, f.Grace)
}

func (f Stop) Recover(ctx context.Context, s *stacks.Stack) error { return startNode(ctx, s, f.Node) }
func (f Stop) Landed(ctx context.Context, s *stacks.Stack) error  { return nodeDown(ctx, s, f.Node) }
func (f Stop) Healed(ctx context.Context, s *stacks.Stack) error  { return nodeUp(ctx, s, f.Node) }
