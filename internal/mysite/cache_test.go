package mysite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// countingStore counts the database reads (Get) that reach the store.
type countingStore struct {
	*memStore
	gets atomic.Int32
}

func newCountingStore() *countingStore { return &countingStore{memStore: newMemStore()} }

func (s *countingStore) Get(ctx context.Context, id string) (User, error) {
	s.gets.Add(1)
	return s.memStore.Get(ctx, id)
}

// seed stores a user in the database behind the cache's back.
func (s *countingStore) seed(id, first string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = User{ID: id, FirstName: first, PhoneNumbers: []PhoneNumber{}, Version: version}
}

func newTestCache(t *testing.T, db Store, addr string, opt CacheOptions) *CachedStore {
	t.Helper()
	c := NewCachedStore(db, addr, opt)
	t.Cleanup(c.Close)
	return c
}

// cached reads the user's entry straight from the fake Redis.
func cached(t *testing.T, m *miniredis.Miniredis, id string) (User, bool) {
	t.Helper()
	if !m.Exists(CacheKeyPrefix + id) {
		return User{}, false
	}
	v, err := m.Get(CacheKeyPrefix + id)
	if err != nil {
		t.Fatalf("read cached %s: %v", id, err)
	}
	var u User
	if err := json.Unmarshal([]byte(v), &u); err != nil {
		t.Fatalf("cached %s is not a user: %q", id, v)
	}
	return u, true
}

func mustGet(t *testing.T, c *CachedStore, id string) User {
	t.Helper()
	u, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return u
}

var allGuards = []string{CacheGuardNone, CacheGuardCoalesce, CacheGuardLease}

// A miss reads the database and fills the entry with the TTL; the next
// read is a hit. Users that do not exist are not cached.
func TestCacheHitMissFill(t *testing.T) {
	for _, guard := range allGuards {
		t.Run(guard, func(t *testing.T) {
			m := startFakeRedis(t)
			db := newCountingStore()
			db.seed("42", "a", 3)
			c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: guard})

			if u := mustGet(t, c, "42"); u.FirstName != "a" || u.Version != 3 {
				t.Fatalf("first read %+v", u)
			}
			if u, ok := cached(t, m, "42"); !ok || u.Version != 3 || u.FirstName != "a" {
				t.Fatalf("not filled: %+v %v", u, ok)
			}
			if ttl := m.TTL(CacheKeyPrefix + "42"); ttl != time.Minute {
				t.Errorf("TTL %v, want 1m", ttl)
			}
			if m.Exists(CacheLeasePrefix + "42") {
				t.Error("the lease outlived the fill")
			}
			if u := mustGet(t, c, "42"); u.Version != 3 || u.PhoneNumbers == nil {
				t.Fatalf("hit %+v", u)
			}
			if n := db.gets.Load(); n != 1 {
				t.Errorf("%d database reads, want 1 (the second read is a hit)", n)
			}

			for range 2 {
				if _, err := c.Get(context.Background(), "nobody"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("missing user: %v", err)
				}
			}
			if m.Exists(CacheKeyPrefix+"nobody") || m.Exists(CacheLeasePrefix+"nobody") {
				t.Error("a missing user left keys in the cache")
			}
			st := c.Status()
			if st.Hits != 1 || st.Misses != 3 || st.Fills != 1 || st.DBReads != 3 || st.Errors != 0 || !st.Up {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestCacheTTLExpiry(t *testing.T) {
	m := startFakeRedis(t)
	db := newCountingStore()
	db.seed("42", "a", 1)
	c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: 10 * time.Second, Timeout: time.Second})
	mustGet(t, c, "42")
	db.seed("42", "b", 2) // behind the cache's back: only the TTL ends the old entry
	m.FastForward(9 * time.Second)
	if u := mustGet(t, c, "42"); u.Version != 1 {
		t.Fatalf("before the TTL: %+v", u)
	}
	m.FastForward(time.Second)
	if _, ok := cached(t, m, "42"); ok {
		t.Fatal("entry outlived its TTL")
	}
	if u := mustGet(t, c, "42"); u.Version != 2 {
		t.Fatalf("after the TTL: %+v", u)
	}
	if n := db.gets.Load(); n != 2 {
		t.Errorf("%d database reads, want 2", n)
	}
}

func TestCacheInvalidation(t *testing.T) {
	ctx := context.Background()
	for _, guard := range []string{CacheGuardCoalesce, CacheGuardLease} {
		for _, mode := range []string{CacheInvalidateDelete, CacheInvalidateUpdate, CacheInvalidateNone} {
			t.Run(guard+"/"+mode, func(t *testing.T) {
				m := startFakeRedis(t)
				db := newCountingStore()
				db.seed("42", "a", 1)
				c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Invalidation: mode, Guard: guard})
				mustGet(t, c, "42")

				if _, err := c.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil {
					t.Fatal(err)
				}
				entry, ok := cached(t, m, "42")
				switch mode {
				case CacheInvalidateDelete:
					if ok {
						t.Errorf("entry kept after the write: %+v", entry)
					}
				case CacheInvalidateUpdate:
					if !ok || entry.Version != 2 || entry.FirstName != "b" {
						t.Errorf("entry after the write: %+v %v", entry, ok)
					}
					if ttl := m.TTL(CacheKeyPrefix + "42"); ttl != time.Minute {
						t.Errorf("TTL of the updated entry %v", ttl)
					}
				case CacheInvalidateNone:
					if !ok || entry.Version != 1 {
						t.Errorf("entry after the write: %+v %v", entry, ok)
					}
				}
				want := int64(2)
				if mode == CacheInvalidateNone {
					want = 1 // stale until the TTL: the negative control
				}
				if u := mustGet(t, c, "42"); u.Version != want {
					t.Errorf("read after the write: version %d, want %d", u.Version, want)
				}

				// Create: a new user is invalidated the same way; a refused
				// create touches nothing.
				if _, err := c.Create(ctx, User{ID: "43", FirstName: "c"}); err != nil {
					t.Fatal(err)
				}
				if e, ok := cached(t, m, "43"); ok != (mode == CacheInvalidateUpdate) || ok && e.Version != 1 {
					t.Errorf("entry after create: %+v %v", e, ok)
				}
				before, _ := m.Get(CacheKeyPrefix + "42")
				if _, err := c.Create(ctx, User{ID: "42", FirstName: "x"}); !errors.Is(err, ErrExists) {
					t.Fatalf("create of a taken id: %v", err)
				}
				if after, _ := m.Get(CacheKeyPrefix + "42"); after != before {
					t.Errorf("a refused create changed the entry: %q -> %q", before, after)
				}
				if st := c.Status(); mode != CacheInvalidateNone && st.Invalidations != 2 || mode == CacheInvalidateNone && st.Invalidations != 0 {
					t.Errorf("invalidations %d", st.Invalidations)
				}
			})
		}
	}
}

// A write that failed after it may have reached the database drops the
// entry (in update mode too: the stored value is unknown); a write known
// not to have happened leaves it.
func TestCacheWriteOfUnknownOutcome(t *testing.T) {
	ctx := context.Background()
	m := startFakeRedis(t)
	db := newCountingStore()
	db.seed("42", "a", 1)
	c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Invalidation: CacheInvalidateUpdate})
	mustGet(t, c, "42")

	db.setFail(Unavailable(errors.New("connection refused"), true))
	if _, err := c.Put(ctx, User{ID: "42", FirstName: "b"}); err == nil {
		t.Fatal("put did not fail")
	}
	if _, ok := cached(t, m, "42"); !ok {
		t.Fatal("a write that did not happen dropped the entry")
	}
	db.setFail(Unavailable(errors.New("no answer within 2s"), false))
	if _, err := c.Put(ctx, User{ID: "42", FirstName: "b"}); err == nil {
		t.Fatal("put did not fail")
	}
	if _, ok := cached(t, m, "42"); ok {
		t.Fatal("a write of unknown outcome left the entry")
	}
}

// concurrentGets runs n Gets of id at once and returns the versions read.
func concurrentGets(t *testing.T, c *CachedStore, id string, n int) []int64 {
	t.Helper()
	versions := make([]int64, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			u, err := c.Get(context.Background(), id)
			if err != nil {
				t.Errorf("Get %d: %v", i, err)
			}
			versions[i] = u.Version
		})
	}
	close(start)
	wg.Wait()
	return versions
}

