package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/report"
	"github.com/scalelab/scalelab/internal/stage"
)

const usageMatrix = `scalelab matrix [--stages a,b,...] [--report DIR]

Runs every stage under each of its faults and each negative control, and writes
DIR/index.html and DIR/matrix.md (a table per stage, a row per fault: the fault run,
then its controls; each cell held / broke as expected / not as expected, with
availability during the fault,
recovery time and lost writes, linking to that run's report in DIR/runs/).

Exit 0 when every cell is as it should be (faults: every guarantee held; controls:
the named guarantees broke), 1 otherwise, 2 for bad usage or a setup failure.

Examples:
  scalelab matrix
  scalelab matrix --stages single-server --report /tmp/matrix`

func runMatrix(ctx context.Context, args []string) error {
	fs := flags("matrix")
	only := fs.String("stages", "", "comma-separated stage ids (default: every stage)")
	dir := fs.String("report", "results/matrix", "where index.html, matrix.md and the runs' reports go")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (use --stages %s)", pos[0], pos[0])
	}
	stages := stage.All()
	if *only != "" {
		stages = nil
		for _, id := range strings.Split(*only, ",") {
			st, err := stage.Get(strings.TrimSpace(id))
			if err != nil {
				return err
			}
			stages = append(stages, st)
		}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	type job struct {
		st      stage.Stage
		fault   string
		control *stage.Control
	}
	var jobs []job
	for _, st := range stages {
		for _, f := range st.Faults {
			jobs = append(jobs, job{st, f.ID, nil})
			for i := range f.Controls {
				jobs = append(jobs, job{st, f.ID, &f.Controls[i]})
			}
		}
	}
	p := newProgress()
	var cells []report.Cell
	bad := 0
	for i, j := range jobs {
		name := j.st.ID + "-" + j.fault
		cell := report.Cell{Stage: j.st.ID, StageNumber: j.st.Number, Fault: j.fault}
		spec := engine.Spec{Stage: j.st.ID, Fault: j.fault}
		title := fmt.Sprintf("[%d/%d] %s under %s", i+1, len(jobs), j.st.ID, j.fault)
		var res *engine.Result
		if j.control != nil {
			spec.Control = j.control.Name
		}
		if plan, err := engine.Resolve(spec); err == nil {
			spec.Progress = progressFor(p, plan.Spec)
		}
		if j.control != nil {
			cell.Control, cell.ExpectBreak = j.control.Name, j.control.Breaks
			spec.Control = j.control.Name
			name += "-control-" + slug(j.control.Name)
			title += fmt.Sprintf(" (control: %s)", j.control.Name)
			p.Line(title)
			res, _, err = engine.RunControl(ctx, spec)
		} else {
			p.Line(title)
			res, err = engine.Run(ctx, spec)
		}
		p.Done()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		runDir := filepath.Join(*dir, "runs", name)
		cell.ReportPath = filepath.Join("runs", name, "report.html")
		if err != nil {
			cell.Err = err.Error()
			p.Line("setup failed: " + err.Error())
		} else {
			rep := report.FromResult(res)
			cell.Report = &rep
			if err := report.WriteReport(runDir, rep); err != nil {
				return fmt.Errorf("write %s: %w", runDir, err)
			}
		}
		ok, label := report.CellVerdict(cell)
		if !ok {
			bad++
		}
		p.Line(fmt.Sprintf("%s: %s", title, label))
		cells = append(cells, cell)
		// The matrix so far is written after every run: an interrupted
		// matrix still leaves what it measured.
		if err := report.WriteMatrix(*dir, cells); err != nil {
			return fmt.Errorf("write matrix: %w", err)
		}
	}
	abs, _ := filepath.Abs(filepath.Join(*dir, "index.html"))
	fmt.Printf("\nmatrix: %s (%d runs, %d not as expected)\n", abs, len(cells), bad)
	if md, err := os.ReadFile(filepath.Join(*dir, "matrix.md")); err == nil {
		fmt.Println(string(md))
	}
	if bad > 0 {
		return errBroke{}
	}
	return nil
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
