package faults

import (
	"context"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// Timeout turns a link into a black hole: data sent is dropped and nothing
// comes back. With After > 0 the connection is closed after that long; with 0
// it stays open, silent, until the fault is recovered. Clients hang: only
// their own timeouts save them.
type Timeout struct {
	Link  string
	After time.Duration
}

func (f Timeout) Name() string {
	if f.After == 0 {
		return "black hole on " + f.Link
	}
	return fmt.Sprintf("timeout %s on %s", f.After, f.Link)
}
func (f Timeout) Target() string { return f.Link }

func (f Timeout) toxics() []toxic {
	return []toxic{{"timeout", "upstream", toxiproxy.Attributes{"timeout": ms(f.After)}}}
}

func (f Timeout) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f Timeout) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}

// Landed: with a black hole a ping hangs; with After > 0 the connection is
// closed after After, so the probe waits a little longer than that.
func (f Timeout) Landed(ctx context.Context, s *stacks.Stack) error {
	if f.After == 0 || f.After > pingTimeout {
		return linkFails(ctx, s, f.Link, true, pingTimeout)
	}
	return linkFails(ctx, s, f.Link, false, f.After+pingTimeout)
}
func (f Timeout) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
