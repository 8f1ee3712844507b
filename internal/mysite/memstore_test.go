package mysite

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// memStore is an in-memory Store with fault injection, for handler tests.
type memStore struct {
	mu    sync.Mutex
	users map[string]User

	// Faults, read at every call.
	fail      atomic.Pointer[error] // returned by every call when set
	delay     atomic.Int64          // every call first waits this long (time.Duration)
	ignoreCtx atomic.Bool           // the delay does not stop when ctx is done

	calls    atomic.Int32
	returned chan error // receives ctx.Err() when a delayed call ends (if not nil)
}

func newMemStore() *memStore { return &memStore{users: map[string]User{}} }

func (m *memStore) setFail(err error) {
	if err == nil {
		m.fail.Store(nil)
		return
	}
	m.fail.Store(&err)
}

func (m *memStore) setDelay(d time.Duration, ignoreCtx bool) {
	m.delay.Store(int64(d))
	m.ignoreCtx.Store(ignoreCtx)
}

// fault applies the injected delay and error.
func (m *memStore) fault(ctx context.Context) error {
	m.calls.Add(1)
	if d := time.Duration(m.delay.Load()); d > 0 {
		if m.ignoreCtx.Load() {
			time.Sleep(d)
		} else {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				if m.returned != nil {
					m.returned <- ctx.Err()
				}
				return ctx.Err()
			}
		}
	}
	if p := m.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (m *memStore) Get(ctx context.Context, id string) (User, error) {
	if err := m.fault(ctx); err != nil {
		return User{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (m *memStore) Create(ctx context.Context, u User) (User, error) {
	if err := m.fault(ctx); err != nil {
		return User{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.ID]; ok {
		return User{}, ErrExists
	}
	u.Version = 1
	m.users[u.ID] = u
	return u, nil
}

func (m *memStore) Put(ctx context.Context, u User) (User, error) {
	if err := m.fault(ctx); err != nil {
		return User{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u.Version = m.users[u.ID].Version + 1
	m.users[u.ID] = u
	return u, nil
}

func (m *memStore) Ready(ctx context.Context) error { return m.fault(ctx) }
