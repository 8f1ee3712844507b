package faults

import (
	"context"
	"fmt"
	"strings"

	"github.com/scalelab/scalelab/stacks"
)

// Command runs one of a server's own administration commands inside its node
// (redis-cli FLUSHALL, CONFIG SET maxmemory ...): a fault an operator, a
// deploy or the server itself can cause. Undo, if set, is run at the heal
// (CONFIG SET back to the old value); without it the heal changes nothing,
// as after a flush. Landed runs Probe until its output contains Want: the
// server's own account that the command ran (INFO commandstats counts it),
// not the command's exit status alone.
type Command struct {
	Node string
	What string   // for the fault's name: "flush the cache"
	Cmd  []string // must exit 0
	Undo []string // run at the heal; nil: nothing to undo
	// Probe and Want: Landed passes once Probe's output contains Want.
	Probe []string
	Want  string
	// Part, when set, is the part of the node the command changes (a
	// failpoint's name): the fault's target is then node/part, so that a
	// fault of the whole node (a kill) may follow it.
	Part string
}

func (f Command) Name() string { return f.What + " on " + f.Node }

func (f Command) Target() string {
	if f.Part != "" {
		return f.Node + "/" + f.Part
	}
	return f.Node
}

func (f Command) Inject(ctx context.Context, s *stacks.Stack) error {
	if _, err := s.Run(ctx, f.Node, f.Cmd); err != nil {
		return fmt.Errorf("%s: %w", f.What, err)
	}
	return nil
}

func (f Command) Recover(ctx context.Context, s *stacks.Stack) error {
	if f.Undo == nil {
		return nil
	}
	if _, err := s.Run(ctx, f.Node, f.Undo); err != nil {
		return fmt.Errorf("undo %s: %w", f.What, err)
	}
	return nil
}

func (f Command) Landed(ctx context.Context, s *stacks.Stack) error {
	if f.Probe == nil {
		return nil
	}
	out, err := s.Run(ctx, f.Node, f.Probe)
	if err != nil {
		return err
	}
	if !strings.Contains(out, f.Want) {
		return fmt.Errorf("%s: %q does not say %q yet", f.What, strings.Join(f.Probe, " "), f.Want)
	}
	return nil
}

// Healed: the node is up and ready (an undo that left it broken shows).
func (f Command) Healed(ctx context.Context, s *stacks.Stack) error { return nodeUp(ctx, s, f.Node) }
