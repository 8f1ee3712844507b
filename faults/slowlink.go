package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// SlowLink is a slow network path: round-trip latency (half each way) and,
// when KBps > 0, a bandwidth cap in both directions, on one link at once
// (two faults cannot share a target). On a replication link it is replica
// lag: the WAL reaches the replica Latency/2 later, or trickles in slower
// than the primary writes it.
type SlowLink struct {
	Link    string
	Latency time.Duration
	KBps    int64 // 0: no cap
}

func (f SlowLink) Name() string {
	if f.KBps > 0 {
		return fmt.Sprintf("slow link %s (latency %s, %d KB/s)", f.Link, f.Latency, f.KBps)
	}
	return fmt.Sprintf("slow link %s (latency %s)", f.Link, f.Latency)
}
func (f SlowLink) Target() string { return f.Link }

func (f SlowLink) toxics() []toxic {
	out := Latency{Link: f.Link, Latency: f.Latency}.toxics()
	if f.KBps > 0 {
		out = append(out, Bandwidth{Link: f.Link, KBps: f.KBps}.toxics()...)
	}
	return out
}

func (f SlowLink) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f SlowLink) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}

// Landed: the toxics are on the link. (A ping through it would take the
// whole added round trip; the system's own view of the lag, e.g. Postgres's
// replay lag, is what a stage checks.)
func (f SlowLink) Landed(_ context.Context, s *stacks.Stack) error {
	return hasToxics(s, f.Link, f.toxics()...)
}

func (f SlowLink) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, max(f.Latency/2, time.Millisecond))
}
