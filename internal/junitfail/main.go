// Command junitfail prints, for each failed test case of JUnit reports (the
// ones the Makefile's Ginkgo runs write), its name, its failure text and
// the end of its narration (the timestamped lines a spec writes as it goes,
// the machine's state at each run's start among them); then where the
// suite's time went. make test calls it after the specs, so that the last
// lines of a CI log, often the only ones kept, say what failed, why, what
// the run was doing when it did, and which specs to make faster.
//
//	go run ./internal/junitfail results/specs.junit.xml
//	go run ./internal/junitfail -times results/specs.junit.xml   (times only)
package main

import (
	"cmp"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

type testCase struct {
	Name      string  `xml:"name,attr"`
	Status    string  `xml:"status,attr"`
	Time      float64 `xml:"time,attr"`
	SystemErr string  `xml:"system-err"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	Error *struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	} `xml:"error"`
}

type report struct {
	Suites []struct {
		Cases []testCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// maxLines bounds one failure's text: enough for a guarantee's verdict and
// its location, short enough that several fit in a CI log's tail.
const maxLines = 12

// maxNarration bounds the narration printed for one failed case: its last
// lines, where the run stopped.
const maxNarration = 15

func main() {
	timesOnly := flag.Bool("times", false, "print only where the time went, no failures")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: junitfail [-times] REPORT.xml...")
		os.Exit(2)
	}
	var all []testCase
	var failures []func() // printed after the times: the tail is theirs
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "junitfail: %v\n", err)
			continue
		}
		var r report
		if err := xml.Unmarshal(data, &r); err != nil {
			fmt.Fprintf(os.Stderr, "junitfail: %s: %v\n", path, err)
			continue
		}
		for _, s := range r.Suites {
			all = append(all, s.Cases...)
			if *timesOnly {
				continue
			}
			for _, c := range s.Cases {
				if c.Failure != nil || c.Error != nil {
					failures = append(failures, func() { printFailure(path, c) })
				}
			}
		}
	}
	printTimes(all)
	if *timesOnly {
		return
	}
	for _, p := range failures {
		p()
	}
	fmt.Printf("\n%d failed test case(s) in %s\n", len(failures), strings.Join(flag.Args(), ", "))
}

// printFailure prints a failed case.
func printFailure(path string, c testCase) {
	var text string
	switch {
	case c.Failure != nil:
		text = cmp.Or(strings.TrimSpace(c.Failure.Text), c.Failure.Message)
	case c.Error != nil:
		text = cmp.Or(strings.TrimSpace(c.Error.Text), c.Error.Message)
	}
	fmt.Printf("\n=== %s: %s (%s after %s)\n", path, c.Name, c.Status, round(c.Time))
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], fmt.Sprintf("... %d more lines in %s", len(lines)-maxLines, path))
	}
	for _, l := range lines {
		fmt.Println("    " + l)
	}
	if n := narration(c.SystemErr); len(n) > 0 {
		fmt.Println("    narration (the spec's own timestamped lines, the last ones):")
		if len(n) > maxNarration {
			// What the machine was like at each run's start is kept
			// whatever the cut.
			for _, l := range n[:len(n)-maxNarration] {
				if strings.Contains(l, " machine: ") {
					fmt.Println("      " + l)
				}
			}
			fmt.Printf("      ... %d lines before\n", len(n)-maxNarration)
			n = n[len(n)-maxNarration:]
		}
		for _, l := range n {
			fmt.Println("      " + l)
		}
	}
}

// stamped is a narration line: the specs' narrate writes "15:04:05.000 ".
var stamped = regexp.MustCompile(`^\s*\d\d:\d\d:\d\d\.\d\d\d `)

// narration is the timestamped lines of a case's timeline (its
// GinkgoWriter output), without a booting stack's line per node.
func narration(timeline string) []string {
	var out []string
	for _, l := range strings.Split(timeline, "\n") {
		if !stamped.MatchString(l) {
			continue
		}
		l = strings.TrimSpace(l)
		if rest := l[len("15:04:05.000 "):]; strings.HasPrefix(rest, "  starting ") || strings.HasPrefix(rest, "  toxiproxy ready with links") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// printTimes says where the suite's time went: by group (a stage's specs,
// or a top-level container's) and the slowest specs.
func printTimes(cases []testCase) {
	if len(cases) == 0 {
		return
	}
	type group struct {
		name  string
		n     int
		total float64
	}
	groups := map[string]*group{}
	var sum float64
	cases = slices.DeleteFunc(slices.Clone(cases), func(c testCase) bool { return c.Status == "skipped" })
	if len(cases) == 0 {
		return
	}
	for _, c := range cases {
		g := groups[groupOf(c.Name)]
		if g == nil {
			g = &group{name: groupOf(c.Name)}
			groups[g.name] = g
		}
		g.n++
		g.total += c.Time
		sum += c.Time
	}
	var gs []*group
	for _, g := range groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return cmp.Compare(b.total, a.total) })
	fmt.Printf("\nwhere the time went: %d specs, %s in all\n", len(cases), round(sum))
	for _, g := range gs {
		fmt.Printf("  %8s  %3d specs  %s\n", round(g.total), g.n, g.name)
	}
	if l := phases(cases, sum); l != "" {
		fmt.Println(l)
	}
	slow := slices.Clone(cases)
	slices.SortFunc(slow, func(a, b testCase) int { return cmp.Compare(b.Time, a.Time) })
	fmt.Println("  the slowest:")
	for _, c := range slow[:min(5, len(slow))] {
		fmt.Printf("  %8s  %s\n", round(c.Time), shorten(c.Name, 150))
	}
}

// phaseLine is a run's narration line of where its time went
// (engine.Phases.String): "time: boot 8.1s, warm-up 3.2s, ...".
var phaseLine = regexp.MustCompile(`(?m)^(?:\d\d:\d\d:\d\d\.\d{3} )?\s*time: (.+)$`)

// phases adds up the runs' phase lines (a spec's reruns too): which
// phase of a run to shorten when the suite is slow. What is left of the
// specs' time is outside the runs' phases: waits for earlier teardowns,
// reports, the CLI's and the labs' specs, suite setup.
func phases(cases []testCase, total float64) string {
	var order []string
	sums := map[string]time.Duration{}
	runs := 0
	var inRuns time.Duration
	for _, c := range cases {
		for _, m := range phaseLine.FindAllStringSubmatch(c.SystemErr, -1) {
			runs++
			for _, part := range strings.Split(m[1], ", ") {
				name, v, ok := strings.Cut(part, " ")
				d, err := time.ParseDuration(v)
				if !ok || err != nil {
					continue
				}
				if _, seen := sums[name]; !seen {
					order = append(order, name)
				}
				sums[name] += d
				inRuns += d
			}
		}
	}
	if runs == 0 {
		return ""
	}
	all := time.Duration(total * float64(time.Second))
	var parts []string
	for _, name := range order {
		parts = append(parts, fmt.Sprintf("%s %s (%d%%)", name, sums[name].Round(time.Second), percent(sums[name], all)))
	}
	return fmt.Sprintf("  by phase, over %d runs: %s; outside the runs' phases %s (%d%%)",
		runs, strings.Join(parts, ", "), (all - inRuns).Round(time.Second), percent(all-inRuns, all))
}

func percent(d, of time.Duration) int {
	if of <= 0 {
		return 0
	}
	return int(100 * d / of)
}

// stageGroup is the group of a stage's specs: "Stages stage 8, multi-dc".
var stageGroup = regexp.MustCompile(`^Stages stage \d+, [a-z-]+`)

// groupOf is a spec's group: its stage, or its first words (the top-level
// container's description, as far as words tell).
func groupOf(name string) string {
	name = strings.TrimPrefix(name, "[It] ") // Ginkgo's JUnit names a spec by its node type first
	if g := stageGroup.FindString(name); g != "" {
		return g
	}
	if strings.HasPrefix(name, "[") {
		return "suite setup and teardown"
	}
	f := strings.Fields(name)
	return strings.Join(f[:min(4, len(f))], " ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func round(sec float64) string {
	return (time.Duration(sec * float64(time.Second))).Round(time.Second).String()
}
