package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/history"
)

// The templates are files beside the code so that the HTML reads as HTML;
// they are compiled into the binary, so a report never depends on where
// scalelab runs from.
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"n":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"join": strings.Join,
	"pct":  pct,
	"ptrf": func(v float64) *float64 { return &v },
	"ms":   msOrNone,
	"num": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatFloat(round(*v, 3), 'f', -1, 64)
	},
	"sec": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return secs(*v)
	},
}).ParseFS(templateFiles, "templates/*.tmpl"))

// Write writes dir/report.json and dir/report.html for a run, creating dir.
func Write(dir string, r *engine.Result) error {
	return WriteReport(dir, FromResult(r))
}

// WriteReport writes an already computed report (e.g. one read back from
// report.json) as dir/report.json and dir/report.html.
func WriteReport(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: create %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode report.json for %s/%s: %w", rep.Stage, rep.Fault, err)
	}
	page, err := renderHTML(rep)
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{"report.json": append(data, '\n'), "report.html": page} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return fmt.Errorf("report: write %s: %w", name, err)
		}
	}
	return nil
}

// reportPage is what report.html.tmpl renders: the report plus everything
// derived for display, so the template stays free of logic.
type reportPage struct {
	R            Report
	Status       string // PASSED, FAILED, DOES NOT COUNT
	StatusClass  string // pass, fail, void
	Verdict      string // one sentence under the title
	VerdictClass string
	Cards        []card
	Guarantees   []guaranteeRow
	Settings     []setting
	Diagram      svg
	Chart        svg
	Backlog      svg    // a queue's depth over the run (stage 9); zero size otherwise
	FaultNote    string // what the diagram's red (or dashed) marks are
	HasDetail    bool   // some guarantee has a detail: show the column
	Cache        []cacheRow
	Assets       []assetsRow
}

// assetsRow is one window of the report's assets section.
type assetsRow struct {
	Window string
	AssetsWindow
}

// cacheRow is one window of the report's cache section.
type cacheRow struct {
	Window string
	CacheWindow
}

type card struct{ Label, Value, Note, Class string }

type guaranteeRow struct {
	Guarantee
	Result, Class string
}

type setting struct{ Name, Value string }

func renderHTML(rep Report) ([]byte, error) {
	p := reportPage{R: rep, Diagram: stackDiagram(rep.Topology, rep.Timeline.Events), Chart: timelineChart(rep), Backlog: backlogChart(rep)}
	ok, label, detail := runVerdict(rep, rep.ExpectBreak)
	switch {
	case len(rep.AssumptionsFailed) > 0:
		p.Status = "DOES NOT COUNT"
	case rep.Passed:
		p.Status = "PASSED"
	default:
		p.Status = "FAILED"
	}
	// The badge is coloured by whether the run is as it should be, not by
	// its verdict: a control is meant to fail, and a red badge on a control
	// that proved its check can fail reads as a broken system in a workshop.
	p.StatusClass = "fail"
	switch {
	case len(rep.AssumptionsFailed) > 0:
		p.StatusClass = "void"
	case ok:
		p.StatusClass = "pass"
	}
	if rep.Control != "" && ok {
		p.Status += ", AS EXPECTED"
	}
	p.Verdict, p.VerdictClass = label, "bad"
	if ok {
		p.VerdictClass = "good"
	}
	switch {
	case len(rep.AssumptionsFailed) > 0:
		p.Verdict += " — see the failed assumptions below"
	case detail != "":
		p.Verdict += " — " + detail
	}
	p.Cards = cards(rep)
	for _, g := range rep.Guarantees {
		row := guaranteeRow{Guarantee: g, Result: "holds", Class: "good"}
		switch {
		case g.Holds && g.ExpectBreak:
			row.Result, row.Class = "held, but was expected to break ✗", "bad"
		case !g.Holds && g.ExpectBreak:
			row.Result, row.Class = "broke, as expected ✓", "good"
		case !g.Holds:
			row.Result, row.Class = "broke", "bad"
		}
		p.Guarantees = append(p.Guarantees, row)
		p.HasDetail = p.HasDetail || g.Detail != ""
	}
	for k, v := range rep.Settings {
		p.Settings = append(p.Settings, setting{k, v})
	}
	sort.Slice(p.Settings, func(i, j int) bool { return p.Settings[i].Name < p.Settings[j].Name })
	p.FaultNote = faultNote(rep.Timeline.Events)
	if c := rep.Cache; c != nil {
		p.Cache = []cacheRow{{"before", c.Before}, {"during", c.During}, {"after", c.After}}
	}
	if a := rep.Assets; a != nil {
		p.Assets = []assetsRow{{"before", a.Before}, {"during", a.During}, {"after", a.After}}
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "report.html.tmpl", p); err != nil {
		return nil, fmt.Errorf("report: render report.html for %s/%s: %w", rep.Stage, rep.Fault, err)
	}
	return buf.Bytes(), nil
}

