package stacks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/scalelab/scalelab/internal/docker"
)

// NoUpstream is where a link dials while its upstream node is not running
// or is cut off the stack's network: the blackhole on the proxy's own
// loopback (cmd/blackhole, port 9: the discard service), which accepts and
// never answers. The link's clients hang until their own timeouts, as the
// clients of a host that has gone do (a killed container's address
// vanishes: nobody refuses, nobody answers).
const NoUpstream = "127.0.0.1:9"

// SyncUpstreams points every link at its upstream node's current address on
// the stack's network (ip:port), or at NoUpstream when that node is not
// running or not attached. Call it after a node starts, stops, or joins or
// leaves the network (Boot, StartStandby and the node faults do): a link
// whose upstream changed is restarted on its new address (Toxiproxy closes
// the link's connections, which went to an address nobody holds any more),
// the others are left alone.
//
// Why addresses, not names: Toxiproxy resolves a link's upstream in its
// accept loop, one client at a time. Docker's DNS server lives in dockerd;
// on a loaded 2-core machine its answers took long enough that a link's
// accept queue grew faster than it drained (250-280 clients waiting on each
// web->db link). Names in the proxy's /etc/hosts were no cure: Go's resolver
// keeps that file for 5 s, so after a restart a link could still dial the
// old address, and what a killed node's clients saw depended on how fast
// dockerd's DNS server said it knew the name no more (in CI the substrate's
// kill spec saw a failure after more than a second: neither a refusal nor
// a hang). An address set through Toxiproxy's API takes effect when the
// call returns.
//
// A link is re-pointed only while its old address answers at once: to
// re-point it Toxiproxy stops it, and the stop waits for the dial its
// accept loop has in flight; a dial to an address nobody holds any more
// lasts until the kernel gives up on it (seconds to minutes: SYNs sent to
// a neighbour the kernel still knows), past the API's 25 s. So a fault that
// takes a node away withdraws its links first (Withdraw), and a node that
// comes back is found by links that dial the blackhole.
func (s *Stack) SyncUpstreams(ctx context.Context) error { return s.syncUpstreams(ctx, "") }

// syncUpstreams re-points the links to node, or every link when node is "".
func (s *Stack) syncUpstreams(ctx context.Context, node string) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	noProxy := s.proxy == nil || s.toxi == nil
	withdrawn := make(map[string]bool, len(s.withdrawn))
	for name := range s.withdrawn {
		withdrawn[name] = true
	}
	s.mu.Unlock()
	if noProxy || s.Network == nil {
		return nil
	}
	s.mu.Lock()
	homes := map[string]string{} // node -> the Docker network its links dial it on
	for _, n := range s.Topology.Nodes {
		if nw := s.home(n.Name); nw != nil {
			homes[n.Name] = nw.Name
		}
	}
	s.mu.Unlock()
	cli, err := docker.Client(ctx)
	if err != nil {
		return err
	}
	// One listing of the stack's containers (its run and stack labels)
	// says every node's state and address.
	f := make(client.Filters).Add("label", docker.LabelRun+"="+docker.RunID()).Add("label", docker.LabelStackID+"="+s.id)
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("upstreams: list the stack's containers: %w", err)
	}
	addrs := map[string]netip.Addr{} // nodes that run (or are paused) on their home network
	for _, ct := range list.Items {
		name := ct.Labels[docker.LabelNode]
		if withdrawn[name] || (ct.State != container.StateRunning && ct.State != container.StatePaused) || ct.NetworkSettings == nil {
			continue
		}
		if ep := ct.NetworkSettings.Networks[homes[name]]; ep != nil && ep.IPAddress.IsValid() {
			addrs[name] = ep.IPAddress
		}
	}
	for _, l := range s.Topology.Links {
		if node != "" && l.To != node {
			continue
		}
		to, _ := s.Topology.Node(l.To)
		want := NoUpstream
		if ip, ok := addrs[l.To]; ok {
			want = netip.AddrPortFrom(ip, uint16(to.Role.Port)).String()
		}
		s.mu.Lock()
		p := s.proxies[l.Name()]
		s.mu.Unlock()
		if p == nil || p.Upstream == want {
			continue
		}
		if err := s.setUpstream(ctx, proxyName(l.Name()), want); err != nil {
			return fmt.Errorf("upstreams: point %s at %s: %w", l.Name(), want, err)
		}
		// The client's copy is what a link fault's Save sends back: it
		// must carry the new address, or a Disable would restore the old.
		s.mu.Lock()
		p.Upstream = want
		s.mu.Unlock()
	}
	return nil
}

// Withdraw points every link to node at NoUpstream, whatever the node's
// state, until Release: call it before a node goes away (a kill, a stop, a
// disconnect), while the links' dials to it still end at once. Its clients
// get no answer from then on, as once it is gone.
func (s *Stack) Withdraw(ctx context.Context, node string) error {
	s.mu.Lock()
	if s.withdrawn == nil {
		s.withdrawn = map[string]bool{}
	}
	s.withdrawn[node] = true
	s.mu.Unlock()
	if err := s.syncUpstreams(ctx, node); err != nil {
		return fmt.Errorf("withdraw %s's links: %w", node, err)
	}
	return nil
}

// Release ends a Withdraw: the node's links follow its state again (they
// dial it when it runs on the stack's network).
func (s *Stack) Release(ctx context.Context, node string) error {
	s.mu.Lock()
	delete(s.withdrawn, node)
	s.mu.Unlock()
	return s.syncUpstreams(ctx, node)
}

// linksTo is the first step of a node's readiness wait (Stack.request): it
// points the links to the node at the address the node has just been given,
// before the node listens. Links are created before the nodes boot, with the
// node's name as upstream (Docker's DNS answers for it meanwhile, and
// refuses while the node is not up); re-pointing them all once the stack is
// up would cut the connections made by then (seen: a health check of
// HAProxy's cut, and a server marked failing once).
type linksTo struct {
	s    *Stack
	node string
}

func (l linksTo) WaitUntilReady(ctx context.Context, _ wait.StrategyTarget) error {
	if l.node == ProxyNode {
		return nil
	}
	return l.s.syncUpstreams(ctx, l.node)
}

// setUpstream changes only a proxy's upstream: the API takes the fields it
// is not sent from the proxy as it is, so a link that a fault disabled
// stays disabled. (The client's Save sends every field, from its own copy.)
func (s *Stack) setUpstream(ctx context.Context, proxy, upstream string) error {
	body, err := json.Marshal(map[string]string{"upstream": upstream})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.toxiURL+"/proxies/"+proxy, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("toxiproxy answered %s: %s", res.Status, bytes.TrimSpace(msg))
	}
	return nil
}
