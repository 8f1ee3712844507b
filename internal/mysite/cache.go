package mysite

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Cache invalidation modes (-cache-invalidation): what a successful write
// does to the cached user after the database committed it.
const (
	// CacheInvalidateDelete deletes the cached entry: the next read misses
	// and loads the committed value.
	CacheInvalidateDelete = "delete"
	// CacheInvalidateUpdate stores the written user in the cache. Two
	// concurrent writes can reach Redis in the other order than they
	// committed, leaving the older version cached until the TTL ends: the
	// textbook reason to prefer delete.
	CacheInvalidateUpdate = "update"
	// CacheInvalidateNone leaves the cache alone: reads serve the old
	// value until the TTL ends (the lab's negative control for stale
	// reads).
	CacheInvalidateNone = "none"
)

// Stampede guards (-cache-guard): what concurrent misses of one key do.
const (
	// CacheGuardNone: every miss reads the database (a hot key that expires
	// sends every request for it to the database at once: the lab's
	// negative control).
	CacheGuardNone = "none"
	// CacheGuardCoalesce: concurrent misses of one key in this process
	// share one database read (singleflight); each server still reads once.
	CacheGuardCoalesce = "coalesce"
	// CacheGuardLease: a lease per key in Redis (SET NX PX) lets one request
	// of the whole web tier load and fill; the others wait briefly for its
	// fill. The lease also closes the read-miss/write race (see
	// CachedStore).
	CacheGuardLease = "lease"
)

// Cache defaults.
const (
	DefaultCacheTTL          = 30 * time.Second
	DefaultCacheTimeout      = 100 * time.Millisecond
	DefaultCacheInvalidation = CacheInvalidateDelete
	DefaultCacheGuard        = CacheGuardCoalesce
)

// Cache keys in Redis.
const (
	// CacheKeyPrefix + user id holds the user's JSON (as GET /users/{id}
	// answers it, version included), with the TTL.
	CacheKeyPrefix = "mysite:user:"
	// CacheLeasePrefix + user id holds the token of the request that may
	// fill the user's entry (-cache-guard lease).
	CacheLeasePrefix = "mysite:user-lease:"
)

// cacheConns caps the cache Redis connections of one server: a request
// makes one cache call at a time.
const cacheConns = 64

// Lease timing (-cache-guard lease). A fill takes one database read,
// normally milliseconds.
const (
	// leaseWait is how long a request that found the lease taken waits,
	// in all, for a fill before it reads the database itself: long enough
	// for a slow fill (the lab's slow-fill failpoint pauses 200 ms between
	// read and store) and a second one after a write voided the first,
	// and a quarter of the default DB timeout (2 s), so that a dead holder
	// costs little.
	leaseWait = 500 * time.Millisecond
	// leasePollMin and leasePollMax space a waiter's re-reads of the cache.
	leasePollMin = 2 * time.Millisecond
	leasePollMax = 20 * time.Millisecond
	// defaultLeaseTTL is how long a lease lives when the DB timeout is 0;
	// otherwise it is the DB timeout, which bounds the holder's load. A
	// holder that dies leaves the lease until then (later misses wait
	// leaseWait, then read the database without filling).
	defaultLeaseTTL = 2 * time.Second
)

// CacheOptions configure a CachedStore.
type CacheOptions struct {
	// TTL is how long a cached user lives; 0 means DefaultCacheTTL.
	TTL time.Duration
	// Timeout bounds every cache call; when it passes, the read goes to the
	// database (a write keeps its database result). 0 means no timeout:
	// cache calls then wait as long as the request lives (the DB timeout),
	// so a slow cache stalls requests. That is the lab's negative control.
	Timeout time.Duration
	// Invalidation is CacheInvalidateDelete ("" means the same),
	// CacheInvalidateUpdate or CacheInvalidateNone.
	Invalidation string
	// Guard is CacheGuardNone, CacheGuardCoalesce ("" means the same) or
	// CacheGuardLease.
	Guard string
	// LoadTimeout bounds a database read shared by several requests (a
	// coalesced read runs apart from the request that started it, so that
	// this one going away does not fail the others); it is the DB timeout,
	// and also the lease's lifetime. 0 means no bound.
	LoadTimeout time.Duration
	// Logger receives the cache's up/down lines; nil discards.
	Logger *slog.Logger
	// Failpoints: slow-fill delays every fill after its database read; nil: none.
	Failpoints *Failpoints
}

