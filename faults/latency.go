package faults

import (
	"context"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// Latency adds delay to a link, as a round trip: half on the way to the
// server, half on the way back (one Toxiproxy latency toxic delays one
// direction only). A request/response over the link takes Latency longer,
// give or take Jitter.
type Latency struct {
	Link    string
	Latency time.Duration
	Jitter  time.Duration
}

func (f Latency) Name() string {
	return fmt.Sprintf("latency %s±%s on %s", f.Latency, f.Jitter, f.Link)
}
func (f Latency) Target() string { return f.Link }

func (f Latency) toxics() []toxic {
	attrs := toxiproxy.Attributes{"latency": ms(f.Latency / 2), "jitter": ms(f.Jitter / 2)}
	return []toxic{{"latency", "upstream", attrs}, {"latency", "downstream", attrs}}
}

func (f Latency) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f Latency) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}

// Landed: a ping through the link takes at least 85% of the added latency
// less the jitter (Toxiproxy's jitter is uniform in ±jitter per direction).
func (f Latency) Landed(ctx context.Context, s *stacks.Stack) error {
	rtt, err := s.PingLink(ctx, f.Link, f.Latency+f.Jitter+pingTimeout)
	if err != nil {
		return err
	}
	if floor := time.Duration(0.85*float64(f.Latency)) - f.Jitter; rtt < floor {
		return fmt.Errorf("link %s round trip %s is below %s: the latency is not there", f.Link, rtt.Round(time.Millisecond), floor)
	}
	return nil
}

// Healed: the round trip is back under half the injected latency.
func (f Latency) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, max(f.Latency/2, time.Millisecond))
}
