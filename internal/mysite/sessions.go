package mysite

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session stores, selected by -sessions.
const (
	// SessionsMemory keeps sessions in this process's memory: a user stays
	// logged in only as long as every one of their requests reaches this
	// server (sticky sessions at the load balancer) and it keeps running.
	SessionsMemory = "memory"
	// SessionsRedis keeps sessions in a shared Redis: any server can serve
	// any user, and servers can come and go (the stateless web tier).
	SessionsRedis = "redis"
)

// SessionStore keeps login sessions: session id -> user id. Every method
// must return promptly once ctx is done (the server also stops waiting for
// it then). ErrNoSession is an answer; any other error means the store
// cannot serve now (the request gets 503).
type SessionStore interface {
	// Put stores a new session that expires after ttl.
	Put(ctx context.Context, id, user string, ttl time.Duration) error
	// Get returns the session's user, or ErrNoSession when the session does
	// not exist (never created, expired, logged out, or lost).
	Get(ctx context.Context, id string) (user string, err error)
	// Delete removes the session; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
	// Ready returns nil when the store can serve requests right now.
	Ready(ctx context.Context) error
	// Close releases the store's resources.
	Close()
}

// ErrNoSession: no session with that id.
var ErrNoSession = errors.New("no such session")

// newSessionID returns an opaque random session id: 128 bits from
// crypto/rand, as 26 base32 characters (A-Z, 2-7).
func newSessionID() string { return rand.Text() }

// validSessionID reports whether a cookie value can be a session id of
// ours; anything else is answered "not logged in" without asking the store.
// It accepts somewhat more than newSessionID makes (16 to 128 characters of
// A-Z a-z 0-9 _ -), so that the id format can change without logging
// everyone out.
func validSessionID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MemorySessions is the in-process SessionStore. Sessions expire ttl after
// login (use does not extend them); expired ones are removed as they are
// met and by a sweep at most once a minute.
type MemorySessions struct {
	now func() time.Time

	mu        sync.Mutex
	sessions  map[string]memSession
	lastSweep time.Time
}

type memSession struct {
	user    string
	expires time.Time
}

// NewMemorySessions returns an empty in-memory store.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{now: time.Now, sessions: make(map[string]memSession)}
}

const memorySweepEvery = time.Minute

func (m *MemorySessions) Put(_ context.Context, id, user string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastSweep) >= memorySweepEvery {
		for k, s := range m.sessions {
			if !now.Before(s.expires) {
				delete(m.sessions, k)
			}
		}
		m.lastSweep = now
	}
	m.sessions[id] = memSession{user: user, expires: now.Add(ttl)}
	return nil
}

func (m *MemorySessions) Get(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return "", ErrNoSession
	}
	if !m.now().Before(s.expires) {
		delete(m.sessions, id)
		return "", ErrNoSession
	}
	return s.user, nil
}

func (m *MemorySessions) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

func (m *MemorySessions) Ready(context.Context) error { return nil }

func (m *MemorySessions) Close() {}

// Active is the number of unexpired sessions (the mysite_sessions_active
// gauge).
func (m *MemorySessions) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.now(), 0
	for _, s := range m.sessions {
		if now.Before(s.expires) {
			n++
		}
	}
	return n
}

// RedisSessionPrefix prefixes every session key in Redis:
// "mysite:session:<id>" holds the user id, with the session's TTL.
const RedisSessionPrefix = "mysite:session:"

// RedisSessions is the shared SessionStore in Redis. Every error it returns
// is an UnavailableError: Redis down, unreachable, too slow, or refusing
// (an error reply such as LOADING or READONLY).
//
// Every call is bounded by its context (the server gives it the session
// timeout): the deadline becomes the socket deadline, and go-redis does not
// retry (see newRedisClient). A connection whose exchange failed midway
// (a timeout included) is closed by go-redis, never reused.
type RedisSessions struct {
	c    *redis.Client
	addr string
}

// NewRedisSessions keeps sessions in the Redis at addr (host:port), over a
// pool of at most maxConns connections. It does not connect yet.
func NewRedisSessions(addr string, maxConns int) *RedisSessions {
	return &RedisSessions{c: newRedisClient(addr, maxConns, 0), addr: addr}
}

// Client is the underlying Redis client.
func (r *RedisSessions) Client() *redis.Client { return r.c }

func (r *RedisSessions) Put(ctx context.Context, id, user string, ttl time.Duration) error {
	err := r.c.Set(ctx, RedisSessionPrefix+id, user, ttl).Err()
	return redisUnavailable(redisError(ctx, "SET", r.addr, err))
}

func (r *RedisSessions) Get(ctx context.Context, id string) (string, error) {
	user, err := r.c.Get(ctx, RedisSessionPrefix+id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", ErrNoSession
	case err != nil:
		return "", redisUnavailable(redisError(ctx, "GET", r.addr, err))
	}
	return user, nil
}

func (r *RedisSessions) Delete(ctx context.Context, id string) error {
	err := r.c.Del(ctx, RedisSessionPrefix+id).Err()
	return redisUnavailable(redisError(ctx, "DEL", r.addr, err))
}

func (r *RedisSessions) Ready(ctx context.Context) error {
	err := r.c.Ping(ctx).Err()
	return redisUnavailable(redisError(ctx, "PING", r.addr, err))
}

func (r *RedisSessions) Close() { _ = r.c.Close() }

func redisUnavailable(err error) error {
	if err == nil {
		return nil
	}
	return Unavailable(err, true)
}

// sessionCall names a session store call in errors and metrics.
type sessionCall string

const (
	sessionLogin  sessionCall = "login"
	sessionGet    sessionCall = "get"
	sessionDelete sessionCall = "delete"
	sessionPing   sessionCall = "ping"
)
