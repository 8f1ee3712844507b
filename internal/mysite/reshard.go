package mysite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Online resharding (stage 11): POST /admin/reshard grows the router from
// the shards to the shards plus every spare (same strategy), and moves the
// users whose home changes onto their new shard while requests go on.
//
// Protocol online (copy, dual-write, switch):
//
//  1. Dual write. The routing becomes {cur: old router, next: new router}.
//     Reads go to the old shard (cur), which stays authoritative. A write
//     of a key whose new home differs is applied on the old shard, then the
//     row the old shard returned (its version included) is written to the
//     new shard with a version-guarded upsert (sqlPutVersion: insert, or
//     update only when the stored version is lower), and only then
//     acknowledged. Writes routed before the dual phase began may still be
//     running on the old shard without a dual write: the copy starts only
//     once they have all ended (the epoch of the previous routing drained).
//  2. Copy. The ids of every old shard are listed, those whose home changes
//     counted (moving), and each row is read fresh from its old shard and
//     written to its new shard with the same guarded upsert, at -move-rate
//     rows a second.
//  3. Switch. Writes of moving keys wait at a gate; the writes of the dual
//     phase still running end (their guarded upserts to the new shard
//     included: what they acknowledge is there); the ids whose dual write
//     may have failed halfway (applied on the old shard, not known on the
//     new) are copied again; then the new router becomes the only one, and
//     the gate opens: reads and writes of moved keys go to the new shard.
//
// Interleavings, for one moving key K whose versions on the old shard only
// grow (every write there is version+1 in SQL):
//
//   - The copy reads K at version v, a dual write then commits v+1 on the old
//     shard and upserts it to the new one, then the copy's upsert of v
//     arrives: the guard (stored v+1 is not lower than v) keeps v+1. In the
//     other order the copy's v is replaced by v+1. Either way the new shard
//     ends with the highest version it was sent, which is the old shard's
//     latest: every commit on the old shard after the dual phase began is
//     followed by its own upsert (or, if that failed, by the re-copy at the
//     switch), and every commit before it by the copy, which reads each row
//     after those writes drained.
//   - So at the switch the new shard has every version the old shard has
//     (acknowledged or not) and a read cannot go back in time: a read before
//     the switch saw the old shard, one after sees the same version or a
//     newer one on the new shard.
//   - A write after the switch runs on the new shard, whose version+1 makes
//     it newer than anything the old shard ever had; no dual write of the
//     old phase can come after it (they drained before the switch), and the
//     old shard's copy of K is no longer read or written.
//   - A write of K that arrives during the switch waits at the gate (at
//     most the request's DB timeout: then 503, not applied); writes of keys
//     that do not move never wait.
//
// Known limit: a write whose statement was sent, whose request gave up (a
// timeout), and which PostgreSQL commits only after the copy read its row
// (or, in the dual phase, after the switch's re-copy), is not on the new
// shard. It was never acknowledged. A write routed before the move began
// is not marked for the re-copy, so a read of the old shard may see it for
// the rest of the copy (a second with ring placement, four with modulo),
// and it is gone after the switch. The offline move has the same limit.
//
// Protocol naive (the lab's negative control, the classic mistake): copy
// the moving rows at the same pace, then switch the router. Writes during
// the copy go to the old shard only, so a write to a row already copied is
// lost after the switch.
//
// Protocol offline (the lab's other control, the maintenance window): every
// request of a user who moves is refused (503, not applied) from the start
// of the move until the switch; the copy then has every write, and nothing
// is lost, but the moving users cannot read or write their data meanwhile.
//
// A move that fails (a shard unavailable, a copy that cannot be written)
// goes back to the old router, which never stopped being authoritative,
// and its state is failed. Rows it copied stay on the new shards, unread.
// The old shards keep the rows that moved (nothing is deleted).

// Reshard protocols.
const (
	ProtocolOnline  = "online"
	ProtocolNaive   = "naive"
	ProtocolOffline = "offline"
)

// Move states.
const (
	MoveIdle    = "idle"
	MoveCopying = "copying"
	MoveDone    = "done"
	MoveFailed  = "failed"
)

// MoveStatus is GET /admin/reshard's answer.
type MoveStatus struct {
	State    string   `json:"state"`    // idle, copying, done, failed
	Protocol string   `json:"protocol"` // online, naive, offline; "" while idle
	From     int      `json:"from"`     // shards before the move
	To       int      `json:"to"`       // shards after it (with the spares)
	Moving   int64    `json:"moving"`   // rows whose home changes (known once listed)
	Copied   int64    `json:"copied"`   // of those, copied so far
	Started  string   `json:"started"`  // RFC 3339 with nanoseconds; "" while idle
	Finished string   `json:"finished"` // when done or failed
	Error    string   `json:"error"`    // why it failed
	Shards   []string `json:"shards"`   // the shards that own keys now
	MoveRate float64  `json:"move_rate"`
}