// CachedStore is a cache-aside Store: it keeps users in a Redis in front
// of the database Store it wraps.
//
// Reads: GET the user's key; on a hit, answer from it. On a miss, read the
// database and SET the key with the TTL (a fill), guarded against
// stampedes as Guard says. A lookup that fails (Redis down, unreachable,
// slower than Timeout, or refusing) reads the database and does not fill:
// the cache is unhealthy, and a second call would cost the timeout again.
// Users that do not exist are not cached.
//
// Writes go to the database; after the commit, Invalidation says what
// happens to the cached entry. A write whose outcome is unknown (it may have
// been applied) deletes the entry in every mode but none. An invalidation
// that fails leaves the old value cached until its TTL ends: the TTL bounds
// staleness.
//
// A cache error never fails a request: it is counted
// (mysite_cache_errors_total, by operation) and the request goes on with
// the database. Ready is the database's: a cache outage does not make the
// server unready.
//
// # The read-miss/write race
//
// A reader misses, reads version 1 from the database; a writer commits
// version 2 and deletes the key; the reader then fills version 1, which
// stays cached until the TTL ends. Guards none and coalesce have this race.
// With the lease guard, a fill is conditional on the filler's lease still
// being the current one (a Lua script compares tokens and sets the key in
// one step), and a write deletes the lease together with the key (one DEL),
// so the filler that read before the write loses its lease and its fill is
// dropped (mysite_cache_fills_suppressed_total). A reader that takes the
// lease after the write reads after the commit.
type CachedStore struct {
	db      Store
	rdb     *redis.Client
	addr    string
	ttl     time.Duration
	timeout time.Duration // per cache call; 0: none
	inval   string
	guard   string
	load    time.Duration // bound on a shared database read; 0: none
	lease   time.Duration // lease lifetime
	fp      *Failpoints

	group singleflight.Group
	mon   *StoreMonitor
	stats cacheStats
}

// cacheStats are the cache's counters; they only grow.
type cacheStats struct {
	hits, misses            atomic.Int64 // lookups answered by the cache: found, not found
	errors, timeouts        atomic.Int64 // failed cache calls (every operation); those that timed out
	fills, fillsSuppressed  atomic.Int64 // entries stored after a database read; fills dropped (lease lost)
	invalidations           atomic.Int64 // entries deleted or updated after a write
	dbReads, coalesced      atomic.Int64 // database reads made by the cache; reads that shared another's
	leaseWaits, leaseMisses atomic.Int64 // requests that waited for a lease holder's fill; that waited in vain
}

// NewCachedStore puts a cache in the Redis at addr (host:port) in front of
// db. It does not connect yet; Close releases the Redis connections.
func NewCachedStore(db Store, addr string, opt CacheOptions) *CachedStore {
	if opt.TTL <= 0 {
		opt.TTL = DefaultCacheTTL
	}
	if opt.Invalidation == "" {
		opt.Invalidation = DefaultCacheInvalidation
	}
	if opt.Guard == "" {
		opt.Guard = DefaultCacheGuard
	}
	lease := opt.LoadTimeout
	if lease <= 0 {
		lease = defaultLeaseTTL
	}
	return &CachedStore{
		db:      db,
		rdb:     newRedisClient(addr, cacheConns, opt.Timeout),
		addr:    addr,
		ttl:     opt.TTL,
		timeout: opt.Timeout,
		inval:   opt.Invalidation,
		guard:   opt.Guard,
		load:    opt.LoadTimeout,
		lease:   lease,
		fp:      opt.Failpoints,
		mon:     newStoreMonitor(nil, opt.Logger, "cache", "cache", "get, fill, invalidate, lease"),
	}
}

// Close closes the Redis connections.
func (c *CachedStore) Close() { _ = c.rdb.Close() }

