package workload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/scalelab/scalelab/internal/history"
)

// Resolve makes every client reach the site by name, as users do (stage 8,
// several data centers): the base URL's host is looked up by the client's
// own stub resolver, which asks the site's DNS server as a client of its
// network and keeps each answer for its TTL, as an OS or browser cache does.
// Nothing else tells a client where to go.
type Resolve struct {
	// Server is the DNS server's address (host:port), asked over TCP: the
	// lab's links are TCP (Toxiproxy), and so a DNS fault is a link's or
	// the server's.
	Server string
	// Subnet is client's network, sent as its EDNS Client Subnet (RFC
	// 7871): what the server decides the client's region by.
	Subnet func(client int) netip.Prefix
	// Timeout bounds one lookup (0: DefaultLookupTimeout).
	Timeout time.Duration
	// NoCache makes the resolver ask for every connection, ignoring the
	// answer's TTL (a client without a DNS cache).
	NoCache bool
}

// DefaultLookupTimeout is how long a lookup waits for its answer. glibc's
// stub waits 5 s per try; a browser gives up sooner. 1 s keeps a DNS
// outage visible as failed requests within the client's own timeout.
const DefaultLookupTimeout = time.Second

func (r *Resolve) validate(c Config) []error {
	var errs []error
	if _, _, err := net.SplitHostPort(r.Server); err != nil {
		errs = append(errs, fmt.Errorf("DNS server %q: want host:port", r.Server))
	}
	if r.Subnet == nil {
		errs = append(errs, errors.New("DNS: no client subnets"))
	} else {
		for i := 0; i < c.Clients; i++ {
			if p := r.Subnet(i); !p.IsValid() || !p.Addr().Is4() {
				errs = append(errs, fmt.Errorf("DNS: client %d has no IPv4 subnet (%v)", i, p))
				break
			}
		}
	}
	if r.Timeout < 0 {
		errs = append(errs, fmt.Errorf("DNS: lookup timeout %v < 0", r.Timeout))
	}
	return errs
}

// Resolver is one client's stub resolver with its cache.
type Resolver struct {
	cfg    Resolve
	client int
	clock  *Clock
	rec    *Recorder // nil: lookups are not recorded (the engine's own requests)

	// aged is the part of the TTL the first answer has already lived
	// (0..1): see Age.
	aged float64

	mu      sync.Mutex
	name    string
	addr    netip.Addr
	expires time.Duration // on clock
	flight  *lookup       // the lookup in progress, if any
}

type lookup struct {
	done chan struct{}
	addr netip.Addr
	err  error
}

// NewResolver is client's resolver; its lookups go into rec (nil: nowhere).
func NewResolver(cfg Resolve, client int, clock *Clock, rec *Recorder) *Resolver {
	if clock == nil {
		clock = NewClock()
	}
	return &Resolver{cfg: cfg, client: client, clock: clock, rec: rec}
}

// Age makes the client's first answer count as already aged by part
// (0..1) of its TTL, as if its resolver's cache had held it that long
// (a recursive resolver hands out what is left of a TTL). Without it, every
// client would look the name up at the workload's start and again at
// the same moments ever after: their answers would all expire at once.
// Call it before the first lookup.
func (r *Resolver) Age(part float64) { r.aged = min(max(part, 0), 1) }

// Lookup returns the address for name: the cached one while its TTL lasts,
// else a new answer. Concurrent callers share one lookup. A failed lookup
// is not cached: the next call asks again.
func (r *Resolver) Lookup(ctx context.Context, name string) (netip.Addr, error) {
	r.mu.Lock()
	if !r.cfg.NoCache && r.name == name && r.addr.IsValid() && r.clock.Now() < r.expires {
		a := r.addr
		r.mu.Unlock()
		return a, nil
	}
	if f := r.flight; f != nil && !r.cfg.NoCache {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.addr, f.err
		case <-ctx.Done():
			return netip.Addr{}, ctx.Err()
		}
	}
	f := &lookup{done: make(chan struct{})}
	r.flight = f
	r.mu.Unlock()

	// The lookup runs to its own timeout whatever the caller's context:
	// others may be waiting for it.
	invoke := r.clock.Now()
	addr, ttl, err := r.ask(name)
	complete := r.clock.Now()

	r.mu.Lock()
	r.flight = nil
	if err == nil {
		if r.aged > 0 {
			ttl -= time.Duration(r.aged * float64(ttl))
			r.aged = 0
		}
		r.name, r.addr, r.expires = name, addr, complete+ttl
	}
	r.mu.Unlock()
	f.addr, f.err = addr, err
	close(f.done)

	if r.rec != nil {
		l := history.Lookup{Client: r.client, Name: name, Invoke: invoke, Complete: complete, TTL: ttl}
		if err != nil {
			l.Error = err.Error()
		} else {
			l.Answer = addr.String()
		}
		r.rec.Lookup(l)
	}
	return addr, err
}

// ask sends one query for name's A record, with the client's subnet.
func (r *Resolver) ask(name string) (netip.Addr, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(dns.DefaultMsgSize)
	sub := r.cfg.Subnet(r.client)
	opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(sub.Bits()), Address: sub.Addr().AsSlice(),
	})
	m.Extra = append(m.Extra, opt)
	timeout := r.cfg.Timeout
	if timeout == 0 {
		timeout = DefaultLookupTimeout
	}
	c := &dns.Client{Net: "tcp", Timeout: timeout}
	resp, _, err := c.Exchange(m, r.cfg.Server)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("dns: %s: %w", name, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return netip.Addr{}, 0, fmt.Errorf("dns: %s: %s", name, dns.RcodeToString[resp.Rcode])
	}
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			return addr, time.Duration(a.Hdr.Ttl) * time.Second, nil
		}
	}
	return netip.Addr{}, 0, fmt.Errorf("dns: %s: no address in the answer", name)
}

// DialContext dials addr ("name:port") at the address name resolves to:
// the dial of the client's HTTP transport.
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip, err := r.Lookup(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}
