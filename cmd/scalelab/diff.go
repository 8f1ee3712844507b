package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/scalelab/scalelab/internal/report"
)

const usageDiff = `scalelab diff OLD NEW

Sets the matrix in directory NEW against an earlier one in OLD (directories written by
scalelab matrix or merge) cell by cell, and prints what changed: a verdict (a cell that
was as it should be and no longer is, or the other way), and a fault run's figures that
moved beyond the tolerances: recovery time up by more than 50% and 1 s, availability
during the fault down by more than 5 points, more lost writes, stale reads or lost
sessions. Controls are compared by verdict only: their figures are meant to be bad.
Cells in one matrix only are listed as new or gone. It runs nothing.

Exit 0 when nothing regressed, 1 on a regression, 2 for bad usage (not two matrix
directories).

Examples:
  scalelab diff results/matrix-main results/matrix
  scalelab matrix --baseline results/matrix-main --report results/matrix   # the same, after a run`

func runDiff(_ context.Context, args []string) error {
	fs := flags("diff")
	dirs, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) != 2 {
		return errors.New("name two matrix directories: scalelab diff OLD NEW")
	}
	base, err := report.ReadMatrix(dirs[0])
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	now, err := report.ReadMatrix(dirs[1])
	if err != nil {
		return err
	}
	return printComparison(report.Compare(dirs[0], base, now))
}

// printComparison prints a comparison's table; errBroke (exit 1) when it
// has a regression.
func printComparison(c report.Comparison) error {
	fmt.Print(c.Markdown())
	if c.Regressions() > 0 {
		return errBroke{}
	}
	return nil
}
