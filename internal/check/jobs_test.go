package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestJobsIn(t *testing.T) {
	submit := func(job string, out history.Outcome, at int) history.Op {
		return history.Op{Kind: history.Write, Key: "p1", Value: job, Outcome: out, Complete: time.Duration(at) * ms}
	}
	h := history.History{
		Ops: []history.Op{
			submit("ok-done", history.OK, 1),
			submit("ok-lost", history.OK, 3),
			submit("ok-twice", history.OK, 2),
			submit("unknown-done", history.Unknown, 4),
			submit("unknown-not", history.Unknown, 5),
			submit("refused-not", history.Failed, 6),
			submit("refused-done", history.Failed, 7),
			{Kind: history.Read, Key: "p1"},
		},
		Effects: map[string]int{"ok-done": 1, "ok-twice": 2, "unknown-done": 1, "refused-done": 1, "stranger": 1},
	}
	j := JobsIn(h)
	if !j.Checked || j.Submitted != 7 || j.Confirmed != 3 || j.Unknown != 2 || j.Refused != 2 || j.Processed != 4 || j.UnknownDone != 1 {
		t.Errorf("counts: %+v", j)
	}
	if j.LostCount() != 1 || j.Lost[0].Value != "ok-lost" {
		t.Errorf("lost: %+v", j.Lost)
	}
	if j.DuplicatedCount() != 1 || j.Duplicated[0] != (JobEffects{"ok-twice", 2}) {
		t.Errorf("duplicated: %+v", j.Duplicated)
	}
	if len(j.RefusedDone) != 1 || j.RefusedDone[0].Value != "refused-done" {
		t.Errorf("refused but done: %+v", j.RefusedDone)
	}
	if len(j.Foreign) != 1 || j.Foreign[0].Job != "stranger" {
		t.Errorf("foreign: %+v", j.Foreign)
	}
	// Without effects read back nothing is lost: nothing can be said.
	h.Effects = nil
	if j := JobsIn(h); j.Checked || j.LostCount() != 0 || j.String() != "not checked (no effects read back)" {
		t.Errorf("unchecked: %+v", j)
	}
}
