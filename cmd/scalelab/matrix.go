package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

const usageMatrix = `scalelab matrix [--stages a,b,...] [--faults f,g,...] [--controls=false] [--set k=v ...]
                [--parallel N] [--shard i/n] [--report DIR] [--junit FILE] [--baseline DIR]

Runs every stage under each of its faults and each negative control, and writes
DIR/index.html and DIR/matrix.md (a table per stage, a row per fault: the fault run,
then its controls; each cell held / broke as expected / not as expected, with
availability during the fault, recovery time and lost writes, linking to that run's
report in DIR/runs/), and DIR/cells.json (the cells as data, for scalelab merge). All three are rewritten after
every run: a matrix that is interrupted or fails part-way leaves what it measured, and
the cells it did not run show as missing.

--parallel N runs N cells at a time, each stack under a CPU budget of its share of the
machine's CPUs (a cgroup quota over all its containers; it needs root and Docker's
cgroupfs driver, and without them a warning says the stack runs uncapped), so that a
neighbour's boot does not slow the servers a run measures; a run
whose workload generator fell behind its schedule does not count, whatever the cause.
The default is one run per CPU (each stack then has one CPU; measured on 2 cores:
BENCHMARKS.md), at most 8; one at a time when the Docker engine stores containers with
fuse-overlayfs, too slow for two stacks at once.

--shard i/n runs the i-th of n shards of the cells (a cell is one fault run or one
control run), to spread the matrix over n machines; scalelab merge joins the shards'
directories. Every machine computes the same split from the stage data: each shard
gets its share of every stage's cells (the same number, or one more), dealt out by
expected duration (the planned warm-up, fault and cool-down plus a second per node to
boot), longest first, each to the shard with the least so far, so that the shards take
about equally long. Every cell is in exactly one shard. Give every shard the same
--stages.

--faults narrows the matrix to some faults of its stages, --controls=false to the fault
runs without their controls; --set gives every run a setting (each control still sets
its own), refused before anything runs where a stage lacks it or where it would make a
check vacuous. A merge expects only the cells a directory selected.

With --baseline DIR the matrix is also set against an earlier one at the end, as
scalelab diff does (a table in the terminal, matrix.md and index.html); when the two
ran with different --set values, the comparison says so.

Exit 0 when every cell is as it should be (faults: every guarantee held; controls:
the named guarantees broke) and, with --baseline, nothing regressed; 1 otherwise; 2
for bad usage or a setup failure.

Examples:
  scalelab matrix
  scalelab matrix --stages single-server --report /tmp/matrix
  scalelab matrix --shard 1/3 --report shard-1     # on machine 1; 2/3 and 3/3 on the others,
  scalelab merge --out results/matrix shard-1 shard-2 shard-3   # then join them
  scalelab matrix --stages cache --junit results/junit.xml       # and JUnit XML for CI
  scalelab matrix --baseline last-green --report results/matrix  # exit 1 on a regression (scalelab diff)
  scalelab matrix --stages load-balancer --faults kill-web --controls=false --set check_interval=1s \
      --baseline last-green --report /tmp/slower-checks   # what a slower health check costs`

// maxParallel bounds --parallel: past a few runs per core the generator
// cannot keep its schedule.
const maxParallel = 8

// defaultParallel is how many runs go side by side by default: one per
// core, so that each stack's budget is one CPU. Measured on 2 cores: a run
// keeps the machine 24% busy on average between boots (BENCHMARKS.md), and
// two side by side kept the generator's p99 send lag at 1-2 ms.
func defaultParallel() int { return min(max(runtime.NumCPU(), 1), maxParallel) }

// job is one cell of the matrix to run.
type job struct {
	cell    report.Cell // Name, Stage, StageNumber, Fault, Control, ExpectBreak
	st      stage.Stage
	control *stage.Control // nil for the fault's own run
	cost    time.Duration  // expected wall time, for the shard split
}

