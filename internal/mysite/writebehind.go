package mysite

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Write modes (-writes). "behind" is the lab's "before" configuration for
// durability against a slow or unreachable database: a write-behind buffer
// that acknowledges a write once it is queued in this process's memory.
const (
	WritesThrough = "through" // acknowledge once the database committed (default)
	WritesBehind  = "behind"  // acknowledge once queued; store in the background
)

// writeBehindQueue bounds the buffer: a full queue refuses writes (503,
// nothing written) instead of growing without end.
const writeBehindQueue = 10000

// writeBehind acknowledges writes (Put, Create) as soon as they are queued
// and stores them in the background, one at a time in arrival order. It is
// what a write-behind cache or a fire-and-forget queue in front of a
// database does, and how such a design loses acknowledged writes: a queued
// write that could not be stored within the DB timeout of its arrival (the
// database slow or unreachable) is dropped and logged. The version a caller
// gets back is 0: nobody knows it yet.
type writeBehind struct {
	Store
	maxAge  time.Duration
	log     *slog.Logger
	queue   chan queuedWrite
	dropped atomic.Int64
}

type queuedWrite struct {
	u      User
	create bool
	at     time.Time
}

// newWriteBehind wraps s. maxAge is how long a queued write may wait to be
// stored (the DB timeout; 0 means 2 s, the default timeout: the buffer
// never waits forever).
func newWriteBehind(s Store, maxAge time.Duration, log *slog.Logger) *writeBehind {
	if maxAge <= 0 {
		maxAge = 2 * time.Second
	}
	return &writeBehind{Store: s, maxAge: maxAge, log: log, queue: make(chan queuedWrite, writeBehindQueue)}
}

func (w *writeBehind) Put(_ context.Context, u User) (User, error)    { return w.enqueue(u, false) }
func (w *writeBehind) Create(_ context.Context, u User) (User, error) { return w.enqueue(u, true) }

func (w *writeBehind) enqueue(u User, create bool) (User, error) {
	select {
	case w.queue <- queuedWrite{u: u, create: create, at: time.Now()}:
		u.Version = 0
		return u, nil
	default:
		return User{}, Unavailable(errors.New("write-behind queue full"), true)
	}
}

// Run stores queued writes until ctx ends. A write older than maxAge when
// its turn comes, or that fails, is dropped: after it was acknowledged.
func (w *writeBehind) Run(ctx context.Context) {
	for {
		var q queuedWrite
		select {
		case <-ctx.Done():
			return
		case q = <-w.queue:
		}
		age := time.Since(q.at)
		if age > w.maxAge {
			w.drop(q, "waited "+age.Round(time.Millisecond).String()+" in the queue")
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, w.maxAge-age)
		var err error
		if q.create {
			_, err = w.Store.Create(callCtx, q.u)
		} else {
			_, err = w.Store.Put(callCtx, q.u)
		}
		cancel()
		if err != nil {
			w.drop(q, err.Error())
		}
	}
}

func (w *writeBehind) drop(q queuedWrite, why string) {
	n := w.dropped.Add(1)
	w.log.Warn("write-behind: dropped an acknowledged write", "id", q.u.ID, "write_id", q.u.WriteID, "why", why, "dropped_total", n)
}
