package faults

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/stacks"
)

// Disconnect cuts a node off its home network (Stack.HomeNetwork): a partition. Packets to it
// go nowhere (its links swallow what their clients send: Stack.SyncUpstreams).
// Recover connects it again with its alias, or its name would stay
// unresolvable.
type Disconnect struct{ Node string }

func (f Disconnect) Name() string   { return "disconnect " + f.Node }
func (f Disconnect) Target() string { return f.Node }

func (f Disconnect) Inject(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	return takeAway(ctx, s, f.Node, func() error {
		if _, err := cli.NetworkDisconnect(ctx, s.HomeNetwork(f.Node).ID, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
			return fmt.Errorf("disconnect %s: %w", f.Node, err)
		}
		return nil
	})
}

func (f Disconnect) Recover(ctx context.Context, s *stacks.Stack) error {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return err
	}
	on, err := f.attached(ctx, s)
	if err != nil {
		return err
	}
	if !on {
		_, err := cli.NetworkConnect(ctx, s.HomeNetwork(f.Node).ID, client.NetworkConnectOptions{
			Container:      id,
			EndpointConfig: &network.EndpointSettings{Aliases: []string{f.Node}},
		})
		if err != nil {
			return fmt.Errorf("reconnect %s: %w", f.Node, err)
		}
		if err := s.SyncUpstreams(ctx); err != nil {
			return err
		}
	}
	return s.WaitReady(ctx, f.Node)
}

func (f Disconnect) attached(ctx context.Context, s *stacks.Stack) (bool, error) {
	cli, id, err := nodeID(ctx, s, f.Node)
	if err != nil {
		return false, err
	}
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("inspect %s: %w", f.Node, err)
	}
	if res.Container.NetworkSettings == nil {
		return false, nil
	}
	_, on := res.Container.NetworkSettings.Networks[s.HomeNetwork(f.Node).Name]
	return on, nil
}

func (f Disconnect) Landed(ctx context.Context, s *stacks.Stack) error {
	on, err := f.attached(ctx, s)
	if err != nil {
		return err
	}
	if on {
		return fmt.Errorf("node %s is still on network %s", f.Node, s.HomeNetwork(f.Node).Name)
	}
	return nil
}

func (f Disconnect) Healed(ctx context.Context, s *stacks.Stack) error {
	on, err := f.attached(ctx, s)
	if err != nil {
		return err
	}
	if !on {
		return fmt.Errorf("node %s is not on network %s", f.Node, s.HomeNetwork(f.Node).Name)
	}
	return s.WaitReady(ctx, f.Node)
}
