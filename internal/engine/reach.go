package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// reach is how the clients get to a booted stack: its entry's URL, and for
// a site reached by name (stage 8) the resolver the workload's clients use
// and a dialer that resolves as client 0 does (unrecorded) for the engine's
// own requests.
type reach struct {
	base    string
	resolve *workload.Resolve
	dial    workload.DialFunc
}

// reachStack finds the stack's entry and waits until it serves the stage's
// readiness path (60 s at most).
func reachStack(ctx context.Context, st stage.Stage, set stage.Settings, stack *stacks.Stack) (reach, error) {
	var r reach
	base, err := stack.URL(ctx, st.Entry)
	if err != nil {
		return r, err
	}
	// A site reached by name: the clients resolve it through the DNS
	// server behind Entry; the engine's own requests (the readiness wait,
	// the read-back) through a resolver of client 0's network, unrecorded.
	if st.Site != nil {
		site := st.Site(set)
		dns, err := stack.Addr(ctx, st.Entry)
		if err != nil {
			return r, err
		}
		r.resolve = &workload.Resolve{Server: dns, Subnet: site.Subnet, NoCache: site.NoCache}
		r.dial = workload.NewResolver(*r.resolve, 0, nil, nil).DialContext
		base = "http://" + site.Name
	}
	r.base = base
	ready := st.Ready
	if ready == "" {
		ready = "/readyz"
	}
	if err := workload.WaitServingVia(ctx, base+ready, 60*time.Second, r.dial); err != nil {
		return r, fmt.Errorf("stack %s never served %s%s: %w", st.ID, base, ready, err)
	}
	return r, nil
}

// stageWorkload is wcfg with what the stage's clients do: page loads with
// their assets from the edge (stage 6), the stage's service, a resolver for
// a site reached by name.
func stageWorkload(ctx context.Context, st stage.Stage, set stage.Settings, stack *stacks.Stack, r reach, wcfg workload.Config) (workload.Config, error) {
	if st.PageLoads != nil {
		pages := st.PageLoads(set)
		edge, err := stack.URL(ctx, st.EdgeLink)
		if err != nil {
			return wcfg, fmt.Errorf("the edge's address (%s): %w", st.EdgeLink, err)
		}
		pages.Edge = edge
		wcfg.Assets = &pages
	}
	wcfg.Service = st.Service
	wcfg.Resolve = r.resolve
	return wcfg, nil
}

// describeWorkload is the line a run narrates about its clients.
func describeWorkload(st stage.Stage, wcfg workload.Config) string {
	if p := wcfg.Assets; p != nil {
		return fmt.Sprintf("workload: %.0f page loads/s (the page from %s, its assets from %s, fallback to the origin %v), %d clients, %s",
			wcfg.Rate, st.Entry, st.EdgeLink, p.Fallback, wcfg.Clients, wcfg.Duration)
	}
	return fmt.Sprintf("workload: %.0f ops/s, %d clients, %d keys, %.0f%% reads, %s",
		wcfg.Rate, wcfg.Clients, wcfg.Keys, wcfg.ReadRatio*100, wcfg.Duration)
}