// A stampede: many concurrent misses of one key. Without a guard each
// reads the database; coalesced they share one read in this process; with
// a lease one request loads and the others wait for its fill.
func TestCacheStampede(t *testing.T) {
	const n = 20
	for _, c := range []struct {
		guard   string
		dbReads int32
	}{{CacheGuardNone, n}, {CacheGuardCoalesce, 1}, {CacheGuardLease, 1}} {
		t.Run(c.guard, func(t *testing.T) {
			m := startFakeRedis(t)
			db := newCountingStore()
			db.seed("hot", "a", 7)
			db.setDelay(80*time.Millisecond, false) // every miss arrives while the first read runs
			cs := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: c.guard, LoadTimeout: time.Second})
			for i, v := range concurrentGets(t, cs, "hot", n) {
				if v != 7 {
					t.Errorf("Get %d read version %d", i, v)
				}
			}
			if got := db.gets.Load(); got != c.dbReads {
				t.Errorf("%d database reads, want %d", got, c.dbReads)
			}
			st := cs.Status()
			switch c.guard {
			case CacheGuardCoalesce:
				if st.Coalesced != n-1 {
					t.Errorf("coalesced %d, want %d", st.Coalesced, n-1)
				}
			case CacheGuardLease:
				if st.LeaseWaits != n-1 || st.LeaseFallbacks != 0 {
					t.Errorf("lease waits %d, fallbacks %d; want %d, 0", st.LeaseWaits, st.LeaseFallbacks, n-1)
				}
			}
			if st.Fills < 1 || st.Misses != n {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// A lease holder that does not fill (it died, or is slower than leaseWait):
// waiters give up after leaseWait and read the database themselves.
func TestCacheLeaseWaitIsBounded(t *testing.T) {
	m := startFakeRedis(t)
	db := newCountingStore()
	db.seed("42", "a", 1)
	c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: CacheGuardLease, LoadTimeout: 5 * time.Second})
	if err := m.Set(CacheLeasePrefix+"42", "someone-else"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if u := mustGet(t, c, "42"); u.Version != 1 {
		t.Fatalf("%+v", u)
	}
	if d := time.Since(start); d < leaseWait || d > leaseWait+300*time.Millisecond {
		t.Errorf("answered after %v, want about %v", d, leaseWait)
	}
	if st := c.Status(); st.LeaseWaits != 1 || st.LeaseFallbacks != 1 || st.Fills != 0 {
		t.Errorf("status %+v", st)
	}
}

// gateStore pauses one database read after it read its value, until
// released: the read-miss/write race, made to happen.
type gateStore struct {
	*countingStore
	armed   atomic.Bool
	read    chan struct{} // the paused read has its value
	release chan struct{}
}

func (g *gateStore) Get(ctx context.Context, id string) (User, error) {
	u, err := g.countingStore.Get(ctx, id)
	if g.armed.CompareAndSwap(true, false) {
		g.read <- struct{}{}
		<-g.release
	}
	return u, err
}

// The read-miss/write race: a reader misses and reads version 1; a writer
// commits version 2 and invalidates; then the reader fills. Without a lease
// the reader's fill puts version 1 back, stale until the TTL ends; with a
// lease the write took the reader's lease and the fill is dropped.
func TestCacheReadMissWriteRace(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		guard     string
		wantStale bool
	}{{CacheGuardNone, true}, {CacheGuardCoalesce, true}, {CacheGuardLease, false}} {
		t.Run(c.guard, func(t *testing.T) {
			m := startFakeRedis(t)
			db := &gateStore{countingStore: newCountingStore(), read: make(chan struct{}), release: make(chan struct{})}
			db.seed("42", "a", 1)
			cs := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: c.guard, LoadTimeout: 5 * time.Second})

			db.armed.Store(true)
			readDone := make(chan User, 1)
			go func() {
				u, err := cs.Get(ctx, "42")
				if err != nil {
					t.Errorf("reader: %v", err)
				}
				readDone <- u
			}()
			<-db.read // the reader holds version 1
			if u, err := cs.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil || u.Version != 2 {
				t.Fatalf("writer: %+v %v", u, err)
			}
			close(db.release)
			if u := <-readDone; u.Version != 1 {
				t.Fatalf("reader read version %d, want 1 (it read before the write)", u.Version)
			}

			entry, ok := cached(t, m, "42")
			if stale := ok && entry.Version == 1; stale != c.wantStale {
				t.Errorf("entry after the race: %+v (present %v); want stale %v", entry, ok, c.wantStale)
			}
			want := int64(2)
			if c.wantStale {
				want = 1
			}
			if u := mustGet(t, cs, "42"); u.Version != want {
				t.Errorf("read after the race: version %d, want %d", u.Version, want)
			}
			if st := cs.Status(); !c.wantStale && st.FillsSuppressed != 1 {
				t.Errorf("fills suppressed %d, want 1", st.FillsSuppressed)
			}
		})
	}
}

