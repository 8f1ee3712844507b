package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
)

// Cell is one run of the matrix: a stage under one fault, or under one of
// the fault's negative controls. Cells are what DIR/cells.json lists (see
// Matrix); the report itself is read from ReportJSON.
type Cell struct {
	// Name identifies the cell in its matrix and names its run's directory
	// under runs/ (CellName).
	Name        string   `json:"name"`
	Stage       string   `json:"stage"`
	StageNumber int      `json:"stage_number"`
	Fault       string   `json:"fault"`
	Control     string   `json:"control"`      // the control's name; "" for the fault run
	ExpectBreak []string `json:"expect_break"` // for a control: the guarantees that must break
	Report      *Report  `json:"-"`            // nil when the run could not be set up (see Err) or is missing
	Err         string   `json:"setup_error"`  // setup failure: bad spec, no Docker, a stack that did not boot
	// ReportPath is the run's report.html, relative to the matrix directory
	// (e.g. runs/separate-db-db-down/report.html); an absolute path is made
	// relative to it. ReportJSON is its report.json. Both are "" when the
	// run wrote no report (a setup failure, a run not made).
	ReportPath string `json:"report_html"`
	ReportJSON string `json:"report_json"`
	// Missing says why the cell has no result: the matrix stopped (or has
	// not yet come) before running it, no shard directory holds it, its
	// report.json cannot be read. "" for a cell that ran.
	Missing string `json:"missing,omitempty"`
}

