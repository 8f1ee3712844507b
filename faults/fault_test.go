package faults

import (
	"context"
	"errors"
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