// Errors of StartReshard, each its own HTTP status.
var (
	errNoSpares    = errors.New("no spare shards configured (-spare)")
	errMoveRan     = errors.New("a reshard already ran or is running (one per process)")
	errBadProtocol = fmt.Errorf("protocol must be %s, %s or %s", ProtocolOnline, ProtocolNaive, ProtocolOffline)
)

// routing is how keys are routed at one time. It is never changed, only
// replaced.
type routing struct {
	cur  *Router // authoritative: reads, and every write's first (or only) shard
	next *Router // online move: where moving keys are also written; offline: whom closed refuses; nil otherwise
	// gate, while the online move switches: writes of moving keys wait
	// until it is closed, then route again.
	gate   chan struct{}
	writes *epoch // the writes routed by this routing still running
	// closed, during an offline move, refuses every request of a key that
	// moves (next's home differs): 503, not applied.
	closed bool
}

// refused is the answer to a request of a key an offline move is moving.
func (rt *routing) refused(id string) error {
	if !rt.closed || rt.next == nil {
		return nil
	}
	from, to := rt.cur.Name(id), rt.next.Name(id)
	if from == to {
		return nil
	}
	return Unavailable(fmt.Errorf("shard %s: user %s is moving to shard %s (an offline move): try again once it has moved", from, id, to), true)
}

// epoch counts the writes that run under one routing, so that a move can
// wait for those of a routing it replaced. Its lock is held only to count.
type epoch struct {
	mu      sync.Mutex
	n       int
	closed  bool
	drained chan struct{}
}

func newEpoch() *epoch { return &epoch{drained: make(chan struct{})} }

// enter counts a write in; false once the epoch is closed (its routing was
// replaced: route again).
func (e *epoch) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.n++
	return true
}

func (e *epoch) leave() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n--
	if e.closed && e.n == 0 {
		close(e.drained)
	}
}

// close lets no more writes in; the channel closes when those in have
// left. The routing must have been replaced first, so that a write turned
// away finds the new one.
func (e *epoch) close() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		if e.n == 0 {
			close(e.drained)
		}
	}
	return e.drained
}

// write runs one write (create or put) of id as the routing says: on the
// authoritative shard, and during the online move's dual phase also on the
// key's new shard (see the top of this file).
func (s *ShardedStore) write(ctx context.Context, id string, do func(context.Context, *PGStore) (User, error)) (User, error) {
	for {
		rt := s.route.Load()
		from, to := rt.cur.Name(id), rt.cur.Name(id)
		if rt.next != nil {
			to = rt.next.Name(id)
		}
		if err := rt.refused(id); err != nil {
			noteShard(ctx, from)
			return User{}, err
		}
		if to != from && rt.gate != nil {
			noteShard(ctx, from)
			select {
			case <-rt.gate:
				continue
			case <-ctx.Done():
				return User{}, Unavailable(fmt.Errorf("shard %s: waiting for the reshard to switch %s to shard %s: %w", from, id, to, ctx.Err()), true)
			}
		}
		if !rt.writes.enter() {
			continue // the routing was just replaced
		}
		noteShard(ctx, from)
		u, err := s.dualWrite(ctx, id, from, to, do)
		rt.writes.leave()
		return u, err
	}
}

// dualWrite applies the write on shard from and, when the key moves, the
// stored row on shard to.
func (s *ShardedStore) dualWrite(ctx context.Context, id, from, to string, do func(context.Context, *PGStore) (User, error)) (User, error) {
	u, err := do(ctx, s.byName[from].store)
	if to == from {
		return u, shardErr(from, err)
	}
	if err != nil {
		if !errors.Is(err, ErrExists) && !writeNotApplied(err) {
			s.markDirty(id) // it may have been applied on the old shard
		}
		return u, shardErr(from, err)
	}
	if err := s.byName[to].store.putVersion(ctx, u); err != nil {
		// Applied on the old shard, which stays authoritative until the
		// switch; the switch copies it again. Not acknowledged: 503 with
		// an unknown outcome (it was applied, and will move).
		s.markDirty(id)
		return User{}, Unavailable(fmt.Errorf("written on shard %s, not yet on its new shard %s: %w", from, to, err), false)
	}
	return u, nil
}