// A write in the middle of a leased fill voids the lease: the holder's
// fill is dropped, and one of the requests waiting for it takes the lease
// again and reads the database, once for all of them (not once each). The
// waiters say so: their answer is "shared", another request's read.
func TestCacheLeaseVoidedByWriteIsTakenAgain(t *testing.T) {
	const waiters = 5
	ctx := context.Background()
	m := startFakeRedis(t)
	db := &gateStore{countingStore: newCountingStore(), read: make(chan struct{}), release: make(chan struct{})}
	db.seed("42", "a", 1)
	cs := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: CacheGuardLease, LoadTimeout: 5 * time.Second})

	db.armed.Store(true)
	holder := make(chan User, 1)
	go func() {
		u, err := cs.Get(ctx, "42")
		if err != nil {
			t.Errorf("holder: %v", err)
		}
		holder <- u
	}()
	<-db.read // the holder has its lease and version 1

	answers := make([]cacheAnswer, waiters)
	versions := make([]int64, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() {
			u, err := cs.Get(withCacheAnswer(ctx, &answers[i]), "42")
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
			versions[i] = u.Version
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for cs.Status().LeaseWaits < waiters {
		if time.Now().After(deadline) {
			t.Fatalf("waiters never waited: %+v", cs.Status())
		}
		time.Sleep(time.Millisecond)
	}
	if u, err := cs.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil || u.Version != 2 {
		t.Fatalf("writer: %+v %v", u, err)
	}
	close(db.release)
	if u := <-holder; u.Version != 1 {
		t.Errorf("holder read version %d, want 1 (it read before the write)", u.Version)
	}
	wg.Wait()

	for i, v := range versions {
		if v != 2 {
			t.Errorf("waiter %d read version %d, want 2 (its wait began before the write, its answer came after)", i, v)
		}
	}
	if got := db.gets.Load(); got != 2 {
		t.Errorf("%d database reads, want 2 (the holder's, and one after the write)", got)
	}
	shared := 0
	for i := range answers {
		if answers[i].String() == "shared" {
			shared++
		}
	}
	if shared != waiters-1 {
		t.Errorf("%d waiters answered \"shared\", want %d (one of them read the database)", shared, waiters-1)
	}
	if st := cs.Status(); st.FillsSuppressed != 1 || st.LeaseFallbacks != 0 {
		t.Errorf("status %+v: want 1 fill suppressed, no fallback", st)
	}
}

// Coalescing never makes a read that starts after a write acknowledged
// wait for, and share, a database read that started before it.
func TestCacheCoalesceDoesNotJoinOlderRead(t *testing.T) {
	ctx := context.Background()
	m := startFakeRedis(t)
	db := &gateStore{countingStore: newCountingStore(), read: make(chan struct{}), release: make(chan struct{})}
	db.seed("42", "a", 1)
	cs := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: time.Second, Guard: CacheGuardCoalesce, LoadTimeout: 5 * time.Second})
	db.armed.Store(true)
	first := make(chan User, 1)
	go func() {
		u, _ := cs.Get(ctx, "42")
		first <- u
	}()
	<-db.read // a read of version 1 is in flight
	if _, err := cs.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil {
		t.Fatal(err)
	}
	later := make(chan User, 1)
	go func() {
		u, _ := cs.Get(ctx, "42")
		later <- u
	}()
	select {
	case u := <-later:
		if u.Version != 2 {
			t.Errorf("read after the write: version %d, want 2", u.Version)
		}
	case <-time.After(2 * time.Second):
		t.Error("the read after the write joined the read in flight before it")
	}
	close(db.release)
	if u := <-first; u.Version != 1 {
		t.Errorf("first read: version %d", u.Version)
	}
}

