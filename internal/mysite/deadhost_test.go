package mysite

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
	epoch  int        // counts deaths: a pipe forwards only in the epoch it began in
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
		dead, epoch := p.dead, p.epoch
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
		p.closed = append(p.closed, b)
		p.mu.Unlock()
		go p.pipe(b, c, epoch)
		go p.pipe(c, b, epoch)
	}
}

// pipe copies src to dst while the host of its epoch lives; then it
// swallows src, also after a revive.
func (p *deadHostProxy) pipe(dst, src net.Conn, epoch int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		alive := !p.dead && p.epoch == epoch
		p.mu.Unlock()
		if n > 0 && alive {
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
	p.epoch++
}

// revive lets new connections through again; those of before stay
// swallowed.
func (p *deadHostProxy) revive() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = false
}

// A database host dies behind a proxy while every pool slot holds a
// connection to it: each call on them times out, and then the database is
// reachable again (a replacement took over). mysite serves again within
// 2 x closeWait: the broken connections give their slots back although the dead
// host never answers pgx's close of them (boundClose); without the bound
// they held all 8 slots for 15 s.
func TestPGBrokenConnectionsGiveBackTheirPoolSlots(t *testing.T) {
	base := testdb.PG.DSN(t)
	pc, err := pgconn.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDeadHostProxy(t, net.JoinHostPort(pc.Host, fmt.Sprint(pc.Port)))
	dsn := integrationDSN(t, proxy.ln.Addr().String())
	const timeout = 500 * time.Millisecond
	srv, st := startPG(t, dsn, timeout, true) // a pool of 8
	pool := st.Pool()

	// Every slot holds an established connection, as under load.
	var held []*pgxpool.Conn
	for range pool.Stat().MaxConns() {
		c, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	proxy.die()
	var wg sync.WaitGroup
	for _, c := range held {
		wg.Go(func() {
			defer c.Release()
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
				t.Error("a query answered by a dead host")
			}
		})
	}
	wg.Wait()

	proxy.revive()
	revived := time.Now()
	// bound: the broken connections' close (two waits of closeWait), a
	// request on a new connection (the timeout), and 1 s for a loaded
	// machine.
	bound := 2*closeWait + timeout + time.Second
	for {
		r := do(t, srv, "GET", "/readyz", "")
		if r.code == http.StatusOK {
			t.Logf("serving again %v after the database was back (bound %v)", time.Since(revived).Round(time.Millisecond), bound)
			break
		}
		if time.Since(revived) > bound {
			s := pool.Stat()
			t.Fatalf("still failing %v after the database was back (bound %v): %d %s; pool: %d acquired, %d constructing, %d idle of %d",
				time.Since(revived).Round(time.Millisecond), bound, r.code, r.body, s.AcquiredConns(), s.ConstructingConns(), s.IdleConns(), s.MaxConns())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
