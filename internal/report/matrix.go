package report

import (
	"bytes"
	"fmt"
	"github.com/scalelab/scalelab/internal/verdict"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/scalelab/scalelab/internal/stage"
)

// Cell is one run of the matrix: a stage under one fault, or under one of
// the fault's negative controls.
type Cell struct {
	Stage       string
	StageNumber int
	Fault       string
	Control     string   // the control's name; "" for the fault run
	ExpectBreak []string // for a control: the guarantees that must break
	Report      *Report  // nil when the run could not be set up (see Err)
	Err         string   // setup failure: bad spec, no Docker, a stack that did not boot
	// ReportPath is the run's report.html, relative to the matrix directory
	// (e.g. runs/separate-db-db-down/report.html); an absolute path is made
	// relative to it.
	ReportPath string
}

// CellVerdict says whether a cell is as it should be, with a short label
// for it. A fault run should pass. A control should break every guarantee
// it names, in a run whose assumptions held: a control that holds proves
// the check could not fail. The scalelab command's exit code follows it.
func CellVerdict(c Cell) (ok bool, label string) {
	switch {
	case c.Err != "":
		return false, "setup failed ✗"
	case c.Report == nil:
		return false, "no report ✗"
	}
	expect := c.ExpectBreak
	if len(expect) == 0 {
		expect = c.Report.ExpectBreak
	}
	rep := *c.Report
	rep.Control = c.Control
	ok, label, _ = runVerdict(rep, expect)
	return ok, label
}

// runVerdict judges a run against what it was for (verdict.Outcome, the
// one place that decides it), from the report's own data, so that reports
// read back from disk are judged as the engine judged them.
func runVerdict(rep Report, expect []string) (ok bool, label, detail string) {
	v := verdict.Verdict{Assumptions: rep.AssumptionsFailed}
	for _, g := range rep.Guarantees {
		v.Guarantees = append(v.Guarantees, verdict.Guarantee{Name: g.Name, Holds: g.Holds, NotJudged: g.NotJudged})
	}
	o := v.Outcome(rep.Control != "", expect, rep.Attempts, rep.AttemptsAllowed)
	return o.AsExpected, o.Label, o.Detail
}

// matrix is the cells arranged by stage, then by fault: each fault's row
// holds its fault run and its controls. Faults belong to stages (a few
// share a name), so one table of stages by faults would be mostly empty.
type matrix struct {
	stages []stageBlock
}

type stageBlock struct {
	stage  string
	number int
	title  string
	faults []faultRow
}

// faultRow is one fault of a stage: its fault run (nil: not in this
// matrix) and its controls, in the order they came.
type faultRow struct {
	fault    string
	run      *Cell
	controls []*Cell
}

// arrange orders stages by number and, within a stage, faults and their
// controls first seen first; a later cell for the same stage, fault and
// control replaces an earlier one (a rerun).
func arrange(cells []Cell) matrix {
	sorted := append([]Cell(nil), cells...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].StageNumber < sorted[j].StageNumber })

	var m matrix
	for i := range sorted {
		c := &sorted[i]
		row := m.block(c).row(c.Fault)
		if c.Control == "" {
			row.run = c
			continue
		}
		replaced := false
		for k, prev := range row.controls {
			if prev.Control == c.Control {
				row.controls[k], replaced = c, true
			}
		}
		if !replaced {
			row.controls = append(row.controls, c)
		}
	}
	return m
}

// block finds the cell's stage, adding it if it is new.
func (m *matrix) block(c *Cell) *stageBlock {
	for k := range m.stages {
		if m.stages[k].stage == c.Stage {
			return &m.stages[k]
		}
	}
	b := stageBlock{stage: c.Stage, number: c.StageNumber}
	if st, err := stage.Get(c.Stage); err == nil {
		b.title = st.Title
	} else if c.Report != nil {
		b.title = c.Report.StageTitle
	}
	m.stages = append(m.stages, b)
	return &m.stages[len(m.stages)-1]
}

// row finds the stage's row for fault, adding it if it is new.
func (b *stageBlock) row(fault string) *faultRow {
	for k := range b.faults {
		if b.faults[k].fault == fault {
			return &b.faults[k]
		}
	}
	b.faults = append(b.faults, faultRow{fault: fault})
	return &b.faults[len(b.faults)-1]
}

// WriteMatrix writes dir/index.html and dir/matrix.md: a table per stage,
// a row per fault with its fault run and its controls, each cell linking
// to its run's report. It creates dir.
func WriteMatrix(dir string, cells []Cell) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("matrix: create %s: %w", dir, err)
	}
	m := arrange(cells)
	page := matrixView(dir, m)
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "matrix.html.tmpl", page); err != nil {
		return fmt.Errorf("matrix: render index.html: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("matrix: write index.html: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "matrix.md"), []byte(matrixMarkdown(page)), 0o644); err != nil {
		return fmt.Errorf("matrix: write matrix.md: %w", err)
	}
	return nil
}

