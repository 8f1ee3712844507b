package report

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// JUnit XML, the format CI systems read test results from: one test suite
// per stage, one test case per cell of the matrix (its fault's run or one of
// its controls). A cell that is not as it should be fails, with the
// outcome's label and every guarantee (threshold, measured, held or broke)
// in the failure's text; a setup failure is an error; a cell not run is
// skipped, with why.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit renders the matrix as JUnit XML.
func JUnit(mx Matrix) ([]byte, error) {
	all := junitSuites{Name: "scalelab matrix"}
	index := map[string]int{}
	for _, c := range mx.Cells {
		i, ok := index[c.Stage]
		if !ok {
			i = len(all.Suites)
			index[c.Stage] = i
			name := c.Stage
			if c.StageNumber > 0 {
				name = fmt.Sprintf("stage %d, %s", c.StageNumber, c.Stage)
			}
			all.Suites = append(all.Suites, junitSuite{Name: name})
		}
		tc := junitCell(c)
		s := &all.Suites[i]
		s.Cases = append(s.Cases, tc)
		s.Tests++
		s.Time += tc.Time
		switch {
		case tc.Failure != nil:
			s.Failures++
		case tc.Error != nil:
			s.Errors++
		case tc.Skipped != nil:
			s.Skipped++
		}
	}
	for _, s := range all.Suites {
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
		all.Time += s.Time
	}
	out, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// junitCell is one cell's test case: named as the specs name theirs, by
// what it asserts.
func junitCell(c Cell) junitCase {
	tc := junitCase{Classname: "scalelab." + c.Stage, Name: "keeps its guarantees under " + c.Fault}
	if c.Control != "" {
		tc.Name = fmt.Sprintf("sees %s break under %s with the control %q", strings.Join(c.ExpectBreak, ", "), c.Fault, c.Control)
	}
	switch {
	case c.Missing != "":
		tc.Skipped = &junitProblem{Message: c.Missing}
		return tc
	case c.Err != "":
		tc.Error = &junitProblem{Message: "setup failed", Type: "setup", Text: c.Err}
		return tc
	case c.Report == nil:
		tc.Error = &junitProblem{Message: "no report", Type: "setup"}
		return tc
	}
	rep := *c.Report
	for _, s := range rep.PhasesS {
		tc.Time += s
	}
	var b strings.Builder
	for _, g := range rep.Guarantees {
		state := "held"
		switch {
		case g.NotJudged != "":
			state = "not judged (" + g.NotJudged + ")"
		case !g.Holds:
			state = "BROKE"
		}
		fmt.Fprintf(&b, "%s: %s; want %s; measured %s\n", g.Name, state, g.Threshold, g.Measured)
	}
	if len(rep.AssumptionsFailed) > 0 {
		fmt.Fprintf(&b, "assumptions failed: %s\n", strings.Join(rep.AssumptionsFailed, "; "))
	}
	if rep.Rerun != "" {
		fmt.Fprintf(&b, "rerun: %s\n", rep.Rerun)
	}
	if rep.Artifacts != "" {
		fmt.Fprintf(&b, "artifacts: %s\n", rep.Artifacts)
	}
	if ok, label := CellVerdict(c); !ok {
		rep.Control = c.Control
		expect := c.ExpectBreak
		if len(expect) == 0 {
			expect = rep.ExpectBreak
		}
		_, _, detail := runVerdict(rep, expect)
		msg := label
		if detail != "" {
			msg += ": " + detail
		}
		tc.Failure = &junitProblem{Message: msg, Type: "verdict", Text: b.String()}
		return tc
	}
	tc.SystemOut = b.String()
	return tc
}

// WriteJUnit writes the matrix's JUnit XML to path, making its directory.
func WriteJUnit(path string, mx Matrix) error {
	data, err := JUnit(mx)
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("junit: %w", err)
		}
	}
	return os.WriteFile(path, data, 0o644)
}