// CellName is the name of a stage's run under a fault or one of its
// controls: the directory of its reports under runs/.
func CellName(stageID, fault, control string) string {
	name := stageID + "-" + fault
	if control != "" {
		name += "-control-" + slug(control)
	}
	return name
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// StageCells lists a stage's cells in the matrix's order: each fault's run,
// then its controls. It is the one list the matrix runs and a merge expects.
func StageCells(st stage.Stage) []Cell {
	var cells []Cell
	for _, f := range st.Faults {
		cells = append(cells, Cell{Name: CellName(st.ID, f.ID, ""), Stage: st.ID, StageNumber: st.Number, Fault: f.ID, ExpectBreak: []string{}})
		for _, c := range f.Controls {
			cells = append(cells, Cell{Name: CellName(st.ID, f.ID, c.Name), Stage: st.ID, StageNumber: st.Number, Fault: f.ID,
				Control: c.Name, ExpectBreak: append([]string{}, c.Breaks...)})
		}
	}
	return cells
}

// CellVerdict says whether a cell is as it should be, with a short label
// for it. A fault run should pass. A control should break every guarantee
// it names, in a run whose assumptions held: a control that holds proves
// the check could not fail. The scalelab command's exit code follows it.
func CellVerdict(c Cell) (ok bool, label string) {
	switch {
	case c.Missing != "":
		return false, "missing ✗"
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

// Matrix is a matrix directory as data: what DIR/cells.json holds beside
// index.html and matrix.md, and what a merge joins. Its JSON field names are
// a contract, like report.json's: fields may be added, none renamed.
type Matrix struct {
	// Shard is "i/n" for the directory of one shard of the matrix (scalelab
	// matrix --shard i/n); "" for a whole matrix or a merge of shards.
	Shard string `json:"shard"`
	// Stages are the stages the whole matrix covers, every shard's cells
	// included: a merge expects every cell of each, so that the cells of a
	// shard that left nothing show as missing.
	Stages []string `json:"stages"`
	// Cells are this directory's cells in the order they run: those not run
	// (yet) have Missing set.
	Cells []Cell `json:"cells"`
	// Baseline is the matrix set against an earlier one (scalelab matrix
	// --baseline DIR); nil without one.
	Baseline *Comparison `json:"baseline,omitempty"`
	// Faults and NoControls narrow the stages' cells to some faults, or to
	// the fault runs without their controls (scalelab matrix --faults,
	// --controls=false): a merge expects only the cells selected.
	Faults     []string `json:"faults,omitempty"`
	NoControls bool     `json:"no_controls,omitempty"`
	// Set are settings given to every run of the matrix (--set), beside
	// each stage's defaults and each control's own.
	Set map[string]string `json:"set,omitempty"`
}

// Selects says whether the matrix's selection (Faults, NoControls) takes
// the cell.
func (m Matrix) Selects(c Cell) bool {
	if m.NoControls && c.Control != "" {
		return false
	}
	return len(m.Faults) == 0 || slices.Contains(m.Faults, c.Fault)
}

// SetText is the matrix's --set values as "k=v k=v", keys sorted; "" when
// none.
func (m Matrix) SetText() string {
	var kv []string
	for k, v := range m.Set {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, " ")
}

// CellsFile is the name of a matrix directory's cells, as JSON.
const CellsFile = "cells.json"

// AsExpected counts the cells that are as they should be (CellVerdict),
// of all.
func (m Matrix) AsExpected() (good, all int) {
	for _, c := range m.Cells {
		if ok, _ := CellVerdict(c); ok {
			good++
		}
	}
	return good, len(m.Cells)
}

// WriteMatrix writes dir/index.html and dir/matrix.md (a table per stage,
// a row per fault with its fault run and its controls, each cell linking
// to its run's report) and dir/cells.json (the cells as data, for a merge).
// It creates dir. cells.json is replaced atomically: a matrix killed while
// writing it leaves the previous one.
func WriteMatrix(dir string, mx Matrix) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("matrix: create %s: %w", dir, err)
	}
	m := arrange(mx.Cells)
	page := matrixView(dir, m)
	page.Shard = mx.Shard
	page.Baseline = mx.Baseline
	page.Set = mx.SetText()
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
	out := mx
	out.Cells = make([]Cell, len(mx.Cells))
	for i, c := range mx.Cells {
		if c.ExpectBreak == nil {
			c.ExpectBreak = []string{}
		}
		c.ReportPath, c.ReportJSON = relPath(dir, c.ReportPath), relPath(dir, c.ReportJSON)
		out.Cells[i] = c
	}
	if out.Stages == nil {
		out.Stages = []string{}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("matrix: encode %s: %w", CellsFile, err)
	}
	tmp := filepath.Join(dir, "."+CellsFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("matrix: write %s: %w", CellsFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, CellsFile)); err != nil {
		return fmt.Errorf("matrix: write %s: %w", CellsFile, err)
	}
	return nil
}

// ReadMatrix reads a matrix directory's cells.json and each cell's
// report.json. The error is for a directory that is not a matrix (no
// cells.json, or one that does not parse); a report that cannot be read
// makes its cell missing, with the reason.
func ReadMatrix(dir string) (Matrix, error) {
	var m Matrix
	data, err := os.ReadFile(filepath.Join(dir, CellsFile))
	if errors.Is(err, fs.ErrNotExist) {
		if fi, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return m, fmt.Errorf("%s: no such directory", dir)
		} else if statErr != nil {
			return m, statErr
		} else if !fi.IsDir() {
			return m, fmt.Errorf("%s is not a directory", dir)
		}
		return m, fmt.Errorf("%s has no %s: not a directory written by scalelab matrix (a matrix writes it before its first run)", dir, CellsFile)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, CellsFile), err)
	}
	for i := range m.Cells {
		c := &m.Cells[i]
		if c.Missing != "" || c.ReportJSON == "" {
			continue
		}
		// A run's reports are in a directory of their own inside dir (runs/<name>/):
		// a merge copies that directory.
		runDir := filepath.Dir(c.ReportJSON)
		if !filepath.IsLocal(c.ReportJSON) || runDir == "." || (c.ReportPath != "" && filepath.Dir(c.ReportPath) != runDir) {
			c.Missing = fmt.Sprintf("its reports (%q, %q) are not in a run directory inside %s", c.ReportJSON, c.ReportPath, dir)
			c.ReportJSON, c.ReportPath = "", ""
			continue
		}
		rep, err := ReadReport(filepath.Join(dir, c.ReportJSON))
		if err != nil {
			c.Missing = err.Error()
			continue
		}
		c.Report = &rep
	}
	return m, nil
}

