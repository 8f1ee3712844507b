package mysite

// Cache tests against a real redis-server and a real PostgreSQL: containers
// of the project's node image started by TestMain (testdb_test.go), or
// REDIS_TEST_ADDR's host:port and MYSITE_TEST_DB's DSN when set. Keys are
// this test's own (user ids carry the pid) and deleted afterwards.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scalelab/scalelab/internal/testdb"
)

// pgGate pauses one database read after it read its value (the
// read-miss/write race, made to happen against the real servers).
type pgGate struct {
	Store
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (g *pgGate) Get(ctx context.Context, id string) (User, error) {
	u, err := g.Store.Get(ctx, id)
	if g.armed.CompareAndSwap(true, false) {
		g.read <- struct{}{}
		<-g.release
	}
	return u, err
}

func TestRealCache(t *testing.T) {
	redisAddr := testdb.Redis.Addr(t)
	dsn := integrationDSN(t, "")
	_, pg := startPG(t, dsn, 2*time.Second, true)
	inspect := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = inspect.Close() })
	ctx := context.Background()

	for _, guard := range []string{CacheGuardNone, CacheGuardCoalesce, CacheGuardLease} {
		t.Run(guard, func(t *testing.T) {
			id := fmt.Sprintf("it-cache-%d-%s", os.Getpid(), guard)
			key := CacheKeyPrefix + id
			t.Cleanup(func() { inspect.Del(context.Background(), key, CacheLeasePrefix+id) })
			const ttl = time.Second
			gate := &pgGate{Store: pg, read: make(chan struct{}), release: make(chan struct{})}
			c := newTestCache(t, gate, redisAddr, CacheOptions{TTL: ttl, Timeout: 500 * time.Millisecond, Guard: guard, LoadTimeout: 2 * time.Second})
			srv := NewServer(Options{Store: c, DBTimeout: 2 * time.Second})

			if r := do(t, srv, "PUT", "/users/"+id, `{"firstName": "a"}`); r.code != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.code, r.body)
			}
			if u := decodeUserBody(t, do(t, srv, "GET", "/users/"+id, "")); u.Version != 1 {
				t.Fatalf("first GET %+v", u)
			}
			if pttl, err := inspect.PTTL(ctx, key).Result(); err != nil || pttl <= 0 || pttl > ttl {
				t.Fatalf("entry PTTL %v %v, want up to %v", pttl, err, ttl)
			}
			if n, _ := inspect.Exists(ctx, CacheLeasePrefix+id).Result(); n != 0 {
				t.Error("the lease outlived the fill")
			}

			// Behind the cache's back: the entry serves the old row until
			// its TTL ends.
			if _, err := adminConn(t, dsn).Exec(ctx, "UPDATE users SET first_name = 'z' WHERE id = $1", id); err != nil {
				t.Fatal(err)
			}
			if u := decodeUserBody(t, do(t, srv, "GET", "/users/"+id, "")); u.FirstName != "a" {
				t.Errorf("hit: %+v", u)
			}
			time.Sleep(ttl + 100*time.Millisecond)
			if u := decodeUserBody(t, do(t, srv, "GET", "/users/"+id, "")); u.FirstName != "z" {
				t.Errorf("after the TTL: %+v", u)
			}

			// A write through mysite deletes the entry.
			if r := do(t, srv, "PUT", "/users/"+id, `{"firstName": "b"}`); r.code != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.code, r.body)
			}
			if n, _ := inspect.Exists(ctx, key).Result(); n != 0 {
				t.Error("entry kept after the write")
			}
			if u := decodeUserBody(t, do(t, srv, "GET", "/users/"+id, "")); u.Version != 2 || u.FirstName != "b" {
				t.Errorf("after the write: %+v", u)
			}

			// The read-miss/write race on the real servers: only the lease
			// keeps the value read before the write out of the cache.
			inspect.Del(ctx, key)
			gate.armed.Store(true)
			done := make(chan struct{})
			go func() {
				defer close(done)
				do(t, srv, "GET", "/users/"+id, "")
			}()
			<-gate.read
			if r := do(t, srv, "PUT", "/users/"+id, `{"firstName": "c"}`); r.code != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.code, r.body)
			}
			close(gate.release)
			<-done
			v, err := inspect.Get(ctx, key).Result()
			stale := err == nil && decodeCachedVersion(t, id, v) == 2
			if want := guard != CacheGuardLease; stale != want {
				t.Errorf("entry after the race %q (%v): stale %v, want %v", v, err, stale, want)
			}
			st := c.Status()
			if st.Errors != 0 || st.Timeouts != 0 || !st.Up {
				t.Errorf("status %+v", st)
			}
			t.Logf("%s: %+v", guard, st)
		})
	}
}

func decodeCachedVersion(t *testing.T, id, v string) int64 {
	t.Helper()
	u, err := decodeCached(id, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	return u.Version
}

// GET /cache's stats on the real servers: Redis's INFO counts the lookups
// of a miss and a hit, and pg_stat_database the transactions. Redis and the
// database are shared with other tests: the counters only have to grow.
func TestRealCacheTierStats(t *testing.T) {
	redisAddr := testdb.Redis.Addr(t)
	_, pg := startPG(t, integrationDSN(t, ""), 2*time.Second, true)
	c := newTestCache(t, pg, redisAddr, CacheOptions{Timeout: 500 * time.Millisecond, Guard: CacheGuardNone})
	srv := NewServer(Options{Store: c, DBTimeout: 2 * time.Second})
	id := fmt.Sprintf("it-stats-%d", os.Getpid())
	inspect := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() {
		inspect.Del(context.Background(), CacheKeyPrefix+id)
		_ = inspect.Close()
	})

	count := func(st map[string]any, name string) float64 {
		t.Helper()
		v, ok := st[name].(float64)
		if !ok {
			t.Fatalf("stats lack %s: %v", name, st)
		}
		return v
	}
	before := stats(t, srv)
	if r := do(t, srv, "PUT", "/users/"+id, `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	do(t, srv, "GET", "/users/"+id, "") // miss, database read, fill
	do(t, srv, "GET", "/users/"+id, "") // hit
	after := stats(t, srv)
	if count(after, "redis_keyspace_hits") < count(before, "redis_keyspace_hits")+1 ||
		count(after, "redis_keyspace_misses") < count(before, "redis_keyspace_misses")+1 {
		t.Errorf("Redis's counters did not count the lookups: before %v, after %v", before, after)
	}
	count(after, "redis_evicted_keys")

	// PostgreSQL publishes a connection's counts at most once a second, an
	// idle one's within 10 s: the write and the read show up by then.
	deadline := time.Now().Add(15 * time.Second)
	for count(after, "db_transactions") < count(before, "db_transactions")+2 {
		if time.Now().After(deadline) {
			t.Fatalf("db_transactions did not grow by the write and the read: before %v, after %v", before, after)
		}
		time.Sleep(250 * time.Millisecond)
		after = stats(t, srv)
	}
}
