package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/stacks"
)

// livePage is `scalelab up`'s page (issue 19): the page itself, and its
// event stream of the live workload's last minute, the nodes' state and the
// faults in place. Both need the token `scalelab up` printed with the URL;
// the fault and heal buttons post to the controller, which needs it too.
type livePage struct {
	page  report.Live
	live  *engine.Live
	ctl   *controller
	stage stage.Stage
	nodes atomic.Pointer[map[string]string] // node -> "down" or "standby", refreshed by watchNodes
	// judged is the last fault's guarantees, refreshed by judgeLast.
	judged atomic.Pointer[[]report.LiveGuarantee]
}

// liveEvery is how often the page gets an update; liveNodesEvery how often
// the nodes' containers are looked at (one Docker API call each).
const (
	liveEvery      = 500 * time.Millisecond
	liveNodesEvery = time.Second
	liveRecent     = 5 * time.Second
)

func newLivePage(ctx context.Context, st stage.Stage, set stage.Settings, stack *stacks.Stack, live *engine.Live, ctl *controller) *livePage {
	var fs []report.LiveFault
	for _, f := range st.Faults {
		lf := report.LiveFault{ID: f.ID, Help: f.Help}
		for _, s := range f.Settings {
			def := s.Default
			if v, ok := set[s.Name]; ok {
				def = v
			}
			lf.Settings = append(lf.Settings, report.LiveSetting{Name: s.Name, Default: def, Help: s.Help})
		}
		fs = append(fs, lf)
	}
	p := &livePage{
		page:  report.NewLive(stack.Topology, st.ID, st.Number, st.Title, set.String(), ctl.token, fs),
		live:  live,
		ctl:   ctl,
		stage: st,
	}
	p.nodes.Store(&map[string]string{})
	go p.watchNodes(ctx, stack)
	go p.judgeLast(ctx)
	return p
}

func (p *livePage) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serve)
	mux.HandleFunc("GET /events", p.events)
}

// tokenOK: the page and its stream take the token as a query parameter
// (an EventSource cannot send headers); the URL with it is printed only
// to the terminal of the user who started scalelab up.
func (p *livePage) tokenOK(w http.ResponseWriter, r *http.Request) bool {
	got := r.URL.Query().Get("token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.ctl.token)) != 1 {
		http.Error(w, "open the URL scalelab up printed: it carries the page's token", http.StatusUnauthorized)
		return false
	}
	return true
}

func (p *livePage) serve(w http.ResponseWriter, r *http.Request) {
	if !p.tokenOK(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page names no other origin: no script, style or image from
	// elsewhere, and no page may frame it.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	if err := p.page.Render(w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// events streams a report.LiveUpdate every liveEvery as server-sent events
// until the page goes away or scalelab up stops.
func (p *livePage) events(w http.ResponseWriter, r *http.Request) {
	if !p.tokenOK(w, r) {
		return
	}
	flush, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		data, err := json.Marshal(p.update())
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return
		}
		flush.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// update is what the page shows now.
func (p *livePage) update() report.LiveUpdate {
	now := p.live.Rec.Clock().Now()
	// Ops invoked in the last minute complete at most a timeout later.
	h := p.live.Rec.Recent(max(now-time.Minute-p.live.Timeout, 0))
	u := report.LiveUpdate{
		NowS:    now.Seconds(),
		Buckets: report.LiveBuckets(h, now),
		Events:  report.LiveEvents(h),
		Nodes:   map[string]string{},
		Links:   map[string]string{},
		Recent:  report.LiveSummary(h, now, liveRecent),
	}
	u.Guarantees = []report.LiveGuarantee{}
	if g := p.judged.Load(); g != nil {
		u.Guarantees = *g
	}
	for n, s := range *p.nodes.Load() {
		u.Nodes[n] = s
	}
	u.Active = []string{}
	if fs := p.ctl.shown.Load(); fs != nil {
		u.Active = append(u.Active, fs.Active...) // never null in the JSON: the page reads it as a list
		for t := range fs.Targets {
			if strings.Contains(t, "->") {
				u.Links[t] = "faulted"
			} else if _, down := u.Nodes[t]; !down {
				u.Nodes[t] = "faulted"
			}
		}
	}
	return u
}

// watchNodes looks at every node's container every liveNodesEvery: one that
// is not running is down, whatever stopped it, or a standby.
func (p *livePage) watchNodes(ctx context.Context, stack *stacks.Stack) {
	tick := time.NewTicker(liveNodesEvery)
	defer tick.Stop()
	for {
		down := map[string]string{}
		for _, n := range stack.NodeNames() {
			c, err := stack.Container(n)
			if err != nil {
				continue // a standby not started yet
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := c.State(cctx)
			cancel()
			if err == nil && !st.Running {
				down[n] = "down"
				if node, _ := stack.Topology.Node(n); node.Standby {
					// Not started yet (scale-out's spare), or stopped
					// by a fault: either way not a failure of its own.
					down[n] = "standby"
				}
			}
		}
		p.nodes.Store(&down)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// liveJudgeEvery is how often the last fault's guarantees are judged again;
// liveJudgeFor how long after its heal (their bounds are shorter).
const (
	liveJudgeEvery = time.Second
	liveJudgeFor   = 2 * time.Minute
	liveJudgeLead  = 10 * time.Second // of the workload before the injection: the "before" window
)

// judgeLast judges the last fault's guarantees every liveJudgeEvery on what
// the live workload saw from liveJudgeLead before its injection, until
// liveJudgeFor after its heal.
func (p *livePage) judgeLast(ctx context.Context) {
	tick := time.NewTicker(liveJudgeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fs := p.ctl.shown.Load()
		if fs == nil || fs.Last == nil {
			continue
		}
		last := fs.Last
		now := p.live.Rec.Clock().Now()
		if last.Heal > 0 && now > last.Heal+liveJudgeFor {
			continue
		}
		h := p.live.Rec.Recent(max(last.Inject-liveJudgeLead, 0))
		gs, err := engine.LiveVerdict(p.stage, last.ID, last.Set, h, last.Inject, last.Heal, now-p.live.Timeout, p.live.Timeout)
		if err != nil {
			continue
		}
		rows := report.LiveGuarantees(last.ID, gs)
		p.judged.Store(&rows)
	}
}