// Monitor is the cache's up/down tracker (its Run and Flush log state
// changes).
func (c *CachedStore) Monitor() *StoreMonitor { return c.mon }

// Ready is the database's readiness: the cache is optional.
func (c *CachedStore) Ready(ctx context.Context) error { return c.db.Ready(ctx) }

// lookup is the outcome of reading a key.
type lookup int

const (
	lookupHit lookup = iota
	lookupMiss
	lookupFailed
	// lookupShared: a miss answered by another request's database read
	// (a coalesced read, or a lease holder's fill), not by its own.
	lookupShared
)

// Get implements Store: cache first, then the database.
func (c *CachedStore) Get(ctx context.Context, id string) (User, error) {
	u, res := c.lookup(ctx, id)
	noteCacheAnswer(ctx, res)
	if res == lookupHit {
		return u, nil
	}
	fill := res == lookupMiss
	switch c.guard {
	case CacheGuardLease:
		if fill {
			return c.getLeased(ctx, id)
		}
		return c.readDB(ctx, id)
	case CacheGuardCoalesce:
		return c.getCoalesced(ctx, id, fill)
	}
	u, err := c.readDB(ctx, id)
	if err == nil && fill {
		c.fill(ctx, u)
	}
	return u, err
}

// lookup reads the user's entry, counting a hit, a miss or an error.
func (c *CachedStore) lookup(ctx context.Context, id string) (User, lookup) {
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	b, err := c.rdb.Get(cctx, CacheKeyPrefix+id).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		c.observe(ctx, "get", nil)
		c.stats.misses.Add(1)
		return User{}, lookupMiss
	case err != nil:
		c.observe(ctx, "get", redisError(cctx, "GET", c.addr, err))
		return User{}, lookupFailed
	}
	c.observe(ctx, "get", nil)
	u, err := decodeCached(id, b)
	if err != nil {
		// Not ours (or from an incompatible version): a miss, which the
		// fill overwrites.
		c.countError(err)
		c.mon.errors.WithLabelValues("get").Inc()
		c.stats.misses.Add(1)
		return User{}, lookupMiss
	}
	c.stats.hits.Add(1)
	return u, lookupHit
}

func decodeCached(id string, b []byte) (User, error) {
	var u User
	if err := json.Unmarshal(b, &u); err != nil {
		return User{}, fmt.Errorf("cached value of user %s: %w", id, err)
	}
	if u.ID != id {
		return User{}, fmt.Errorf("cached value of user %s holds user %q", id, u.ID)
	}
	if u.PhoneNumbers == nil {
		u.PhoneNumbers = []PhoneNumber{}
	}
	return u, nil
}

// readDB reads the user from the database, unless the request's time is
// up already (a cache call can use it all up when the cache timeout is 0).
func (c *CachedStore) readDB(ctx context.Context, id string) (User, error) {
	if err := expired(ctx); err != nil {
		return User{}, err
	}
	c.stats.dbReads.Add(1)
	return c.db.Get(ctx, id)
}

// expired: ctx is done or past its deadline. The cache's socket deadline is
// ctx's, so a cache call can end at the deadline a moment before ctx's own
// timer marks it done.
func expired(ctx context.Context) error {
	err := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(dl) {
		err = context.DeadlineExceeded
	}
	if err != nil {
		return Unavailable(fmt.Errorf("no time left for the database: %w", err), true)
	}
	return nil
}

