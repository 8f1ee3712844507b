package report

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/stage"
)

// rep is a minimal report: the guarantees given hold or not by name.
func rep(control string, passed bool, assumptions []string, guarantees map[string]bool) *Report {
	r := &Report{Control: control, Passed: passed, AssumptionsFailed: assumptions}
	for _, name := range []string{"spof-shown", "recovers", "no-lost-writes", "fail-fast"} {
		if holds, ok := guarantees[name]; ok {
			r.Guarantees = append(r.Guarantees, Guarantee{Name: name, Holds: holds})
		}
	}
	return r
}

func TestCellVerdict(t *testing.T) {
	const control = "commits acknowledged before they are durable"
	allHold := map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true}
	lost := map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": false}
	tests := []struct {
		name  string
		cell  Cell
		ok    bool
		label string
	}{
		{"fault run passed", Cell{Fault: "kill-server", Report: rep("", true, nil, allHold)}, true, "held ✓"},
		{"fault run broke", Cell{Fault: "kill-server", Report: rep("", false, nil, lost)}, false, "broke ✗"},
		{"fault run did not count", Cell{Fault: "kill-server", Report: rep("", false, []string{"too few ops"}, allHold)}, false, "did not count ✗"},
		{"fault run judged nothing", Cell{Fault: "kill-server", Report: rep("", false, nil, nil)}, false, "nothing judged ✗"},
		{"control broke as expected", Cell{Fault: "kill-server", Control: control, ExpectBreak: []string{"no-lost-writes"},
			Report: rep(control, false, nil, lost)}, true, "broke as expected ✓"},
		{"control held: the check could not fail", Cell{Fault: "kill-server", Control: control, ExpectBreak: []string{"no-lost-writes"},
			Report: rep(control, true, nil, allHold)}, false, "held: the check could not fail ✗"},
		{"control broke but did not count", Cell{Fault: "kill-server", Control: control, ExpectBreak: []string{"no-lost-writes"},
			Report: rep(control, false, []string{"the fault did not land"}, lost)}, false, "did not count ✗"},
		{"control broke one of two", Cell{Fault: "kill-server", Control: control, ExpectBreak: []string{"no-lost-writes", "spof-shown"},
			Report: rep(control, false, nil, lost)}, false, "held: the check could not fail ✗"},
		{"control's guarantee not judged", Cell{Fault: "kill-server", Control: control, ExpectBreak: []string{"fail-fast"},
			Report: rep(control, false, nil, lost)}, false, "not judged ✗"},
		{"control takes expect_break from its report", Cell{Fault: "kill-server", Control: control,
			Report: func() *Report {
				r := rep(control, false, nil, lost)
				r.ExpectBreak = []string{"no-lost-writes"}
				return r
			}()},
			true, "broke as expected ✓"},
		{"control that names nothing", Cell{Fault: "kill-server", Control: control, Report: rep(control, false, nil, lost)},
			false, "nothing expected to break ✗"},
		{"setup error", Cell{Fault: "kill-server", Err: "no Docker"}, false, "setup failed ✗"},
		{"no report", Cell{Fault: "kill-server"}, false, "no report ✗"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, label := CellVerdict(tt.cell)
			if ok != tt.ok || label != tt.label {
				t.Errorf("CellVerdict = %v %q, want %v %q", ok, label, tt.ok, tt.label)
			}
		})
	}
}