// The cache down (nothing listens): reads and writes are served by the
// database at once, errors are counted, and the cache is used again once
// it is back.
func TestCacheDown(t *testing.T) {
	ctx := context.Background()
	for _, guard := range allGuards {
		t.Run(guard, func(t *testing.T) {
			m := startFakeRedis(t)
			db := newCountingStore()
			db.seed("42", "a", 1)
			const timeout = 100 * time.Millisecond
			c := newTestCache(t, db, m.Addr(), CacheOptions{TTL: time.Minute, Timeout: timeout, Guard: guard})
			mustGet(t, c, "42")
			m.Close()

			for i := range 5 {
				start := time.Now()
				if u := mustGet(t, c, "42"); u.Version != int64(1+i) {
					t.Fatalf("read %d with the cache down: %+v", i, u)
				}
				if u, err := c.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil || u.Version != int64(2+i) {
					t.Fatalf("write %d with the cache down: %+v %v", i, u, err)
				}
				if d := time.Since(start); d > timeout {
					t.Errorf("read and write took %v with the cache refusing connections", d)
				}
			}
			st := c.Status()
			if st.Errors < 10 || st.Up || st.Hits != 0 {
				t.Errorf("status %+v", st)
			}

			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
			m.FlushAll() // the writes' invalidations were lost: start clean
			waitFor(t, func() bool {
				_, _ = c.Get(ctx, "42")
				return c.Status().Up && c.Status().Hits > 0
			})
		})
	}
}

// The cache frozen (accepts, never answers): reads and writes are served
// by the database within the cache timeout. The invalidation that timed
// out is lost: the old value is served again once the cache answers, until
// its TTL ends.
func TestCacheHung(t *testing.T) {
	ctx := context.Background()
	m := startFakeRedis(t)
	proxy := startHangProxy(t, m.Addr())
	db := newCountingStore()
	db.seed("42", "a", 1)
	const timeout = 100 * time.Millisecond
	c := newTestCache(t, db, proxy.Addr, CacheOptions{TTL: time.Minute, Timeout: timeout, Guard: CacheGuardLease})
	mustGet(t, c, "42")
	proxy.Hang(true)

	start := time.Now()
	if u, err := c.Put(ctx, User{ID: "42", FirstName: "b"}); err != nil || u.Version != 2 {
		t.Fatalf("write with the cache hung: %+v %v", u, err)
	}
	// The write tries its invalidation invalidateAttempts times, each
	// bounded by the cache timeout.
	if d, want := time.Since(start), invalidateAttempts*timeout; d < want || d > want+150*time.Millisecond {
		t.Errorf("write took %v, want about %d x the cache timeout %v", d, invalidateAttempts, timeout)
	}
	start = time.Now()
	if u := mustGet(t, c, "42"); u.Version != 2 {
		t.Fatalf("read with the cache hung: %+v", u)
	}
	if d := time.Since(start); d < timeout || d > timeout+150*time.Millisecond {
		t.Errorf("read took %v, want about the cache timeout %v", d, timeout)
	}
	if st := c.Status(); st.Timeouts != 2 || st.Errors != 2 || st.Up {
		t.Errorf("status %+v", st)
	}

	proxy.Hang(false)
	if u := mustGet(t, c, "42"); u.Version != 1 {
		t.Errorf("after the outage: version %d, want the stale 1 (its invalidation was lost)", u.Version)
	}
	m.FastForward(time.Minute)
	if u := mustGet(t, c, "42"); u.Version != 2 {
		t.Errorf("after the TTL: version %d, want 2", u.Version)
	}
}

// The negative control: with no cache timeout a frozen cache holds every
// read until the DB timeout, which then fails it.
func TestCacheNoTimeoutStalls(t *testing.T) {
	m := startFakeRedis(t)
	proxy := startHangProxy(t, m.Addr())
	db := newCountingStore()
	db.seed("42", "a", 1)
	c := newTestCache(t, db, proxy.Addr, CacheOptions{TTL: time.Minute, Timeout: 0})
	const dbTimeout = 300 * time.Millisecond
	s := NewServer(Options{Store: c, DBTimeout: dbTimeout})
	proxy.Hang(true)
	start := time.Now()
	msg := errorOf(t, do(t, s, "GET", "/users/42", ""), http.StatusServiceUnavailable)
	if d := time.Since(start); msg != "database unavailable: no answer within 300ms" || d < dbTimeout || d > dbTimeout+200*time.Millisecond {
		t.Errorf("%q after %v", msg, d)
	}
}

