package faults

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// counting is a fault that counts its calls, for the lifecycle guard.
type counting struct {
	target            string
	injects, recovers *int
	failRecover       bool
}

func (c counting) Name() string   { return "counting " + c.target }
func (c counting) Target() string { return c.target }
func (c counting) Inject(context.Context, *stacks.Stack) error {
	*c.injects++
	return nil
}
func (c counting) Recover(ctx context.Context, _ *stacks.Stack) error {
	*c.recovers++
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.failRecover {
		return errors.New("boom")
	}
	return nil
}
func (c counting) Landed(context.Context, *stacks.Stack) error { return nil }
func (c counting) Healed(context.Context, *stacks.Stack) error { return nil }

func TestInjectionLifecycle(t *testing.T) {
	s := &stacks.Stack{}
	var inj, rec int
	f := counting{target: "web", injects: &inj, recovers: &rec}
	in, err := Inject(context.Background(), s, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Inject(context.Background(), s, f); !errors.Is(err, ErrActive) {
		t.Fatalf("double inject: got %v, want ErrActive", err)
	}
	if _, err := Inject(context.Background(), s, counting{target: "db", injects: &inj, recovers: &rec}); err != nil {
		t.Fatalf("another target must be fine: %v", err)
	}

	// Recover runs even when the caller's context is already cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Recover(ctx); err != nil {
		t.Fatalf("recover on a cancelled context: %v", err)
	}
	if err := in.Recover(ctx); err != nil || rec != 1 {
		t.Fatalf("second recover must be a no-op: err %v, recovers %d", err, rec)
	}
	if _, err := Inject(context.Background(), s, f); err != nil {
		t.Fatalf("inject after recover: %v", err)
	}
	if inj != 3 {
		t.Errorf("injects = %d, want 3", inj)
	}
}

func TestRecoverErrorIsKept(t *testing.T) {
	var inj, rec int
	in, _ := Inject(context.Background(), &stacks.Stack{}, counting{target: "x", injects: &inj, recovers: &rec, failRecover: true})
	err1 := in.Recover(context.Background())
	err2 := in.Recover(context.Background())
	if err1 == nil || err1 != err2 || rec != 1 {
		t.Errorf("recover errors %v / %v after %d calls", err1, err2, rec)
	}
}