func TestWriteMatrix(t *testing.T) {
	const noop = "no-op in place of the kill"
	const async = "commits acknowledged before they are durable"
	avail := 0.0
	r1 := rep("", true, nil, map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true})
	r1.Availability.During, r1.RecoveryS, r1.Writes.Checked = &avail, &avail, true
	cells := []Cell{
		// Given out of order: rows follow the stage number.
		{Stage: "separate-db", StageNumber: 2, Fault: "kill-db", Report: rep("", false, nil, map[string]bool{"recovers": true, "no-lost-writes": false}),
			ReportPath: "runs/separate-db-kill-db/report.html"},
		{Stage: "separate-db", StageNumber: 2, Fault: "db-down", Err: "stack separate-db did not boot"},
		{Stage: "single-server", StageNumber: 1, Fault: "kill-server", Report: r1, ReportPath: "runs/single-server-kill-server/report.html"},
		{Stage: "single-server", StageNumber: 1, Fault: "kill-server", Control: noop, ExpectBreak: []string{"spof-shown"},
			Report:     rep(noop, false, nil, map[string]bool{"spof-shown": false, "recovers": true}),
			ReportPath: "runs/single-server-kill-server-control-1/report.html"},
		{Stage: "single-server", StageNumber: 1, Fault: "kill-server", Control: async, ExpectBreak: []string{"no-lost-writes"},
			Report:     rep(async, true, nil, map[string]bool{"no-lost-writes": true}),
			ReportPath: filepath.Join(t.TempDir(), "elsewhere", "report.html")}, // absolute: made relative
	}
	dir := filepath.Join(t.TempDir(), "matrix")
	if err := WriteMatrix(dir, Matrix{Cells: cells}); err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "matrix.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(string(index))
	for _, want := range []string{
		`href="runs/single-server-kill-server/report.html"`,
		`href="runs/single-server-kill-server-control-1/report.html"`,
		`href="runs/separate-db-kill-db/report.html"`,
		"1. single-server", "2. separate-db", noop, async, "under the fault", "negative controls",
		"held ✓", "broke ✗", "broke as expected ✓", "held: the check could not fail ✗", "setup failed ✗",
		"stack separate-db did not boot", "available during: 0%", "2 of 5 as expected",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html does not show %q", want)
		}
	}
	if external.MatchString(string(index)) {
		t.Errorf("index.html references something external: %q", external.FindString(string(index)))
	}
	// Rows in stage order, whatever the order of the cells.
	if strings.Index(page, "1. single-server") > strings.Index(page, "2. separate-db") {
		t.Errorf("rows are not in stage order")
	}

	text := string(md)
	for _, want := range []string{
		"## 1. single-server", "## 2. separate-db",
		"| fault | under the fault | control | control |",
		"| kill-server | [held ✓](runs/single-server-kill-server/report.html)",
		noop + ": [broke as expected ✓](runs/single-server-kill-server-control-1/report.html)",
		"| kill-db | [broke ✗](runs/separate-db-kill-db/report.html)",
		"| db-down | setup failed ✗",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("matrix.md does not contain %q\n%s", want, text)
		}
	}
	if strings.Contains(text, filepath.Dir(dir)) {
		t.Errorf("matrix.md has an absolute path: %s", text)
	}
	// A row per fault; every row of a stage's table as wide as its header:
	// the fault, its run, and as many control cells as the widest row.
	widths := map[string]int{"| kill-server |": 4, "| kill-db |": 2, "| db-down |": 2}
	rows := 0
	for _, l := range strings.Split(text, "\n") {
		for prefix, cells := range widths {
			if strings.HasPrefix(l, prefix) {
				rows++
				if n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|"); n != cells+1 {
					t.Errorf("row has %d cell separators, want %d: %s", n, cells+1, l)
				}
			}
		}
	}
	if rows != 3 {
		t.Errorf("want 3 fault rows, got %d\n%s", rows, text)
	}
}

