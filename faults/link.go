package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/scalelab/scalelab/stacks"
)

// Helpers shared by the link faults, which act through the stack's Toxiproxy.

// toxic is one Toxiproxy toxic a link fault adds.
type toxic struct {
	kind   string // Toxiproxy toxic type
	stream string // "upstream" (towards the server) or "downstream"
	attrs  toxiproxy.Attributes
}

func toxicName(kind, stream string) string { return "scalelab_" + kind + "_" + stream }

func addToxics(s *stacks.Stack, link string, toxics ...toxic) error {
	p, err := s.Proxy(link)
	if err != nil {
		return err
	}
	for _, t := range toxics {
		// Toxicity must be sent as 1.0: 0 would mean "never".
		if _, err := p.AddToxic(toxicName(t.kind, t.stream), t.kind, t.stream, 1.0, t.attrs); err != nil {
			return fmt.Errorf("add %s toxic to %s: %w", t.kind, link, err)
		}
	}
	return nil
}

// removeToxics removes the toxics a fault added; a toxic already gone is fine,
// so recovering twice works.
func removeToxics(s *stacks.Stack, link string, toxics ...toxic) error {
	p, err := s.Proxy(link)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range toxics {
		if err := p.RemoveToxic(toxicName(t.kind, t.stream)); err != nil && !strings.Contains(err.Error(), "not found") {
			errs = append(errs, fmt.Errorf("remove %s toxic from %s: %w", t.kind, link, err))
		}
	}
	return errors.Join(errs...)
}

// hasToxics observes the link's toxics on the Toxiproxy server: the landed
// probe of faults whose effect a single ping cannot show (bandwidth, slicer,
// limit_data).
func hasToxics(s *stacks.Stack, link string, toxics ...toxic) error {
	p, err := s.Proxy(link)
	if err != nil {
		return err
	}
	list, err := p.Toxics()
	if err != nil {
		return fmt.Errorf("list toxics of %s: %w", link, err)
	}
	have := map[string]bool{}
	for _, t := range list {
		have[t.Name] = true
	}
	for _, t := range toxics {
		if !have[toxicName(t.kind, t.stream)] {
			return fmt.Errorf("link %s has no %s toxic on %s", link, t.kind, t.stream)
		}
	}
	return nil
}

// pingTimeout bounds one probe through a link.
const pingTimeout = 3 * time.Second

// linkServes is the healed probe of every link fault: a ping through the link
// is answered, and faster than slowerThan (0: any answer will do).
func linkServes(ctx context.Context, s *stacks.Stack, link string, slowerThan time.Duration) error {
	rtt, err := s.PingLink(ctx, link, pingTimeout)
	if err != nil {
		return err
	}
	if slowerThan > 0 && rtt >= slowerThan {
		return fmt.Errorf("link %s still slow: round trip %s", link, rtt.Round(time.Millisecond))
	}
	return nil
}

// linkFails is the landed probe of faults that make a link fail: a ping gets
// an error (refused, reset, closed) rather than an answer. hang=true asks for
// a ping that gets no answer at all within the probe's timeout.
func linkFails(ctx context.Context, s *stacks.Stack, link string, hang bool, timeout time.Duration) error {
	rtt, err := s.PingLink(ctx, link, timeout)
	switch {
	case err == nil:
		return fmt.Errorf("link %s still answers (round trip %s)", link, rtt.Round(time.Millisecond))
	case hang && !errors.Is(err, stacks.ErrPingTimeout):
		return fmt.Errorf("link %s fails fast instead of hanging: %v", link, err)
	case !hang && errors.Is(err, stacks.ErrPingTimeout):
		return fmt.Errorf("link %s hangs instead of failing: %v", link, err)
	}
	return nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }
