package mysite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// readCounter counts the reads that reach the store.
type readCounter struct {
	*memStore
	gets int
	// after is called inside Get once the store has read, before the
	// answer goes back: a write may land there.
	after func()
}

func (c *readCounter) Get(ctx context.Context, id string) (User, error) {
	c.gets++
	u, err := c.memStore.Get(ctx, id)
	if c.after != nil {
		c.after()
	}
	return u, err
}

func TestReadCacheServesReadsFromMemoryUntilTheTTLOrAWrite(t *testing.T) {
	ctx := context.Background()
	store := &readCounter{memStore: newMemStore()}
	c := NewReadCache(store, time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	if _, err := c.Get(ctx, "u0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing user: %v", err)
	}
	if _, err := c.Get(ctx, "u0"); !errors.Is(err, ErrNotFound) || store.gets != 1 {
		t.Fatalf("a missing user again: %v, %d reads reached the store, want 1", err, store.gets)
	}
	if _, err := c.Put(ctx, User{ID: "u0", FirstName: "A", WriteID: "w1"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if u, err := c.Get(ctx, "u0"); err != nil || u.WriteID != "w1" {
			t.Fatalf("after the write: %+v %v", u, err)
		}
	}
	if store.gets != 2 {
		t.Errorf("%d reads reached the store, want 2 (one after the write drops the entry)", store.gets)
	}
	now = now.Add(time.Second)
	if _, err := c.Get(ctx, "u0"); err != nil || store.gets != 3 {
		t.Errorf("after the TTL: %v, %d reads reached the store, want 3", err, store.gets)
	}
}

func TestReadCacheDoesNotKeepAReadThatRacedAWrite(t *testing.T) {
	ctx := context.Background()
	store := &readCounter{memStore: newMemStore()}
	c := NewReadCache(store, time.Hour)
	if _, err := c.Put(ctx, User{ID: "u0", FirstName: "A", WriteID: "w1"}); err != nil {
		t.Fatal(err)
	}
	// The read has its generation; a write lands and drops the entry
	// before the read's answer comes back with the old value.
	store.after = func() {
		store.after = nil
		if _, err := c.Put(ctx, User{ID: "u0", FirstName: "A", WriteID: "w2"}); err != nil {
			t.Error(err)
		}
	}
	if u, _ := c.Get(ctx, "u0"); u.WriteID != "w1" {
		t.Fatalf("the racing read: %+v, want the old value w1", u)
	}
	if u, err := c.Get(ctx, "u0"); err != nil || u.WriteID != "w2" {
		t.Errorf("a read after the write: %+v %v, want w2", u, err)
	}
}

func TestReadCacheMissesOfOneKeyShareOneStoreRead(t *testing.T) {
	ctx := context.Background()
	store := &readCounter{memStore: newMemStore()}
	release := make(chan struct{})
	store.after = func() { <-release }
	c := NewReadCache(store, time.Hour)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = c.Get(ctx, "celebrity") })
	}
	// The first read waits in the store; the others join its flight.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if store.gets != 1 {
		t.Errorf("%d reads reached the store, want 1", store.gets)
	}
}
