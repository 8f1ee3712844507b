// Package resptest is a tiny in-memory Redis for tests: it speaks RESP2 on
// 127.0.0.1 and knows PING, ECHO, SET (with PX/EX), GET, DEL, EXISTS and
// FLUSHALL. Faults: Hang (read commands, never answer), Delay, DropConns
// (close every connection, keep the data), Close (the port refuses).
package resptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a fake Redis. Its zero value is not usable: call Start.
type Server struct {
	// Addr is host:port to connect to.
	Addr string

	ln net.Listener
	wg sync.WaitGroup

	hang     atomic.Bool
	delay    atomic.Int64 // time.Duration before every reply
	accepted atomic.Int64

	mu     sync.Mutex
	data   map[string]entry
	conns  map[net.Conn]struct{}
	closed bool
	now    func() time.Time
}

type entry struct {
	value   string
	expires time.Time // zero: never
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, data: map[string]entry{}, conns: map[net.Conn]struct{}{}, now: time.Now}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Hang makes the server read commands and never answer them (a frozen or
// black-holed Redis) while on is true.
func (s *Server) Hang(on bool) { s.hang.Store(on) }

// SetDelay delays every reply by d.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Accepted is how many connections the server has accepted.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// Get reads a key directly (expired keys are absent).
func (s *Server) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(key)
	return e.value, ok
}

// TTL is the remaining time to live of key (0 when it has none or is absent).
func (s *Server) TTL(key string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(key)
	if !ok || e.expires.IsZero() {
		return 0
	}
	return e.expires.Sub(s.now())
}

// DropConns closes every open connection; the server keeps listening and
// keeps its data (connections cut by the network, or by a proxy).
func (s *Server) DropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// Close stops listening (the port then refuses connections), closes every
// connection and waits for the server's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				_, _ = c.Write([]byte("-ERR " + err.Error() + "\r\n"))
			}
			return
		}
		if len(args) == 0 {
			continue
		}
		if s.hang.Load() {
			continue // read, never answer
		}
		if d := time.Duration(s.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		if _, err := c.Write(s.exec(args)); err != nil {
			return
		}
	}
}

// readCommand reads a RESP array of bulk strings, or an inline command.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("Protocol error: invalid multibulk length")
	}
	args := make([]string, 0, n)
	for range n {
		h, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		h = strings.TrimRight(h, "\r\n")
		if !strings.HasPrefix(h, "$") {
			return nil, fmt.Errorf("Protocol error: expected '$', got '%.1s'", h)
		}
		size, err := strconv.Atoi(h[1:])
		if err != nil || size < 0 || size > 1<<20 {
			return nil, fmt.Errorf("Protocol error: invalid bulk length")
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

func (s *Server) lookupLocked(key string) (entry, bool) {
	e, ok := s.data[key]
	if ok && !e.expires.IsZero() && !s.now().Before(e.expires) {
		delete(s.data, key)
		return entry{}, false
	}
	return e, ok
}

func (s *Server) exec(args []string) []byte {
	cmd := strings.ToUpper(args[0])
	wrongArgs := func() []byte {
		return []byte("-ERR wrong number of arguments for '" + strings.ToLower(cmd) + "' command\r\n")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch cmd {
	case "PING":
		if len(args) == 2 {
			return bulk(args[1])
		}
		return []byte("+PONG\r\n")
	case "ECHO":
		if len(args) != 2 {
			return wrongArgs()
		}
		return bulk(args[1])
	case "SET":
		if len(args) != 3 && len(args) != 5 {
			return wrongArgs()
		}
		e := entry{value: args[2]}
		if len(args) == 5 {
			n, err := strconv.ParseInt(args[4], 10, 64)
			if err != nil || n <= 0 {
				return []byte("-ERR invalid expire time in 'set' command\r\n")
			}
			switch strings.ToUpper(args[3]) {
			case "PX":
				e.expires = s.now().Add(time.Duration(n) * time.Millisecond)
			case "EX":
				e.expires = s.now().Add(time.Duration(n) * time.Second)
			default:
				return []byte("-ERR syntax error\r\n")
			}
		}
		s.data[args[1]] = e
		return []byte("+OK\r\n")
	case "GET":
		if len(args) != 2 {
			return wrongArgs()
		}
		e, ok := s.lookupLocked(args[1])
		if !ok {
			return []byte("$-1\r\n")
		}
		return bulk(e.value)
	case "DEL", "EXISTS":
		if len(args) < 2 {
			return wrongArgs()
		}
		n := 0
		for _, k := range args[1:] {
			if _, ok := s.lookupLocked(k); ok {
				n++
				if cmd == "DEL" {
					delete(s.data, k)
				}
			}
		}
		return []byte(":" + strconv.Itoa(n) + "\r\n")
	case "FLUSHALL":
		clear(s.data)
		return []byte("+OK\r\n")
	}
	return []byte("-ERR unknown command '" + args[0] + "'\r\n")
}

func bulk(s string) []byte {
	return []byte("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n")
}