// GET /cache and the metrics.
func TestCacheEndpointAndMetrics(t *testing.T) {
	m := startFakeRedis(t)
	c := newTestCache(t, newMemStore(), m.Addr(), CacheOptions{TTL: time.Minute, Timeout: 50 * time.Millisecond, Guard: CacheGuardLease})
	s := NewServer(Options{Store: c, DBTimeout: time.Second})
	if r := do(t, s, "PUT", "/users/42", `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Fatalf("PUT %d %s", r.code, r.body)
	}
	do(t, s, "GET", "/users/42", "") // miss, fill
	do(t, s, "GET", "/users/42", "") // hit
	wantJSON(t, do(t, s, "GET", "/cache", ""), http.StatusOK, fmt.Sprintf(`{"addr": %q, "ttl_ms": 60000, "timeout_ms": 50,
		"invalidation": "delete", "guard": "lease", "up": true,
		"hits": 1, "misses": 1, "errors": 0, "timeouts": 0, "fills": 1, "fills_suppressed": 0, "invalidations": 1,
		"db_reads": 1, "coalesced": 0, "lease_waits": 0, "lease_fallbacks": 0, "stats": {}}`, m.Addr()))
	body := do(t, s, "GET", "/metrics", "").body
	for _, want := range []string{
		"mysite_cache_hits_total 1", "mysite_cache_misses_total 1", "mysite_cache_fills_total 1",
		"mysite_cache_invalidations_total 1", "mysite_cache_db_reads_total 1", "mysite_cache_timeouts_total 0",
		"mysite_cache_up 1", "mysite_cache_lease_waits_total 0", "mysite_cache_coalesced_total 0",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	m.Close()
	do(t, s, "GET", "/users/42", "")
	body = do(t, s, "GET", "/metrics", "").body
	for _, want := range []string{`mysite_cache_errors_total{op="get"} 1`, "mysite_cache_up 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Without a cache: 404, and no cache metrics.
	plain := NewServer(Options{Store: newMemStore()})
	if msg := errorOf(t, do(t, plain, "GET", "/cache", ""), http.StatusNotFound); msg != "no cache configured (-cache)" {
		t.Errorf("%q", msg)
	}
	if strings.Contains(do(t, plain, "GET", "/metrics", "").body, "mysite_cache_") {
		t.Error("cache metrics without a cache")
	}
	if r := do(t, plain, "POST", "/cache", ""); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /cache: %d", r.code)
	}
}

// Run wires the configured cache: GET /cache reports its settings, and
// reads go through it (here the database is unreachable, so they fail
// after a cache miss).
func TestRunWithCache(t *testing.T) {
	m := startFakeRedis(t)
	cfg := Config{Listen: "127.0.0.1:0", DB: "postgres://u:p@127.0.0.1:1/x?sslmode=disable",
		DBTimeout: 500 * time.Millisecond, MaxConns: 2, ShutdownTimeout: time.Second,
		Cache: m.Addr(), CacheTTL: 5 * time.Second, CacheTimeout: 80 * time.Millisecond, CacheGuard: CacheGuardLease}
	base, logs, stop := startRun(t, cfg)
	if code, _ := getJSON(t, base+"/users/42"); code != http.StatusServiceUnavailable {
		t.Errorf("GET user: %d", code)
	}
	code, body := getJSON(t, base+"/cache")
	if code != 200 || body["guard"] != "lease" || body["invalidation"] != "delete" || body["ttl_ms"] != 5000.0 ||
		body["timeout_ms"] != 80.0 || body["misses"] != 1.0 || body["db_reads"] != 1.0 {
		t.Errorf("GET /cache: %d %v", code, body)
	}
	stop()
	for _, want := range []string{"msg=cache addr=" + m.Addr(), "guard=lease", "timeout=80ms"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
