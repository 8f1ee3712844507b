package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

func jobNames(jobs []job) []string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.cell.Name
	}
	return names
}

// The split is a partition of the matrix's cells for every n: each cell in
// exactly one shard, the same shards from a job list built again (as on
// another machine), each shard in the matrix's order, the shards' expected
// durations within one cell's of each other.
func TestShardSplitIsADeterministicPartition(t *testing.T) {
	all, err := matrixJobs(stage.All(), report.Matrix{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := matrixJobs(stage.All(), report.Matrix{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := jobNames(all)
	if len(names) < 10 {
		t.Fatalf("the matrix has %d cells; expected the whole journey", len(names))
	}
	var longest time.Duration
	for _, j := range all {
		if j.cost <= 0 {
			t.Errorf("%s: expected cost %v", j.cell.Name, j.cost)
		}
		longest = max(longest, j.cost)
	}
	for n := 1; n <= 5; n++ {
		owner := map[string]int{}
		var loads []time.Duration
		for i := 1; i <= n; i++ {
			shard := shardJobs(all, i, n)
			if got, want := jobNames(shardJobs(again, i, n)), jobNames(shard); !slices.Equal(got, want) {
				t.Errorf("shard %d/%d differs between two job lists of the same matrix:\n%v\n%v", i, n, got, want)
			}
			var load time.Duration
			last := -1
			for _, j := range shard {
				if prev, ok := owner[j.cell.Name]; ok {
					t.Errorf("%s is in shard %d/%d and %d/%d", j.cell.Name, prev, n, i, n)
				}
				owner[j.cell.Name] = i
				load += j.cost
				k := slices.Index(names, j.cell.Name)
				if k < last {
					t.Errorf("shard %d/%d is not in the matrix's order at %s", i, n, j.cell.Name)
				}
				last = k
			}
			loads = append(loads, load)
		}
		for _, name := range names {
			if _, ok := owner[name]; !ok {
				t.Errorf("n=%d: %s is in no shard", n, name)
			}
		}
		if len(owner) != len(names) {
			t.Errorf("n=%d: the shards hold %d cells, the matrix has %d", n, len(owner), len(names))
		}
		if spread := slices.Max(loads) - slices.Min(loads); spread > longest {
			t.Errorf("n=%d: shard loads %v differ by %v, more than the longest cell (%v)", n, loads, spread, longest)
		}
		t.Logf("n=%d: expected shard durations %v", n, loads)
	}
	// More shards than cells: the extra shards are empty, still a partition.
	one := all[:1]
	if len(shardJobs(one, 1, 3)) != 1 || len(shardJobs(one, 2, 3)) != 0 || len(shardJobs(one, 3, 3)) != 0 {
		t.Errorf("one cell over three shards: not in exactly one")
	}
}

// Every shard gets its share of every stage's cells (the same number, or
// one more), so that a stage slower than its expected cost slows every
// shard alike.
func TestShardSplitSharesEveryStage(t *testing.T) {
	all, err := matrixJobs(stage.All(), report.Matrix{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	perStage := map[string]int{}
	for _, j := range all {
		perStage[j.cell.Stage]++
	}
	for n := 1; n <= 5; n++ {
		for i := 1; i <= n; i++ {
			got := map[string]int{}
			for _, j := range shardJobs(all, i, n) {
				got[j.cell.Stage]++
			}
			for st, m := range perStage {
				if got[st] < m/n || got[st] > (m+n-1)/n {
					t.Errorf("shard %d/%d has %d of %s's %d cells, want %d or %d", i, n, got[st], st, m, m/n, (m+n-1)/n)
				}
			}
		}
	}
}

func TestParseShardRefusesBadInput(t *testing.T) {
	for _, s := range []string{"1/1", "1/2", "2/2", "3/5"} {
		if _, _, err := parseShardFlag(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"0/2", "3/2", "x", "1/0", "0/0", "-1/2", "1/-2", "1/2/3", "1/", "/2", "", " 1/2", "1 / 2", "a/b"} {
		_, _, err := parseShardFlag(s)
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "want i/n") {
			t.Errorf("%q: message %q is not one line saying what is valid", s, msg)
		}
	}
}

// Bad --shard input is refused before anything runs or is written.
func TestMatrixRefusesABadShardBeforeRunning(t *testing.T) {
	for _, s := range []string{"0/2", "3/2", "x"} {
		dir := filepath.Join(t.TempDir(), "m")
		err := runMatrix(context.Background(), []string{"--stages", "single-server", "--shard", s, "--report", dir})
		if err == nil || !strings.Contains(err.Error(), `--shard "`+s+`"`) {
			t.Errorf("--shard %s: %v", s, err)
		}
		if _, statErr := os.Stat(dir); statErr == nil {
			t.Errorf("--shard %s: wrote %s", s, dir)
		}
	}
}

// --faults and --controls=false narrow the cells; --set reaches every run
// and is checked against every cell's plan before anything runs.
func TestMatrixSelection(t *testing.T) {
	st, err := stage.Get("load-balancer")
	if err != nil {
		t.Fatal(err)
	}
	stages := []stage.Stage{st}
	ids, err := faultsOf(stages, "kill-web, pause-web,kill-web")
	if err != nil || !slices.Equal(ids, []string{"kill-web", "pause-web"}) {
		t.Fatalf("faultsOf = %v, %v; want kill-web, pause-web", ids, err)
	}
	if _, err := faultsOf(stages, "kill-db"); err == nil || !strings.Contains(err.Error(), `no stage of the matrix has a fault "kill-db" (faults: kill-web,`) {
		t.Errorf("an unknown fault: %v", err)
	}

	jobs, err := matrixJobs(stages, report.Matrix{Faults: []string{"kill-web"}, NoControls: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := jobNames(jobs); !slices.Equal(got, []string{report.CellName("load-balancer", "kill-web", "")}) {
		t.Errorf("kill-web without controls: %v", got)
	}
	jobs, err = matrixJobs(stages, report.Matrix{Faults: []string{"kill-web"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := st.Fault("kill-web")
	if len(jobs) != 1+len(f.Controls) {
		t.Errorf("kill-web with its controls: %d cells, want %d", len(jobs), 1+len(f.Controls))
	}

	set := stage.Settings{"check_interval": "1s"}
	if _, err := matrixJobs(stages, report.Matrix{Faults: []string{"kill-web"}}, set); err != nil {
		t.Errorf("a setting of the stage: %v", err)
	}
	if _, err := matrixJobs(stages, report.Matrix{}, stage.Settings{"ttl": "5s"}); err == nil || !strings.Contains(err.Error(), `no setting "ttl"`) {
		t.Errorf("a setting the stage does not have: %v", err)
	}
}
