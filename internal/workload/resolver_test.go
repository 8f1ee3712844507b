package workload

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS is a DNS server for the resolver's tests (the real one, PowerDNS,
// runs in the specs): it answers www.test. with an address that depends on
// the asker's EDNS Client Subnet, with the given TTL, or fails while down.
type fakeDNS struct {
	addr    string
	queries atomic.Int32
	down    atomic.Bool
	mu      sync.Mutex
	subnets []string
}

func startFakeDNS(t *testing.T, ttl uint32) *fakeDNS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDNS{addr: l.Addr().String()}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		f.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		if f.down.Load() {
			m.Rcode = dns.RcodeServerFailure
			_ = w.WriteMsg(m)
			return
		}
		ip := "192.0.2.1"
		if o := r.IsEdns0(); o != nil {
			for _, opt := range o.Option {
				if s, ok := opt.(*dns.EDNS0_SUBNET); ok {
					f.mu.Lock()
					f.subnets = append(f.subnets, s.Address.String())
					f.mu.Unlock()
					if s.Address.To4()[1] == 20 {
						ip = "192.0.2.2"
					}
				}
			}
		}
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return f
}

func subnetOf(s string) func(int) netip.Prefix {
	return func(int) netip.Prefix { return netip.MustParsePrefix(s) }
}

func TestResolverKeepsAnAnswerForItsTTLThenAsksAgain(t *testing.T) {
	f := startFakeDNS(t, 1)
	rec := NewRecorder(nil)
	r := NewResolver(Resolve{Server: f.addr, Subnet: subnetOf("10.20.3.0/24")}, 3, rec.Clock(), rec)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		a, err := r.Lookup(ctx, "www.test")
		if err != nil || a.String() != "192.0.2.2" {
			t.Fatalf("lookup %d: %v %v (want west's 192.0.2.2: the subnet decides)", i, a, err)
		}
	}
	if n := f.queries.Load(); n != 1 {
		t.Errorf("3 lookups within the TTL asked the server %d times, want 1", n)
	}
	f.mu.Lock()
	if len(f.subnets) != 1 || f.subnets[0] != "10.20.3.0" {
		t.Errorf("subnets sent: %v, want [10.20.3.0]", f.subnets)
	}
	f.mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	if _, err := r.Lookup(ctx, "www.test"); err != nil {
		t.Fatal(err)
	}
	if n := f.queries.Load(); n != 2 {
		t.Errorf("a lookup after the TTL: %d queries in all, want 2", n)
	}
	ls := rec.History().Lookups
	if len(ls) != 2 || ls[0].Client != 3 || ls[0].Answer != "192.0.2.2" || ls[0].TTL != time.Second || ls[0].Complete < ls[0].Invoke {
		t.Errorf("recorded lookups: %+v", ls)
	}
}

func TestResolverFailsWhenTheServerDoesAndDoesNotCacheTheFailure(t *testing.T) {
	f := startFakeDNS(t, 60)
	f.down.Store(true)
	rec := NewRecorder(nil)
	r := NewResolver(Resolve{Server: f.addr, Subnet: subnetOf("10.10.0.0/24")}, 0, rec.Clock(), rec)
	if _, err := r.Lookup(context.Background(), "www.test"); err == nil {
		t.Fatal("a SERVFAIL answered an address")
	}
	f.down.Store(false)
	if a, err := r.Lookup(context.Background(), "www.test"); err != nil || a.String() != "192.0.2.1" {
		t.Fatalf("after the server came back: %v %v", a, err)
	}
	ls := rec.History().Lookups
	if len(ls) != 2 || ls[0].Error == "" || ls[0].Answer != "" || ls[1].Answer != "192.0.2.1" {
		t.Errorf("recorded lookups: %+v", ls)
	}
}

func TestResolverWithoutACacheAsksEveryTime(t *testing.T) {
	f := startFakeDNS(t, 60)
	r := NewResolver(Resolve{Server: f.addr, Subnet: subnetOf("10.10.0.0/24"), NoCache: true}, 0, nil, nil)
	for i := 0; i < 3; i++ {
		if _, err := r.Lookup(context.Background(), "www.test"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.queries.Load(); n != 3 {
		t.Errorf("3 lookups without a cache asked %d times, want 3", n)
	}
}

func TestResolverGivesUpOnASilentServerWithinItsTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := NewResolver(Resolve{Server: l.Addr().String(), Subnet: subnetOf("10.10.0.0/24"), Timeout: 200 * time.Millisecond}, 0, nil, nil)
	start := time.Now()
	if _, err := r.Lookup(context.Background(), "www.test"); err == nil {
		t.Fatal("a silent server answered")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about the 200ms timeout", d)
	}
}

func TestAnAgedFirstAnswerExpiresEarlierAndSaysSo(t *testing.T) {
	f := startFakeDNS(t, 60)
	rec := NewRecorder(nil)
	r := NewResolver(Resolve{Server: f.addr, Subnet: subnetOf("10.10.0.0/24")}, 0, rec.Clock(), rec)
	r.Age(0.75)
	for i := 0; i < 2; i++ {
		if _, err := r.Lookup(context.Background(), "www.test"); err != nil {
			t.Fatal(err)
		}
	}
	if ls := rec.History().Lookups; len(ls) != 1 || ls[0].TTL != 15*time.Second {
		t.Errorf("an answer aged by 3/4 of 60 s: %+v, want one lookup with 15s left", ls)
	}
}