// matrixPage is what matrix.html.tmpl and the markdown render.
type matrixPage struct {
	Stages    []stageView
	Good, All int
}

type stageView struct {
	Stage, Title string
	Number       int
	// Controls is the most controls any fault of the stage has: the
	// width of its table after the fault run's column.
	Controls int
	Rows     []faultView
}

type faultView struct {
	Fault    string
	Run      cellView
	Controls []cellView // padded with empty cells to the stage's width
}

type cellView struct {
	NA        bool
	Empty     bool   // padding: the fault has fewer controls than the widest row
	Control   string // the control's name; "" for a fault run
	OK        bool
	Label     string
	Detail    string
	Href      string
	Facts     []string // availability during, recovery, lost writes
	IsControl bool
}

func matrixView(dir string, m matrix) matrixPage {
	var p matrixPage
	count := func(c *Cell) cellView {
		v := cellOf(dir, c)
		if c != nil {
			p.All++
			if v.OK {
				p.Good++
			}
		}
		return v
	}
	for _, b := range m.stages {
		sv := stageView{Stage: b.stage, Title: b.title, Number: b.number}
		for _, r := range b.faults {
			sv.Controls = max(sv.Controls, len(r.controls))
		}
		for _, r := range b.faults {
			fv := faultView{Fault: r.fault, Run: count(r.run)}
			for _, c := range r.controls {
				fv.Controls = append(fv.Controls, count(c))
			}
			for len(fv.Controls) < sv.Controls {
				fv.Controls = append(fv.Controls, cellView{Empty: true})
			}
			sv.Rows = append(sv.Rows, fv)
		}
		p.Stages = append(p.Stages, sv)
	}
	return p
}

func cellOf(dir string, c *Cell) cellView {
	if c == nil {
		return cellView{NA: true, Label: "n/a"}
	}
	v := cellView{Href: relLink(dir, c.ReportPath), Control: c.Control}
	v.OK, v.Label = CellVerdict(*c)
	if c.Err != "" {
		v.Detail = c.Err
		return v
	}
	if c.Report == nil {
		return v
	}
	rep := *c.Report
	rep.Control = c.Control
	expect := c.ExpectBreak
	if len(expect) == 0 {
		expect = rep.ExpectBreak
	}
	// The label says enough when a cell is as it should be; when it is not,
	// the reader needs to know which guarantee to look at.
	if !v.OK {
		_, _, v.Detail = runVerdict(rep, expect)
	}
	rec := "never"
	if rep.RecoveryS != nil {
		rec = secs(*rep.RecoveryS)
	}
	lost := fmt.Sprint(rep.Writes.Lost)
	if !rep.Writes.Checked {
		lost = "not checked"
	}
	v.Facts = []string{"available during: " + pct(rep.Availability.During), "recovery: " + rec, "lost writes: " + lost}
	return v
}

// relLink makes a report path a relative link from the matrix directory,
// escaped for use in an href or a markdown link.
func relLink(dir, path string) string {
	if path == "" {
		return ""
	}
	if filepath.IsAbs(path) {
		if absDir, err := filepath.Abs(dir); err == nil {
			if rel, err := filepath.Rel(absDir, path); err == nil {
				path = rel
			}
		}
	}
	return (&url.URL{Path: filepath.ToSlash(path)}).String()
}

// matrixMarkdown is the same tables for a README or a pull request.
func matrixMarkdown(p matrixPage) string {
	var b strings.Builder
	b.WriteString("# scalelab matrix\n\n")
	fmt.Fprintf(&b, "%d of %d runs as they should be: fault runs hold their guarantees, controls break the ones they name.\n", p.Good, p.All)
	for _, st := range p.Stages {
		fmt.Fprintf(&b, "\n## %d. %s", st.Number, mdEscape(st.Stage))
		if st.Title != "" {
			b.WriteString(": " + mdEscape(st.Title))
		}
		b.WriteString("\n\n| fault | under the fault |")
		for range st.Controls {
			b.WriteString(" control |")
		}
		b.WriteString("\n|---|---|")
		for range st.Controls {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, r := range st.Rows {
			b.WriteString("| " + mdEscape(r.Fault) + " | " + mdCell(r.Run) + " |")
			for _, c := range r.Controls {
				b.WriteString(" " + mdCell(c) + " |")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func mdCell(c cellView) string {
	switch {
	case c.Empty:
		return ""
	case c.NA:
		return "n/a"
	}
	s := mdEscape(c.Label)
	if c.Href != "" {
		s = "[" + s + "](" + c.Href + ")"
	}
	if c.Control != "" {
		s = mdEscape(c.Control) + ": " + s
	}
	if c.Detail != "" {
		s += "<br>" + mdEscape(c.Detail)
	}
	for _, f := range c.Facts {
		s += "<br>" + mdEscape(f)
	}
	return s
}

// mdEscape keeps text from breaking a table row or turning into markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`)
	return r.Replace(s)
}
