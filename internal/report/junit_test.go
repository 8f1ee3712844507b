package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJUnit(t *testing.T) {
	const control = "commits acknowledged before they are durable"
	allHold := map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": true}
	lost := map[string]bool{"spof-shown": true, "recovers": true, "no-lost-writes": false}
	held := rep("", true, nil, allHold)
	held.PhasesS = map[string]float64{"boot": 1.5, "fault": 5}
	broke := rep("", false, nil, lost)
	broke.Guarantees[2].Threshold, broke.Guarantees[2].Measured = "0 lost", "3 lost of 90 acknowledged"
	mx := Matrix{Stages: []string{"single-server", "separate-db"}, Cells: []Cell{
		{Stage: "single-server", StageNumber: 1, Fault: "kill-server", Report: held},
		{Stage: "single-server", StageNumber: 1, Fault: "kill-server", Control: control, ExpectBreak: []string{"no-lost-writes"}, Report: rep(control, false, nil, lost)},
		{Stage: "single-server", StageNumber: 1, Fault: "pause-server", Report: broke},
		{Stage: "separate-db", StageNumber: 2, Fault: "kill-db", Err: "no Docker"},
		{Stage: "separate-db", StageNumber: 2, Fault: "db-latency", Missing: "not run: the matrix stopped before it"},
	}}
	data, err := JUnit(mx)
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, data)
	}
	if got.Tests != 5 || got.Failures != 1 || got.Errors != 1 || got.Skipped != 1 || len(got.Suites) != 2 {
		t.Fatalf("totals tests %d failures %d errors %d skipped %d suites %d\n%s", got.Tests, got.Failures, got.Errors, got.Skipped, len(got.Suites), data)
	}
	one := got.Suites[0]
	if one.Name != "stage 1, single-server" || one.Tests != 3 || one.Failures != 1 || one.Time != 6.5 {
		t.Errorf("suite %+v", one)
	}
	if c := one.Cases[0]; c.Failure != nil || c.Name != "keeps its guarantees under kill-server" || c.Classname != "scalelab.single-server" {
		t.Errorf("held cell %+v", c)
	}
	if c := one.Cases[1]; c.Failure != nil || !strings.Contains(c.Name, `with the control "commits acknowledged before they are durable"`) {
		t.Errorf("control cell %+v", c)
	}
	f := one.Cases[2].Failure
	if f == nil || !strings.HasPrefix(f.Message, "broke") || !strings.Contains(f.Text, "no-lost-writes: BROKE; want 0 lost; measured 3 lost of 90 acknowledged") {
		t.Errorf("broken cell's failure %+v", f)
	}
	two := got.Suites[1]
	if two.Cases[0].Error == nil || two.Cases[0].Error.Text != "no Docker" || two.Cases[1].Skipped == nil {
		t.Errorf("setup failure and missing cell %+v", two.Cases)
	}

	path := filepath.Join(t.TempDir(), "ci", "junit.xml")
	if err := WriteJUnit(path, mx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(b), "<?xml") {
		t.Errorf("written: %v %.40q", err, b)
	}
}
