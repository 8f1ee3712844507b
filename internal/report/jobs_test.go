package report

import (
	"strings"
	"testing"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

func TestJobsSection(t *testing.T) {
	if jobsWork(check.Jobs{}) != nil {
		t.Error("a run that read no effects back has a jobs section")
	}
	j := check.Jobs{Checked: true, Submitted: 5, Confirmed: 4, Unknown: 1, Processed: 3,
		Lost:       []history.Op{{Value: "c1-w2"}},
		Duplicated: []check.JobEffects{{Job: "c2-w1", Effects: 2}}}
	got := jobsWork(j)
	if got == nil || got.Submitted != 5 || got.Confirmed != 4 || got.Unknown != 1 || got.Processed != 3 ||
		got.Lost != 1 || got.Duplicated != 1 || got.LostJobs[0] != "c1-w2" || got.DuplicatedJobs[0] != "c2-w1" {
		t.Errorf("jobs section %+v", got)
	}
}

func TestReportHTMLJobsSection(t *testing.T) {
	rep := Report{Stage: "queue", Fault: "kill-workers", Jobs: &Jobs{Submitted: 5, Confirmed: 4, Lost: 1, LostJobs: []string{"c1-w2"}}}
	page, err := renderHTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>The jobs</h2>", "<code>c1-w2</code>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html has no %q", want)
		}
	}
}
