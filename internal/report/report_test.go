package report

import (
	"bytes"
	"encoding/json"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

const ms = time.Millisecond

func op(client int, kind history.Kind, key, value string, inv, comp int, out history.Outcome) history.Op {
	return history.Op{Client: client, Kind: kind, Key: key, Value: value,
		Invoke: time.Duration(inv) * ms, Complete: time.Duration(comp) * ms, Outcome: out}
}

// syntheticHistory is a 3 s run with the db killed from 1 s to 2 s. By
// construction: 12 requests (10 ok, 1 failed, 1 unknown), 6 acknowledged
// writes of which one (k5=z) is missing from the read-back, 4 successful
// reads of which 2 are stale and 1 of those a read-your-writes violation.
func syntheticHistory() history.History {
	W, R := history.Write, history.Read
	OK, F, U := history.OK, history.Failed, history.Unknown
	return history.History{
		Ops: []history.Op{
			// before [0, 1s)
			op(1, W, "k1", "v1", 100, 110, OK),
			op(2, R, "k1", "v1", 200, 205, OK),
			op(1, W, "k2", "a", 300, 320, OK),
			op(4, W, "k4", "p", 400, 410, OK),
			// during [1s, 2s)
			op(3, W, "k3", "x", 1100, 1101, F),
			op(2, R, "k1", "", 1200, 2200, U),
			op(3, W, "k2", "b", 1300, 1310, OK),
			op(2, R, "k2", "a", 1400, 1405, OK), // stale: b was acknowledged
			op(4, W, "k4", "q", 1500, 1510, OK),
			op(4, R, "k4", "p", 1600, 1605, OK), // stale, and client 4 wrote q
			// after [2s, 3s)
			op(5, W, "k5", "z", 2100, 2110, OK), // lost
			op(1, R, "k1", "v1", 2500, 2502, OK),
		},
		Events: []history.Event{
			{At: 1000 * ms, Kind: history.FaultInjected, Fault: "kill db"},
			{At: 2000 * ms, Kind: history.FaultHealed, Fault: "kill db"},
		},
		End:   3000 * ms,
		Final: map[string]string{"k1": "v1", "k2": "b", "k3": "", "k4": "q", "k5": ""},
	}
}

// syntheticResult judges the history as the engine does: evidence from the
// check package, then guarantees; no-lost-writes breaks.
func syntheticResult(h history.History) *engine.Result {
	ev := stage.Evidence{}
	if wins, err := check.Windows(h); err == nil {
		ev.Windows = wins
		ev.Before = check.AvailabilityIn(h, wins.Before)
		ev.During = check.AvailabilityIn(h, wins.During)
		ev.After = check.AvailabilityIn(h, wins.After)
		ev.LatencyDuring = check.LatencyIn(h, wins.During)
		ev.Recovery, _ = check.RecoveryTime(h, 250*ms, 0.99)
	}
	ev.Overall = check.AvailabilityIn(h, check.WholeRun(h))
	ev.Latency = check.LatencyIn(h, check.WholeRun(h))
	ev.Lost = check.LostAcknowledgedWrites(h)
	ev.Stale = check.FindStaleReads(h)
	ev.RYW = check.FindRYWViolations(h)

	var v verdict.Verdict
	v.Add(
		verdict.AvailabilityAtLeast("stays-available", ev.During, 0.5),
		verdict.RecoveredWithin(ev.Recovery, time.Second, false),
		verdict.NoLostWrites(ev.Lost),
	)
	spec := engine.Spec{Stage: "separate-db", Fault: "kill-db", Set: stage.Settings{"timeout": "3s"}}
	spec.Workload.Rate = 100
	return &engine.Result{
		Spec:     spec,
		Settings: stage.Settings{"timeout": "3s", "durability": "sync"},
		RunID:    "1127-120000-abcdef",
		Seed:     42,
		Started:  time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		History:  h,
		Evidence: ev,
		Verdict:  v,
		Topology: stacks.Topology{
			Name: "separate-db",
			Nodes: []stacks.Node{
				{Name: "db", Role: stacks.Role{Kind: "postgres"}},
				{Name: "web", Role: stacks.Role{Kind: "mysite"}},
			},
			Links: []stacks.Link{{From: stacks.Client, To: "web"}, {From: "web", To: "db"}},
		},
	}
}

// decode reads JSON keeping numbers exact (the seed does not fit a float64).
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("report.json does not decode: %v", err)
	}
	return m
}

