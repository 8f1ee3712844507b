package faults

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/stacks"
)

// Pause freezes every process of a node (cgroup freezer). Unlike a dead
// server, a frozen one still completes TCP handshakes into its backlog, so
// clients hang instead of failing: the nastier failure.
type Pause struct{ Node string }

func (f Pause) Name() string   { return "pause " + f.Node }
func (f Pause) Target() string { return f.Node }

func (f Pause) Inject(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", f.Node, err)
	}
	return nil
}

func (f Pause) Recover(ctx context.Context, s *stacks.Stack) error { return startNode(ctx, s, f.Node) }

func (f Pause) Landed(ctx context.Context, s *stacks.Stack) error {
	st, err := nodeState(ctx, s, f.Node)
	if err != nil {
		return err
	}
	if !st.Paused {
		return fmt.Errorf("node %s is not paused (%s)", f.Node, st.Status)
	}
	return nil
}

func (f Pause) Healed(ctx context.Context, s *stacks.Stack) error { return nodeUp(ctx, s, f.Node) }
