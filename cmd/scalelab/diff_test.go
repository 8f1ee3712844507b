package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

// scalelab diff: 0 when nothing regressed, 1 (errBroke) on a regression, 2
// (another error) for bad usage.
func TestDiffExitCodes(t *testing.T) {
	st, err := stage.Get("single-server")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := matrixJobs([]stage.Stage{st}, report.Matrix{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cells []report.Cell
	for _, j := range jobs {
		cells = append(cells, j.cell)
	}
	good := shardDir(t, "", slices.Clone(cells), 99)
	stopped := shardDir(t, "", slices.Clone(cells), 1) // every cell after the first missing: verdicts that regressed
	if err := runDiff(context.Background(), []string{good, good}); err != nil {
		t.Errorf("a matrix against itself: %v", err)
	}
	if err := runDiff(context.Background(), []string{good, stopped}); !errors.As(err, new(errBroke)) {
		t.Errorf("cells gone missing: %v, want errBroke", err)
	}
	if err := runDiff(context.Background(), []string{stopped, good}); err != nil {
		t.Errorf("cells that came back: %v, want no regression", err)
	}
	for _, args := range [][]string{{good}, {good, good, good}, {good, filepath.Join(t.TempDir(), "none")}} {
		err := runDiff(context.Background(), args)
		if err == nil || errors.As(err, new(errBroke)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("diff %v: %v, want a one-line usage error", args, err)
		}
	}
}

// A wrong --baseline fails before the matrix runs anything.
func TestMatrixBaselineReadFirst(t *testing.T) {
	err := runMatrix(context.Background(), []string{"--stages", "single-server", "--baseline", filepath.Join(t.TempDir(), "none"), "--report", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--baseline") || errors.As(err, new(errBroke)) {
		t.Errorf("matrix --baseline with no such directory: %v, want a usage error naming --baseline", err)
	}
}
