package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/resp/resptest"
)

func fake(t *testing.T) *resptest.Server {
	t.Helper()
	s, err := resptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func client(t *testing.T, addr string, opts Options) *Client {
	t.Helper()
	c := New(addr, opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxWithin(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCommands(t *testing.T) {
	s := fake(t)
	c := client(t, s.Addr, Options{})
	ctx := ctxWithin(t, 5*time.Second)

	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, "k"); ok || err != nil {
		t.Fatalf("GET of a missing key: ok %v err %v", ok, err)
	}
	if err := c.Set(ctx, "k", "v\r\nwith CRLF and \x00", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "k"); !ok || err != nil || v != "v\r\nwith CRLF and \x00" {
		t.Fatalf("GET: %q %v %v", v, ok, err)
	}
	if ttl := s.TTL("k"); ttl <= 59*time.Second || ttl > time.Minute {
		t.Errorf("SET PX: ttl on the server %v, want about 1m", ttl)
	}
	if err := c.Set(ctx, "forever", "x", 0); err != nil || s.TTL("forever") != 0 {
		t.Fatalf("SET without ttl: %v, ttl %v", err, s.TTL("forever"))
	}
	if n, err := c.Del(ctx, "k", "nope"); n != 1 || err != nil {
		t.Fatalf("DEL: %d %v", n, err)
	}
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatal("key still there after DEL")
	}
	if n, err := c.Del(ctx); n != 0 || err != nil {
		t.Fatalf("DEL of nothing: %d %v", n, err)
	}

	// A short TTL expires.
	if err := c.Set(ctx, "brief", "x", 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, "brief"); ok {
		t.Fatal("key outlived its TTL")
	}

	// An error reply is an *Error, and the connection stays usable.
	_, err := c.Do(ctx, "NOSUCHCMD", "a")
	var se *Error
	if !errors.As(err, &se) || se.Prefix() != "ERR" || !strings.Contains(err.Error(), "redis NOSUCHCMD "+s.Addr) {
		t.Fatalf("error reply: %v", err)
	}
	if st := c.Stats(); st.Open != 0 || st.Idle != 1 {
		t.Errorf("after an error reply: %+v, want the one connection idle", st)
	}
	if v, err := c.Do(ctx, "ECHO", "hi"); err != nil || v.Str != "hi" {
		t.Fatalf("ECHO: %v %v", v, err)
	}
	if s.Accepted() != 1 {
		t.Errorf("%d connections for sequential calls, want 1 reused", s.Accepted())
	}
}

func TestConcurrentCallsAndPoolLimit(t *testing.T) {
	s := fake(t)
	s.SetDelay(20 * time.Millisecond)
	c := client(t, s.Addr, Options{MaxConns: 4})
	ctx := ctxWithin(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			k := fmt.Sprint("k", i)
			if err := c.Set(ctx, k, k, time.Minute); err != nil {
				errs <- err
				return
			}
			if v, ok, err := c.Get(ctx, k); err != nil || !ok || v != k {
				errs <- fmt.Errorf("GET %s: %q %v %v", k, v, ok, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Accepted(); n > 4 {
		t.Errorf("%d connections opened, the pool allows 4", n)
	}
	if st := c.Stats(); st.Open != 0 || st.Idle > 4 || st.Max != 4 {
		t.Errorf("stats %+v", st)
	}
}

// Waiting for a free connection ends with the context.
func TestPoolWaitHonoursContext(t *testing.T) {
	s := fake(t)
	s.Hang(true)
	c := client(t, s.Addr, Options{MaxConns: 1})
	go func() { _ = c.Ping(ctxWithin(t, 2*time.Second)) }() // holds the only connection
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	err := c.Ping(ctxWithin(t, 100*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "free connection") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

// A server that reads and never answers costs a call its deadline.
func TestDeadlineOnHungServer(t *testing.T) {
	s := fake(t)
	c := client(t, s.Addr, Options{})
	if err := c.Ping(ctxWithin(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	s.Hang(true)
	for _, name := range []string{"GET", "SET"} {
		start := time.Now()
		var err error
		if name == "GET" {
			_, _, err = c.Get(ctxWithin(t, 150*time.Millisecond), "k")
		} else {
			err = c.Set(ctxWithin(t, 150*time.Millisecond), "k", "v", time.Second)
		}
		d := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "redis "+name+" ") {
			t.Fatalf("%s: err %v", name, err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: the I/O timeout is not wrapped: %v", name, err)
		}
		if d < 140*time.Millisecond || d > time.Second {
			t.Errorf("%s: returned after %v, want about 150ms", name, d)
		}
	}
	// The timed-out connections were closed, not pooled: once the server
	// answers again, calls work.
	s.Hang(false)
	if st := c.Stats(); st.Idle != 0 {
		t.Errorf("a connection with a pending reply was pooled: %+v", st)
	}
	if err := c.Ping(ctxWithin(t, time.Second)); err != nil {
		t.Fatal(err)
	}
}

// Cancelling the context interrupts a blocked call even without a deadline.
func TestCancelInterrupts(t *testing.T) {
	s := fake(t)
	s.Hang(true)
	c := client(t, s.Addr, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := c.Ping(ctx)
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("call on a done context: %v", err)
	}
}

func TestServerDown(t *testing.T) {
	s := fake(t)
	c := client(t, s.Addr, Options{})
	if err := c.Ping(ctxWithin(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	s.Close() // closes the pooled connection's peer and the port
	start := time.Now()
	err := c.Ping(ctxWithin(t, time.Second))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v, want connection refused (after retrying the dead pooled connection)", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("not a dial error: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refused after %v", d)
	}
	// An address where nothing listens at all.
	c2 := client(t, s.Addr, Options{})
	if _, _, err := c2.Get(ctxWithin(t, time.Second), "k"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v", err)
	}
}

// A pooled connection that the server dropped is replaced transparently for
// idempotent commands.
func TestDeadPooledConnRetried(t *testing.T) {
	s := fake(t)
	c := client(t, s.Addr, Options{})
	ctx := ctxWithin(t, 2*time.Second)
	if err := c.Set(ctx, "k", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	s.DropConns()
	time.Sleep(20 * time.Millisecond) // let the FIN arrive
	if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || v != "v" {
		t.Fatalf("GET after the server dropped the pooled connection: %q %v %v", v, ok, err)
	}
	if n := s.Accepted(); n != 2 {
		t.Errorf("%d connections, want 2 (the dropped one and its replacement)", n)
	}
	// A non-idempotent command is not retried.
	s.DropConns()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Do(ctx, "INCR", "n"); err == nil {
		t.Error("INCR on a dead pooled connection was retried")
	}
}

func TestIdleTimeoutAndClose(t *testing.T) {
	s := fake(t)
	c := New(s.Addr, Options{IdleTimeout: 30 * time.Millisecond})
	ctx := ctxWithin(t, 2*time.Second)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Accepted(); n != 2 {
		t.Errorf("%d connections, want the stale idle one replaced", n)
	}
	_ = c.Close()
	if err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// cannedServer answers every connection with canned bytes.
func cannedServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = bufio.NewReader(c).ReadString('\n') // the start of the command
				_, _ = io.WriteString(c, reply)
				time.Sleep(100 * time.Millisecond)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestUnexpectedReplies(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		call        func(*Client, context.Context) error
		want        string
		complete    bool // the reply was well-formed RESP: the connection may be reused
	}{
		{"PING not PONG", "+OK\r\n", func(c *Client, ctx context.Context) error { return c.Ping(ctx) }, "unexpected reply", true},
		{"SET integer", ":1\r\n", func(c *Client, ctx context.Context) error { return c.Set(ctx, "k", "v", time.Second) }, "unexpected reply", true},
		{"GET integer", ":1\r\n", func(c *Client, ctx context.Context) error { _, _, err := c.Get(ctx, "k"); return err }, "unexpected reply", true},
		{"DEL string", "+OK\r\n", func(c *Client, ctx context.Context) error { _, err := c.Del(ctx, "k"); return err }, "unexpected reply", true},
		{"not RESP", "HTTP/1.1 400 Bad Request\r\n", func(c *Client, ctx context.Context) error { return c.Ping(ctx) }, "unknown reply type", false},
		{"no CRLF", "+PONG\n", func(c *Client, ctx context.Context) error { return c.Ping(ctx) }, "not terminated", false},
		{"huge bulk", "$999999999\r\n", func(c *Client, ctx context.Context) error { _, _, err := c.Get(ctx, "k"); return err }, "more than", false},
		{"truncated bulk", "$10\r\nabc", func(c *Client, ctx context.Context) error { _, _, err := c.Get(ctx, "k"); return err }, "EOF", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, cannedServer(t, tc.reply), Options{})
			err := tc.call(c, ctxWithin(t, 2*time.Second))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
			if st := c.Stats(); !tc.complete && st.Idle != 0 {
				t.Errorf("a connection with a broken reply stream was pooled: %+v", st)
			}
		})
	}
}

func TestReadValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{"+OK\r\n", `"OK"`, ""},
		{":-42\r\n", "(integer) -42", ""},
		{"$0\r\n\r\n", `""`, ""},
		{"$-1\r\n", "(nil)", ""},
		{"*-1\r\n", "(nil)", ""},
		{"*3\r\n$1\r\na\r\n:2\r\n*1\r\n+x\r\n", `["a", (integer) 2, ["x"]]`, ""},
		{"*2\r\n-ERR inner\r\n+ok\r\n", `[(error) ERR inner, "ok"]`, ""},
		{"-WRONGTYPE Operation\r\n", "", "server replied: WRONGTYPE Operation"},
		{":x\r\n", "", "bad integer"},
		{"$-2\r\n", "", "bad bulk length"},
		{"$3\r\nabcd\r\n", "", "not terminated by CRLF"},
		{"*-5\r\n", "", "bad array length"},
		{"\r\n", "", "empty line"},
		{"+OK", "", "unexpected EOF"},
		{strings.Repeat("*1\r\n", 10) + "+x\r\n", "", "nested deeper"},
		{"+" + strings.Repeat("a", maxLine) + "\r\n", "", "longer than"},
	} {
		v, err := readValue(bufio.NewReaderSize(strings.NewReader(tc.in), 16), 0)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && v.String() != tc.want:
			t.Errorf("%q: %s, want %s", tc.in, v, tc.want)
		}
	}
}

func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, []string{"SET", "k", "", "PX", "100"}))
	want := "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$2\r\nPX\r\n$3\r\n100\r\n"
	if got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
