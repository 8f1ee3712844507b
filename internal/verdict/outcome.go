package verdict

import (
	"fmt"
	"strings"
)

// Outcome says whether a run went as it should, with a short label and the
// guarantees behind it. It is the one place that decides it: the engine
// (which runs to keep artifacts for), the command line (its exit code), the
// matrix and the reports all ask it.
type Outcome struct {
	AsExpected bool   `json:"as_expected"`
	Label      string `json:"label"`
	Detail     string `json:"detail"`
}

// Outcome judges the verdict against what the run was for. A fault's run
// (control false) must count and hold every guarantee. A control's run
// must count and break every guarantee it names (breaks): the check can
// fail; a guarantee it does not name that could not be judged does not
// keep it from counting (Verdict.CountsFor). attempt and attempts say
// which run of a control this was, for a control whose breach happens by
// chance (0 or 1: not said).
func (v Verdict) Outcome(control bool, breaks []string, attempt, attempts int) Outcome {
	no := func(label, detail string) Outcome { return Outcome{Label: label + " ✗", Detail: detail} }
	if control && !v.CountsFor(breaks) || !control && !v.Counts() {
		return no("did not count", "the run's assumptions failed, so its numbers measure the lab, not the system")
	}
	if !control {
		var broke []string
		for _, g := range v.Breaches() {
			broke = append(broke, g.Name)
		}
		switch {
		case len(v.Guarantees) == 0:
			return no("nothing judged", "the run has no guarantee")
		case len(broke) > 0:
			return no("broke", "broke: "+strings.Join(broke, ", "))
		}
		return Outcome{AsExpected: true, Label: "held ✓", Detail: "every guarantee held"}
	}
	if len(breaks) == 0 {
		return no("nothing expected to break", "the control names no guarantee that must break")
	}
	var held, missing []string
	for _, name := range breaks {
		g, found := v.find(name)
		switch {
		case !found:
			missing = append(missing, name)
		case g.Holds:
			held = append(held, name)
		}
	}
	switch {
	case len(held) > 0:
		return no("held: the check could not fail", strings.Join(held, ", ")+" held although this control must break it")
	case len(missing) > 0:
		return no("not judged", strings.Join(missing, ", ")+" was not judged in this run")
	}
	label := "broke as expected ✓"
	if attempt > 1 {
		label = fmt.Sprintf("broke as expected ✓ (attempt %d of %d)", attempt, attempts)
	}
	return Outcome{AsExpected: true, Label: label, Detail: strings.Join(breaks, ", ") + " broke, so the check can fail"}
}

func (v Verdict) find(name string) (Guarantee, bool) {
	for _, g := range v.Guarantees {
		if g.Name == name {
			return g, true
		}
	}
	return Guarantee{}, false
}
