package faults

import (
	"context"
	"fmt"
	"strings"

	"github.com/scalelab/scalelab/stacks"
)

// Drain takes a server out of an HAProxy load balancer's rotation through its
// runtime API: new requests go to the other servers, requests in flight
// finish. It is how a server leaves a pool without failing anyone: drain it
// at the load balancer, wait until nothing is in flight, then stop it.
// Landed waits for exactly that; Recover puts the server back (state ready).
type Drain struct {
	LB     string // the HAProxy node
	Server string // the server's name in HAProxy's config (the node's name)
}

func (f Drain) Name() string   { return fmt.Sprintf("drain %s at %s", f.Server, f.LB) }
func (f Drain) Target() string { return f.LB + "/" + f.Server }

func (f Drain) Inject(ctx context.Context, s *stacks.Stack) error {
	return setServerState(ctx, s, f.LB, f.Server, "drain")
}

func (f Drain) Recover(ctx context.Context, s *stacks.Stack) error {
	return setServerState(ctx, s, f.LB, f.Server, "ready")
}

// Landed: draining in every backend, and nothing in flight any more.
func (f Drain) Landed(ctx context.Context, s *stacks.Stack) error {
	return drained(ctx, s, f.LB, f.Server)
}

// Healed: back in the rotation (whether it is up is its health checks' call).
func (f Drain) Healed(ctx context.Context, s *stacks.Stack) error {
	return inRotation(ctx, s, f.LB, f.Server)
}

// setServerState sets the admin state of server in every backend of the
// HAProxy on lb that holds it.
func setServerState(ctx context.Context, s *stacks.Stack, lb, server, state string) error {
	states, err := s.HAProxyServerStates(ctx, lb, server)
	if err != nil {
		return err
	}
	for _, st := range states {
		out, err := s.HAProxyRuntime(ctx, lb, fmt.Sprintf("set server %s/%s state %s", st.Backend, server, state))
		if err != nil {
			return err
		}
		// The API answers an empty line on success, a message otherwise.
		if msg := strings.TrimSpace(out); msg != "" {
			return fmt.Errorf("haproxy: set server %s/%s state %s: %s", st.Backend, server, state, msg)
		}
	}
	return nil
}

func drained(ctx context.Context, s *stacks.Stack, lb, server string) error {
	states, err := s.HAProxyServerStates(ctx, lb, server)
	if err != nil {
		return err
	}
	for _, st := range states {
		switch {
		case !st.Draining:
			return fmt.Errorf("%s/%s is not draining", st.Backend, server)
		case st.InFlight > 0:
			return fmt.Errorf("%s/%s still has %d requests in flight", st.Backend, server, st.InFlight)
		}
	}
	return nil
}

func inRotation(ctx context.Context, s *stacks.Stack, lb, server string) error {
	states, err := s.HAProxyServerStates(ctx, lb, server)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Draining {
			return fmt.Errorf("%s/%s is still draining", st.Backend, server)
		}
	}
	return nil
}
