package report

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if err := WriteMatrix(dir, cells); err != nil {
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
