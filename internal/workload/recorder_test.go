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
