package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitTeardownsWaitsForEveryBackgroundTeardownAndReportsItsErrorOnce(t *testing.T) {
	release := make(chan struct{})
	teardownLater("stack a", func() error { <-release; return nil })
	teardownLater("stack b", func() error { <-release; return errors.New("container x: busy") })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := WaitTeardowns(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while the teardowns run: got %v, want the deadline", err)
	}
	close(release)
	err := WaitTeardowns(context.Background())
	if err == nil || err.Error() != "stack b: container x: busy" {
		t.Fatalf("got %v, want stack b's error", err)
	}
	if err := WaitTeardowns(context.Background()); err != nil {
		t.Fatalf("a second wait: got %v, want nil (the error was reported)", err)
	}
}