func (s *ShardedStore) markDirty(id string) {
	s.mu.Lock()
	s.dirty[id] = true
	s.mu.Unlock()
}

// MoveStatus is the move's state now.
func (s *ShardedStore) MoveStatus() MoveStatus {
	s.mu.Lock()
	st := s.move
	s.mu.Unlock()
	st.Moving, st.Copied = s.moving.Load(), s.copied.Load()
	st.Shards = s.Shards()
	st.MoveRate = s.rate
	return st
}

// StartReshard starts the move onto the spares in the background and
// returns its status (copying). One move per process.
func (s *ShardedStore) StartReshard(protocol string) (MoveStatus, error) {
	if len(s.spares) == 0 {
		return MoveStatus{}, errNoSpares
	}
	if protocol != ProtocolOnline && protocol != ProtocolNaive && protocol != ProtocolOffline {
		return MoveStatus{}, fmt.Errorf("%w, got %q", errBadProtocol, protocol)
	}
	if !s.moveStarted.CompareAndSwap(false, true) {
		return MoveStatus{}, errMoveRan
	}
	old := s.route.Load().cur
	next, err := old.Grow(s.spares...)
	if err != nil {
		return MoveStatus{}, err
	}
	s.mu.Lock()
	s.move.State, s.move.Protocol = MoveCopying, protocol
	s.move.From, s.move.To = old.Len(), next.Len()
	s.move.Started = time.Now().UTC().Format(time.RFC3339Nano)
	s.mu.Unlock()
	s.log.Info("reshard started", "protocol", protocol, "from", old.Names(), "to", next.Names(),
		"strategy", old.Strategy(), "move_rate", s.rate)
	prev := s.route.Load()
	switch protocol {
	case ProtocolOnline:
		// The dual phase begins now, before this answer: a write
		// acknowledged after the 202 is already dual-written.
		s.route.Store(&routing{cur: old, next: next, writes: newEpoch()})
	case ProtocolOffline:
		// The moving users are refused from now until the switch.
		s.route.Store(&routing{cur: old, next: next, closed: true, writes: newEpoch()})
	}
	s.bg.Go(func() {
		start := time.Now()
		err := s.runMove(s.ctx, protocol, prev, old, next)
		s.mu.Lock()
		s.move.Finished = time.Now().UTC().Format(time.RFC3339Nano)
		if err != nil {
			s.move.State, s.move.Error = MoveFailed, oneLine(err.Error())
		} else {
			s.move.State = MoveDone
		}
		s.mu.Unlock()
		attrs := []any{"protocol", protocol, "moving", s.moving.Load(), "copied", s.copied.Load(), "took", time.Since(start)}
		if err != nil {
			s.log.Error("reshard failed: the old shards stay authoritative", append(attrs, "err", err)...)
		} else {
			s.log.Info("reshard done", append(attrs, "shards", next.Names())...)
		}
	})
	return s.MoveStatus(), nil
}

