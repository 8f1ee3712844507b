// Package faults holds every way scalelab breaks a stack. A fault is a value
// (kill web, 200ms latency on web->db) with four steps:
//
//	Inject   break it
//	Landed   observe that the break is in effect (fails on a no-op control)
//	Recover  undo it; idempotent
//	Healed   observe that the system is back
//
// Node faults act through the Docker engine (kill, stop, pause, restart,
// disconnect, add) or a load balancer's runtime API (drain, enable); link
// faults through the stack's Toxiproxy (latency, slow link, bandwidth,
// timeout, reset_peer, down, slicer, limit_data, and isolate, every link of a
// node at once). Delayed, LateRecovery and NeverRecovered wrap another fault. One file per
// fault; a stage builds the values it injects (internal/stage).
//
// Drive faults through Apply and Injection.Heal (lifecycle.go), which build
// on Inject: it guards the lifecycle (no double injection, and a Recover that
// runs even after the test's context was cancelled).
package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/stacks"
)

// Fault is one way to break a stack.
type Fault interface {
	// Name says what it does and to what: "kill web", "latency 200ms on web->db".
	Name() string
	// Target is the node or link it acts on; two faults on one target cannot
	// be active at once.
	Target() string
	Inject(ctx context.Context, s *stacks.Stack) error
	Recover(ctx context.Context, s *stacks.Stack) error
	Landed(ctx context.Context, s *stacks.Stack) error
	Healed(ctx context.Context, s *stacks.Stack) error
}

// Tallied is a fault that sends requests of its own (a flood) and counts
// what they got; the engine keeps the tally in the run's history once the
// fault is healed.
type Tallied interface {
	Tally() history.Tally
}

// Tallies are the tallies of the injected faults that count their own
// requests, in injection order.
func Tallies(ins []*Injection) []history.Tally {
	var out []history.Tally
	for _, in := range ins {
		if t, ok := in.Fault.(Tallied); ok {
			out = append(out, t.Tally())
		}
	}
	return out
}

// RecoverTimeout bounds a recovery that runs on a cancelled context.
var RecoverTimeout = 90 * time.Second

// ErrActive is returned when a fault is injected on a target that already
// has one active.
var ErrActive = errors.New("a fault is already active on this target")

// Injection is an injected fault, guarded by a small state machine:
// injected -> recovered (recovering twice is a no-op).
type Injection struct {
	Fault Fault
	Stack *stacks.Stack
	At    time.Time

	mu        sync.Mutex
	recovered bool
	err       error
}

var (
	activeMu sync.Mutex
	active   = map[*stacks.Stack]map[string]*Injection{}
)

// Inject injects f into s. On error the fault may be partly in place: the
// returned Injection is still non-nil and its Recover undoes what was done,
// so register the Recover (DeferCleanup) before checking the error.
func Inject(ctx context.Context, s *stacks.Stack, f Fault) (*Injection, error) {
	activeMu.Lock()
	if active[s] == nil {
		active[s] = map[string]*Injection{}
	}
	if prev, ok := active[s][f.Target()]; ok {
		activeMu.Unlock()
		return nil, fmt.Errorf("inject %s: %w (%s since %s)", f.Name(), ErrActive, prev.Fault.Name(), prev.At.Format("15:04:05.000"))
	}
	in := &Injection{Fault: f, Stack: s, At: time.Now()}
	active[s][f.Target()] = in
	activeMu.Unlock()
	if err := f.Inject(ctx, s); err != nil {
		return in, fmt.Errorf("inject %s: %w", f.Name(), err)
	}
	return in, nil
}

// Recover undoes the fault. It runs even when ctx is cancelled (a failed or
// interrupted spec still heals what it broke), bounded by RecoverTimeout.
// Calling it again returns the first call's result.
func (in *Injection) Recover(ctx context.Context) error {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.recovered {
		return in.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecoverTimeout)
	defer cancel()
	in.err = in.Fault.Recover(ctx, in.Stack)
	if in.err != nil {
		in.err = fmt.Errorf("recover %s: %w", in.Fault.Name(), in.err)
	}
	in.recovered = true
	activeMu.Lock()
	delete(active[in.Stack], in.Fault.Target())
	if len(active[in.Stack]) == 0 {
		delete(active, in.Stack)
	}
	activeMu.Unlock()
	return in.err
}
