package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	run := func(recovery, during *float64, lost, stale int) *Report {
		r := rep("", true, nil, map[string]bool{"recovers": true})
		r.RecoveryS, r.Availability.During = recovery, during
		r.Writes = Writes{Checked: true, Lost: lost}
		r.Reads.Stale = stale
		return r
	}
	const control = "no health checks"
	ctl := func(breaks bool) *Report {
		return rep(control, !breaks, nil, map[string]bool{"recovers": !breaks})
	}
	cell := func(name, controlName string, r *Report) Cell {
		c := Cell{Name: name, Stage: "load-balancer", Fault: "kill-web", Control: controlName, Report: r}
		if controlName != "" {
			c.ExpectBreak = []string{"recovers"}
		}
		return c
	}
	base := Matrix{Cells: []Cell{
		cell("lb-kill-web", "", run(f(2.0), f(0.97), 0, 0)),
		cell("lb-kill-web-control", control, ctl(true)),
		cell("lb-pause-web", "", run(f(2.0), f(0.95), 0, 0)),
		cell("lb-slow-web", "", run(f(1.0), f(0.99), 0, 2)),
		cell("lb-gone", "", run(f(1.0), f(1), 0, 0)),
	}}
	now := Matrix{Cells: []Cell{
		cell("lb-kill-web", "", run(f(3.6), f(0.90), 1, 0)),  // recovery +80% and +1.6 s; availability -7 points; a lost write
		cell("lb-kill-web-control", control, ctl(false)),     // the control no longer breaks
		cell("lb-pause-web", "", run(f(2.9), f(0.92), 0, 0)), // +45%, -3 points: within the tolerances
		cell("lb-slow-web", "", run(f(1.0), f(0.99), 0, 0)),  // fewer stale reads: better
		cell("lb-new", "", run(f(1.0), f(1), 0, 0)),
	}}
	c := Compare("old", base, now)
	if c.Compared != 4 || strings.Join(c.New, ",") != "lb-new" || strings.Join(c.Gone, ",") != "lb-gone" {
		t.Errorf("compared %d, new %v, gone %v", c.Compared, c.New, c.Gone)
	}
	got := map[string]Change{}
	for _, ch := range c.Changes {
		got[ch.Cell+" "+ch.What] = ch
	}
	for key, regression := range map[string]bool{
		"lb-kill-web recovery":            true,
		"lb-kill-web availability during": true,
		"lb-kill-web lost writes":         true,
		"lb-kill-web-control verdict":     true,
		"lb-slow-web stale reads":         false,
	} {
		ch, ok := got[key]
		if !ok || ch.Regression != regression {
			t.Errorf("%s: %+v (found %v), want regression %v", key, ch, ok, regression)
		}
	}
	if len(c.Changes) != 5 {
		t.Errorf("%d changes, want 5: %+v", len(c.Changes), c.Changes)
	}
	if c.Regressions() != 4 {
		t.Errorf("%d regressions, want 4", c.Regressions())
	}
	md := c.Markdown()
	if !strings.Contains(md, "| **regression** | lb-kill-web | recovery | 2.00 s | 3.60 s |") || !strings.Contains(md, "4 regressions") {
		t.Errorf("markdown:\n%s", md)
	}

	// Written with the matrix: index.html and matrix.md show it.
	dir := t.TempDir()
	now.Baseline = &c
	if err := WriteMatrix(dir, now); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"index.html", "matrix.md"} {
		b, _ := os.ReadFile(filepath.Join(dir, file))
		if !strings.Contains(string(b), "lb-kill-web") || !strings.Contains(string(b), "baseline") || !strings.Contains(string(b), "3.60 s") {
			t.Errorf("%s has no comparison:\n%s", file, b)
		}
	}
	if same := Compare("old", base, base); len(same.Changes) != 0 || same.Regressions() != 0 || !strings.Contains(same.Markdown(), "No cell changed") {
		t.Errorf("a matrix against itself: %+v", same)
	}
}

// A comparison says when the two matrices ran with different --set values.
func TestCompareSettings(t *testing.T) {
	base, now := Matrix{}, Matrix{Set: map[string]string{"check_interval": "1s"}}
	c := Compare("old", base, now)
	if want := "the baseline ran with the defaults, this matrix with check_interval=1s"; c.Settings != want {
		t.Errorf("settings %q, want %q", c.Settings, want)
	}
	if !strings.Contains(c.Markdown(), "Settings: the baseline ran with the defaults") {
		t.Errorf("markdown does not say the settings:\n%s", c.Markdown())
	}
	if c := Compare("old", now, now); c.Settings != "" {
		t.Errorf("same settings: %q", c.Settings)
	}
}
