package stacks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scalelab/scalelab/internal/docker"
)

// NoUpstream is where a link dials while its upstream node is not running
// or is cut off the stack's network: a port of the proxy's own loopback
// where nothing listens. The dial is refused at once, Toxiproxy closes the
// client's connection, and the link refuses its clients at once.
const NoUpstream = "127.0.0.1:1"

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
// keeps that file for 5 s, so after a kill a link still dialled the dead
// node's address for up to 5 s, each dial hanging for the kernel's ARP
// timeout (~3 s), and a killed node's clients hung instead of being refused
// (seen in CI: the substrate's kill spec). An address set through
// Toxiproxy's API takes effect when the call returns.
//
// A link is re-pointed only while its old address answers at once: to
// re-point it Toxiproxy stops it, and the stop waits for the dial its
// accept loop has in flight; a dial to an address nobody holds any more
// lasts until the kernel gives up on it (seconds to minutes: SYNs sent to
// a neighbour the kernel still knows), past the API's 25 s. So a fault that
// takes a node away withdraws its links first (Withdraw), and a node that
// comes back is found by links that dial nowhere.
func (s *Stack) SyncUpstreams(ctx context.Context) error {
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
	addrs := map[string]netip.Addr{} // nodes that run (or are paused) on the stack's network
	for _, ct := range list.Items {
		node := ct.Labels[docker.LabelNode]
		if withdrawn[node] || (ct.State != container.StateRunning && ct.State != container.StatePaused) || ct.NetworkSettings == nil {
			continue
		}
		if ep := ct.NetworkSettings.Networks[s.Network.Name]; ep != nil && ep.IPAddress.IsValid() {
			addrs[node] = ep.IPAddress
		}
	}
	for _, l := range s.Topology.Links {
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
// are refused from then on, as they are once it is gone.
func (s *Stack) Withdraw(ctx context.Context, node string) error {
	s.mu.Lock()
	if s.withdrawn == nil {
		s.withdrawn = map[string]bool{}
	}
	s.withdrawn[node] = true
	s.mu.Unlock()
	if err := s.SyncUpstreams(ctx); err != nil {
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
	return s.SyncUpstreams(ctx)
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
		return fmt.Errorf("toxiproxy answered %s: %s", strconv.Itoa(res.StatusCode), bytes.TrimSpace(msg))
	}
	return nil
}
