package mysite

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// slowStore takes delay per write, or fails every write when down.
type slowStore struct {
	Store
	mu     sync.Mutex
	delay  time.Duration
	down   bool
	stored []string
}

func (s *slowStore) Put(ctx context.Context, u User) (User, error) {
	s.mu.Lock()
	delay, down := s.delay, s.down
	s.mu.Unlock()
	if down {
		return User{}, errors.New("connection refused")
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	s.mu.Lock()
	s.stored = append(s.stored, u.WriteID)
	s.mu.Unlock()
	return u, nil
}

func TestWriteBehindAcknowledgesFirstAndDropsWhatItCannotStore(t *testing.T) {
	st := &slowStore{}
	w := newWriteBehind(st, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	u, err := w.Put(ctx, User{ID: "a", WriteID: "a1", Version: 7})
	if err != nil || u.Version != 0 {
		t.Fatalf("Put = %+v, %v; want acknowledged with version 0 (unknown)", u, err)
	}
	waitFor(t, func() bool { st.mu.Lock(); defer st.mu.Unlock(); return len(st.stored) == 1 })

	st.mu.Lock()
	st.down = true
	st.mu.Unlock()
	if _, err := w.Put(ctx, User{ID: "a", WriteID: "a2"}); err != nil {
		t.Fatalf("Put while the database is down: %v; want acknowledged (that is the flaw)", err)
	}
	waitFor(t, func() bool { return w.dropped.Load() == 1 })

	// Slow, not down: writes queued behind a slow one expire unsent.
	st.mu.Lock()
	st.down, st.delay = false, 200*time.Millisecond
	st.mu.Unlock()
	for _, id := range []string{"a3", "a4", "a5"} {
		if _, err := w.Put(ctx, User{ID: "a", WriteID: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return w.dropped.Load() == 4 })
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.stored) != 1 {
		t.Errorf("stored %v; want only a1", st.stored)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
