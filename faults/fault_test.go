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