// faultNote says what was injected, for the caption under the diagram.
func faultNote(events []Event) string {
	var names []string
	for _, e := range events {
		if e.Kind == "fault-injected" && !slices.Contains(names, e.Fault) {
			names = append(names, e.Fault)
		}
	}
	switch {
	case len(names) == 0:
		return "No fault was injected in this run."
	case len(names) == 1 && isNoOp(names[0]):
		return "This control injected nothing: " + names[0] + " (dashed) stands where the fault would be."
	}
	return "Injected in this run: " + strings.Join(names, ", ") + " (marked on the diagram)."
}

// cards are the few numbers a reader looks for first.
func cards(r Report) []card {
	cs := []card{
		{Label: "availability during fault", Value: pct(r.Availability.During),
			Note: "before " + pct(r.Availability.Before) + " · after " + pct(r.Availability.After)},
		{Label: "recovery (from inject)", Value: "never", Class: "bad", Note: "steady ≥99% ok per bucket"},
		{Label: "p99 latency during fault", Value: msOrNone(r.LatencyDuringMS.P99), Note: "whole run " + msOrNone(r.LatencyMS.P99)},
		{Label: "lost writes", Value: strconv.Itoa(r.Writes.Lost), Note: fmt.Sprintf("of %d acknowledged", r.Writes.Acknowledged)},
		{Label: "stale reads", Value: strconv.Itoa(r.Reads.Stale), Note: fmt.Sprintf("of %d reads · %d RYW violations", r.Reads.Total, r.Reads.RYWViolations)},
		{Label: "requests", Value: strconv.Itoa(r.Requests.Total), Note: fmt.Sprintf("%d ok · %d failed · %d unknown", r.Requests.OK, r.Requests.Failed, r.Requests.Unknown)},
	}
	if len(r.DuringByKind) > 1 {
		// Which requests the fault hurt: those that need the broken part,
		// or all of them.
		cs[0].Note += " · during: " + byKind(r.DuringByKind, func(k KindDuring) string { return pct(k.Availability) })
		cs[2].Note = byKind(r.DuringByKind, func(k KindDuring) string { return msOrNone(k.LatencyMS.P99) }) + " · " + cs[2].Note
	}
	if r.RecoveryS != nil {
		cs[1].Value, cs[1].Class = secs(*r.RecoveryS), ""
	}
	if !r.Writes.Checked {
		cs[3].Value, cs[3].Note = "not checked", "no read-back after the run"
	}
	if r.Writes.Lost > 0 {
		cs[3].Class = "bad"
	}
	if r.Reads.Stale > 0 {
		cs[4].Class = "bad"
		cs[4].Note = fmt.Sprintf("of %d reads · up to %s and %d versions behind · %d RYW violations",
			r.Reads.Total, secs(r.Reads.MaxStalenessMS/1000), r.Reads.MaxVersionsBehind, r.Reads.RYWViolations)
	}
	return cs
}

// byKind lists each kind of request's value, as "reads 100% · writes 2%".
func byKind(m map[history.Kind]KindDuring, value func(KindDuring) string) string {
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, string(kind)+"s "+value(m[kind]))
	}
	return strings.Join(parts, " · ")
}

// pct shows an availability, or "no data" for an empty window.
func pct(v *float64) string {
	if v == nil {
		return "no data"
	}
	// Two decimals: 99.99% and 100% must not both read "100%".
	s := strconv.FormatFloat(*v*100, 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "0"), ".0")
	return s + "%"
}

func msOrNone(v *float64) string {
	if v == nil {
		return "no data"
	}
	return msLabel(*v)
}