func obj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: want an object, got %T %v", key, m[key], m[key])
	}
	return o
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("%s: want a number, got %T %v", key, m[key], m[key])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return f
}

func wantNum(t *testing.T, m map[string]any, key string, want float64) {
	t.Helper()
	if got := num(t, m, key); math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", key, got, want)
	}
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q", what, k)
		}
	}
}

func TestReportJSONContract(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "run"), syntheticResult(syntheticHistory())); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "run", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, data)
	wantKeys(t, "report", m, "stage", "fault", "control", "settings", "seed", "run_id", "timeline", "requests",
		"availability", "recovery_s", "latency_ms", "latency_during_ms", "writes", "reads", "sessions", "guarantees",
		"assumptions_failed", "passed", "rerun", "buckets", "topology")

	if m["stage"] != "separate-db" || m["fault"] != "kill-db" || m["control"] != "" || m["run_id"] != "1127-120000-abcdef" {
		t.Errorf("identity: stage %v fault %v control %q run_id %v", m["stage"], m["fault"], m["control"], m["run_id"])
	}
	if m["seed"].(json.Number).String() != "42" {
		t.Errorf("seed = %v", m["seed"])
	}
	if s := obj(t, m, "settings"); s["timeout"] != "3s" || s["durability"] != "sync" || len(s) != 2 {
		t.Errorf("settings = %v", s)
	}

	tl := obj(t, m, "timeline")
	wantKeys(t, "timeline", tl, "fault_at_s", "heal_at_s", "end_s")
	wantNum(t, tl, "fault_at_s", 1)
	wantNum(t, tl, "heal_at_s", 2)
	wantNum(t, tl, "end_s", 3)

	req := obj(t, m, "requests")
	wantNum(t, req, "total", 12)
	wantNum(t, req, "ok", 10)
	wantNum(t, req, "failed", 1)
	wantNum(t, req, "unknown", 1)

	av := obj(t, m, "availability")
	wantKeys(t, "availability", av, "overall", "before", "during", "after")
	wantNum(t, av, "overall", 10.0/12)
	wantNum(t, av, "before", 1)
	wantNum(t, av, "during", 4.0/6)
	wantNum(t, av, "after", 1)

	// The first 250 ms bucket after the injection holds the failed and the
	// unknown op; every later non-empty bucket is all ok.
	wantNum(t, m, "recovery_s", 0.25)

	lat := obj(t, m, "latency_ms")
	wantKeys(t, "latency_ms", lat, "p50", "p90", "p99", "max")
	wantNum(t, lat, "max", 1000)
	if p50 := num(t, lat, "p50"); math.Abs(p50-10) > 0.1 { // hdrhistogram: 3 significant digits
		t.Errorf("latency_ms.p50 = %v, want ~10", p50)
	}
	during := obj(t, m, "latency_during_ms")
	wantKeys(t, "latency_during_ms", during, "p50", "p90", "p99", "max")
	wantNum(t, during, "p99", 1000)
	wantNum(t, during, "max", 1000)
	// By kind: the unknown read is the slow one; a write failed.
	byKind := obj(t, m, "during_by_kind")
	if len(byKind) != 2 {
		t.Fatalf("during_by_kind = %v, want read and write", byKind)
	}
	reads, writes := obj(t, byKind, "read"), obj(t, byKind, "write")
	wantNum(t, reads, "availability", 2.0/3)
	wantNum(t, writes, "availability", 2.0/3)
	wantNum(t, obj(t, reads, "latency_ms"), "max", 1000)
	wantNum(t, obj(t, writes, "latency_ms"), "max", 10)

	w := obj(t, m, "writes")
	wantNum(t, w, "acknowledged", 6)
	wantNum(t, w, "lost", 1)
	r := obj(t, m, "reads")
	wantNum(t, r, "total", 4)
	wantNum(t, r, "stale", 2)
	wantNum(t, r, "ryw_violations", 1)
	stale := check.FindStaleReads(syntheticHistory())
	wantNum(t, r, "max_staleness_ms", float64(stale.MaxStaleness)/float64(time.Millisecond))
	wantNum(t, r, "max_versions_behind", float64(stale.MaxVersionsBehind))
	if stale.MaxStaleness <= 0 || stale.MaxVersionsBehind <= 0 {
		t.Fatalf("the synthetic history has no measurably stale read: %v", stale)
	}
	s := obj(t, m, "sessions")
	wantNum(t, s, "total", 0)
	wantNum(t, s, "lost", 0)

	gs, ok := m["guarantees"].([]any)
	if !ok || len(gs) != 3 {
		t.Fatalf("guarantees = %v", m["guarantees"])
	}
	var broken []string
	for _, g := range gs {
		g := g.(map[string]any)
		wantKeys(t, "guarantee", g, "name", "threshold", "measured", "holds", "detail")
		if g["holds"] == false {
			broken = append(broken, g["name"].(string))
		}
	}
	if !slices.Equal(broken, []string{"no lost acknowledged writes"}) {
		t.Errorf("broken guarantees = %v", broken)
	}
	if a, ok := m["assumptions_failed"].([]any); !ok || len(a) != 0 {
		t.Errorf("assumptions_failed = %#v, want []", m["assumptions_failed"])
	}
	if m["passed"] != false {
		t.Errorf("passed = %v", m["passed"])
	}
	if want := "scalelab run separate-db --fault kill-db --seed 42 --set timeout=3s"; m["rerun"] != want {
		t.Errorf("rerun = %q, want %q", m["rerun"], want)
	}

	bs, ok := m["buckets"].([]any)
	if !ok || len(bs) != 12 {
		t.Fatalf("buckets: want 12 of 250 ms over 3 s, got %v", m["buckets"])
	}
	b0 := bs[0].(map[string]any)
	wantKeys(t, "bucket", b0, "t_s", "ok", "failed", "unknown", "p50_ms", "p99_ms")
	wantNum(t, b0, "t_s", 0)
	wantNum(t, b0, "ok", 2)
	wantNum(t, b0, "p50_ms", 5)
	wantNum(t, b0, "p99_ms", 10)
	if b3 := bs[3].(map[string]any); b3["p50_ms"] != nil || b3["p99_ms"] != nil {
		t.Errorf("empty bucket [750ms, 1s): latencies must be null, got %v", b3)
	}
	b4 := bs[4].(map[string]any)
	wantNum(t, b4, "t_s", 1)
	wantNum(t, b4, "failed", 1)
	wantNum(t, b4, "unknown", 1)
	wantNum(t, b4, "p99_ms", 1000)

	top := obj(t, m, "topology")
	nodes, _ := top["nodes"].([]any)
	links, _ := top["links"].([]any)
	if len(nodes) != 2 || len(links) != 2 || links[0] != "client->web" || links[1] != "web->db" {
		t.Fatalf("topology = %v", top)
	}
	if n := nodes[0].(map[string]any); n["name"] != "db" || n["kind"] != "postgres" {
		t.Errorf("node 0 = %v", n)
	}
}

