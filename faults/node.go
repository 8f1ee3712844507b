package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/stacks"
)

// Helpers shared by the node faults: they act on the Docker engine directly
// (testcontainers has no pause, kill or disconnect).

func nodeID(ctx context.Context, s *stacks.Stack, node string) (*client.Client, string, error) {
	c, err := s.Container(node)
	if err != nil {
		return nil, "", err
	}
	cli, err := docker.Client(ctx)
	if err != nil {
		return nil, "", err
	}
	return cli, c.GetContainerID(), nil
}

func nodeState(ctx context.Context, s *stacks.Stack, node string) (*container.State, error) {
	cli, id, err := nodeID(ctx, s, node)
	if err != nil {
		return nil, err
	}
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", node, err)
	}
	if res.Container.State == nil {
		return nil, fmt.Errorf("inspect %s: no state", node)
	}
	return res.Container.State, nil
}

// startNode starts a stopped node again and waits for its readiness probe.
func startNode(ctx context.Context, s *stacks.Stack, node string) error {
	st, err := nodeState(ctx, s, node)
	if err != nil {
		return err
	}
	cli, id, _ := nodeID(ctx, s, node)
	if st.Paused {
		if _, err := cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
			return fmt.Errorf("unpause %s: %w", node, err)
		}
	}
	if !st.Running {
		if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", node, err)
		}
		// Its address may have changed: Docker gives a restarted container
		// the first free one.
		if err := s.SyncUpstreams(ctx); err != nil {
			return err
		}
	}
	return s.WaitReady(ctx, node)
}

// waitNotRunning waits, at most limit, until the engine says a node's
// container is not running (its own wait, condition "not-running").
func waitNotRunning(ctx context.Context, s *stacks.Stack, node string, limit time.Duration) error {
	cli, id, err := nodeID(ctx, s, node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
		return nil
	case err := <-w.Error:
		return fmt.Errorf("wait for %s to stop (at most %s): %w", node, limit, err)
	}
}

// nodeDown is the landed probe of the faults that take a node away.
func nodeDown(ctx context.Context, s *stacks.Stack, node string) error {
	st, err := nodeState(ctx, s, node)
	if err != nil {
		return err
	}
	if st.Running {
		return fmt.Errorf("node %s is still running (%s)", node, st.Status)
	}
	return nil
}

// nodeUp is the healed probe of every node fault: running, not paused, ready.
func nodeUp(ctx context.Context, s *stacks.Stack, node string) error {
	st, err := nodeState(ctx, s, node)
	if err != nil {
		return err
	}
	if !st.Running || st.Paused {
		return fmt.Errorf("node %s is %s", node, st.Status)
	}
	return s.WaitReady(ctx, node)
}

// stopNode stops a node gracefully: SIGTERM, then SIGKILL after grace seconds.
func stopNode(ctx context.Context, s *stacks.Stack, node string, grace int) error {
	cli, id, err := nodeID(ctx, s, node)
	if err != nil {
		return err
	}
	return takeAway(ctx, s, node, func() error {
		if _, err := cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace}); err != nil {
			return fmt.Errorf("stop %s: %w", node, err)
		}
		return nil
	})
}

// takeAway runs do, which takes a node off the stack's network (a kill, a
// stop, a restart, a disconnect), with the node's links withdrawn: its
// clients get no answer from just before it goes until it is back (see
// Stack.SyncUpstreams for why they cannot follow it there).
func takeAway(ctx context.Context, s *stacks.Stack, node string, do func() error) error {
	if err := s.Withdraw(ctx, node); err != nil {
		return err
	}
	err := do()
	return errors.Join(err, s.Release(ctx, node))
}
