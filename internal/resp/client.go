// Package resp is a minimal Redis client: RESP2 over TCP with a small
// connection pool. It speaks just what mysite's shared session store needs
// (SET with PX, GET, DEL, PING), plus Do for any other command.
//
// Every call takes a context: its deadline becomes the connection's I/O
// deadline, and cancelling it interrupts a call blocked on the network, so a
// Redis that is down, partitioned or frozen costs a caller at most its own
// deadline, never a hang. A connection whose exchange failed midway is
// closed, never reused (its reply stream is out of step).
//
// Errors name the command and the address and wrap the cause, so
// errors.Is(err, context.DeadlineExceeded), errors.As(err, new(*net.OpError))
// and errors.As(err, new(*resp.Error)) (an error reply from Redis) work.
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
	"time"
)

// Options tune a Client. Zero values mean the defaults.
type Options struct {
	// MaxConns caps the open connections; a call waits for a free one (within
	// its context). Default 16.
	MaxConns int
	// MaxIdle caps the idle connections kept for reuse. Default MaxConns.
	MaxIdle int
	// IdleTimeout: an idle connection older than this is closed instead of
	// reused (a server or a NAT may have dropped it). Default 1 minute.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting when the context has no earlier
	// deadline. Default 5s.
	DialTimeout time.Duration
}

const (
	defaultMaxConns    = 16
	defaultIdleTimeout = time.Minute
	defaultDialTimeout = 5 * time.Second
)

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("redis client closed")

// Error is an error reply from the server ("-ERR ...", "-LOADING ...",
// "-READONLY ..."). The connection stays usable after one.
type Error struct {
	Msg string // the reply without the leading '-'
}

func (e *Error) Error() string { return "server replied: " + e.Msg }

// Prefix is the error's code: "ERR", "WRONGTYPE", "LOADING", ...
func (e *Error) Prefix() string {
	code, _, _ := strings.Cut(e.Msg, " ")
	return code
}

// Client is safe for concurrent use.
type Client struct {
	addr string
	opts Options
	sem  chan struct{} // one token per open (or opening) connection

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
}

// New returns a client for the Redis at addr (host:port). It does not
// connect: connections are opened on demand.
func New(addr string, opts Options) *Client {
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultMaxConns
	}
	if opts.MaxIdle <= 0 || opts.MaxIdle > opts.MaxConns {
		opts.MaxIdle = opts.MaxConns
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	return &Client{addr: addr, opts: opts, sem: make(chan struct{}, opts.MaxConns)}
}

// Addr is the server address.
func (c *Client) Addr() string { return c.addr }

// Stats is a snapshot of the pool.
type Stats struct {
	Open int // connections open or being opened, in use or idle
	Idle int
	Max  int
}

// Stats reports the pool's state.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Open: len(c.sem), Idle: len(c.idle), Max: cap(c.sem)}
}

// Close closes the idle connections and makes every later call fail with
// ErrClosed. Connections in use are closed when their call ends.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, cn := range idle {
		_ = cn.nc.Close()
	}
	return nil
}

// Ping sends PING and expects PONG.
func (c *Client) Ping(ctx context.Context) error {
	v, err := c.Do(ctx, "PING")
	if err != nil {
		return err
	}
	if v.Kind != SimpleString || v.Str != "PONG" {
		return c.wrap("PING", fmt.Errorf("%w: unexpected reply %s", ErrProtocol, v))
	}
	return nil
}

// Set stores value at key with a time to live (SET key value PX ms). A ttl
// <= 0 stores it without expiry. Sub-millisecond TTLs round up to 1ms.
func (c *Client) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	args := []string{"SET", key, value}
	if ttl > 0 {
		ms := (ttl + time.Millisecond - 1) / time.Millisecond
		args = append(args, "PX", fmt.Sprint(int64(ms)))
	}
	v, err := c.Do(ctx, args...)
	if err != nil {
		return err
	}
	if v.Kind != SimpleString || v.Str != "OK" {
		return c.wrap("SET", fmt.Errorf("%w: unexpected reply %s", ErrProtocol, v))
	}
	return nil
}

// Get returns the value at key; ok is false when the key does not exist.
func (c *Client) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	v, err := c.Do(ctx, "GET", key)
	if err != nil {
		return "", false, err
	}
	switch {
	case v.Kind == BulkString && v.Null:
		return "", false, nil
	case v.Kind == BulkString:
		return v.Str, true, nil
	}
	return "", false, c.wrap("GET", fmt.Errorf("%w: unexpected reply %s", ErrProtocol, v))
}

