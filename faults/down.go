package faults

import (
	"context"

	"github.com/scalelab/scalelab/stacks"
)

// Down takes a link down: Toxiproxy closes its open connections and refuses
// new ones. Both ends stay up; only the path between them is gone.
type Down struct{ Link string }

func (f Down) Name() string   { return "down " + f.Link }
func (f Down) Target() string { return f.Link }

func (f Down) Inject(_ context.Context, s *stacks.Stack) error {
	p, err := s.Proxy(f.Link)
	if err != nil {
		return err
	}
	return p.Disable()
}

func (f Down) Recover(_ context.Context, s *stacks.Stack) error {
	p, err := s.Proxy(f.Link)
	if err != nil {
		return err
	}
	return p.Enable()
}

func (f Down) Landed(ctx context.Context, s *stacks.Stack) error {
	return linkFails(ctx, s, f.Link, false, pingTimeout)
}
func (f Down) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