// An empty window is null, not 0 (an outage) or 1 (all good); a run that
// never recovered has a null recovery time.
func TestReportNullsForMissingData(t *testing.T) {
	h := syntheticHistory()
	var kept []history.Op
	for _, o := range h.Ops {
		if o.Invoke < 2000*ms || o.Outcome != history.OK {
			kept = append(kept, o)
		}
	}
	// Nothing after the heal, and the last op of the fault window failed.
	h.Ops = append(kept, op(6, history.Read, "k1", "", 1900, 1950, history.Failed))
	rep := FromResult(syntheticResult(h))
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, data)
	av := obj(t, m, "availability")
	if v, ok := av["after"]; !ok || v != nil {
		t.Errorf("availability.after = %v (present %v), want null", v, ok)
	}
	if av["before"] == nil || av["during"] == nil {
		t.Errorf("availability before/during must have data: %v", av)
	}
	if v, ok := m["recovery_s"]; !ok || v != nil {
		t.Errorf("recovery_s = %v (present %v), want null", v, ok)
	}

	// No fault at all: no windows, so every windowed number is null.
	h.Events = nil
	m2 := decode(t, mustJSON(t, FromResult(syntheticResult(h))))
	tl := obj(t, m2, "timeline")
	if tl["fault_at_s"] != nil || tl["heal_at_s"] != nil {
		t.Errorf("timeline without a fault: %v", tl)
	}
	if d := obj(t, m2, "latency_during_ms"); d["p99"] != nil {
		t.Errorf("latency_during_ms without a fault: %v", d)
	}
	if av := obj(t, m2, "availability"); av["overall"] == nil || av["during"] != nil {
		t.Errorf("availability without a fault: %v", av)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReportControlAndRerun(t *testing.T) {
	r := syntheticResult(syntheticHistory())
	r.Spec.Control = "commits acknowledged before they are durable"
	r.Control = &stage.Control{Name: r.Spec.Control, Breaks: []string{stage.NoLostWrites}}
	r.Spec.With = []string{"db-down"}
	r.Spec.Set = stage.Settings{"timeout": "3s", "note": "it's here"}
	r.Spec.Workload.Rate = 50
	rep := FromResult(r)
	if !slices.Equal(rep.ExpectBreak, []string{stage.NoLostWrites}) {
		t.Errorf("expect_break from the run's control = %v", rep.ExpectBreak)
	}
	want := `scalelab run separate-db --fault kill-db --fault db-down --control 'commits acknowledged before they are durable' --seed 42 --set 'note=it'\''s here' --set timeout=3s --rate 50`
	if rep.Rerun != want {
		t.Errorf("rerun:\n got %s\nwant %s", rep.Rerun, want)
	}
	if rep.StageNumber != 2 || rep.StageTitle == "" {
		t.Errorf("stage number/title from the registry: %d %q", rep.StageNumber, rep.StageTitle)
	}
}

// external matches anything that would make the page load something: a
// URL with a scheme or protocol-relative, a script, a stylesheet or image
// reference, a CSS import or a url() that is not a local #fragment.
var external = regexp.MustCompile(`(?i)(https?:|//[a-z0-9]|<script|<link|<img|<iframe|@import|url\((?:[^#)]))`)

func TestReportHTMLIsSelfContained(t *testing.T) {
	dir := t.TempDir()
	r := syntheticResult(syntheticHistory())
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"report.html", "report.json"}) {
		t.Errorf("files written: %v, want report.html and report.json only", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	if m := external.FindString(page); m != "" {
		t.Errorf("report.html references something external: %q", m)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("report.html contains a URL")
	}
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("want 2 inline SVGs (stack and timeline), got %d", n)
	}
	text := html.UnescapeString(page)
	rep := FromResult(r)
	for _, want := range []string{
		"separate-db", "kill-db", "FAILED", rep.Rerun,
		"stays-available", "recovery time (from inject)", "no lost acknowledged writes",
		"client->web", "web->db", "toxiproxy", "fault 1 s", "heal 2 s", "⚡ kill",
		"timeout", "3s", "42",
		"during: reads 66.67% · writes 66.67%", "reads 1 s · writes 10 ms",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.html does not show %q", want)
		}
	}
	if !strings.Contains(page, `class="bar-failed"`) || !strings.Contains(page, `class="lat-p99"`) {
		t.Errorf("the timeline chart has no failed bars or p99 line")
	}
}

