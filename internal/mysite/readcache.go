package mysite

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ReadCache keeps the users this server read in its own memory for a short
// TTL (-read-cache-ttl): a celebrity read a thousand times a second costs
// its database one read per TTL instead of a thousand (stage 11's fix for
// a hot key). A user not found is kept too: a flood of reads of an id that
// does not exist yet would otherwise reach the database every time.
//
// It is correct for one web server only: this server's writes drop the
// entry before they are acknowledged, another server's would not. A read
// that started before a write's drop must not put its older value back
// (a fill racing an invalidation): every drop bumps the key's generation,
// and a fill is kept only when the generation it started with is current.
//
// When an entry expires, the reads of the key that miss at once share one
// read of the store (a single flight per key and generation): a celebrity
// read 300 times a second would otherwise send every read of the few
// milliseconds the store takes to answer, each waiting for one of the
// shard's few connections, at every expiry. A read that starts after a
// write dropped the entry joins no flight from before the write: it would
// return the value the write replaced.
type ReadCache struct {
	Store
	ttl     time.Duration
	now     func() time.Time
	flights singleflight.Group

	// Neither map shrinks: an expired entry stays until its key is read or
	// written again, and every key written keeps its generation. A lab
	// run's few thousand users fit; a real site would evict.
	mu      sync.Mutex
	entries map[string]cacheEntry
	gens    map[string]uint64
}

type cacheEntry struct {
	user    User
	missing bool // ErrNotFound
	until   time.Time
}

// NewReadCache caches store's reads for ttl (> 0).
func NewReadCache(store Store, ttl time.Duration) *ReadCache {
	return &ReadCache{Store: store, ttl: ttl, now: time.Now, entries: map[string]cacheEntry{}, gens: map[string]uint64{}}
}

// Get answers from memory while the entry is fresh, else from the store.
func (c *ReadCache) Get(ctx context.Context, id string) (User, error) {
	c.mu.Lock()
	e, ok := c.entries[id]
	gen := c.gens[id]
	c.mu.Unlock()
	if ok && c.now().Before(e.until) {
		if e.missing {
			return User{}, ErrNotFound
		}
		return e.user, nil
	}
	type answer struct {
		u   User
		err error
	}
	// The flight runs on the context of the read that started it: if that
	// read gives up, its waiters get its error (they may try again).
	v, _, _ := c.flights.Do(id+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		u, err := c.Store.Get(ctx, id)
		if err == nil || errors.Is(err, ErrNotFound) {
			c.mu.Lock()
			if c.gens[id] == gen {
				c.entries[id] = cacheEntry{user: u, missing: err != nil, until: c.now().Add(c.ttl)}
			}
			c.mu.Unlock()
		}
		return answer{u, err}, nil
	})
	a := v.(answer)
	return a.u, a.err
}

// Create drops the cached entry once the store answered, whatever it
// answered (a write whose outcome is unknown may have happened).
func (c *ReadCache) Create(ctx context.Context, u User) (User, error) {
	defer c.drop(u.ID)
	return c.Store.Create(ctx, u)
}

// Put: as Create.
func (c *ReadCache) Put(ctx context.Context, u User) (User, error) {
	defer c.drop(u.ID)
	return c.Store.Put(ctx, u)
}

func (c *ReadCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	c.gens[id]++
}

// ShardOf passes the question to the cached store (the Mysite-Shard header
// of an answer from memory names the shard that serves the user now).
func (c *ReadCache) ShardOf(id string) string {
	if n, ok := c.Store.(ShardNamer); ok {
		return n.ShardOf(id)
	}
	return ""
}

// Unwrap is the cached store (the admin endpoints find the sharded store
// through it).
func (c *ReadCache) Unwrap() Store { return c.Store }

// shardedStore is the sharded store behind store, through any ReadCache.
func shardedStore(store Store) (*ShardedStore, bool) {
	for {
		switch s := store.(type) {
		case *ShardedStore:
			return s, true
		case interface{ Unwrap() Store }:
			store = s.Unwrap()
		default:
			return nil, false
		}
	}
}
