package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scalelab/scalelab/internal/report"
)

const usageMerge = `scalelab merge --out DIR SHARD_DIR...

Joins matrix directories, the shards of one matrix (scalelab matrix --shard i/n, one
per machine), into one matrix in DIR: index.html, matrix.md and cells.json, with every
run's reports copied to DIR/runs/ so that the links work. It runs nothing: each cell is
judged from its report.json, exactly as the matrix judges it. The merged matrix has
every cell of every stage that appears in the shards; a cell that no shard ran (its
shard failed early, or its directory is not given) shows as missing, never as passed.

Exit 0 when every cell is present and as it should be, 1 otherwise, 2 for bad usage
(no directories, a directory without cells.json, --out among the shards).

Examples:
  scalelab matrix --shard 1/2 --report shard-1     # on one machine
  scalelab matrix --shard 2/2 --report shard-2     # on another
  scalelab merge --out results/matrix shard-1 shard-2
  scalelab merge --out merged shards/*             # CI: every shard's downloaded artifact
  scalelab merge --out merged --junit merged/junit.xml shards/*   # and JUnit XML for the CI's test view`

func runMerge(_ context.Context, args []string) error {
	fs := flags("merge")
	out := fs.String("out", "", "where the merged index.html, matrix.md, cells.json and runs/ go (required)")
	junit := fs.String("junit", "", "also write the merged cells as JUnit XML to this file (a test case per cell; for CI)")
	dirs, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required: scalelab merge --out DIR SHARD_DIR...")
	}
	if len(dirs) == 0 {
		return errors.New("name the shards' directories: scalelab merge --out DIR SHARD_DIR...")
	}
	m, notes, err := report.Merge(*out, dirs)
	for _, n := range notes {
		fmt.Fprintf(os.Stderr, "scalelab merge: note: %s\n", n)
	}
	if err != nil {
		return err
	}
	if *junit != "" {
		if err := report.WriteJUnit(*junit, m); err != nil {
			return err
		}
		fmt.Printf("junit: %s\n", *junit)
	}
	good, all := m.AsExpected()
	missing := 0
	for _, c := range m.Cells {
		if c.Missing != "" {
			missing++
		}
	}
	abs, _ := filepath.Abs(filepath.Join(*out, "index.html"))
	what := "directories"
	if len(dirs) == 1 {
		what = "directory"
	}
	fmt.Printf("merged %d %s: %s (%d cells, %d missing, %d not as expected)\n", len(dirs), what, abs, all, missing, all-good-missing)
	if md, err := os.ReadFile(filepath.Join(*out, "matrix.md")); err == nil {
		fmt.Println(string(md))
	}
	if good < all {
		return errBroke{}
	}
	return nil
}