// getCoalesced: concurrent misses of one id share one database read (and
// one fill). The read runs apart from the request that started it, bounded
// by LoadTimeout, so that this request going away (client gone, its own
// timeout) does not fail the others; every request waits at most until its
// own context ends.
func (c *CachedStore) getCoalesced(ctx context.Context, id string, fill bool) (User, error) {
	if err := expired(ctx); err != nil {
		// Too late to start a read that would outlive this request.
		return User{}, err
	}
	leader := false // set by the one caller whose function runs
	ch := c.group.DoChan(id, func() (v any, err error) {
		leader = true
		// singleflight re-panics a panic of DoChan's function in a goroutine
		// of its own, which would end the process: make it this read's error.
		defer func() {
			if p := recover(); p != nil {
				v, err = User{}, fmt.Errorf("internal error in store: %v", p)
			}
		}()
		lctx, cancel := c.loadCtx(ctx)
		defer cancel()
		u, err := c.readDB(lctx, id)
		if err == nil && fill {
			c.fill(lctx, u)
		}
		return u, err
	})
	select {
	case r := <-ch:
		// The channel send follows the function's return: reading leader
		// here is ordered after its write.
		if !leader {
			c.stats.coalesced.Add(1)
			noteCacheAnswer(ctx, lookupShared)
		}
		if r.Err != nil {
			return User{}, r.Err
		}
		return r.Val.(User), nil
	case <-ctx.Done():
		return User{}, Unavailable(fmt.Errorf("waiting for a shared database read: %w", ctx.Err()), true)
	}
}

// getLeased: the request that takes the user's lease loads and fills; the
// others wait for its fill. A lease that ends without a fill (a write voided
// it, or its holder found nothing or failed) is taken again by one of the
// waiters, so that a write in the middle of a fill costs one more database
// read, not one per waiter. A request waits at most leaseWait in all, then
// reads the database without filling.
func (c *CachedStore) getLeased(ctx context.Context, id string) (User, error) {
	deadline := time.Now().Add(leaseWait)
	for {
		token := rand.Text()
		cctx, cancel := c.callCtx(ctx)
		ans, err := takeLeaseScript.Run(cctx, c.rdb, []string{CacheKeyPrefix + id, CacheLeasePrefix + id},
			token, c.lease.Milliseconds()).Slice()
		err = redisError(cctx, "take lease", c.addr, err)
		cancel()
		c.observe(ctx, "lease", err)
		if err == nil && len(ans) == 0 {
			err = errors.New("take lease: empty answer")
		}
		if err != nil {
			return c.readDB(ctx, id)
		}
		if s, ok := ans[0].(string); ok {
			// Filled since this request's lookup (by a holder it did not
			// wait for).
			if u, err := decodeCached(id, []byte(s)); err == nil {
				noteCacheAnswer(ctx, lookupShared)
				return u, nil
			}
			return c.readDB(ctx, id)
		}
		if took := ans[0] == int64(1); took {
			u, err := c.readDB(ctx, id)
			if err != nil {
				c.releaseLease(ctx, id, token)
				return User{}, err
			}
			c.fillLeased(ctx, u, token)
			return u, nil
		}
		c.stats.leaseWaits.Add(1)
		u, res := c.awaitFill(ctx, id, deadline)
		if res == awaitFilled {
			noteCacheAnswer(ctx, lookupShared)
			return u, nil
		}
		if res == awaitVoided && time.Now().Before(deadline) {
			continue
		}
		c.stats.leaseMisses.Add(1)
		return c.readDB(ctx, id)
	}
}

// awaitResult is how a wait for a lease holder's fill ended.
type awaitResult int

const (
	awaitFilled awaitResult = iota // the entry is there
	awaitVoided                    // the lease is gone and no entry came: it may be taken again
	awaitGaveUp                    // the deadline passed, the request ended, or a cache call failed
)

// awaitFill re-reads the user's entry until it is filled, the lease is gone
// without a fill (the holder found nothing, failed, or lost the lease to a
// write), the deadline passes, or a cache call fails.
func (c *CachedStore) awaitFill(ctx context.Context, id string, deadline time.Time) (User, awaitResult) {
	pause := leasePollMin
	for {
		wait := min(pause, time.Until(deadline))
		if wait <= 0 {
			return User{}, awaitGaveUp
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return User{}, awaitGaveUp
		case <-t.C:
		}
		pause = min(2*pause, leasePollMax)

		// One round trip for both: the entry, and whether a fill may still come.
		cctx, cancel := c.callCtx(ctx)
		vals, err := c.rdb.MGet(cctx, CacheKeyPrefix+id, CacheLeasePrefix+id).Result()
		err = redisError(cctx, "MGET", c.addr, err)
		cancel()
		c.observe(ctx, "lease", err)
		if err != nil || len(vals) != 2 {
			return User{}, awaitGaveUp
		}
		if s, ok := vals[0].(string); ok {
			u, err := decodeCached(id, []byte(s))
			if err != nil {
				c.countError(err)
				c.mon.errors.WithLabelValues("lease").Inc()
				return User{}, awaitGaveUp
			}
			return u, awaitFilled
		}
		if vals[1] == nil {
			return User{}, awaitVoided
		}
	}
}

