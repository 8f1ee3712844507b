package mysite

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scalelab/scalelab/internal/testdb"
)

// deadHostProxy stands for a database behind a proxy whose host dies (a
// Toxiproxy link to a killed node): once die is called, every connection
// it has, and every one it accepts, is swallowed: accepted, read, never
// answered, never closed. After revive, new connections reach the database
// again (a replacement took over); the swallowed ones stay swallowed.
type deadHostProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	dead   bool
	conns  []net.Conn // forwarded client and server ends, closed by die
	closed []net.Conn // everything, closed at the end
}

func newDeadHostProxy(t *testing.T, target string) *deadHostProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &deadHostProxy{ln: ln, target: target}
	go p.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.closed {
			c.Close()
		}
	})
	return p
}

func (p *deadHostProxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		dead := p.dead
		p.closed = append(p.closed, c)
		p.mu.Unlock()
		if dead {
			go io.Copy(io.Discard, c)
			continue
		}
		b, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.closed = append(p.closed, b)
		p.mu.Unlock()
		go p.pipe(b, c)
		go p.pipe(c, b)
	}
}

// pipe copies src to dst until the host dies; then it swallows src.
func (p *deadHostProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		dead := p.dead
		p.mu.Unlock()
		if n > 0 && !dead {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *deadHostProxy) die() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
}

// revive lets new connections through again.
func (p *deadHostProxy) revive() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = false
	// The connections of before stay swallowed: their pipes saw dead.
	for _, c := range p.conns {
		c.SetReadDeadline(time.Now().Add(time.Hour))
	}
	p.conns = nil
}

// A database host dies behind a proxy: the requests of that moment time out
// (twice as many as the pool has slots), then the database is reachable
// again (a replacement took over). mysite serves at once: a timed-out
// connection gives its pool slot back when its request ends, although the
// dead host never answers pgx's close of it. (Written to test a suspicion
// about stage 8's primary-dc-outage, whose west web server once failed for
// 10 s after the failover with "context deadline exceeded": not this.)
func TestPGTimedOutConnectionsGiveBackTheirPoolSlots(t *testing.T) {
	base := testdb.PG.DSN(t)
	pc, err := pgconn.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDeadHostProxy(t, net.JoinHostPort(pc.Host, fmt.Sprint(pc.Port)))
	dsn := integrationDSN(t, proxy.ln.Addr().String())
	const timeout = 500 * time.Millisecond
	srv, st := startPG(t, dsn, timeout, true) // a pool of 8
	if r := do(t, srv, "PUT", "/users/k", `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}

	// Every slot holds an established connection, as under load.
	var held []interface{ Release() }
	for range st.Pool().Stat().MaxConns() {
		c, err := st.Pool().Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Release()
	}

	proxy.die()
	var wg sync.WaitGroup
	for range 16 { // twice the pool
		wg.Go(func() {
			r := do(t, srv, "GET", "/users/k", "")
			if r.code != http.StatusServiceUnavailable {
				t.Errorf("GET while the host is dead: %d %s, want 503", r.code, r.body)
			}
		})
	}
	wg.Wait()
	s := st.Pool().Stat()
	t.Logf("after the timeouts: %d acquired, %d constructing, %d idle of %d", s.AcquiredConns(), s.ConstructingConns(), s.IdleConns(), s.MaxConns())

	proxy.revive()
	revived := time.Now()
	// bound: a request that waits for a slot (the timeout), one on a new
	// connection (the timeout), and 1 s for a loaded machine; pgx's close
	// of a connection that gets no answer waits up to 15 s.
	bound := 2*timeout + time.Second
	for {
		r := do(t, srv, "GET", "/users/k", "")
		if r.code == http.StatusOK {
			t.Logf("serving again %v after the database was back (bound %v)", time.Since(revived).Round(time.Millisecond), bound)
			break
		}
		if time.Since(revived) > bound {
			s := st.Pool().Stat()
			t.Fatalf("still failing %v after the database was back (bound %v): %d %s; pool: %d acquired, %d constructing, %d idle of %d",
				time.Since(revived).Round(time.Millisecond), bound, r.code, r.body, s.AcquiredConns(), s.ConstructingConns(), s.IdleConns(), s.MaxConns())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