// cells.json lists every cell as data next to index.html and matrix.md,
// paths relative to the matrix directory; a cell not run yet is missing.
func TestWriteMatrixCellsJSON(t *testing.T) {
	st, err := stage.Get("single-server")
	if err != nil {
		t.Fatal(err)
	}
	cells := StageCells(st)
	dir := t.TempDir()
	cells[0].Report = rep("", true, nil, map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true})
	cells[0].ReportPath = filepath.Join(dir, "runs", cells[0].Name, "report.html") // absolute: made relative
	cells[0].ReportJSON = filepath.Join("runs", cells[0].Name, "report.json")
	cells[1].Err = "no Docker engine answers"
	for i := 2; i < len(cells); i++ {
		cells[i].Missing = "not run: the matrix stopped before it"
	}
	if err := WriteMatrix(dir, Matrix{Shard: "2/3", Stages: []string{"single-server"}, Cells: cells}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, CellsFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Shard  string           `json:"shard"`
		Stages []string         `json:"stages"`
		Cells  []map[string]any `json:"cells"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Shard != "2/3" || !slices.Equal(raw.Stages, []string{"single-server"}) || len(raw.Cells) != len(cells) {
		t.Fatalf("cells.json: shard %q stages %v, %d cells; want 2/3 [single-server] %d\n%s", raw.Shard, raw.Stages, len(raw.Cells), len(cells), data)
	}
	for _, k := range []string{"name", "stage", "stage_number", "fault", "control", "expect_break", "report_html", "report_json", "setup_error"} {
		if _, ok := raw.Cells[0][k]; !ok {
			t.Errorf("cells.json: a cell has no %q: %v", k, raw.Cells[0])
		}
	}
	want := map[string]any{"name": "single-server-kill-server", "stage": "single-server", "stage_number": 1.0, "fault": "kill-server", "control": "",
		"report_html": "runs/single-server-kill-server/report.html", "report_json": "runs/single-server-kill-server/report.json", "setup_error": ""}
	for k, v := range want {
		if raw.Cells[0][k] != v {
			t.Errorf("cells.json: cell 0 %s = %v, want %v", k, raw.Cells[0][k], v)
		}
	}
	if raw.Cells[1]["setup_error"] != "no Docker engine answers" || raw.Cells[2]["missing"] == nil {
		t.Errorf("cells.json: setup error or missing not recorded: %v %v", raw.Cells[1], raw.Cells[2])
	}
	if eb, _ := raw.Cells[1]["expect_break"].([]any); len(eb) != 1 || eb[0] != "spof-shown" {
		t.Errorf("cells.json: the no-op control's expect_break = %v, want [spof-shown]", raw.Cells[1]["expect_break"])
	}
	md, _ := os.ReadFile(filepath.Join(dir, "matrix.md"))
	for _, want := range []string{"# scalelab matrix, shard 2/3", "missing ✗", "not run: the matrix stopped before it", "1 of 4 runs"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("matrix.md does not show %q\n%s", want, md)
		}
	}
}

// writeShard writes a matrix directory as `scalelab matrix --shard` does:
// each cell with a report gets runs/<name>/report.json and report.html.
func writeShard(t *testing.T, dir, shard string, cells []Cell) {
	t.Helper()
	for i := range cells {
		c := &cells[i]
		if c.Report == nil {
			continue
		}
		r := *c.Report
		r.Stage, r.Fault, r.Control = c.Stage, c.Fault, c.Control
		if err := WriteReport(filepath.Join(dir, "runs", c.Name), r); err != nil {
			t.Fatal(err)
		}
		c.ReportPath = filepath.Join("runs", c.Name, "report.html")
		c.ReportJSON = filepath.Join("runs", c.Name, "report.json")
	}
	if err := WriteMatrix(dir, Matrix{Shard: shard, Stages: []string{"single-server"}, Cells: cells}); err != nil {
		t.Fatal(err)
	}
}

// singleServerShards is stage 1's four cells in two shards: the fault run
// held, the no-op control broke spof-shown, the async control is the
// engine-judged synthetic run (no-lost-writes broke), the slow-recovery
// control had not run when its shard stopped.
func singleServerShards(t *testing.T) (a, b string, all []Cell) {
	st, err := stage.Get("single-server")
	if err != nil {
		t.Fatal(err)
	}
	all = StageCells(st)
	if len(all) != 4 {
		t.Fatalf("single-server has %d cells, the test expects 4: %v", len(all), all)
	}
	all[0].Report = rep("", true, nil, map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true})
	all[1].Report = rep(all[1].Control, false, nil, map[string]bool{"spof-shown": false, "recovers": true, "no-lost-writes": true})
	synthetic := FromResult(syntheticResult(syntheticHistory()))
	all[2].Report = &synthetic
	all[3].Missing = "not run: the matrix stopped before it (or is still running)"
	a, b = filepath.Join(t.TempDir(), "A"), filepath.Join(t.TempDir(), "B")
	writeShard(t, a, "1/2", []Cell{all[0], all[2]})
	writeShard(t, b, "2/2", []Cell{all[1], all[3]})
	return a, b, all
}

func TestMerge(t *testing.T) {
	a, b, all := singleServerShards(t)
	out := filepath.Join(t.TempDir(), "C")
	m, notes, err := Merge(out, []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 {
		t.Errorf("notes for a complete set of shards: %v", notes)
	}
	if len(m.Cells) != len(all) {
		t.Fatalf("merged %d cells, want %d", len(m.Cells), len(all))
	}
	for i, c := range m.Cells {
		// The matrix's order, whatever shard a cell came from; each judged
		// from its report.json as the matrix judged it in memory.
		if c.Name != all[i].Name || c.Stage != all[i].Stage || c.Fault != all[i].Fault || c.Control != all[i].Control {
			t.Errorf("cell %d is %s, want %s", i, c.Name, all[i].Name)
		}
		okM, labelM := CellVerdict(c)
		okS, labelS := CellVerdict(all[i])
		if okM != okS || labelM != labelS {
			t.Errorf("%s: merged %v %q, the shard judged %v %q", c.Name, okM, labelM, okS, labelS)
		}
		if c.Missing == "" {
			for _, p := range []string{c.ReportPath, c.ReportJSON} {
				if want := filepath.Join("runs", c.Name); filepath.Dir(p) != want {
					t.Errorf("%s: report path %q, want one in %s", c.Name, p, want)
				}
				if _, err := os.Stat(filepath.Join(out, p)); err != nil {
					t.Errorf("%s: the link to %s does not work: %v", c.Name, p, err)
				}
			}
		}
	}
	if _, label := CellVerdict(m.Cells[0]); label != "held ✓" {
		t.Errorf("fault run: %q", label)
	}
	if _, label := CellVerdict(m.Cells[1]); label != "broke as expected ✓" {
		t.Errorf("no-op control: %q", label)
	}
	if c := m.Cells[3]; c.Missing == "" || !strings.Contains(c.Missing, "shard 2/2") || c.ReportPath != "" {
		t.Errorf("the cell shard 2/2 did not run: missing %q, report %q", c.Missing, c.ReportPath)
	}
	if good, n := m.AsExpected(); n != 4 || good >= n {
		t.Errorf("as expected: %d of %d; a missing cell must not count as passed", good, n)
	}

	index, _ := os.ReadFile(filepath.Join(out, "index.html"))
	md, _ := os.ReadFile(filepath.Join(out, "matrix.md"))
	page := html.UnescapeString(string(index))
	for _, c := range m.Cells[:3] {
		href := `href="runs/` + c.Name + `/report.html"`
		if !strings.Contains(page, href) {
			t.Errorf("index.html has no %s", href)
		}
	}
	for _, want := range []string{"missing ✗", "not run: shard 2/2", "held ✓", "broke as expected ✓"} {
		if !strings.Contains(page, want) || !strings.Contains(string(md), want) {
			t.Errorf("index.html or matrix.md does not show %q\n%s", want, md)
		}
	}
	for _, c := range all {
		if c.Control != "" && strings.Count(string(md), mdEscape(c.Control)+": ") != 1 {
			t.Errorf("matrix.md shows control %q %d times, want once\n%s", c.Control, strings.Count(string(md), mdEscape(c.Control)+": "), md)
		}
	}
	if strings.Count(string(md), "| kill-server |") != 1 {
		t.Errorf("matrix.md: want one kill-server row\n%s", md)
	}
	// The merged directory is a matrix directory itself: it merges again.
	again, _, err := Merge(filepath.Join(t.TempDir(), "D"), []string{out})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range again.Cells {
		ok1, l1 := CellVerdict(c)
		ok0, l0 := CellVerdict(m.Cells[i])
		if c.Name != m.Cells[i].Name || ok1 != ok0 || l1 != l0 {
			t.Errorf("merged twice, %s is %v %q; merged once, %s was %v %q", c.Name, ok1, l1, m.Cells[i].Name, ok0, l0)
		}
	}
}

func TestMergeComplete(t *testing.T) {
	_, b, all := singleServerShards(t)
	// The synthetic run broke no-lost-writes: as a control that expects it,
	// its label is the engine's; give shard B the last cell too.
	c3 := all[3]
	c3.Missing = ""
	c3.Report = rep(c3.Control, false, nil, map[string]bool{"spof-shown": true, "recovers": false, "no-lost-writes": true})
	a := filepath.Join(t.TempDir(), "A")
	writeShard(t, a, "1/2", []Cell{all[0], all[2]})
	b = filepath.Join(t.TempDir(), "B")
	writeShard(t, b, "2/2", []Cell{all[1], c3})
	m, _, err := Merge(filepath.Join(t.TempDir(), "C"), []string{b, a}) // any order
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range m.Cells {
		if c.Missing != "" || c.Name != all[i].Name {
			t.Errorf("cell %d: %s missing %q", i, c.Name, c.Missing)
		}
	}
	want := 3 // the synthetic run for the async control: as the engine judged it
	if ok, _ := CellVerdict(m.Cells[2]); ok {
		want = 4
	}
	if good, n := m.AsExpected(); good != want || n != 4 {
		t.Errorf("as expected: %d of %d, want %d of 4", good, n, want)
	}
}

// A shard whose directory is not given: its cells are missing, never passed,
// and the merge says which shard is absent.
func TestMergeShardNotGiven(t *testing.T) {
	a, _, all := singleServerShards(t)
	out := filepath.Join(t.TempDir(), "C")
	m, notes, err := Merge(out, []string{a})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "shard 2/2 is not among the directories") {
		t.Errorf("notes: %q", notes)
	}
	if len(m.Cells) != len(all) {
		t.Fatalf("%d cells, want every cell of single-server (%d)", len(m.Cells), len(all))
	}
	for _, i := range []int{1, 3} {
		if c := m.Cells[i]; c.Missing == "" {
			t.Errorf("%s is not missing", c.Name)
		} else if ok, label := CellVerdict(c); ok || label != "missing ✗" {
			t.Errorf("%s: %v %q", c.Name, ok, label)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "runs", all[1].Name)); err == nil {
		t.Errorf("a run directory for a missing cell")
	}
}

func TestMergeRefuses(t *testing.T) {
	a, b, _ := singleServerShards(t)
	empty := t.TempDir()
	for name, tc := range map[string]struct {
		out  string
		dirs []string
		want string
	}{
		"nothing to merge":       {filepath.Join(t.TempDir(), "C"), nil, "no matrix directories"},
		"out among the shards":   {a, []string{a, b}, "is one of the directories to merge"},
		"not a matrix directory": {filepath.Join(t.TempDir(), "C"), []string{a, empty}, "has no cells.json"},
		"no such directory":      {filepath.Join(t.TempDir(), "C"), []string{a, filepath.Join(empty, "nope")}, "nope: no such directory"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Merge(tc.out, tc.dirs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A cell in two directories (the same shard given twice under two names):
// one is used, the merge says so; a run beats a cell its shard did not run.
func TestMergeDuplicates(t *testing.T) {
	a, b, _ := singleServerShards(t)
	a2 := filepath.Join(t.TempDir(), "A2")
	if err := os.CopyFS(a2, os.DirFS(a)); err != nil {
		t.Fatal(err)
	}
	m, notes, err := Merge(filepath.Join(t.TempDir(), "C"), []string{a, b, a2, a})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"is given twice", "are both shard 1/2", "single-server under kill-server is in"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes do not say %q:\n%s", want, joined)
		}
	}
	if len(m.Cells) != 4 {
		t.Errorf("%d cells, want 4", len(m.Cells))
	}
}

// A matrix of some cells (--controls=false, --faults) merges without the
// cells it never meant to run showing as missing, keeps its selection and
// its --set, and says so in matrix.md.
func TestMergeSelection(t *testing.T) {
	st, err := stage.Get("single-server")
	if err != nil {
		t.Fatal(err)
	}
	all := StageCells(st)
	run := all[0]
	run.Report = rep("", true, nil, map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true})
	dir := filepath.Join(t.TempDir(), "A")
	mx := Matrix{Stages: []string{"single-server"}, Cells: []Cell{run}, NoControls: true, Set: map[string]string{"timeout": "3s", "durability": "sync"}}
	r := *run.Report
	r.Stage, r.Fault = run.Stage, run.Fault
	if err := WriteReport(filepath.Join(dir, "runs", run.Name), r); err != nil {
		t.Fatal(err)
	}
	mx.Cells[0].ReportPath = filepath.Join("runs", run.Name, "report.html")
	mx.Cells[0].ReportJSON = filepath.Join("runs", run.Name, "report.json")
	if err := WriteMatrix(dir, mx); err != nil {
		t.Fatal(err)
	}
	if !mx.Selects(all[0]) || mx.Selects(all[1]) {
		t.Errorf("--controls=false selects the fault run only")
	}
	if (Matrix{Faults: []string{"kill-db"}}).Selects(all[0]) {
		t.Errorf("--faults kill-db selects a cell of kill-server")
	}
	out := filepath.Join(t.TempDir(), "C")
	m, notes, err := Merge(out, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 || len(m.Cells) != 1 || m.Cells[0].Missing != "" {
		t.Fatalf("merged %d cells (%v), notes %v: want the one run, nothing missing", len(m.Cells), m.Cells, notes)
	}
	if !m.NoControls || m.SetText() != "durability=sync timeout=3s" {
		t.Errorf("merged selection: no controls %v, set %q", m.NoControls, m.SetText())
	}
	md, err := os.ReadFile(filepath.Join(out, "matrix.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Every run with durability=sync timeout=3s") {
		t.Errorf("matrix.md does not say the settings:\n%s", md)
	}
}