// ReadReport reads a report.json.
func ReadReport(path string) (Report, error) {
	var rep Report
	data, err := os.ReadFile(path)
	if err != nil {
		return rep, fmt.Errorf("its report cannot be read: %w", err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("its report %s does not parse: %w", path, err)
	}
	return rep, nil
}

// Merge joins matrix directories, typically the shards of one matrix
// (scalelab matrix --shard i/n), into one matrix in out: index.html,
// matrix.md and cells.json, with each cell's run directory copied to
// out/runs/ so that the links work. Every cell is judged from its
// report.json as the matrix judges it (CellVerdict). The merged matrix has
// every cell of every stage that appears (in a directory's cells or its
// stages): a cell no directory ran is missing, never passed. Notes are
// things worth saying that do not stop the merge (a shard not given, a
// cell in two directories). The error is for bad input: no directories,
// one that is not a matrix, out among them.
func Merge(out string, dirs []string) (Matrix, []string, error) {
	var notes []string
	if len(dirs) == 0 {
		return Matrix{}, nil, errors.New("no matrix directories to merge")
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return Matrix{}, nil, err
	}
	type found struct {
		cell  Cell
		dir   string
		shard string // "i/n" when dir is a shard's
	}
	byKey := map[[3]string]found{}
	var foundOrder [][3]string
	var stageIDs []string
	addStage := func(id string) {
		if !slices.Contains(stageIDs, id) {
			stageIDs = append(stageIDs, id)
		}
	}
	seen := map[string]bool{}
	shards := map[int]map[int]string{} // n -> i -> dir
	// A cell is expected when a merged directory's selection takes it
	// (scalelab matrix --faults, --controls=false).
	var selections []Matrix
	selected := func(c Cell) bool {
		return slices.ContainsFunc(selections, func(m Matrix) bool { return m.Selects(c) })
	}
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return Matrix{}, nil, err
		}
		if abs == absOut {
			return Matrix{}, nil, fmt.Errorf("--out %s is one of the directories to merge: merge into a directory of its own", out)
		}
		if seen[abs] {
			notes = append(notes, fmt.Sprintf("%s is given twice: read once", dir))
			continue
		}
		seen[abs] = true
		m, err := ReadMatrix(dir)
		if err != nil {
			return Matrix{}, nil, err
		}
		shard := ""
		if i, n, err := ParseShard(m.Shard); m.Shard != "" && err == nil {
			shard = m.Shard
			if shards[n] == nil {
				shards[n] = map[int]string{}
			}
			if prev, ok := shards[n][i]; ok {
				notes = append(notes, fmt.Sprintf("%s and %s are both shard %s", prev, dir, m.Shard))
			}
			shards[n][i] = dir
		}
		for _, id := range m.Stages {
			addStage(id)
		}
		selections = append(selections, m)
		for _, c := range m.Cells {
			addStage(c.Stage)
			key := [3]string{c.Stage, c.Fault, c.Control}
			prev, dup := byKey[key]
			switch {
			case !dup:
				foundOrder = append(foundOrder, key)
			case c.Missing != "" && prev.cell.Missing == "":
				continue // a result beats a run that is missing
			case c.Missing == "" && prev.cell.Missing == "":
				notes = append(notes, fmt.Sprintf("%s under %s%s is in %s and %s: the latter is used",
					c.Stage, c.Fault, controlNote(c.Control), prev.dir, dir))
			}
			byKey[key] = found{c, dir, shard}
		}
	}
	for _, n := range sortedInts(shards) {
		var absent []string
		for i := 1; i <= n; i++ {
			if _, ok := shards[n][i]; !ok {
				absent = append(absent, fmt.Sprintf("%d/%d", i, n))
			}
		}
		switch {
		case len(absent) == 1:
			notes = append(notes, fmt.Sprintf("shard %s is not among the directories: its cells are missing", absent[0]))
		case len(absent) > 1:
			notes = append(notes, fmt.Sprintf("shards %s are not among the directories: their cells are missing", strings.Join(absent, ", ")))
		}
	}
	if len(shards) > 1 {
		notes = append(notes, fmt.Sprintf("the directories are shards of %d different splits (--shard i/n with different n): merge the shards of one matrix", len(shards)))
	}

	// Every cell of every stage that appears, in the matrix's order (the
	// registry's); then cells of stages this binary does not know.
	var cells []Cell
	used := map[[3]string]bool{}
	take := func(key [3]string, expected *Cell) error {
		f, ok := byKey[key]
		if !ok {
			c := *expected
			c.Missing = "not run: no directory merged has it (its shard's results are missing)"
			cells = append(cells, c)
			return nil
		}
		used[key] = true
		c, err := mergedCell(out, f.cell, f.dir, f.shard)
		if err != nil {
			return err
		}
		cells = append(cells, c)
		return nil
	}
	ordered := slices.Clone(stageIDs)
	sort.SliceStable(ordered, func(i, j int) bool { return stageRank(ordered[i]) < stageRank(ordered[j]) })
	for _, id := range ordered {
		st, err := stage.Get(id)
		if err != nil {
			continue
		}
		for _, e := range StageCells(st) {
			if !selected(e) {
				continue
			}
			if err := take([3]string{e.Stage, e.Fault, e.Control}, &e); err != nil {
				return Matrix{}, notes, err
			}
		}
	}
	for _, key := range foundOrder {
		if used[key] {
			continue
		}
		if _, err := stage.Get(key[0]); err == nil {
			notes = append(notes, fmt.Sprintf("%s under %s%s is not a cell of stage %s as this scalelab knows it: shown as it was",
				key[0], key[1], controlNote(key[2]), key[0]))
		}
		if err := take(key, nil); err != nil {
			return Matrix{}, notes, err
		}
	}
	merged := Matrix{Stages: ordered, Cells: cells}
	if len(selections) > 0 {
		first := selections[0]
		same := func(m Matrix) bool {
			return slices.Equal(m.Faults, first.Faults) && m.NoControls == first.NoControls
		}
		if !slices.ContainsFunc(selections, func(m Matrix) bool { return !same(m) }) {
			merged.Faults, merged.NoControls = first.Faults, first.NoControls
		}
		if slices.ContainsFunc(selections, func(m Matrix) bool { return m.SetText() != first.SetText() }) {
			notes = append(notes, "the directories ran with different --set values: their cells are not comparable")
		} else {
			merged.Set = first.Set
		}
	}
	if err := WriteMatrix(out, merged); err != nil {
		return merged, notes, err
	}
	return merged, notes, nil
}

