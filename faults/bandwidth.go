package faults

import (
	"context"
	"fmt"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// Bandwidth caps a link's throughput in both directions (KB/s), like a
// saturated or throttled network path.
type Bandwidth struct {
	Link string
	KBps int64
}

func (f Bandwidth) Name() string   { return fmt.Sprintf("bandwidth %d KB/s on %s", f.KBps, f.Link) }
func (f Bandwidth) Target() string { return f.Link }

func (f Bandwidth) toxics() []toxic {
	a := toxiproxy.Attributes{"rate": f.KBps}
	return []toxic{{"bandwidth", "upstream", a}, {"bandwidth", "downstream", a}}
}

func (f Bandwidth) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f Bandwidth) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}

// Landed: a ping is too small to feel a bandwidth cap, so this observes the
// toxics on the Toxiproxy server; the workload's latency shows the effect.
func (f Bandwidth) Landed(_ context.Context, s *stacks.Stack) error {
	return hasToxics(s, f.Link, f.toxics()...)
}
func (f Bandwidth) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
