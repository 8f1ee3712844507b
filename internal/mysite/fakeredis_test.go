package mysite

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// startFakeRedis starts an in-memory Redis (miniredis), closed at the end
// of the test.
func startFakeRedis(t *testing.T) *miniredis.Miniredis {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("start miniredis: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// hangProxy relays TCP to a Redis and can freeze it: while hung, what
// clients send is read and dropped, so every command goes unanswered (a
// frozen or black-holed Redis), on connections old and new. Replies already
// on their way still arrive. A connection whose command was dropped is out
// of step for good; clients close it after their timeout.
type hangProxy struct {
	Addr   string
	target string
	ln     net.Listener
	hang   atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func startHangProxy(t *testing.T, target string) *hangProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hang proxy: %v", err)
	}
	p := &hangProxy{Addr: ln.Addr().String(), target: target, ln: ln}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Hang freezes (true) or thaws (false) the relay.
func (p *hangProxy) Hang(on bool) { p.hang.Store(on) }

func (p *hangProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.relay(s, c, true)
		go p.relay(c, s, false)
	}
}

// relay copies src to dst; requests (client to server) are dropped while
// the proxy hangs.
func (p *hangProxy) relay(dst, src net.Conn, requests bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !(requests && p.hang.Load()) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF, or either side closed
			return
		}
	}
}

func (p *hangProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}
