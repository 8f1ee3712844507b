package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

const usageRun = `scalelab run <stage> --fault <fault> [--fault <fault>]... [--set key=value]...
             [--control NAME] [--rate N] [--seed S] [--report DIR] [--keep]

Boots the stage's stack, drives the workload through it, warms up (2 s, then until
the last second's requests succeeded: at most 10 s more, else the run does not count),
injects the fault(s) (5 s, or the fault's own window: 8 s for a failover), heals, cools
down (3 s once every heal completed, or until every recovery bound has passed), reads
every written key back and judges the stage's guarantees. Prints a summary; with --report writes DIR/report.json and
DIR/report.html. Several --fault flags are injected together, in the order given,
and healed together.

Exit 0 when every guarantee held (for --control: when the guarantees it names
broke), 1 when one broke (or a control's did not), 2 for bad usage or a setup failure.

Examples:
  scalelab run single-server --fault kill-server
  scalelab run separate-db --fault db-latency --set latency=3s --set timeout=2s --report out
  scalelab run separate-db --fault db-latency --control 'mysite without a database timeout'
  scalelab run separate-db --fault kill-db --seed 1795773482369240696   # replay a run's schedule`

func runRun(ctx context.Context, args []string) error {
	fs := flags("run")
	var sets, faultIDs multiFlag
	fs.Var(&faultIDs, "fault", "a fault of the stage (see `scalelab faults <stage>`); repeatable")
	fs.Var(&sets, "set", "a setting as key=value; repeatable")
	control := fs.String("control", "", "run one of the fault's negative controls instead of the fault")
	rate := fs.Float64("rate", 0, "operations per second (default 100)")
	seed := fs.Int64("seed", 0, "the workload's seed, to replay a run's schedule (default: from the clock)")
	reportDir := fs.String("report", "", "write report.json and report.html into this directory")
	keep := fs.Bool("keep", false, "keep the run's artifacts (history, logs) even when every guarantee held")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("name one stage: scalelab run <stage> --fault <fault> (stages: %s)", stageIDs())
	}
	st, err := stage.Get(pos[0])
	if err != nil {
		return err
	}
	if len(faultIDs) == 0 {
		return fmt.Errorf("--fault is required (faults of %s: %s)", st.ID, faultList(st))
	}
	for _, id := range faultIDs {
		if _, err := st.Fault(id); err != nil {
			return err
		}
	}
	if *rate < 0 {
		return fmt.Errorf("--rate %v: want a positive number of operations per second", *rate)
	}
	set, err := stage.ParseSet(sets)
	if err != nil {
		return err
	}
	spec := engine.Spec{Stage: st.ID, Fault: faultIDs[0], With: faultIDs[1:], Set: set, Control: *control, KeepArtifacts: *keep}
	spec.Workload.Rate = *rate
	spec.Workload.Seed = *seed
	// Refuse bad settings before anything boots, and learn the phases.
	plan, err := engine.Resolve(spec)
	if err != nil {
		return err
	}
	p := newProgress()
	defer p.Done()
	spec.Progress = progressFor(p, plan.Spec)
	var res *engine.Result
	if *control != "" {
		res, _, err = engine.RunControl(ctx, spec)
	} else {
		res, err = engine.Run(ctx, spec)
	}
	p.Done()
	if err != nil {
		return err
	}
	if *reportDir != "" {
		if err := report.Write(*reportDir, res); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		abs, _ := filepath.Abs(filepath.Join(*reportDir, "report.html"))
		fmt.Printf("report: %s\n", abs)
	}
	o := res.Outcome()
	if c := plan.Control; c != nil {
		if o.AsExpected {
			fmt.Printf("control as expected: %s\n", o.Detail)
		} else {
			fmt.Printf("CONTROL FAILED: %s should have broken (%s)\n", strings.Join(c.Breaks, ", "), o.Label)
		}
		if res.Attempts > 1 {
			fmt.Printf("attempt %d of %d\n", res.Attempt, res.Attempts)
		}
	}
	ok := o.AsExpected
	if !ok {
		return errBroke{}
	}
	return nil
}

// progressFor turns the engine's lines into progress output, starting the
// status line (with the resolved spec's phases) when the workload starts.
func progressFor(p *progress, d engine.Spec) func(string) {
	return func(l string) {
		p.Line(l)
		if strings.HasPrefix(l, "workload:") {
			p.Phases(phase{"warm-up", d.Warmup}, phase{"fault", d.Warmup + d.FaultFor}, phase{"cool-down", d.Warmup + d.FaultFor + d.Cooldown})
		}
		if strings.HasPrefix(l, "reading every written key") {
			p.Done()
		}
	}
}

func faultList(st stage.Stage) string {
	ids := []string{}
	for _, f := range st.Faults {
		ids = append(ids, f.ID)
	}
	return strings.Join(ids, ", ")
}