// Del deletes keys and returns how many existed.
func (c *Client) Del(ctx context.Context, keys ...string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	v, err := c.Do(ctx, append([]string{"DEL"}, keys...)...)
	if err != nil {
		return 0, err
	}
	if v.Kind != Integer {
		return 0, c.wrap("DEL", fmt.Errorf("%w: unexpected reply %s", ErrProtocol, v))
	}
	return v.Int, nil
}

// retryable commands may be sent again after a connection turned out dead:
// doing them twice has the effect of doing them once.
var retryable = map[string]bool{"PING": true, "GET": true, "SET": true, "DEL": true, "EXISTS": true, "PTTL": true, "TTL": true, "ECHO": true}

// Do sends one command and returns its reply. An error reply from the
// server is returned as an error wrapping *Error.
//
// When a reused idle connection turns out to be dead (the server restarted
// or dropped it while it sat in the pool: EOF, reset, broken pipe), an
// idempotent command (GET, SET, DEL, PING, ...) is sent once more on a fresh
// connection, within the same context.
func (c *Client) Do(ctx context.Context, args ...string) (Value, error) {
	if len(args) == 0 {
		return Value{}, errors.New("redis: empty command")
	}
	name := strings.ToUpper(args[0])
	if err := ctx.Err(); err != nil {
		return Value{}, c.wrap(name, err)
	}
	for attempt := 0; ; attempt++ {
		cn, reused, err := c.get(ctx, attempt > 0)
		if err != nil {
			return Value{}, c.wrap(name, err)
		}
		v, err := cn.roundTrip(ctx, args)
		if err == nil {
			c.put(cn, true)
			return v, nil
		}
		var se *Error
		if errors.As(err, &se) {
			c.put(cn, true) // an error reply is a complete reply
			return Value{}, c.wrap(name, err)
		}
		c.put(cn, false)
		if reused && attempt == 0 && retryable[name] && ctx.Err() == nil && deadConn(err) {
			continue
		}
		if ctxErr := contextCause(ctx, err); ctxErr != nil && !errors.Is(err, ctxErr) {
			// The deadline (or a cancel) interrupted the I/O: say which,
			// keeping the I/O error in the chain too.
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return Value{}, c.wrap(name, err)
	}
}

// contextCause is ctx's error when ctx ended the I/O that failed with err.
// The connection's deadline is ctx's, so an I/O timeout can fire a moment
// before ctx's own timer marks it done: a timeout at or after the deadline
// is the deadline.
func contextCause(ctx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	var ne net.Error
	if dl, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *Client) wrap(cmd string, err error) error {
	return fmt.Errorf("redis %s %s: %w", cmd, c.addr, err)
}

// deadConn: the connection was closed by the other side.
func deadConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// get returns a connection: an idle one unless fresh is set, else a new one.
// reused tells which.
func (c *Client) get(ctx context.Context, fresh bool) (cn *conn, reused bool, err error) {
	select {
	case c.sem <- struct{}{}:
	default:
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("waiting for a free connection (all %d in use): %w", cap(c.sem), ctx.Err())
		}
	}
	var stale []*conn
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.sem
		return nil, false, ErrClosed
	}
	for !fresh && len(c.idle) > 0 {
		last := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(last.usedAt) > c.opts.IdleTimeout {
			stale = append(stale, last)
			continue
		}
		cn = last
		break
	}
	c.mu.Unlock()
	for _, s := range stale {
		_ = s.nc.Close()
	}
	if cn != nil {
		return cn, true, nil
	}
	cn, err = c.dial(ctx)
	if err != nil {
		<-c.sem
		return nil, false, err
	}
	return cn, false, nil
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: c.opts.DialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReader(nc), usedAt: time.Now()}, nil
}

// put gives a connection back: to the idle list when it is healthy and
// there is room, else it is closed.
func (c *Client) put(cn *conn, healthy bool) {
	defer func() { <-c.sem }()
	if healthy {
		cn.usedAt = time.Now()
		c.mu.Lock()
		if !c.closed && len(c.idle) < c.opts.MaxIdle {
			c.idle = append(c.idle, cn)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
	_ = cn.nc.Close()
}

// conn is one connection; it is used by one call at a time.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	usedAt time.Time
}

// roundTrip writes the command and reads one reply, under ctx's deadline;
// a cancel of ctx interrupts blocked I/O.
func (cn *conn) roundTrip(ctx context.Context, args []string) (Value, error) {
	dl, _ := ctx.Deadline() // zero: no deadline
	if err := cn.nc.SetDeadline(dl); err != nil {
		return Value{}, err
	}
	stop := context.AfterFunc(ctx, func() {
		// Any past time makes blocked reads and writes return at once.
		_ = cn.nc.SetDeadline(time.Unix(1, 0))
	})
	defer stop()
	if _, err := cn.nc.Write(appendCommand(nil, args)); err != nil {
		return Value{}, err
	}
	return readValue(cn.br, 0)
}
