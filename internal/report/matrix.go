package report

import (
	"bytes"
	"fmt"
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

// runVerdict judges a run against what it was for; detail names the
// guarantees behind the label.
func runVerdict(rep Report, expect []string) (ok bool, label, detail string) {
	if len(rep.AssumptionsFailed) > 0 {
		return false, "did not count ✗", "the run's assumptions failed, so its numbers measure the lab, not the system"
	}
	if rep.Control == "" {
		var broke []string
		for _, g := range rep.Guarantees {
			if !g.Holds {
				broke = append(broke, g.Name)
			}
		}
		switch {
		case len(rep.Guarantees) == 0:
			return false, "nothing judged ✗", "the run has no guarantee"
		case len(broke) > 0:
			return false, "broke ✗", "broke: " + strings.Join(broke, ", ")
		case !rep.Passed:
			return false, "failed ✗", "the verdict did not pass"
		}
		return true, "held ✓", "every guarantee held"
	}
	if len(expect) == 0 {
		return false, "nothing expected to break ✗", "the control names no guarantee that must break"
	}
	var held, missing []string
	for _, name := range expect {
		g, found := findGuarantee(rep.Guarantees, name)
		switch {
		case !found:
			missing = append(missing, name)
		case g.Holds:
			held = append(held, name)
		}
	}
	switch {
	case len(held) > 0:
		return false, "held: the check could not fail ✗", strings.Join(held, ", ") + " held although this control must break it"
	case len(missing) > 0:
		return false, "not judged ✗", strings.Join(missing, ", ") + " was not judged in this run"
	}
	return true, "broke as expected ✓", strings.Join(expect, ", ") + " broke, so the check can fail"
}

func findGuarantee(gs []Guarantee, name string) (Guarantee, bool) {
	for _, g := range gs {
		if g.Name == name {
			return g, true
		}
	}
	return Guarantee{}, false
}

// column is one fault, or one control of a fault.
type column struct {
	Fault, Control string
}

func (c column) label() string {
	if c.Control == "" {
		return c.Fault
	}
	return c.Fault + " (control: " + c.Control + ")"
}

// matrix is the cells arranged as rows of stages and columns of faults.
type matrix struct {
	cols []column
	rows []matrixRow
}

type matrixRow struct {
	stage  string
	number int
	title  string
	cells  []*Cell // one per column; nil: that stage has no such run
}

// arrange orders rows by stage number and columns by fault, first seen
// first, each fault followed by its controls; a later cell for the same
// stage and column replaces an earlier one (a rerun).
func arrange(cells []Cell) matrix {
	sorted := append([]Cell(nil), cells...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].StageNumber < sorted[j].StageNumber })

	var faults []string
	controls := map[string][]string{} // fault -> control names, "" for the fault run
	for _, c := range sorted {
		if _, seen := controls[c.Fault]; !seen {
			faults = append(faults, c.Fault)
			controls[c.Fault] = nil
		}
		known := false
		for _, n := range controls[c.Fault] {
			known = known || n == c.Control
		}
		if !known {
			controls[c.Fault] = append(controls[c.Fault], c.Control)
		}
	}
	var m matrix
	colIndex := map[column]int{}
	for _, f := range faults {
		names := controls[f]
		sort.SliceStable(names, func(i, j int) bool { return names[i] == "" && names[j] != "" })
		for _, n := range names {
			colIndex[column{f, n}] = len(m.cols)
			m.cols = append(m.cols, column{f, n})
		}
	}
	rowIndex := map[string]int{}
	for i := range sorted {
		c := &sorted[i]
		ri, ok := rowIndex[c.Stage]
		if !ok {
			ri = len(m.rows)
			rowIndex[c.Stage] = ri
			row := matrixRow{stage: c.Stage, number: c.StageNumber, cells: make([]*Cell, len(m.cols))}
			if st, err := stage.Get(c.Stage); err == nil {
				row.title = st.Title
			} else if c.Report != nil {
				row.title = c.Report.StageTitle
			}
			m.rows = append(m.rows, row)
		}
		m.rows[ri].cells[colIndex[column{c.Fault, c.Control}]] = c
	}
	return m
}

// WriteMatrix writes dir/index.html and dir/matrix.md: one row per stage,
// one column per fault and per control, each cell linking to its run's
// report. It creates dir.
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
	Groups    []colGroup
	Cols      []colView
	Rows      []rowView
	Good, All int
}

type colGroup struct {
	Fault string
	Span  int
}

type colView struct{ Label, Sub string }

type rowView struct {
	Stage, Title string
	Number       int
	Cells        []cellView
}

type cellView struct {
	NA        bool
	OK        bool
	Label     string
	Detail    string
	Href      string
	Facts     []string // availability during, recovery, lost writes
	IsControl bool
}

func matrixView(dir string, m matrix) matrixPage {
	var p matrixPage
	for _, c := range m.cols {
		if n := len(p.Groups); n > 0 && p.Groups[n-1].Fault == c.Fault {
			p.Groups[n-1].Span++
		} else {
			p.Groups = append(p.Groups, colGroup{Fault: c.Fault, Span: 1})
		}
		sub := "fault"
		if c.Control != "" {
			sub = "control: " + c.Control
		}
		p.Cols = append(p.Cols, colView{Label: c.label(), Sub: sub})
	}
	for _, r := range m.rows {
		rv := rowView{Stage: r.stage, Title: r.title, Number: r.number}
		for _, c := range r.cells {
			rv.Cells = append(rv.Cells, cellOf(dir, c))
			if c != nil {
				p.All++
				if ok, _ := CellVerdict(*c); ok {
					p.Good++
				}
			}
		}
		p.Rows = append(p.Rows, rv)
	}
	return p
}

func cellOf(dir string, c *Cell) cellView {
	if c == nil {
		return cellView{NA: true, Label: "n/a"}
	}
	v := cellView{Href: relLink(dir, c.ReportPath), IsControl: c.Control != ""}
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

// matrixMarkdown is the same table for a README or a pull request.
func matrixMarkdown(p matrixPage) string {
	var b strings.Builder
	b.WriteString("# scalelab matrix\n\n")
	fmt.Fprintf(&b, "%d of %d runs as they should be: fault runs hold their guarantees, controls break the ones they name.\n\n", p.Good, p.All)
	b.WriteString("| stage |")
	for _, c := range p.Cols {
		b.WriteString(" " + mdEscape(c.Label) + " |")
	}
	b.WriteString("\n|---|")
	for range p.Cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range p.Rows {
		fmt.Fprintf(&b, "| %d. %s |", r.Number, mdEscape(r.Stage))
		for _, c := range r.Cells {
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func mdCell(c cellView) string {
	if c.NA {
		return "n/a"
	}
	s := mdEscape(c.Label)
	if c.Href != "" {
		s = "[" + s + "](" + c.Href + ")"
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
