// Command junitfail prints, for each failed test case of JUnit reports (the
// ones the Makefile's Ginkgo runs write), its name and failure text. make
// test calls it after a failed suite, so that the last lines of a CI log,
// often the only ones kept, say what failed and why, not only where.
//
//	go run ./internal/junitfail results/specs.junit.xml
package main

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
)

type report struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Status  string `xml:"status,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// maxLines bounds one failure's text: enough for a guarantee's verdict and
// its location, short enough that several fit in a CI log's tail.
const maxLines = 25

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: junitfail REPORT.xml...")
		os.Exit(2)
	}
	failed := 0
	for _, path := range os.Args[1:] {
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
			for _, c := range s.Cases {
				var text string
				switch {
				case c.Failure != nil:
					text = cmp.Or(strings.TrimSpace(c.Failure.Text), c.Failure.Message)
				case c.Error != nil:
					text = cmp.Or(strings.TrimSpace(c.Error.Text), c.Error.Message)
				default:
					continue
				}
				failed++
				fmt.Printf("\n=== %s: %s (%s)\n", path, c.Name, c.Status)
				lines := strings.Split(strings.TrimSpace(text), "\n")
				if len(lines) > maxLines {
					lines = append(lines[:maxLines], fmt.Sprintf("... %d more lines in %s", len(lines)-maxLines, path))
				}
				for _, l := range lines {
					fmt.Println("    " + l)
				}
			}
		}
	}
	fmt.Printf("\n%d failed test case(s) in %s\n", failed, strings.Join(os.Args[1:], ", "))
}
