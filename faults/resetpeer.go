package faults

import (
	"context"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// ResetPeer resets the link's connections (TCP RST) once data has flowed for
// After: what a crashing middlebox or a restarted server looks like to a client.
type ResetPeer struct {
	Link  string
	After time.Duration
}

func (f ResetPeer) Name() string   { return "reset_peer on " + f.Link }
func (f ResetPeer) Target() string { return f.Link }

func (f ResetPeer) toxics() []toxic {
	return []toxic{{"reset_peer", "upstream", toxiproxy.Attributes{"timeout": ms(f.After)}}}
}

func (f ResetPeer) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f ResetPeer) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}
func (f ResetPeer) Landed(ctx context.Context, s *stacks.Stack) error {
	return linkFails(ctx, s, f.Link, false, f.After+pingTimeout)
}
func (f ResetPeer) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
