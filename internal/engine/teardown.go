package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Teardowns left to the background (Spec.OverlapTeardown). Removing a
// stack's containers takes 1-3 s on the machines with fuse-overlayfs
// storage, where runs go one at a time; the next run's boot takes longer
// than that and measures nothing, so the two can overlap. Every run waits
// for them after its own boot, before its workload starts (WaitTeardowns):
// nothing of an earlier run's removal is ever in a measured window.
var background struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// teardownLater runs terminate in the background.
func teardownLater(what string, terminate func() error) {
	background.wg.Go(func() {
		if err := terminate(); err != nil {
			background.mu.Lock()
			background.errs = append(background.errs, fmt.Errorf("%s: %w", what, err))
			background.mu.Unlock()
		}
	})
}

// WaitTeardowns waits until every teardown left to the background is done,
// or ctx ends, and returns their errors (once). A driver that runs with
// Spec.OverlapTeardown calls it before it exits, and before anything it
// measures outside engine.Run (the specs: before every spec that is not a
// stage run).
func WaitTeardowns(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		background.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the teardown of earlier runs: %w", context.Cause(ctx))
	}
	background.mu.Lock()
	defer background.mu.Unlock()
	err := errors.Join(background.errs...)
	background.errs = nil
	return err
}

// teardownWait bounds how long a run waits for an earlier run's teardown
// before its workload starts: Stack.Terminate's own limit is a minute more
// than a container create's.
const teardownWait = 3 * time.Minute

// awaitTeardowns waits (teardownWait at most) for the teardowns left to the
// background; one that failed or did not end is a warning in the run's
// narration, not the run's failure.
func awaitTeardowns(ctx context.Context, say func(string)) {
	wctx, cancel := context.WithTimeout(ctx, teardownWait)
	defer cancel()
	if err := WaitTeardowns(wctx); err != nil {
		say(fmt.Sprintf("warning: teardown (an earlier run's): %v", err))
	}
}

// bigStack is how many nodes make a stack that waits for earlier teardowns
// before it boots (stage 8's has 10; stage 5's 8): the time a teardown
// saves is 1-3 s, and the boot of a big stack beside another's removal
// costs more than that on a 2-core machine.
const bigStack = 8