// runMove runs the move once the dual (online) or closed (offline) phase has begun; prev is
// the routing before it. On failure it routes by the old router again.
func (s *ShardedStore) runMove(ctx context.Context, protocol string, prev *routing, old, next *Router) (err error) {
	var gate chan struct{}
	defer func() {
		if err != nil {
			s.route.Store(&routing{cur: old, writes: newEpoch()})
			if gate != nil {
				close(gate) // waiting writes route again, by the old router
			}
		}
	}()
	if protocol == ProtocolOnline || protocol == ProtocolOffline {
		// Writes routed before the dual (or closed) phase did not
		// dual-write: the copy must read their rows after they ended.
		if err := wait(ctx, prev.writes.close(), "writes from before the dual phase"); err != nil {
			return err
		}
	}
	ids, err := s.listMoving(ctx, old, next)
	if err != nil {
		return err
	}
	var limit *rate.Limiter
	if s.rate > 0 {
		limit = rate.NewLimiter(rate.Limit(s.rate), 1)
	}
	for _, m := range ids {
		if limit != nil {
			if err := limit.Wait(ctx); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
		if err := s.copyRow(ctx, m); err != nil {
			return err
		}
		s.copied.Add(1)
	}
	if protocol == ProtocolNaive || protocol == ProtocolOffline {
		// Naive, the mistake: writes made during the copy went to the old
		// shard only, and the new router now hides them. Offline: no
		// write of a moving user was taken during the copy, so the copy
		// has them all; the switch opens them again.
		s.route.Store(&routing{cur: next, writes: newEpoch()})
		return nil
	}
	// Switch: hold writes of moving keys at the gate, let the dual writes
	// still running end, copy again what they may have left behind.
	dual := s.route.Load()
	gate = make(chan struct{})
	s.route.Store(&routing{cur: old, next: next, gate: gate, writes: newEpoch()})
	if err := wait(ctx, dual.writes.close(), "dual writes in flight"); err != nil {
		return err
	}
	s.mu.Lock()
	dirty := make([]string, 0, len(s.dirty))
	for id := range s.dirty {
		dirty = append(dirty, id)
	}
	s.mu.Unlock()
	slices.Sort(dirty)
	for _, id := range dirty {
		if err := s.copyRow(ctx, movingID{id: id, from: old.Name(id), to: next.Name(id)}); err != nil {
			return fmt.Errorf("switch: %w", err)
		}
	}
	if len(dirty) > 0 {
		s.log.Info("reshard: copied again the rows whose dual write did not finish", "rows", len(dirty))
	}
	s.route.Store(&routing{cur: next, writes: newEpoch()})
	close(gate)
	gate = nil
	return nil
}

// wait waits for ch or the end of ctx.
func wait(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}

// movingID is a row whose home changes.
type movingID struct{ id, from, to string }

// listPage is how many ids one listing statement reads.
const listPage = 1000

// listMoving lists every old shard's ids, keeps those whose home changes,
// and counts them (moving).
func (s *ShardedStore) listMoving(ctx context.Context, old, next *Router) ([]movingID, error) {
	var out []movingID
	for _, from := range old.Names() {
		st := s.byName[from].store
		after := ""
		for {
			var page []string
			err := s.retry(ctx, func(ctx context.Context) (err error) {
				page, err = st.listIDs(ctx, after, listPage)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("list the users of shard %s: %w", from, err)
			}
			for _, id := range page {
				// Only the keys this shard owns: with modulo, a shard may
				// also hold copies it never serves.
				if old.Name(id) == from {
					if to := next.Name(id); to != from {
						out = append(out, movingID{id: id, from: from, to: to})
					}
				}
			}
			if len(page) < listPage {
				break
			}
			after = page[len(page)-1]
		}
	}
	s.moving.Store(int64(len(out)))
	return out, nil
}

// copyRow reads the row fresh from its old shard and writes it to its new
// one with the version guard.
func (s *ShardedStore) copyRow(ctx context.Context, m movingID) error {
	var u User
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		u, err = s.byName[m.from].store.Get(ctx, m.id)
		return err
	})
	if errors.Is(err, ErrNotFound) { // nothing to move (users are never deleted)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s from shard %s: %w", m.id, m.from, err)
	}
	err = s.retry(ctx, func(ctx context.Context) error { return s.byName[m.to].store.putVersion(ctx, u) })
	if err != nil {
		return fmt.Errorf("copy %s to shard %s: %w", m.id, m.to, err)
	}
	return nil
}

// bgCallTimeout bounds a move's database call when the DB timeout is 0
// (no timeout is for requests; a move must still end).
const bgCallTimeout = 10 * time.Second

// moveAttempts: a move's database call is tried this often before the move
// fails, so that a blip does not end it, and a shard that is down does.
const moveAttempts = 3

// retry runs call with the store's timeout, up to moveAttempts times while
// it fails for unavailability.
func (s *ShardedStore) retry(ctx context.Context, call func(context.Context) error) error {
	t := s.timeout
	if t <= 0 {
		t = bgCallTimeout
	}
	var err error
	for attempt := range moveAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		c, cancel := context.WithTimeout(ctx, t)
		err = call(c)
		cancel()
		if err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// reshardStatus answers GET /admin/reshard.
func (s *Server) reshardStatus(w http.ResponseWriter, r *http.Request) {
	sh, ok := shardedStore(s.store)
	if !ok || len(sh.spares) == 0 {
		writeError(w, http.StatusNotFound, errNoSpares.Error())
		return
	}
	writeJSON(w, http.StatusOK, sh.MoveStatus())
}

// startReshard answers POST /admin/reshard?protocol=online|naive|offline.
func (s *Server) startReshard(w http.ResponseWriter, r *http.Request) {
	sh, ok := shardedStore(s.store)
	if !ok || len(sh.spares) == 0 {
		writeError(w, http.StatusNotFound, errNoSpares.Error())
		return
	}
	st, err := sh.StartReshard(r.URL.Query().Get("protocol"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, st)
	case errors.Is(err, errBadProtocol):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, errMoveRan):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, errNoSpares):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}
