package stacks

import (
	"context"
	"testing"
	"time"
)

// An interrupt must not cut a create short (the engine would finish it with
// no handle here), and Terminate must wait for a create in flight and refuse
// any later one: the race that left containers behind after Ctrl-C.
func TestTeardownWaitsForCreatesInFlightAndRefusesLaterOnes(t *testing.T) {
	s := &Stack{}
	ctx, interrupt := context.WithCancel(context.Background())
	release := make(chan struct{})
	entered := make(chan struct{})
	createErr := make(chan error, 1)
	go func() {
		createErr <- s.create(ctx, func(cctx context.Context) error {
			close(entered)
			<-release
			// The interrupt came while creating: the create's context must
			// still be live, or the engine makes a container we never hear of.
			if err := cctx.Err(); err != nil {
				t.Errorf("create context cancelled by the interrupt: %v", err)
			}
			return nil
		})
	}()
	<-entered
	interrupt()

	stopped := make(chan error, 1)
	go func() { stopped <- s.stopCreates(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("stopCreates returned (%v) while a create was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("stopCreates: %v", err)
	}
	if err := <-createErr; err != nil {
		t.Fatalf("create in flight: %v", err)
	}
	ran := false
	if err := s.create(context.Background(), func(context.Context) error { ran = true; return nil }); err == nil || ran {
		t.Fatalf("a create after teardown began ran (%v) with error %v; want it refused", ran, err)
	}
}

func TestStopCreatesGivesUpAtItsDeadline(t *testing.T) {
	s := &Stack{}
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	go s.create(context.Background(), func(context.Context) error { close(entered); <-release; return nil })
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.stopCreates(ctx); err == nil {
		t.Fatal("stopCreates returned nil with a create still in flight past its deadline")
	}
}