// A late recovery still heals at once when the run is interrupted, even
// though Injection.Recover runs on a context a cancel does not reach.
func TestLateRecoveryHealsAtOnceOnInterrupt(t *testing.T) {
	interrupt := make(chan struct{})
	rec := &recorded{}
	f := LateRecovery{By: time.Hour, Fault: rec, Interrupt: interrupt}
	done := make(chan error, 1)
	go func() { done <- f.Recover(context.Background(), nil) }()
	close(interrupt)
	select {
	case err := <-done:
		if err != nil || !rec.recovered {
			t.Fatalf("Recover = %v, recovered %v", err, rec.recovered)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late recovery waited its full delay after the interrupt")
	}
}

// recorded is a fault that only remembers being recovered.
type recorded struct{ recovered bool }

func (*recorded) Name() string                                   { return "recorded" }
func (*recorded) Target() string                                 { return "x" }
func (*recorded) Inject(context.Context, *stacks.Stack) error    { return nil }
func (r *recorded) Recover(context.Context, *stacks.Stack) error { r.recovered = true; return nil }
func (*recorded) Landed(context.Context, *stacks.Stack) error    { return nil }
func (*recorded) Healed(context.Context, *stacks.Stack) error    { return nil }

// The late recoveries of one heal come By after the first was asked for,
// together, though they are asked one after another: two killed workers
// are back By late, not the second 2 x By.
func TestLateRecoveriesOfAGroupAreDueByAfterTheFirstAsk(t *testing.T) {
	g := &LateGroup{}
	first := g.due(time.Minute)
	time.Sleep(10 * time.Millisecond) // the first's recovery and heal take their time
	if second := g.due(time.Minute); !second.Equal(first) {
		t.Errorf("the second is due %v after the first, want together", second.Sub(first))
	}
	// Without a group each is due By after its own ask.
	var none *LateGroup
	if d := time.Until(none.due(time.Minute)); d < 59*time.Second {
		t.Errorf("without a group: due in %v, want a minute", d)
	}
	// And Recover waits for it: a group already due recovers at once.
	r := &recorded{}
	if err := (LateRecovery{By: 0, Fault: r, Group: g}).Recover(context.Background(), nil); err != nil || !r.recovered {
		t.Errorf("Recover = %v, recovered %v", err, r.recovered)
	}
}

// logged is a fault that logs its steps, and is awaited until its release
// (a landed or healed probe that passes only once released).
type logged struct {
	target  string
	log     *[]string
	mu      *sync.Mutex
	release <-chan struct{}
}

func (l logged) Name() string   { return l.target }
func (l logged) Target() string { return l.target }
func (l logged) add(s string) {
	l.mu.Lock()
	*l.log = append(*l.log, s)
	l.mu.Unlock()
}
func (l logged) Inject(context.Context, *stacks.Stack) error { l.add("inject " + l.target); return nil }
func (l logged) Recover(context.Context, *stacks.Stack) error {
	l.add("recover " + l.target)
	return nil
}
func (l logged) Landed(context.Context, *stacks.Stack) error { return l.wait() }
func (l logged) Healed(context.Context, *stacks.Stack) error { return l.wait() }
func (l logged) wait() error {
	select {
	case <-l.release:
		return nil
	default:
		return errors.New("not yet")
	}
}

// Faults of one kind in a row are one step: all injected before any is
// awaited, and healed together; a step of another kind waits for the one
// before it, and the heal goes backwards a step at a time.
func TestStepsInjectTogetherHealBackwards(t *testing.T) {
	var log []string
	var mu sync.Mutex
	open := make(chan struct{})
	close(open)
	a := logged{target: "a", log: &log, mu: &mu, release: open}
	b := logged{target: "b", log: &log, mu: &mu, release: open}
	var n int
	c := counting{target: "c", injects: &n, recovers: &n}
	steps := Steps([]Fault{a, b, c})
	if len(steps) != 2 || len(steps[0]) != 2 || len(steps[1]) != 1 {
		t.Fatalf("steps of [logged logged counting]: got %v, want [[a b] [c]]", steps)
	}

	// A step whose first fault lands only after its second was injected:
	// sequential waits would never inject the second.
	s := &stacks.Stack{}
	gate := make(chan struct{})
	first := logged{target: "x", log: &log, mu: &mu, release: gate}
	second := logged{target: "y", log: &log, mu: &mu, release: open}
	var seen []string
	done := make(chan error)
	go func() {
		ins, err := ApplyStep(context.Background(), s, []Fault{first, second}, func(f Fault) { seen = append(seen, f.Name()) })
		if len(ins) != 2 {
			err = errors.Join(err, errors.New("want 2 injections"))
		}
		done <- err
	}()
	deadline := time.After(5 * time.Second)
	for {
		mu.Lock()
		injected := len(log)
		mu.Unlock()
		if injected == 2 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the step's second fault was not injected before the first landed: %v", log)
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "x" || seen[1] != "y" {
		t.Fatalf("before saw %v, want [x y]", seen)
	}

	log = nil
	var ins []*Injection
	for _, step := range steps {
		in, err := ApplyStep(context.Background(), s, step, nil)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in...)
	}
	var healed []string
	if err := HealAll(context.Background(), ins, func(in *Injection) { healed = append(healed, in.Fault.Name()) }); err != nil {
		t.Fatal(err)
	}
	want := "counting c,b,a"
	if got := strings.Join(healed, ","); got != want {
		t.Fatalf("heal order %q, want %q", got, want)
	}
}
