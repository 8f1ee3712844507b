package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/stacks"
)

// Kill sends SIGKILL to a node: no shutdown, no flush, what a power cut does
// to the process. Its address vanishes with it: its links swallow what their
// clients send and never answer (Stack.SyncUpstreams).
// Recover starts it again and waits until it is ready.
type Kill struct{ Node string }

func (f Kill) Name() string   { return "kill " + f.Node }
func (f Kill) Target() string { return f.Node }

func (f Kill) Inject(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	return takeAway(ctx, s, f.Node, func() error {
		if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			return fmt.Errorf("kill %s: %w", f.Node, err)
		}
		// The engine answers once the signal is sent, not once the
		// container has exited: the links follow the node's state again
		// only once it is gone.
		return waitNotRunning(ctx, s, f.Node, 10*time.Second)
	})
}

func (f Kill) Recover(ctx context.Context, s *stacks.Stack) error { return startNode(ctx, s, f.Node) }
func (f Kill) Landed(ctx context.Context, s *stacks.Stack) error  { return nodeDown(ctx, s, f.Node) }
func (f Kill) Healed(ctx context.Context, s *stacks.Stack) error  { return nodeUp(ctx, s, f.Node) }
