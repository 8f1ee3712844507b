package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/stacks"
)

// Restart stops a node (SIGTERM, SIGKILL after Grace seconds) and starts it
// again at once: a crash-and-restart, or a deploy. Landed checks that the
// node's process started after the injection; Recover waits until it is ready.
type Restart struct {
	Node  string
	Grace int

	at time.Time
}

func (f *Restart) Name() string   { return "restart " + f.Node }
func (f *Restart) Target() string { return f.Node }

func (f *Restart) Inject(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	f.at = time.Now()
	grace := f.Grace
	return takeAway(ctx, s, f.Node, func() error {
		if _, err := cli.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &grace}); err != nil {
			return fmt.Errorf("restart %s: %w", f.Node, err)
		}
		return nil
	})
}

func (f *Restart) Recover(ctx context.Context, s *stacks.Stack) error {
	return startNode(ctx, s, f.Node)
}

func (f *Restart) Landed(ctx context.Context, s *stacks.Stack) error {
	st, err := nodeState(ctx, s, f.Node)
	if err != nil {
		return err
	}
	started, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if err != nil {
		return fmt.Errorf("node %s: start time %q: %w", f.Node, st.StartedAt, err)
	}
	// The engine's clock and ours are the same machine's; allow a little skew.
	if f.at.IsZero() || started.Before(f.at.Add(-100*time.Millisecond)) {
		return fmt.Errorf("node %s was not restarted (started %s)", f.Node, st.StartedAt)
	}
	return nil
}

func (f *Restart) Healed(ctx context.Context, s *stacks.Stack) error { return nodeUp(ctx, s, f.Node) }
