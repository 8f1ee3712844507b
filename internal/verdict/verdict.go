// Package verdict turns checker results into named guarantees that hold or
// not, and a run's verdict: did the system keep its promises, and does the
// run count at all.
package verdict

import "strings"

// Guarantee is one promise measured on one run.
type Guarantee struct {
	Name      string `json:"name"`      // e.g. "availability during fault"
	Threshold string `json:"threshold"` // the promise, e.g. ">= 0.99"
	Measured  string `json:"measured"`  // what was seen, e.g. "0.9731 (1460/1500 ok)"
	// Value is the measured number the threshold applies to, for plots and
	// comparisons across runs. 0 when there was no data (see Detail): JSON
	// cannot carry NaN.
	Value  float64 `json:"value"`
	Holds  bool    `json:"holds"`
	Detail string  `json:"detail,omitempty"` // evidence: first offenders, no-data reason
}

// Verdict is the judgment of one run.
type Verdict struct {
	Guarantees []Guarantee `json:"guarantees"`
	// Assumptions are the failed run assumptions (check.Assumptions). Any
	// entry means the run does not count.
	Assumptions []string `json:"assumptions,omitempty"`
}

// Add appends guarantees to the verdict.
func (v *Verdict) Add(g ...Guarantee) { v.Guarantees = append(v.Guarantees, g...) }

// Counts reports whether the run met its assumptions, so that its
// guarantees, held or broken, say something about the system.
func (v Verdict) Counts() bool { return len(v.Assumptions) == 0 }

// Passed reports whether the run counts and every guarantee holds. A verdict
// with no guarantee does not pass: nothing was judged, and a stage that
// forgot to declare its guarantees must not show up green.
func (v Verdict) Passed() bool {
	return v.Counts() && len(v.Guarantees) > 0 && len(v.Breaches()) == 0
}

// Breaches returns every guarantee that does not hold, in order: all of them,
// so a report shows the whole damage and not just the first failure.
func (v Verdict) Breaches() []Guarantee {
	var out []Guarantee
	for _, g := range v.Guarantees {
		if !g.Holds {
			out = append(out, g)
		}
	}
	return out
}

// String is a short human summary, one line per guarantee.
func (v Verdict) String() string {
	var b strings.Builder
	switch {
	case !v.Counts():
		b.WriteString("DOES NOT COUNT (failed assumptions)\n")
		for _, a := range v.Assumptions {
			b.WriteString("  assumption: " + a + "\n")
		}
	case v.Passed():
		b.WriteString("PASSED\n")
	default:
		b.WriteString("FAILED\n")
	}
	for _, g := range v.Guarantees {
		mark := "ok  "
		if !g.Holds {
			mark = "FAIL"
		}
		b.WriteString("  " + mark + " " + g.Name + ": " + g.Measured + " (want " + g.Threshold + ")")
		if g.Detail != "" {
			b.WriteString(" - " + g.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}
