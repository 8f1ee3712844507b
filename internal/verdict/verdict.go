// Package verdict turns checker results into named guarantees that hold or
// not, and a run's verdict: did the system keep its promises, and does the
// run count at all.
package verdict

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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
	// NotJudged, when set, says why the run could not judge the guarantee:
	// its evidence was empty (no reads checked, no sessions, no ops in the
	// window) or its bound lay beyond what the run observed. Silence is not
	// evidence: such a guarantee neither holds nor breaks, and the run does
	// not count (Verdict.Add records it as a failed assumption).
	NotJudged string `json:"not_judged,omitempty"`
	// Bound is the time limit the guarantee judges, if any: the engine
	// observes the run until every bound has passed (json "-": the
	// threshold already says it in words).
	Bound *Bound `json:"-"`
	// Vacuous, when set, says why the settings make this check unable to
	// fail (a negative availability floor, a slow server with no latency).
	// The engine refuses such settings before anything boots.
	Vacuous string `json:"-"`
}

// Since names the event a Bound counts from.
type Since string

const (
	SinceInject Since = "inject" // the first injection
	SinceHeal   Since = "heal"   // the last heal
)

// Bound is a time limit a guarantee judges, counted from an event of the
// run. It can be decided only once the run has been observed past it: a
// system "not recovered when the run ended" must break the guarantee (or
// leave it not judged), never pass it.
type Bound struct {
	Since Since
	D     time.Duration
	// WhileFaulted: the recovery must come while the fault is in place (a
	// load balancer routes around a dead server while it is still dead):
	// the bound is decided at the heal if it is longer than the fault
	// window, and a recovery that only came with the heal breaks it.
	WhileFaulted bool
}

// NotJudgedBecause marks g as not judged, with the reason.
func NotJudgedBecause(g Guarantee, reason string) Guarantee {
	g.Holds = false
	g.NotJudged = reason
	return g
}

// Verdict is the judgment of one run.
type Verdict struct {
	Guarantees []Guarantee `json:"guarantees"`
	// Assumptions are the failed run assumptions (check.Assumptions). Any
	// entry means the run does not count.
	Assumptions []string `json:"assumptions,omitempty"`
}

// Add appends guarantees to the verdict. A guarantee that could not be
// judged also becomes a failed assumption: the run does not count.
func (v *Verdict) Add(gs ...Guarantee) {
	for _, g := range gs {
		if g.Vacuous != "" && g.NotJudged == "" {
			g = NotJudgedBecause(g, "it cannot fail with these settings: "+g.Vacuous)
		}
		v.Guarantees = append(v.Guarantees, g)
		if g.NotJudged != "" {
			v.Assumptions = append(v.Assumptions, notJudgedAssumption(g))
		}
	}
}

func notJudgedAssumption(g Guarantee) string {
	return fmt.Sprintf("%s not judged: %s", g.Name, g.NotJudged)
}

// Counts reports whether the run met its assumptions, so that its
// guarantees, held or broken, say something about the system.
func (v Verdict) Counts() bool { return len(v.Assumptions) == 0 }

// CountsFor reports whether the run met its assumptions as far as the
// guarantees named matter: a guarantee of the fault that a control does
// not name and that could not be judged (stage 11's naive move, with ten
// times the keys, may send no request of a moved user during the fault)
// says nothing of whether the named ones broke.
func (v Verdict) CountsFor(names []string) bool {
	irrelevant := map[string]bool{}
	for _, g := range v.Guarantees {
		if g.NotJudged != "" && !slices.Contains(names, g.Name) {
			irrelevant[notJudgedAssumption(g)] = true
		}
	}
	for _, a := range v.Assumptions {
		if !irrelevant[a] {
			return false
		}
	}
	return true
}

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
		if !g.Holds && g.NotJudged == "" {
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
		switch {
		case g.NotJudged != "":
			mark = "n/j "
		case !g.Holds:
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