// takeLeaseScript answers the user's entry if it is there, else takes the
// lease if nobody holds it. In one step: a fill that lands between a
// separate read and take would otherwise let this request take a new lease
// and read the database again for an entry that is already there.
//
//	KEYS[1] the user's entry, KEYS[2] its lease
//	ARGV[1] the lease token, ARGV[2] the lease's lifetime in ms
//
// Returns {entry} when the entry is there, {1} when the lease is now the
// caller's, {0} when another request holds it.
var takeLeaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
	return {v}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return {1}
end
return {0}
`)

// fillLeasedScript sets the user's entry only if the caller's lease is still
// the current one, and ends the lease. Checking and setting in one script
// makes them one step: no write can delete the lease between them.
//
//	KEYS[1] the user's entry, KEYS[2] its lease
//	ARGV[1] the lease token, ARGV[2] the user's JSON, ARGV[3] the TTL in ms
//
// Returns 1 when filled, 0 when the lease was lost (a write deleted it, or
// it expired and another request took it).
var fillLeasedScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
	return 0
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// releaseLeaseScript ends the caller's lease if it is still the current
// one (after a failed or empty load), so that waiters stop waiting.
var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// fill stores the user read from the database (guards none and coalesce).
func (c *CachedStore) fill(ctx context.Context, u User) {
	c.fp.pauseFill(ctx) // the slow-fill failpoint: a pause between the read and the store
	b, err := json.Marshal(u)
	if err != nil {
		c.observe(ctx, "fill", fmt.Errorf("encode user %s: %w", u.ID, err))
		return
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	err = c.rdb.Set(cctx, CacheKeyPrefix+u.ID, b, c.ttl).Err()
	c.observe(ctx, "fill", redisError(cctx, "SET", c.addr, err))
	if err == nil {
		c.stats.fills.Add(1)
	}
}

// fillLeased stores the user if the lease token is still the user's lease.
func (c *CachedStore) fillLeased(ctx context.Context, u User, token string) {
	c.fp.pauseFill(ctx) // the slow-fill failpoint
	b, err := json.Marshal(u)
	if err != nil {
		c.observe(ctx, "fill", fmt.Errorf("encode user %s: %w", u.ID, err))
		c.releaseLease(ctx, u.ID, token)
		return
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	n, err := fillLeasedScript.Run(cctx, c.rdb, []string{CacheKeyPrefix + u.ID, CacheLeasePrefix + u.ID},
		token, b, c.ttl.Milliseconds()).Int()
	c.observe(ctx, "fill", redisError(cctx, "EVALSHA fill", c.addr, err))
	switch {
	case err != nil:
	case n == 1:
		c.stats.fills.Add(1)
	default:
		c.stats.fillsSuppressed.Add(1)
	}
}

// releaseLease ends the lease if it is still token's. It runs even when
// the request has ended, so that waiters need not wait out leaseWait.
func (c *CachedStore) releaseLease(ctx context.Context, id, token string) {
	cctx, cancel := c.detachedCtx(ctx)
	defer cancel()
	err := releaseLeaseScript.Run(cctx, c.rdb, []string{CacheLeasePrefix + id}, token).Err()
	c.observe(ctx, "lease", redisError(cctx, "EVALSHA release", c.addr, err))
}

// Create implements Store: the database, then the invalidation.
func (c *CachedStore) Create(ctx context.Context, u User) (User, error) {
	got, err := c.db.Create(ctx, u)
	c.afterWrite(ctx, u.ID, got, err)
	return got, err
}

// Put implements Store: the database, then the invalidation.
func (c *CachedStore) Put(ctx context.Context, u User) (User, error) {
	got, err := c.db.Put(ctx, u)
	c.afterWrite(ctx, u.ID, got, err)
	return got, err
}

// afterWrite invalidates the user's entry after a write (see Invalidation).
func (c *CachedStore) afterWrite(ctx context.Context, id string, stored User, err error) {
	if c.guard == CacheGuardCoalesce && (err == nil || !errors.Is(err, ErrExists) && !writeNotApplied(err)) {
		// A read of this user in flight may have started before the write:
		// later reads must not join it and get the old value after the
		// write was acknowledged. (Its fill can still put the old value
		// back: the read-miss/write race, which only the lease closes.)
		c.group.Forget(id)
	}
	switch {
	case c.inval == CacheInvalidateNone:
	case err == nil && c.inval == CacheInvalidateUpdate:
		c.invalidate(ctx, id, &stored)
	case err == nil:
		c.invalidate(ctx, id, nil)
	case errors.Is(err, ErrExists) || writeNotApplied(err):
		// Nothing was written.
	default:
		// The write may have been applied, with a value nobody knows:
		// drop the entry whatever the mode.
		c.invalidate(ctx, id, nil)
	}
}

// invalidate deletes the user's entry (stored nil) or sets it to stored.
// With the lease guard the lease goes too, in the same step, so that a
// fill of a value read before this write is dropped. It runs even when the
// request has ended (the write is in the database either way).
func (c *CachedStore) invalidate(ctx context.Context, id string, stored *User) {
	keys := []string{CacheKeyPrefix + id}
	if c.guard == CacheGuardLease {
		keys = append(keys, CacheLeasePrefix+id)
	}
	var b []byte
	if stored != nil {
		var merr error
		if b, merr = json.Marshal(stored); merr != nil {
			c.observe(ctx, "invalidate", fmt.Errorf("encode user %s: %w", id, merr))
			return
		}
	}
	// An invalidation that fails leaves the old value cached until its TTL,
	// so it gets more than one try: a stall of a few hundred milliseconds (a
	// GC pause, a busy machine) must not make a stale value. Each attempt
	// is bounded by the cache timeout, so a dead or slow cache costs a write
	// at most invalidateAttempts x cache timeout. DEL and SET are idempotent.
	for attempt := 1; attempt <= invalidateAttempts; attempt++ {
		err := c.invalidateOnce(ctx, keys, b)
		if err == nil {
			c.stats.invalidations.Add(1)
			c.observe(ctx, "invalidate", nil)
			return
		}
		// Without a cache timeout the attempts are bounded by the request
		// alone: once it is over there is nothing left to try with.
		if attempt == invalidateAttempts || (ctx.Err() != nil && c.timeout == 0) {
			c.observe(ctx, "invalidate", err)
			return
		}
		c.mon.Retried("invalidate")
	}
}

// invalidateAttempts is how many times a write tries its invalidation.
const invalidateAttempts = 3

// invalidateOnce deletes the user's entry (and lease), or sets the stored
// value (b, invalidation update), in one cache call.
func (c *CachedStore) invalidateOnce(ctx context.Context, keys []string, b []byte) error {
	cctx, cancel := c.detachedCtx(ctx)
	defer cancel()
	var err error
	cmd := "DEL"
	switch {
	case b == nil:
		err = c.rdb.Del(cctx, keys...).Err()
	case len(keys) == 1:
		cmd = "SET"
		err = c.rdb.Set(cctx, keys[0], b, c.ttl).Err()
	default:
		// MULTI/EXEC: the lease and the new value in one step.
		cmd = "MULTI DEL SET"
		_, err = c.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
			p.Del(cctx, keys[1])
			p.Set(cctx, keys[0], b, c.ttl)
			return nil
		})
	}
	return redisError(cctx, cmd, c.addr, err)
}

// callCtx bounds one cache call: the cache timeout, within the request.
func (c *CachedStore) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// detachedCtx bounds a cache call that must happen even if the request
// ends first (an invalidation after the database write, a lease release).
// Without a cache timeout it cannot be detached (nothing would bound it),
// so it stays within the request.
func (c *CachedStore) detachedCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	}
	return context.WithCancel(ctx)
}

// loadCtx bounds a database read shared by several requests.
func (c *CachedStore) loadCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.load > 0 {
		return context.WithTimeout(context.WithoutCancel(ctx), c.load)
	}
	return context.WithCancel(context.WithoutCancel(ctx))
}

// observe counts a cache call's result; err nil is a success. A failure
// after the request's client went away says nothing about the cache.
func (c *CachedStore) observe(ctx context.Context, op string, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	if err != nil {
		c.countError(err)
		err = Unavailable(err, true) // for the monitor: the cache is down
	}
	c.mon.Observe(op, err)
}

func (c *CachedStore) countError(err error) {
	c.stats.errors.Add(1)
	if isTimeout(err) {
		c.stats.timeouts.Add(1)
	}
}

// CacheStatus is GET /cache: the cache's settings and counters (every
// counter only grows).
type CacheStatus struct {
	Addr         string `json:"addr"`
	TTLMS        int64  `json:"ttl_ms"`
	TimeoutMS    int64  `json:"timeout_ms"` // 0: no timeout
	Invalidation string `json:"invalidation"`
	Guard        string `json:"guard"`
	// Up: the last cache call succeeded.
	Up bool `json:"up"`
	// Hits and Misses count the lookups the cache answered (each Get makes
	// one; a lookup that failed counts in Errors instead).
	Hits   int64 `json:"hits"`
	Misses int64 `json:"misses"`
	// Errors counts failed cache calls of every kind (lookups, fills,
	// invalidations, leases), Timeouts those of them a deadline ended.
	Errors   int64 `json:"errors"`
	Timeouts int64 `json:"timeouts"`
	// Fills: entries stored after a database read. FillsSuppressed: fills
	// dropped because a write took the lease meanwhile (lease guard).
	Fills           int64 `json:"fills"`
	FillsSuppressed int64 `json:"fills_suppressed"`
	// Invalidations: entries deleted or updated after writes.
	Invalidations int64 `json:"invalidations"`
	// DBReads: database reads made by Get (misses, failed lookups, lease
	// fallbacks); Coalesced: Gets that shared another's database read.
	DBReads   int64 `json:"db_reads"`
	Coalesced int64 `json:"coalesced"`
	// LeaseWaits: Gets that found the lease taken and waited for the
	// holder's fill; LeaseFallbacks: those that then read the database.
	LeaseWaits     int64 `json:"lease_waits"`
	LeaseFallbacks int64 `json:"lease_fallbacks"`
	// Stats are the tier's numbers (the same whichever server answers);
	// Status leaves them empty, GET /cache reads them.
	Stats TierStats `json:"stats"`
}

// TierStats is the part of GET /cache that does not depend on the server
// that answers: the cache Redis's own statistics (INFO stats) and the
// database's (pg_stat_database). Every web server reads the same Redis and
// the same database, so a monitor polling GET /cache through a load
// balancer gets one consistent series whichever server answers, where the
// counters above are each server's own.
//
// Every number is a counter of its server, which starts again from 0 when
// that server restarts (a cache keeps nothing on disk). A number its server
// did not give (it did not answer in time, or has no such statistic) is left
// out; RedisError and DBError then say why, when the call failed.
type TierStats struct {
	// RedisKeyspaceHits and RedisKeyspaceMisses count Redis's key lookups
	// that found a key and that did not: every read of a key, the lease
	// guard's reads of its lease keys included, not only mysite's lookups
	// of users. RedisEvictedKeys counts keys Redis dropped at its maxmemory.
	RedisKeyspaceHits   *int64 `json:"redis_keyspace_hits,omitempty"`
	RedisKeyspaceMisses *int64 `json:"redis_keyspace_misses,omitempty"`
	RedisEvictedKeys    *int64 `json:"redis_evicted_keys,omitempty"`
	RedisError          string `json:"redis_error,omitempty"`
	// DBTransactions counts the transactions the database committed or
	// rolled back, of every client (TransactionCounter); absent when the
	// cache's database store cannot count them.
	DBTransactions *int64 `json:"db_transactions,omitempty"`
	DBError        string `json:"db_error,omitempty"`
}

// RedisStats are the counters of the cache Redis's INFO stats that GET
// /cache reports; nil when Redis did not report one.
type RedisStats struct {
	KeyspaceHits, KeyspaceMisses, EvictedKeys *int64
}

// statusTimeout bounds each statistics call of GET /cache when the cache
// (or database) timeout does not, or allows longer: a status read must
// answer promptly, since a monitor polling it several times a second gives
// up on it within about a second, and an answer without the slow part is
// worth more to it than none.
const statusTimeout = 500 * time.Millisecond

// statusBound is the bound of one statistics call: timeout, or
// statusTimeout when timeout is 0 (none) or longer.
func statusBound(timeout time.Duration) time.Duration {
	if timeout <= 0 || timeout > statusTimeout {
		return statusTimeout
	}
	return timeout
}

// RedisStats reads the cache Redis's own counters (INFO stats), bounded
// by the cache timeout (statusBound). It is not a cache call of a request:
// it counts in neither the errors nor the up/down state.
func (c *CachedStore) RedisStats(ctx context.Context) (RedisStats, error) {
	ctx, cancel := context.WithTimeout(ctx, statusBound(c.timeout))
	defer cancel()
	info, err := c.rdb.Info(ctx, "stats").Result()
	if err != nil {
		return RedisStats{}, redisError(ctx, "INFO stats", c.addr, err)
	}
	return parseRedisStats(info), nil
}

// parseRedisStats reads the counters RedisStats keeps from INFO's text:
// "name:value" lines, "# Section" headers, CRLF line ends.
func parseRedisStats(info string) RedisStats {
	var st RedisStats
	for line := range strings.Lines(info) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "keyspace_hits":
			st.KeyspaceHits = &n
		case "keyspace_misses":
			st.KeyspaceMisses = &n
		case "evicted_keys":
			st.EvictedKeys = &n
		}
	}
	return st
}

// dbCounter is the cache's database store as a TransactionCounter; ok is
// false when it cannot count transactions (e.g. a write-behind or a test's
// store).
func (c *CachedStore) dbCounter() (TransactionCounter, bool) {
	tc, ok := c.db.(TransactionCounter)
	return tc, ok
}

// Status is a snapshot of the settings and counters.
func (c *CachedStore) Status() CacheStatus {
	s := &c.stats
	return CacheStatus{
		Addr: c.addr, TTLMS: c.ttl.Milliseconds(), TimeoutMS: c.timeout.Milliseconds(),
		Invalidation: c.inval, Guard: c.guard, Up: c.mon.Up(),
		Hits: s.hits.Load(), Misses: s.misses.Load(), Errors: s.errors.Load(), Timeouts: s.timeouts.Load(),
		Fills: s.fills.Load(), FillsSuppressed: s.fillsSuppressed.Load(), Invalidations: s.invalidations.Load(),
		DBReads: s.dbReads.Load(), Coalesced: s.coalesced.Load(),
		LeaseWaits: s.leaseWaits.Load(), LeaseFallbacks: s.leaseMisses.Load(),
	}
}

// CacheHeader is the header of a GET /users/{id} answer that says how the
// cache answered its lookup: "hit" (the user came from the cache), "miss"
// (not there: this request read it from the database), "shared" (not
// there: another request's database read answered it, a coalesced read or
// a lease holder's fill) or "error" (the lookup failed or timed out: from
// the database). Absent without a cache. The lab's client
// records it, so that the share of reads the cache served is measured per
// request, on the client's clock.
const CacheHeader = "Mysite-Cache"

var cacheAnswers = [...]string{lookupHit: "hit", lookupMiss: "miss", lookupFailed: "error", lookupShared: "shared"}

// cacheAnswer carries a lookup's answer from the store back to the handler
// (callNote).
type cacheAnswer = callNote[cacheLookup]

// cacheLookup names the cache's answer among a request's notes.
type cacheLookup struct{}

func withCacheAnswer(ctx context.Context, a *cacheAnswer) context.Context { return withNote(ctx, a) }

func noteCacheAnswer(ctx context.Context, res lookup) { note[cacheLookup](ctx, &cacheAnswers[res]) }
