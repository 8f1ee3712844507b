package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/stacks"
)

func TestJobsSection(t *testing.T) {
	if jobsWork(check.Jobs{}, nil, check.FaultWindows{}) != nil {
		t.Error("a run that read no effects back has a jobs section")
	}
	j := check.Jobs{Checked: true, Submitted: 5, Confirmed: 4, Unknown: 1, Processed: 3,
		Lost:       []history.Op{{Value: "c1-w2"}},
		Duplicated: []check.JobEffects{{Job: "c2-w1", Effects: 2}}}
	got := jobsWork(j, nil, check.FaultWindows{})
	if got == nil || got.Submitted != 5 || got.Confirmed != 4 || got.Unknown != 1 || got.Processed != 3 ||
		got.Lost != 1 || got.Duplicated != 1 || got.LostJobs[0] != "c1-w2" || got.DuplicatedJobs[0] != "c2-w1" {
		t.Errorf("jobs section %+v", got)
	}
	if got.MaxBacklog != nil || got.DrainS != nil {
		t.Errorf("no queue samples, yet a backlog %v drained in %v", got.MaxBacklog, got.DrainS)
	}

	// With the queue's depth sampled: the peak, and when it was empty again.
	q := func(at time.Duration, v float64) check.CounterSample {
		return check.CounterSample{At: at, Values: map[string]float64{stacks.GaugeQueueMessages: v}}
	}
	samples := []check.CounterSample{q(time.Second, 0), q(6*time.Second, 700), q(9*time.Second, 0)}
	got = jobsWork(j, samples, check.FaultWindows{Inject: 2 * time.Second, Heal: 7 * time.Second})
	if got.MaxBacklog == nil || *got.MaxBacklog != 700 || got.DrainS == nil || *got.DrainS != 2 {
		t.Errorf("backlog %v drained in %v s, want 700 and 2", got.MaxBacklog, got.DrainS)
	}
	if want := [][2]float64{{1, 0}, {6, 700}, {9, 0}}; !slices.Equal(got.Backlog, want) {
		t.Errorf("backlog series %v, want %v", got.Backlog, want)
	}
	got = jobsWork(j, samples[:2], check.FaultWindows{Inject: 2 * time.Second, Heal: 7 * time.Second})
	if got.MaxBacklog == nil || *got.MaxBacklog != 700 || got.DrainS != nil {
		t.Errorf("not empty again: backlog %v drained in %v, want 700 and null", got.MaxBacklog, got.DrainS)
	}
}

func TestReportHTMLJobsSection(t *testing.T) {
	backlog, drain, fault, heal := 700.0, 2.5, 2.0, 7.0
	rep := Report{Stage: "queue", Fault: "kill-workers", Timeline: Timeline{FaultAtS: &fault, HealAtS: &heal, EndS: 12},
		Jobs: &Jobs{Submitted: 5, Confirmed: 4, Lost: 1, LostJobs: []string{"c1-w2"}, MaxBacklog: &backlog, DrainS: &drain,
			Backlog: [][2]float64{{1, 0}, {6, 700}, {9.5, 0}}}}
	page, err := renderHTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>The jobs</h2>", "<code>c1-w2</code>", "at most 700 jobs queued at once; the queue empty again 2.5 s after the heal", `aria-label="jobs queued over the run"`, `class="backlog"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html has no %q", want)
		}
	}
}

func TestBacklogChartIsAStepLineOnTheTimelinesAxis(t *testing.T) {
	if c := backlogChart(Report{}); len(c.Els) != 0 {
		t.Errorf("a run without a queue has a backlog chart of %d elements", len(c.Els))
	}
	fault, heal := 2.0, 7.0
	rep := Report{Timeline: Timeline{FaultAtS: &fault, HealAtS: &heal, EndS: 10},
		Jobs: &Jobs{Backlog: [][2]float64{{0, 0}, {5, 800}, {10, 0}}}}
	c := backlogChart(rep)
	var line string
	shaded := false
	for _, e := range c.Els {
		if e.Class == "backlog" {
			line = e.D
		}
		if e.Class == "fault-window" {
			shaded = true
		}
	}
	// x: 64 + t/10*898; y: 20 + 126 - v/1000*126 (the axis tops at 1000).
	if want := "M64.0,146.0 H513.0 V45.2 H962.0 V146.0"; line != want {
		t.Errorf("backlog line %q, want %q", line, want)
	}
	if !shaded {
		t.Error("the fault window is not shaded")
	}
}
