package stacks

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/internal/docker"
)

// SyncNames writes the Toxiproxy node's /etc/hosts: one line per node that
// runs and is attached to the stack's network, so that the proxy finds a
// link's upstream without asking Docker's DNS server. Call it after a node
// starts, stops, or joins or leaves the network (Boot, StartStandby and the
// node faults do).
//
// Why: Toxiproxy resolves a link's upstream name in its accept loop, one
// client at a time. Docker's DNS server lives in dockerd; on a loaded 2-core
// machine its answers took long enough that a link's accept queue grew
// faster than it drained (250-280 clients waiting on each web->db link),
// and a stack never recovered from a fault that had ended minutes before.
// A node that is not running has no line: its name then goes to Docker's
// DNS, which does not know it either; the link is silent while the lookup
// lasts (at most 1 s each, see below), as a dead server's would be.
func (s *Stack) SyncNames(ctx context.Context) error {
	s.mu.Lock()
	noProxy := s.proxy == nil
	nodes := make(map[string]string, len(s.nodes))
	for name, c := range s.nodes {
		nodes[name] = c.GetContainerID()
	}
	s.mu.Unlock()
	if noProxy || s.Network == nil {
		return nil
	}
	cli, err := docker.Client(ctx)
	if err != nil {
		return err
	}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n")
	for _, n := range s.Topology.Nodes {
		id, ok := nodes[n.Name]
		if !ok {
			continue
		}
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("names: inspect %s: %w", n.Name, err)
		}
		if st := res.Container.State; st == nil || !st.Running || res.Container.NetworkSettings == nil {
			continue
		}
		if ep := res.Container.NetworkSettings.Networks[s.Network.Name]; ep != nil && ep.IPAddress.IsValid() {
			fmt.Fprintf(&hosts, "%s\t%s\n", ep.IPAddress, n.Name)
		}
	}
	// /etc/hosts is a file the engine mounts: it is written in place. So
	// is /etc/resolv.conf, where a lookup is bounded to one try of 1 s: the
	// name of a node that is not running goes to Docker's DNS server, and
	// Toxiproxy's accept loop waits for the answer. With the resolver's
	// default (5 s, twice) a lookup in flight when a killed database came
	// back held its link for 3.3 s more: nobody reached the restarted
	// node, and the no-fencing control never saw the second primary.
	script := `printf '%s' "$1" > /etc/hosts && {
	grep -qx 'options timeout:1 attempts:1' /etc/resolv.conf || echo 'options timeout:1 attempts:1' >> /etc/resolv.conf; }`
	if _, err := s.Run(ctx, ProxyNode, []string{"sh", "-c", script, "sync-names", hosts.String()}); err != nil {
		return fmt.Errorf("names: write %s's /etc/hosts: %w", ProxyNode, err)
	}
	return nil
}
