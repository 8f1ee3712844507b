package mysite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Both Redis uses of mysite (the session store, stage 7; the read cache,
// stage 5) go through github.com/redis/go-redis/v9, configured alike by
// newRedisClient.

// redisIdleTimeout: an idle pooled connection older than this is closed
// instead of reused (a server, a proxy or a NAT may have dropped it).
const redisIdleTimeout = time.Minute

// redisDialTimeout bounds one connect attempt when the call's own deadline
// is later (or absent). Connects run in go-redis's background and the
// caller stops waiting at its own deadline, so this only bounds how long a
// connect to a black-holed server holds a pool slot.
const redisDialTimeout = 2 * time.Second

// newRedisClient is a client for the Redis at addr with a pool of at most
// conns connections. callTimeout is the bound on one call that mysite's
// caller also puts on the call's context; 0 means none beyond the context
// (the cache's negative control). It does not connect yet.
func newRedisClient(addr string, conns int, callTimeout time.Duration) *redis.Client {
	// Socket deadlines: the call's own (ContextTimeoutEnabled), capped by
	// callTimeout. go-redis reads 0 as "5s" and -1 as "none".
	io := callTimeout
	if io <= 0 {
		io = -1
	}
	// Waiting for a free connection is bounded by the call's context too;
	// PoolTimeout only matters for a call without a deadline.
	poolWait := callTimeout
	if poolWait <= 0 {
		poolWait = 30 * time.Second
	}
	return redis.NewClient(&redis.Options{
		Addr: addr,
		// RESP2: mysite needs none of RESP3's push messages, and every
		// Redis (and every fake of one) speaks it.
		Protocol: 2,
		// A hard cap, as before go-redis: PoolSize alone lets the pool
		// grow past it under load; MaxActiveConns makes a call wait (within
		// its context) for a free connection instead.
		PoolSize:        conns,
		MaxActiveConns:  conns,
		MaxIdleConns:    conns,
		ConnMaxIdleTime: redisIdleTimeout,
		PoolTimeout:     poolWait,
		DialTimeout:     redisDialTimeout,
		// One connect attempt per call: go-redis's default of 5 attempts
		// 100 ms apart turns "connection refused" (Redis down) into half a
		// second of waiting, longer than the cache timeout; the next call
		// tries again anyway.
		DialerRetries: 1,
		ReadTimeout:   io,
		WriteTimeout:  io,
		// The call's context deadline becomes the socket deadline, so a
		// Redis that is down, partitioned or frozen costs a caller at most
		// its own timeout, never a hang.
		ContextTimeoutEnabled: true,
		// No retries inside go-redis: a retry after a timeout would spend
		// the caller's budget a second time and turn a fault the lab
		// injects into mere latency (hiding it from what the lab measures),
		// and some of mysite's commands (SET NX of a lease, the fill
		// script) must not run twice unseen. A dead pooled connection is
		// found before use by go-redis's health check (a non-blocking read
		// sees the server's close), so a restart does not fail calls.
		MaxRetries: -1,
		// No CLIENT SETINFO and no CLIENT MAINT_NOTIFICATIONS on connect:
		// fewer round trips per new connection (they count against a
		// 100 ms cache timeout), and nothing for Redis Cloud's maintenance
		// events to do here.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// redisError names the command and the address and wraps the cause, so
// that errors.Is(err, context.DeadlineExceeded) and errors.As(err,
// new(*net.OpError)) work. nil stays nil.
//
// The socket deadline is the context's, so an I/O timeout can come a moment
// before the context's own timer marks it done: a timeout at or after the
// deadline is reported as the deadline (keeping the I/O error too).
func redisError(ctx context.Context, cmd, addr string, err error) error {
	if err == nil {
		return nil
	}
	if cause := redisContextCause(ctx, err); cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	return fmt.Errorf("redis %s %s: %w", cmd, addr, err)
}

func redisContextCause(ctx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	if dl, ok := ctx.Deadline(); ok && isTimeout(err) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// isTimeout: a deadline ended the call (the context's or a socket's).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
