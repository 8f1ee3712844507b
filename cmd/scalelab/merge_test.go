package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

// shardDir writes a shard's matrix directory as scalelab matrix --shard
// does, with synthetic reports: cells given a report hold every guarantee
// (fault runs) or break the ones they name (controls); the others are
// missing (the shard stopped before them).
func shardDir(t *testing.T, shard string, cells []report.Cell, ran int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range cells {
		c := &cells[i]
		if i >= ran {
			c.Missing = "not run: the matrix stopped before it"
			continue
		}
		rep := report.Report{Stage: c.Stage, Fault: c.Fault, Control: c.Control, ExpectBreak: c.ExpectBreak}
		for _, g := range []string{"spof-shown", "recovers", "no-lost-writes"} {
			rep.Guarantees = append(rep.Guarantees, report.Guarantee{Name: g, Holds: c.Control == "" || !strings.Contains(strings.Join(c.ExpectBreak, ","), g)})
		}
		runDir := filepath.Join(dir, "runs", c.Name)
		if err := report.WriteReport(runDir, rep); err != nil {
			t.Fatal(err)
		}
		c.ReportPath, c.ReportJSON = filepath.Join("runs", c.Name, "report.html"), filepath.Join("runs", c.Name, "report.json")
	}
	if err := report.WriteMatrix(dir, report.Matrix{Shard: shard, Stages: []string{"single-server"}, Cells: cells}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Exit codes: 0 every cell present and as expected, 1 a cell missing (or
// not as expected), 2 (an error other than errBroke) for bad usage.
func TestMergeExitCodes(t *testing.T) {
	st, err := stage.Get("single-server")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := matrixJobs([]stage.Stage{st}, report.Matrix{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cellsOf := func(i, n int) []report.Cell {
		var cells []report.Cell
		for _, j := range shardJobs(jobs, i, n) {
			cells = append(cells, j.cell)
		}
		return cells
	}
	a := shardDir(t, "1/2", cellsOf(1, 2), 99)
	b := shardDir(t, "2/2", cellsOf(2, 2), 99)
	bStopped := shardDir(t, "2/2", cellsOf(2, 2), 1)

	out := filepath.Join(t.TempDir(), "C")
	if err := runMerge(context.Background(), []string{"--out", out, a, b}); err != nil {
		t.Errorf("every cell present and as expected: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "matrix.md"))
	if !strings.Contains(string(md), "4 of 4 runs as they should be") {
		t.Errorf("matrix.md:\n%s", md)
	}
	// --junit: one test case per cell; the missing ones skipped.
	junit := filepath.Join(t.TempDir(), "junit.xml")
	if err := runMerge(context.Background(), []string{"--out", filepath.Join(t.TempDir(), "C"), "--junit", junit, a, bStopped}); !errors.As(err, new(errBroke)) {
		t.Errorf("merge with --junit, a shard stopped: %v, want errBroke", err)
	}
	x, _ := os.ReadFile(junit)
	if !strings.Contains(string(x), `tests="4"`) || !strings.Contains(string(x), "<skipped") {
		t.Errorf("junit.xml:\n%s", x)
	}
	for _, args := range [][]string{
		{"--out", filepath.Join(t.TempDir(), "C"), a},           // shard 2/2 not given
		{"--out", filepath.Join(t.TempDir(), "C"), a, bStopped}, // shard 2/2 stopped after one run
		{a, "--out", filepath.Join(t.TempDir(), "C")},           // flags after the directories; shard 2/2 not given
	} {
		if err := runMerge(context.Background(), args); !errors.As(err, new(errBroke)) {
			t.Errorf("merge %v: %v, want errBroke (exit 1)", args, err)
		}
	}
	for _, args := range [][]string{
		{a, b},                                 // no --out
		{"--out", t.TempDir()},                 // no directories
		{"--out", a, a, b},                     // --out among them
		{"--out", t.TempDir(), a, t.TempDir()}, // no cells.json
	} {
		err := runMerge(context.Background(), args)
		if err == nil || errors.As(err, new(errBroke)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("merge %v: %v, want a one-line usage error (exit 2)", args, err)
		}
	}
}