func runMatrix(ctx context.Context, args []string) error {
	fs := flags("matrix")
	only := fs.String("stages", "", "comma-separated stage ids (default: every stage)")
	onlyFaults := fs.String("faults", "", "comma-separated fault ids: only these faults' cells of the stages (default: every fault)")
	withControls := fs.Bool("controls", true, "also run each fault's negative controls (--controls=false: the fault runs only)")
	var sets multiFlag
	fs.Var(&sets, "set", "a setting as key=value for every run, beside each control's own (repeatable; every stage of the matrix must have it)")
	shardFlag := fs.String("shard", "", "run only the i-th of n shards of the cells, as i/n (e.g. 2/3); join the shards with scalelab merge")
	parallel := fs.Int("parallel", defaultParallel(), "how many runs at a time, each stack capped at its share of the CPUs (1: one after the other)")
	dir := fs.String("report", "results/matrix", "where index.html, matrix.md, cells.json and the runs' reports go")
	junit := fs.String("junit", "", "also write the cells as JUnit XML to this file (a test case per cell; for CI)")
	baselineDir := fs.String("baseline", "", "an earlier matrix's directory: compare with it at the end (as scalelab diff) and exit 1 on a regression")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (use --stages %s)", pos[0], pos[0])
	}
	var baseline report.Matrix
	if *baselineDir != "" {
		// Read first: a wrong directory should fail before an hour of runs.
		if baseline, err = report.ReadMatrix(*baselineDir); err != nil {
			return fmt.Errorf("--baseline: %w", err)
		}
	}
	if *parallel < 1 || *parallel > maxParallel {
		return fmt.Errorf("--parallel %d: want 1 to %d runs at a time", *parallel, maxParallel)
	}
	shardI, shardN := 1, 1
	if *shardFlag != "" {
		if shardI, shardN, err = parseShardFlag(*shardFlag); err != nil {
			return err
		}
	}
	stages := stage.All()
	if *only != "" {
		stages = nil
		for _, id := range strings.Split(*only, ",") {
			st, err := stage.Get(strings.TrimSpace(id))
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(stages, func(s stage.Stage) bool { return s.ID == st.ID }) {
				stages = append(stages, st)
			}
		}
	}
	set, err := stage.ParseSet(sets)
	if err != nil {
		return err
	}
	mx := report.Matrix{NoControls: !*withControls, Set: set}
	if *onlyFaults != "" {
		if mx.Faults, err = faultsOf(stages, *onlyFaults); err != nil {
			return err
		}
	}
	all, err := matrixJobs(stages, mx, set)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return errors.New("no cells: --faults and --controls=false leave nothing to run")
	}
	jobs := all
	if !flagSet(fs, "parallel") && *parallel > 1 {
		if d, err := docker.StorageDriver(ctx); err == nil && docker.SlowStorage(d) {
			fmt.Printf("one run at a time: the Docker engine stores containers with %s, too slow for two stacks at once (BENCHMARKS.md); --parallel N overrides\n", d)
			*parallel = 1
		}
	}
	for _, st := range stages {
		mx.Stages = append(mx.Stages, st.ID)
	}
	if *shardFlag != "" {
		jobs = shardJobs(all, shardI, shardN)
		mx.Shard = fmt.Sprintf("%d/%d", shardI, shardN)
		var d time.Duration
		for _, j := range jobs {
			d += j.cost
		}
		fmt.Printf("shard %s: %d of the matrix's %d cells (about %s)\n", mx.Shard, len(jobs), len(all), d.Round(time.Second))
	}
	// Every cell of this matrix (or shard) is in cells.json from the start,
	// missing until it has run: a matrix that stops early says what it did
	// not run.
	for _, j := range jobs {
		c := j.cell
		c.Missing = "not run: the matrix stopped before it (or is still running)"
		mx.Cells = append(mx.Cells, c)
	}
	if err := report.WriteMatrix(*dir, mx); err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	p := newProgress()
	var cpus float64
	if *parallel > 1 {
		// Side by side, each stack gets its share of the machine's CPUs, so
		// that a neighbour's boot cannot slow the servers a run measures.
		cpus = float64(runtime.NumCPU()) / float64(*parallel)
		p.tty = false // one status line cannot show several runs
		fmt.Printf("%d runs at a time, each stack capped at %.2f of the %d CPUs\n", *parallel, cpus, runtime.NumCPU())
	}
	var mu sync.Mutex // mx, bad, and writing the matrix
	bad := 0
	runJob := func(i int, j job) error {
		cell := j.cell
		// One at a time, a stack's removal overlaps the next run's boot
		// (the engine waits for it before the next run measures).
		spec := engine.Spec{Stage: j.st.ID, Fault: j.cell.Fault, Control: j.cell.Control, Set: set, CPUs: cpus, OverlapTeardown: *parallel == 1}
		title := fmt.Sprintf("[%d/%d] %s under %s", i+1, len(jobs), j.st.ID, j.cell.Fault)
		if j.control != nil {
			title += fmt.Sprintf(" (control: %s)", j.control.Name)
		}
		if *parallel > 1 {
			// Lines of runs side by side interleave: each says whose it is.
			tag := fmt.Sprintf("[%d/%d] ", i+1, len(jobs))
			spec.Progress = func(l string) { p.Line(tag + l) }
		} else if plan, err := engine.Resolve(spec); err == nil {
			// The status line shows the run's phases.
			spec.Progress = progressFor(p, plan.Spec)
		}
		var res *engine.Result
		var err error
		p.Line(title)
		if j.control != nil {
			res, _, err = engine.RunControl(ctx, spec)
		} else {
			res, err = engine.Run(ctx, spec)
		}
		if *parallel == 1 {
			p.Done()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			cell.Err = err.Error()
			p.Line(title + ": setup failed: " + err.Error())
		} else {
			rep := report.FromResult(res)
			cell.Report = &rep
			runDir := filepath.Join(*dir, "runs", cell.Name)
			if err := report.WriteReport(runDir, rep); err != nil {
				return fmt.Errorf("write %s: %w", runDir, err)
			}
			cell.ReportPath = filepath.Join("runs", cell.Name, "report.html")
			cell.ReportJSON = filepath.Join("runs", cell.Name, "report.json")
		}
		ok, label := report.CellVerdict(cell)
		p.Line(fmt.Sprintf("%s: %s", title, label))
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			bad++
		}
		mx.Cells[i] = cell
		// The matrix so far is written after every run: an interrupted
		// matrix, or a shard that fails, still leaves what it measured.
		if err := report.WriteMatrix(*dir, mx); err != nil {
			return fmt.Errorf("write matrix: %w", err)
		}
		return nil
	}
	// Workers take the cells in the matrix's order; the first error (an
	// interrupt, a report that cannot be written) stops them taking more.
	next := make(chan int)
	errs := make(chan error, *parallel)
	var wg sync.WaitGroup
	for range *parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := runJob(i, jobs[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var runErr error
feed:
	for i := range jobs {
		select {
		case next <- i:
		case runErr = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	// The last run's stack goes before the matrix says it is done (also
	// after an interrupt: nothing is left running).
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	if err := engine.WaitTeardowns(tctx); err != nil {
		fmt.Printf("warning: teardown: %v\n", err)
	}
	cancel()
	if runErr == nil {
		select {
		case runErr = <-errs:
		default:
		}
	}
	if *baselineDir != "" && runErr == nil {
		c := report.Compare(*baselineDir, baseline, mx)
		mx.Baseline = &c
		if err := report.WriteMatrix(*dir, mx); err != nil {
			return fmt.Errorf("write matrix: %w", err)
		}
	}
	if *junit != "" {
		// Also after an interrupt: what ran is reported, the rest skipped.
		if err := report.WriteJUnit(*junit, mx); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Printf("junit: %s\n", *junit)
	}
	if runErr != nil {
		return runErr
	}
	abs, _ := filepath.Abs(filepath.Join(*dir, "index.html"))
	fmt.Printf("\nmatrix: %s (%d runs, %d not as expected)\n", abs, len(jobs), bad)
	if md, err := os.ReadFile(filepath.Join(*dir, "matrix.md")); err == nil {
		fmt.Println(string(md))
	}
	if bad > 0 || (mx.Baseline != nil && mx.Baseline.Regressions() > 0) {
		return errBroke{}
	}
	return nil
}

// parseShardFlag reads --shard i/n (report.ParseShard: the same rule a
// merge reads cells.json's shard with).
func parseShardFlag(s string) (i, n int, err error) { return report.ParseShard(s) }

// faultsOf reads --faults: each id must be a fault of one of the stages.
func faultsOf(stages []stage.Stage, list string) ([]string, error) {
	var ids, known []string
	for _, st := range stages {
		for _, f := range st.Faults {
			if !slices.Contains(known, f.ID) {
				known = append(known, f.ID)
			}
		}
	}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("--faults: no stage of the matrix has a fault %q (faults: %s)", id, strings.Join(known, ", "))
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// matrixJobs is every cell of the stages that the matrix selects, in the
// matrix's order (report.StageCells), with its expected cost. Each is
// planned with the matrix's settings first (engine.Resolve, no Docker), so
// that a setting a stage does not have, or one that makes a check vacuous,
// fails before anything runs.
func matrixJobs(stages []stage.Stage, mx report.Matrix, set stage.Settings) ([]job, error) {
	var jobs []job
	for _, st := range stages {
		for _, c := range report.StageCells(st) {
			if !mx.Selects(c) {
				continue
			}
			if _, err := engine.Resolve(engine.Spec{Stage: st.ID, Fault: c.Fault, Control: c.Control, Set: set}); err != nil {
				if c.Control != "" {
					err = fmt.Errorf("with its control %q: %w", c.Control, err)
				}
				return nil, err
			}
			j := job{cell: c, st: st}
			if c.Control != "" {
				f, err := st.Fault(c.Fault)
				if err != nil {
					return nil, err
				}
				if j.control, err = f.FindControl(c.Control); err != nil {
					return nil, err
				}
			}
			j.cost = expectedCost(engine.Spec{Stage: st.ID, Fault: c.Fault, Control: c.Control, Set: set})
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// expectedCost is about how long a cell's run takes: the workload's planned
// duration (warm-up, fault, cool-down: engine.Resolve decides them, without
// Docker) plus a second per node, toxiproxy included, to boot and remove the
// stack. Boot is the part it knows least (stage 4's replicas take a base
// backup: 9-17 s measured, where the rule says 6 s), which is why shardJobs
// gives every shard its share of each stage first. A control whose breach
// happens by chance may take more attempts; its first is what is expected.
func expectedCost(spec engine.Spec) time.Duration {
	const fallback = 25 * time.Second
	plan, err := engine.Resolve(spec)
	if err != nil || plan.Stage.Stack == nil {
		return fallback
	}
	nodes := len(plan.Stage.Stack(plan.Settings).Nodes) + 1
	return plan.Spec.Warmup + plan.Spec.FaultFor + plan.Spec.Cooldown + time.Duration(nodes)*time.Second
}

// shardJobs is the i-th of n shards of jobs (1 <= i <= n). Stage by stage,
// each shard gets its share of the stage's cells (the same number, or one
// more): a stage whose runs take longer than expected (a slow boot the cost
// does not know) weighs on every shard alike. Within a stage, the cells are
// dealt out longest expected cost first (ties: the matrix's order), each to
// the shard with the least cost so far over all stages (ties: the lowest
// shard) among those that have room for it. Every shard's jobs keep the
// matrix's order. The split depends on nothing but the jobs, so every
// machine computes the same; every job is in exactly one shard.
func shardJobs(jobs []job, i, n int) []job {
	load := make([]time.Duration, n)
	owner := make([]int, len(jobs))
	for start := 0; start < len(jobs); {
		end := start
		for end < len(jobs) && jobs[end].cell.Stage == jobs[start].cell.Stage {
			end++
		}
		order := make([]int, 0, end-start)
		for k := start; k < end; k++ {
			order = append(order, k)
		}
		sort.SliceStable(order, func(a, b int) bool { return jobs[order[a]].cost > jobs[order[b]].cost })
		// Every shard gets floor(m/n) of the stage's m cells; m mod n
		// shards get one more.
		share, extra := len(order)/n, len(order)%n
		count := make([]int, n)
		for _, k := range order {
			best := -1
			for s := range n {
				room := count[s] < share || (count[s] == share && extra > 0)
				if room && (best < 0 || load[s] < load[best]) {
					best = s
				}
			}
			if count[best] == share {
				extra--
			}
			count[best]++
			owner[k] = best
			load[best] += jobs[k].cost
		}
		start = end
	}
	var out []job
	for k, j := range jobs {
		if owner[k] == i-1 {
			out = append(out, j)
		}
	}
	return out
}
