package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Live is scalelab up's page: the stack's diagram, a chart of the last
// minute fed by the page's event stream (LiveUpdate), and a button per
// fault. The page is one HTML file with its script inline: nothing is
// fetched from anywhere but the scalelab that serves it.
type Live struct {
	Stage    string
	Number   int
	Title    string
	Settings string
	// Token goes with every request the page makes: the event stream's
	// URL, and the fault and heal requests' Authorization header.
	Token  string
	Faults []LiveFault

	diagram svg
}

// LiveFault is a fault's button and the settings it takes.
type LiveFault struct {
	ID, Help string
	Settings []LiveSetting
}

// LiveSetting is one of a fault's settings, with its default.
type LiveSetting struct{ Name, Default, Help string }

// LiveUpdate is one message of the live page's event stream.
type LiveUpdate struct {
	NowS float64 `json:"now_s"`
	// Buckets are the last minute's, LiveBucket wide: the newest ones fill
	// in as their requests complete.
	Buckets []Bucket `json:"buckets"`
	Events  []Event  `json:"events"`
	// Nodes and Links that are not as they should be: "down" (the node's
	// container is not running), "standby" (a spare not running) or
	// "faulted" (a fault the user injected targets it).
	Nodes map[string]string `json:"nodes"`
	Links map[string]string `json:"links"`
	// Active are the faults injected and not healed.
	Active []string `json:"active"`
	// Recent is the last 5 s of requests, complete ones only.
	Recent LiveRecent `json:"recent"`
	// Guarantees are the last fault's, judged on its window so far.
	Guarantees []LiveGuarantee `json:"guarantees"`
}

// LiveGuarantee is one guarantee of the fault injected last, as judged on
// what the live workload saw since the injection.
type LiveGuarantee struct {
	Fault     string `json:"fault"`
	Name      string `json:"name"`
	Result    string `json:"result"` // holds, broken, not judged
	Threshold string `json:"threshold"`
	Measured  string `json:"measured"`
}

// LiveGuarantees turns a verdict's guarantees into the page's rows.
func LiveGuarantees(fault string, gs []verdict.Guarantee) []LiveGuarantee {
	out := []LiveGuarantee{}
	for _, g := range gs {
		r := LiveGuarantee{Fault: fault, Name: g.Name, Threshold: g.Threshold, Measured: g.Measured, Result: "broken"}
		switch {
		case g.NotJudged != "":
			r.Result, r.Measured = "not judged", g.NotJudged
		case g.Holds:
			r.Result = "holds"
		}
		out = append(out, r)
	}
	return out
}

// LiveRecent sums up the requests of a recent window.
type LiveRecent struct {
	WindowS      float64  `json:"window_s"`
	Requests     int      `json:"requests"`
	Availability *float64 `json:"availability"`
	P99MS        *float64 `json:"p99_ms"`
}

// LiveBucket is the chart's bucket, as report.html's.
const LiveBucket = defaultBucket

// liveSpan is how much the chart shows.
const liveSpan = time.Minute

// NewLive is the page of a stage's stack.
func NewLive(t stacks.Topology, stage string, number int, title, settings, token string, fs []LiveFault) Live {
	return Live{Stage: stage, Number: number, Title: title, Settings: settings, Token: token, Faults: fs,
		diagram: stackDiagram(topologyOf(t), nil)}
}

// Render writes the page.
func (l Live) Render(w io.Writer) error {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, "live.html.tmpl", struct {
		Live
		Diagram svg
	}{l, l.diagram}); err != nil {
		return fmt.Errorf("render the live page: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// LiveBuckets are the chart's buckets of h (a recent part of a live
// workload's history) for the minute before now: ops by their invocation,
// as report.html's.
func LiveBuckets(h history.History, now time.Duration) []Bucket {
	from := max(now-liveSpan, 0)
	// Whole buckets on a fixed grid, so that a bucket keeps its place
	// from one update to the next.
	from -= from % LiveBucket
	return buckets(h, check.Window{From: from, To: now}, LiveBucket)
}

// LiveSummary sums up the ops that completed in the window before now,
// whenever they were sent: what the clients saw lately (a timeout shows
// when it runs out).
func LiveSummary(h history.History, now, window time.Duration) LiveRecent {
	r := LiveRecent{WindowS: seconds(window)}
	ok := 0
	var lat []time.Duration
	for _, op := range h.Ops {
		if op.Complete < now-window || op.Complete >= now {
			continue
		}
		r.Requests++
		if op.Outcome == history.OK {
			ok++
		}
		lat = append(lat, max(op.Latency(), 0))
	}
	if r.Requests > 0 {
		r.Availability = ptr(round(float64(ok)/float64(r.Requests), 4))
		slices.Sort(lat)
		r.P99MS = ptr(millis(quantile(lat, 0.99)))
	}
	return r
}

// LiveEvents are h's fault events, as report.html's.
func LiveEvents(h history.History) []Event { return events(h) }
