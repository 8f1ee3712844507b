package workload

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// CompletedSince counts by completion time, and an unknown outcome is not a
// success (the engine's steady-state wait before a fault relies on both).
func TestCompletedSince(t *testing.T) {
	r := NewRecorder(nil)
	for _, op := range []history.Op{
		{Kind: history.Read, Invoke: 0, Complete: 100 * time.Millisecond, Outcome: history.Failed},  // before
		{Kind: history.Read, Invoke: 0, Complete: 900 * time.Millisecond, Outcome: history.Unknown}, // slow, counted
		{Kind: history.Write, Key: "k", Invoke: 800 * time.Millisecond, Complete: time.Second, Outcome: history.OK},
		{Kind: history.Read, Invoke: 850 * time.Millisecond, Complete: 950 * time.Millisecond, Outcome: history.OK},
	} {
		r.Op(op)
	}
	ok, notOK := r.CompletedSince(500 * time.Millisecond)
	if ok != 2 || notOK != 1 {
		t.Fatalf("CompletedSince(500ms) = %d ok, %d not; want 2, 1", ok, notOK)
	}
	if ok, notOK := r.CompletedSince(2 * time.Second); ok+notOK != 0 {
		t.Fatalf("CompletedSince(2s) = %d, %d; want none", ok, notOK)
	}
}

func TestRecentAndForgetKeepTheNewestOps(t *testing.T) {
	r := NewRecorder(nil)
	for i := range 10 {
		at := time.Duration(i) * time.Second
		r.Op(history.Op{Kind: history.Read, Key: "k", Invoke: at, Complete: at + 100*time.Millisecond, Outcome: history.OK})
	}
	r.Event(history.FaultInjected, "f", "")
	if got := r.Recent(7 * time.Second).Ops; len(got) != 3 || got[0].Invoke != 7*time.Second {
		t.Errorf("Recent(7s): %d ops from %v, want the 3 from 7s", len(got), got[0].Invoke)
	}
	if got := r.Recent(7 * time.Second).Events; len(got) != 1 {
		t.Errorf("Recent keeps every event: got %d", len(got))
	}
	r.Forget(5 * time.Second)
	if n := r.Len(); n != 5 {
		t.Errorf("after Forget(5s): %d ops, want 5", n)
	}
	if h := r.History(); h.Ops[0].Invoke != 5*time.Second || len(h.Events) != 1 {
		t.Errorf("after Forget(5s): first op at %v, %d events", h.Ops[0].Invoke, len(h.Events))
	}
}