func TestReportHTMLEmptyRun(t *testing.T) {
	r := syntheticResult(history.History{})
	r.Verdict = verdict.Verdict{Assumptions: []string{"history has no operations: the workload did not run"}}
	page, err := renderHTML(FromResult(r))
	if err != nil {
		t.Fatal(err)
	}
	text := html.UnescapeString(string(page))
	for _, want := range []string{"DOES NOT COUNT", "the workload did not run", "nothing to chart"} {
		if !strings.Contains(text, want) {
			t.Errorf("empty run: page does not show %q", want)
		}
	}
}

// The stack's samples are summarised per window: the highest value in
// each, null where the window has no sample of that name.
func TestSampledPeaksPerWindow(t *testing.T) {
	w := check.FaultWindows{
		Before: check.Window{From: 0, To: 4 * time.Second},
		During: check.Window{From: 4 * time.Second, To: 9 * time.Second},
		After:  check.Window{From: 9 * time.Second, To: 17 * time.Second},
	}
	samples := []check.CounterSample{
		{At: 1 * time.Second, Values: map[string]float64{"lag": 3}},
		{At: 5 * time.Second, Values: map[string]float64{"lag": 2000, "reads": 10}},
		{At: 6 * time.Second, Values: map[string]float64{"lag": 1500, "reads": 20}},
		{At: 10 * time.Second, Values: map[string]float64{"lag": 7}},
	}
	got := sampled(samples, w)
	if len(got) != 2 || got[0].Name != "lag" || got[1].Name != "reads" {
		t.Fatalf("names = %+v, want lag, reads", got)
	}
	lag, reads := got[0], got[1]
	for _, c := range []struct {
		name string
		v    *float64
		want float64
	}{{"lag before", lag.MaxBefore, 3}, {"lag during", lag.MaxDuring, 2000}, {"lag after", lag.MaxAfter, 7}, {"reads during", reads.MaxDuring, 20}} {
		if c.v == nil || *c.v != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.v, c.want)
		}
	}
	if reads.MaxBefore != nil || reads.MaxAfter != nil {
		t.Errorf("reads before/after = %v/%v, want null (no sample)", reads.MaxBefore, reads.MaxAfter)
	}
}

