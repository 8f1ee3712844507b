package faults

import (
	"context"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// Slicer cuts the server's answers into small packets with a delay between
// them: it exercises clients that assume a message arrives in one read.
type Slicer struct {
	Link          string
	AverageSize   int64
	SizeVariation int64
	Delay         time.Duration
}

func (f Slicer) Name() string   { return "slicer on " + f.Link }
func (f Slicer) Target() string { return f.Link }

func (f Slicer) toxics() []toxic {
	return []toxic{{"slicer", "downstream", toxiproxy.Attributes{
		"average_size": f.AverageSize, "size_variation": f.SizeVariation, "delay": f.Delay.Microseconds()}}}
}

func (f Slicer) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f Slicer) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}
func (f Slicer) Landed(_ context.Context, s *stacks.Stack) error {
	return hasToxics(s, f.Link, f.toxics()...)
}
func (f Slicer) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
