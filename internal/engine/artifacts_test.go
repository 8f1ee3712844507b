package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestPruneArtifacts(t *testing.T) {
	root := t.TempDir()
	base := time.Now().Add(-time.Hour)
	mk := func(name string, age int, kept bool) {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		run := filepath.Join(dir, "run.json")
		if err := os.WriteFile(run, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if kept {
			if err := os.WriteFile(filepath.Join(dir, keptMarker), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		at := base.Add(time.Duration(age) * time.Minute)
		if err := os.Chtimes(run, at, at); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		mk(fmt.Sprintf("run-%d", i), i, false) // run-5 is the newest
	}
	mk("kept-old", -10, true)
	if err := os.MkdirAll(filepath.Join(root, "matrix", "runs"), 0o755); err != nil { // no run.json: not a run's
		t.Fatal(err)
	}

	n, err := pruneArtifacts(root, 3)
	if err != nil || n != 3 {
		t.Fatalf("removed %d, %v; want 3", n, err)
	}
	var left []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"kept-old", "matrix", "run-3", "run-4", "run-5"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if n, err := pruneArtifacts(root, 3); err != nil || n != 0 {
		t.Errorf("second prune removed %d, %v", n, err)
	}
	if _, err := pruneArtifacts(filepath.Join(root, "absent"), 3); err == nil {
		t.Error("no error for a missing results folder")
	}
}