// mergedCell is a shard's cell in the merged matrix: its run directory
// copied to out/runs/<name>/, its paths made relative to out.
func mergedCell(out string, c Cell, dir, shard string) (Cell, error) {
	name := CellName(c.Stage, c.Fault, c.Control)
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
		return c, fmt.Errorf("%s: cell %q: its stage or fault is not a plain name", dir, name)
	}
	c.Name = name
	switch {
	case c.Missing != "" && c.ReportJSON == "" && shard != "":
		c.Missing = fmt.Sprintf("not run: shard %s (%s) stopped before it", shard, dir)
	case c.Missing != "":
		c.Missing += " (in " + dir + ")"
	}
	if c.Missing != "" {
		c.ReportPath, c.ReportJSON = "", ""
		return c, nil
	}
	if c.ReportJSON == "" {
		c.ReportPath = ""
		return c, nil
	}
	src := filepath.Dir(filepath.Join(dir, c.ReportJSON))
	dst := filepath.Join(out, "runs", name)
	if err := os.RemoveAll(dst); err != nil {
		return c, fmt.Errorf("merge: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return c, fmt.Errorf("merge: %w", err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return c, fmt.Errorf("merge: copy %s to %s: %w", src, dst, err)
	}
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.Join("runs", name, filepath.Base(p))
	}
	c.ReportJSON, c.ReportPath = rel(c.ReportJSON), rel(c.ReportPath)
	return c, nil
}

// ParseShard reads "i/n": the i-th of n shards, 1 <= i <= n.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, errI := strconv.Atoi(a)
	n, errN := strconv.Atoi(b)
	if !ok || errI != nil || errN != nil || i < 1 || n < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n, the i-th of n shards with 1 <= i <= n (e.g. --shard 2/3)", s)
	}
	return i, n, nil
}

func controlNote(control string) string {
	if control == "" {
		return ""
	}
	return fmt.Sprintf(" (control %q)", control)
}

// stageRank orders stages by number; stages this binary does not know go
// last, in the order they came.
func stageRank(id string) int {
	if st, err := stage.Get(id); err == nil {
		return st.Number
	}
	return math.MaxInt
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// relPath makes a path relative to dir when it is absolute.
func relPath(dir, path string) string {
	if path == "" || !filepath.IsAbs(path) {
		return path
	}
	if absDir, err := filepath.Abs(dir); err == nil {
		if rel, err := filepath.Rel(absDir, path); err == nil {
			return rel
		}
	}
	return path
}

// matrixPage is what matrix.html.tmpl and the markdown render.
type matrixPage struct {
	Shard     string // "i/n" for one shard's directory
	Set       string // the matrix's --set values, "k=v k=v"
	Baseline  *Comparison
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
	if c.Missing != "" {
		v.Detail = c.Missing
		return v
	}
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
	return (&url.URL{Path: filepath.ToSlash(relPath(dir, path))}).String()
}

// matrixMarkdown is the same tables for a README or a pull request.
func matrixMarkdown(p matrixPage) string {
	var b strings.Builder
	b.WriteString("# scalelab matrix")
	if p.Shard != "" {
		b.WriteString(", shard " + p.Shard)
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "%d of %d runs as they should be: fault runs hold their guarantees, controls break the ones they name.\n", p.Good, p.All)
	if p.Set != "" {
		fmt.Fprintf(&b, "\nEvery run with %s (besides each control's own settings).\n", mdEscape(p.Set))
	}
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
	if p.Baseline != nil {
		b.WriteString("\n" + p.Baseline.Markdown())
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
