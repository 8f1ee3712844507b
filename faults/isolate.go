package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalelab/scalelab/stacks"
)

// Isolate cuts a node from everything at once: every link to it and from it
// goes down (Toxiproxy closes their connections and refuses new ones), in
// one injection, as a network partition does. The node itself keeps
// running: it does not know it is alone. Unlike Disconnect, its name still
// resolves and the engine can still observe it.
type Isolate struct{ Node string }

func (f Isolate) Name() string   { return "isolate " + f.Node }
func (f Isolate) Target() string { return f.Node }

// links are the node's links, in the topology's order.
func (f Isolate) links(s *stacks.Stack) ([]string, error) {
	var out []string
	for _, l := range s.Topology.Links {
		if l.From == f.Node || l.To == f.Node {
			out = append(out, l.Name())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("node %s has no links to cut", f.Node)
	}
	return out, nil
}

func (f Isolate) Inject(ctx context.Context, s *stacks.Stack) error {
	return f.each(s, func(l string) error { return Down{Link: l}.Inject(ctx, s) })
}

func (f Isolate) Recover(ctx context.Context, s *stacks.Stack) error {
	return f.each(s, func(l string) error { return Down{Link: l}.Recover(ctx, s) })
}

// Landed: no link of the node answers.
func (f Isolate) Landed(ctx context.Context, s *stacks.Stack) error {
	return f.each(s, func(l string) error { return Down{Link: l}.Landed(ctx, s) })
}

// Healed: every link of the node answers again.
func (f Isolate) Healed(ctx context.Context, s *stacks.Stack) error {
	return f.each(s, func(l string) error { return Down{Link: l}.Healed(ctx, s) })
}

// each runs fn on every link of the node, all of them even when one fails.
func (f Isolate) each(s *stacks.Stack, fn func(link string) error) error {
	links, err := f.links(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if err := fn(l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
