package stacks

import (
	"context"
	"fmt"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

// readySlots bounds how many readiness probes of this process run at once.
// A probe is a command run in the node's container (docker exec: runc
// starts a process in its namespaces, then the probe's own psql, curl or
// dig), which costs far more CPU than the answer it waits for, and while a
// stack boots every node is probed at once: eleven nodes (stage 8) each
// probed every 50 ms kept execs running on both cores of these machines
// while the servers they waited for were starting. Two at a time still
// probes each of 11 nodes several times a second. Measured 2026-12-04:
// stage 8's stack ready in 12.9 s with every node probed every 50 ms, in
// 8.7-9.4 s two at a time (3 runs); stage 7's in 5.0 s and 4.3 s.
var readySlots = make(chan struct{}, 2)

// readyPollInterval is the pause between two probes of one node that has
// been probed for `since`: 50 ms for a second, then 200 ms, then, after
// 5 s, 500 ms. A server that is slow to start (RabbitMQ: 10 s and more
// here) or waits for one that is (a web server for its broker) is not
// worth a probe every 50 ms: the probes take CPU the server needs to start
// (stage 9's stack, beside another run: its broker ready in 39 s with
// every node probed every 50 ms, 31 s with this backoff; 17-21 s on a
// quiet machine with it).
func readyPollInterval(since time.Duration) time.Duration {
	switch {
	case since < time.Second:
		return 50 * time.Millisecond
	case since < 5*time.Second:
		return 200 * time.Millisecond
	}
	return 500 * time.Millisecond
}

// readyProbe waits until a node's readiness command exits 0 (the boot's
// wait strategy). An error of the exec itself (the container is gone) ends
// the wait at once, as testcontainers' wait.ForExec does.
type readyProbe struct{ cmd []string }

func (p readyProbe) WaitUntilReady(ctx context.Context, t wait.StrategyTarget) error {
	err := probeUntilReady(ctx, true, func(ctx context.Context) (int, error) {
		code, _, err := t.Exec(ctx, p.cmd, tcexec.Multiplexed())
		return code, err
	})
	if err != nil {
		return fmt.Errorf("readiness probe %q: %w", p.cmd, err)
	}
	return nil
}

// probeUntilReady runs probe through readySlots, paced by
// readyPollInterval, until it exits 0 or ctx ends. An exec error ends the
// wait when stopOnExecErr (a booting container that is gone will not come
// back); otherwise it is a failed probe like any other (a node that a fault
// restarts may be between two states). The error names the last probe's
// own outcome, not the cancelled call that ctx's end cut short: what a
// reader of "not ready in time" needs is why it was not.
func probeUntilReady(ctx context.Context, stopOnExecErr bool, probe func(context.Context) (int, error)) error {
	last := "not run yet"
	start := time.Now()
	for {
		select {
		case readySlots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %s)", ctx.Err(), last)
		}
		code, err := probe(ctx)
		<-readySlots
		switch {
		case err == nil && code == 0:
			return nil
		case err != nil && ctx.Err() != nil:
			// cut short by ctx's end: keep the outcome before it
		case err != nil && stopOnExecErr:
			return err
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("exit %d", code)
		}
		select {
		case <-time.After(readyPollInterval(time.Since(start))):
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %s)", ctx.Err(), last)
		}
	}
}