// A write of unknown outcome seen after a later acknowledged write is a
// late write in report.json, not a lost one; sessions and attempts come
// from the run.
func TestReportLateWritesSessionsAttempts(t *testing.T) {
	W, R := history.Write, history.Read
	h := history.History{
		Ops: []history.Op{
			op(1, W, "a", "a0", 1100, 1105, history.Unknown),
			op(1, W, "a", "a1", 1110, 1120, history.OK),
			op(1, R, "a", "a0", 1130, 1135, history.OK),
		},
		Events: []history.Event{
			{At: 1000 * ms, Kind: history.FaultInjected, Fault: "f"},
			{At: 2000 * ms, Kind: history.FaultHealed, Fault: "f"},
		},
		End:   3000 * ms,
		Final: map[string]string{"a": "a0"},
	}
	res := syntheticResult(h)
	res.Evidence.Sessions = check.Sessions{Total: 7, Lost: []check.LostSession{{Session: "s1"}}}
	res.Attempt, res.Attempts = 2, 3
	rep := FromResult(res)
	if rep.Writes.Lost != 0 || rep.Writes.Late.Count != 1 || len(rep.Writes.Late.Keys) != 1 || rep.Writes.Late.Keys[0] != "a" {
		t.Errorf("writes = %+v; want 0 lost, 1 late write on key a", rep.Writes)
	}
	if rep.Sessions.Total != 7 || rep.Sessions.Lost != 1 {
		t.Errorf("sessions = %+v; want 7 total, 1 lost", rep.Sessions)
	}
	if rep.Attempts != 2 || rep.AttemptsAllowed != 3 {
		t.Errorf("attempts = %d of %d; want 2 of 3", rep.Attempts, rep.AttemptsAllowed)
	}
	b, _ := json.Marshal(rep)
	for _, field := range []string{`"late":{"count":1,"keys":["a"]}`, `"sessions":{"total":7,"lost":1}`, `"attempts":2`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("report.json lacks %s", field)
		}
	}
}

// cacheSamples: Redis's and the database's counters, as stage 5 samples
// them, over syntheticHistory's windows (fault from 1 s to 2 s). Redis is
// killed during the fault and comes back with its counters at 0; after the
// heal only one sample carries them.
func cacheSamples() []check.CounterSample {
	s := func(at int, vals map[string]float64) check.CounterSample {
		return check.CounterSample{At: time.Duration(at) * ms, Values: vals}
	}
	c := func(hits, misses, tx float64) map[string]float64 {
		return map[string]float64{stacks.CounterCacheHits: hits, stacks.CounterCacheMisses: misses,
			stacks.CounterCacheEvicted: 0, stacks.CounterDBTransactions: tx}
	}
	dbOnly := func(tx float64) map[string]float64 { return map[string]float64{stacks.CounterDBTransactions: tx} }
	return []check.CounterSample{
		// before [0, 1s): +90 hits, +30 misses, +30 transactions in 0.75 s
		s(0, c(0, 0, 0)), s(250, c(30, 10, 10)), s(500, c(60, 20, 20)), s(750, c(90, 30, 30)),
		// during [1s, 2s): Redis gone, then back from 0: +2 hits, +8 misses;
		// +45 transactions in 0.75 s
		s(1000, c(100, 32, 35)), s(1250, dbOnly(50)), s(1500, dbOnly(65)), s(1750, c(2, 8, 80)),
		// after [2s, 3s): one sample
		s(2500, c(50, 10, 100)),
	}
}

