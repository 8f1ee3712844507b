package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/stacks"
)

// Kill sends SIGKILL to a node: no shutdown, no flush, what a power cut does
// to the process. Its links then dial nowhere
// and refuse their clients at once (Stack.SyncUpstreams).
// Recover starts it again and waits until it is ready.
type Kill struct{ Node string }

func (f Kill) Name() string   { return "kill " + f.Node }
func (f Kill) Target() string { return f.Node }

func (f Kill) Inject(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("kill %s: %w", f.Node, err)
	}
	// The engine answers once the signal is sent, not once the container
	// has exited: names written before then would keep the dead node's
	// address, and a link's dial to an address nobody holds hangs for the
	// kernel's ARP timeout (~3 s) instead of failing at once.
	if err := waitNotRunning(ctx, s, f.Node, 10*time.Second); err != nil {
		return err
	}
	return s.SyncUpstreams(ctx)
}

func (f Kill) Recover(ctx context.Context, s *stacks.Stack) error { return startNode(ctx, s, f.Node) }
func (f Kill) Landed(ctx context.Context, s *stacks.Stack) error  { return nodeDown(ctx, s, f.Node) }
func (f Kill) Healed(ctx context.Context, s *stacks.Stack) error  { return nodeUp(ctx, s, f.Node) }
