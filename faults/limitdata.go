package faults

import (
	"context"
	"fmt"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// LimitData closes each connection once Bytes have been sent to the server:
// a connection that dies in the middle of a conversation.
type LimitData struct {
	Link  string
	Bytes int64
}

func (f LimitData) Name() string   { return fmt.Sprintf("limit_data %d bytes on %s", f.Bytes, f.Link) }
func (f LimitData) Target() string { return f.Link }

func (f LimitData) toxics() []toxic {
	return []toxic{{"limit_data", "upstream", toxiproxy.Attributes{"bytes": f.Bytes}}}
}

func (f LimitData) Inject(_ context.Context, s *stacks.Stack) error {
	return addToxics(s, f.Link, f.toxics()...)
}
func (f LimitData) Recover(_ context.Context, s *stacks.Stack) error {
	return removeToxics(s, f.Link, f.toxics()...)
}
func (f LimitData) Landed(_ context.Context, s *stacks.Stack) error {
	return hasToxics(s, f.Link, f.toxics()...)
}
func (f LimitData) Healed(ctx context.Context, s *stacks.Stack) error {
	return linkServes(ctx, s, f.Link, 0)
}