// The cache section: what each window added to the counters, across the
// restart of Redis; null where a window has fewer than two samples.
func TestReportCacheSection(t *testing.T) {
	r := syntheticResult(syntheticHistory())
	r.Evidence.Counters = cacheSamples()
	m := decode(t, mustJSON(t, FromResult(r)))
	cache := obj(t, m, "cache")
	wantKeys(t, "cache", cache, "before", "during", "after")
	if len(cache) != 3 {
		t.Errorf("cache = %v, want before, during, after only", cache)
	}

	before := obj(t, cache, "before")
	wantNum(t, before, "hits", 90)
	wantNum(t, before, "misses", 30)
	wantNum(t, before, "hit_ratio", 0.75)
	wantNum(t, before, "db_queries_per_s", 40)

	during := obj(t, cache, "during")
	wantNum(t, during, "hits", 2)
	wantNum(t, during, "misses", 8)
	wantNum(t, during, "hit_ratio", 0.2)
	wantNum(t, during, "db_queries_per_s", 60)

	after := obj(t, cache, "after")
	for _, k := range []string{"hits", "misses", "hit_ratio", "db_queries_per_s"} {
		if v, ok := after[k]; !ok || v != nil {
			t.Errorf("after.%s = %v (present %v), want null", k, v, ok)
		}
	}

	// No hits or misses at all: no ratio, but counts of 0.
	r.Evidence.Counters = []check.CounterSample{
		{At: 100 * ms, Values: map[string]float64{stacks.CounterCacheHits: 5, stacks.CounterCacheMisses: 5}},
		{At: 600 * ms, Values: map[string]float64{stacks.CounterCacheHits: 5, stacks.CounterCacheMisses: 5}},
	}
	before = obj(t, obj(t, decode(t, mustJSON(t, FromResult(r))), "cache"), "before")
	wantNum(t, before, "hits", 0)
	wantNum(t, before, "misses", 0)
	if before["hit_ratio"] != nil || before["db_queries_per_s"] != nil {
		t.Errorf("before = %v, want hit_ratio and db_queries_per_s null", before)
	}
}

// Runs that did not sample the cache's counters have no cache section.
func TestReportNoCacheSection(t *testing.T) {
	r := syntheticResult(syntheticHistory())
	r.Evidence.Counters = []check.CounterSample{{At: 100 * ms, Values: map[string]float64{"web-1": 3}}}
	rep := FromResult(r)
	if rep.Cache != nil {
		t.Errorf("cache = %+v, want none", rep.Cache)
	}
	if _, ok := decode(t, mustJSON(t, rep))["cache"]; ok {
		t.Error("report.json has a cache section")
	}
	page, err := renderHTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "The cache") {
		t.Error("report.html has a cache table")
	}
}

// The cache table shows each window's numbers.
func TestReportHTMLCacheTable(t *testing.T) {
	r := syntheticResult(syntheticHistory())
	r.Evidence.Counters = cacheSamples()
	page, err := renderHTML(FromResult(r))
	if err != nil {
		t.Fatal(err)
	}
	text := html.UnescapeString(string(page))
	for _, want := range []string{
		`<td>before</td><td class="num">90</td><td class="num">30</td><td class="num">75%</td><td class="num">40</td>`,
		`<td>during</td><td class="num">2</td><td class="num">8</td><td class="num">20%</td><td class="num">60</td>`,
		`<td>after</td><td class="num">–</td><td class="num">–</td><td class="num">no data</td><td class="num">–</td>`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
}
