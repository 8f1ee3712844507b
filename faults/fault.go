// Package faults holds every way scalelab breaks a stack. A fault is a value
// (kill web, 200ms latency on web->db) with four steps:
//
//	Inject   break it
//	Landed   observe that the break is in effect (fails on a no-op control)
//	Recover  undo it; idempotent
//	Healed   observe that the system is back
//
// Node faults act through the Docker engine (kill, stop, pause, restart,
// disconnect); link faults through the stack's Toxiproxy (latency, bandwidth,
// timeout, reset_peer, down, slicer, limit_data). One file per fault, each
// registering its kind by name, like Toxiproxy's toxics.
//
// Use faults through Inject, which guards the lifecycle: no double injection,
// and a Recover that runs even after the test's context was cancelled.
package faults

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

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

// Settings are a fault's parameters as text (from --set key=value or a stage).
type Settings map[string]string

// Kind is a registered kind of fault: how to make one from a target and settings.
type Kind struct {
	Name     string
	On       string // "node" or "link"
	Help     string
	Defaults Settings // every setting it takes, with its default
	New      func(target string, set Settings) (Fault, error)
}

var kinds = map[string]Kind{}

func register(k Kind) { kinds[k.Name] = k }

// Kinds lists the registered fault kinds by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New makes a fault of a registered kind. Unknown kinds and settings are
// errors that list what is valid.
func New(kind, target string, set Settings) (Fault, error) {
	k, ok := kinds[kind]
	if !ok {
		names := make([]string, 0, len(kinds))
		for n := range kinds {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown fault kind %q (kinds: %s)", kind, strings.Join(names, ", "))
	}
	merged := Settings{}
	for key, v := range k.Defaults {
		merged[key] = v
	}
	for key, v := range set {
		if _, ok := k.Defaults[key]; !ok {
			valid := make([]string, 0, len(k.Defaults))
			for n := range k.Defaults {
				valid = append(valid, n)
			}
			sort.Strings(valid)
			if len(valid) == 0 {
				return nil, fmt.Errorf("fault %s takes no settings (got %q)", kind, key)
			}
			return nil, fmt.Errorf("fault %s has no setting %q (settings: %s)", kind, key, strings.Join(valid, ", "))
		}
		merged[key] = v
	}
	return k.New(target, merged)
}

// duration reads a duration setting.
func (s Settings) duration(key string) (time.Duration, error) {
	d, err := time.ParseDuration(s[key])
	if err != nil || d < 0 {
		return 0, fmt.Errorf("setting %s=%q: want a duration like 200ms or 2s", key, s[key])
	}
	return d, nil
}

// integer reads a non-negative whole-number setting.
func (s Settings) integer(key string) (int64, error) {
	var n int64
	if _, err := fmt.Sscan(s[key], &n); err != nil || n < 0 {
		return 0, fmt.Errorf("setting %s=%q: want a whole number >= 0", key, s[key])
	}
	return n, nil
}
