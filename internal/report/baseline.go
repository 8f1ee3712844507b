package report

import (
	"fmt"
	"strings"
)

// Tolerances of a comparison with a baseline: what a cell may move before
// it counts as a regression. Runs are noisy (a recovery measured on a busy
// machine), so a figure must move by both a share and an amount.
const (
	// RecoveryWorseShare and RecoveryWorseBy: a fault run's recovery time
	// up by more than 50% and more than 1 s.
	RecoveryWorseShare = 0.5
	RecoveryWorseBy    = 1.0 // seconds
	// AvailabilityWorseBy: availability during the fault down by more than
	// 5 points.
	AvailabilityWorseBy = 0.05
)

// Comparison is a matrix set against an earlier one (its baseline), cell by
// cell: a verdict that changed, and a fault run's figures that moved
// beyond the tolerances. Controls are compared by verdict only: their
// figures are meant to be bad.
type Comparison struct {
	Baseline string   `json:"baseline"` // the baseline's directory, as given
	Changes  []Change `json:"changes"`
	// Compared counts the cells present in both; New and Gone those in one
	// only (a stage or fault added or removed: listed, not regressions).
	Compared int      `json:"compared"`
	New      []string `json:"new"`
	Gone     []string `json:"gone"`
	// Settings says how the two matrices' --set values differ ("" when
	// they are the same): a change a setting made is what such a
	// comparison is for, and the reader should know it was one.
	Settings string `json:"settings,omitempty"`
}

// Change is one way a cell moved.
type Change struct {
	Cell       string `json:"cell"`
	What       string `json:"what"` // "verdict", "recovery", "availability during", "lost writes", ...
	Old        string `json:"old"`
	New        string `json:"new"`
	Regression bool   `json:"regression"` // worse beyond the tolerance; false: better beyond it
}

// Regressions counts the changes that are regressions.
func (c Comparison) Regressions() int {
	n := 0
	for _, ch := range c.Changes {
		if ch.Regression {
			n++
		}
	}
	return n
}

// Compare sets now against base. Only cells that ran in both are compared
// figure by figure; a cell missing in now (not run) while present in base
// is a verdict change like any other.
func Compare(baseDir string, base, now Matrix) Comparison {
	cmp := Comparison{Baseline: baseDir, Changes: []Change{}, New: []string{}, Gone: []string{}}
	if b, n := base.SetText(), now.SetText(); b != n {
		cmp.Settings = fmt.Sprintf("the baseline ran with %s, this matrix with %s", orDefaults(b), orDefaults(n))
	}
	old := map[string]Cell{}
	for _, c := range base.Cells {
		old[c.Name] = c
	}
	seen := map[string]bool{}
	for _, c := range now.Cells {
		seen[c.Name] = true
		b, ok := old[c.Name]
		if !ok {
			cmp.New = append(cmp.New, c.Name)
			continue
		}
		cmp.Compared++
		bOK, bLabel := CellVerdict(b)
		nOK, nLabel := CellVerdict(c)
		if bOK != nOK || bLabel != nLabel {
			cmp.Changes = append(cmp.Changes, Change{Cell: c.Name, What: "verdict", Old: bLabel, New: nLabel, Regression: bOK && !nOK})
		}
		if c.Control != "" || b.Report == nil || c.Report == nil {
			continue
		}
		cmp.Changes = append(cmp.Changes, figureChanges(c.Name, *b.Report, *c.Report)...)
	}
	for _, c := range base.Cells {
		if !seen[c.Name] {
			cmp.Gone = append(cmp.Gone, c.Name)
		}
	}
	return cmp
}

// figureChanges compares a fault run's figures.
func figureChanges(cell string, b, n Report) []Change {
	var out []Change
	add := func(what, old, now string, regression bool) {
		out = append(out, Change{Cell: cell, What: what, Old: old, New: now, Regression: regression})
	}
	switch bo, no := b.RecoveryS, n.RecoveryS; {
	case bo != nil && no == nil:
		add("recovery", fmtSecs(*bo), "never", true)
	case bo == nil && no != nil:
		add("recovery", "never", fmtSecs(*no), false)
	case bo != nil && no != nil && *no != *bo:
		worse := *no > *bo*(1+RecoveryWorseShare) && *no-*bo > RecoveryWorseBy
		if worse || *no < *bo*(1-RecoveryWorseShare) && *bo-*no > RecoveryWorseBy {
			add("recovery", fmtSecs(*bo), fmtSecs(*no), worse)
		}
	}
	if bo, no := b.Availability.During, n.Availability.During; bo != nil && no != nil {
		if d := *bo - *no; d > AvailabilityWorseBy || -d > AvailabilityWorseBy {
			add("availability during", fmt.Sprintf("%.3f", *bo), fmt.Sprintf("%.3f", *no), d > 0)
		}
	}
	count := func(what string, old, now int) {
		if now != old {
			add(what, fmt.Sprint(old), fmt.Sprint(now), now > old)
		}
	}
	if b.Writes.Checked && n.Writes.Checked {
		count("lost writes", b.Writes.Lost, n.Writes.Lost)
	}
	count("stale reads", b.Reads.Stale, n.Reads.Stale)
	count("sessions lost", b.Sessions.Lost, n.Sessions.Lost)
	return out
}

func fmtSecs(s float64) string { return fmt.Sprintf("%.2f s", s) }

// Markdown is the comparison as a table, regressions first.
func (c Comparison) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Against the baseline %s\n\n", mdEscape(c.Baseline))
	fmt.Fprintf(&b, "%d cells compared, %d regressions", c.Compared, c.Regressions())
	if len(c.New) > 0 {
		fmt.Fprintf(&b, "; new: %s", mdEscape(strings.Join(c.New, ", ")))
	}
	if len(c.Gone) > 0 {
		fmt.Fprintf(&b, "; gone: %s", mdEscape(strings.Join(c.Gone, ", ")))
	}
	fmt.Fprintf(&b, " (tolerances: recovery up by more than %.0f%% and %.0f s, availability during the fault down by more than %.0f points, any more lost writes, stale reads or lost sessions).\n",
		RecoveryWorseShare*100, RecoveryWorseBy, AvailabilityWorseBy*100)
	if c.Settings != "" {
		fmt.Fprintf(&b, "\nSettings: %s.\n", mdEscape(c.Settings))
	}
	if len(c.Changes) == 0 {
		b.WriteString("\nNo cell changed.\n")
		return b.String()
	}
	b.WriteString("\n| | cell | what | baseline | now |\n|---|---|---|---|---|\n")
	for _, pass := range []bool{true, false} {
		for _, ch := range c.Changes {
			if ch.Regression != pass {
				continue
			}
			mark := "better or within tolerance"
			if ch.Regression {
				mark = "**regression**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mark, mdEscape(ch.Cell), mdEscape(ch.What), mdEscape(ch.Old), mdEscape(ch.New))
		}
	}
	return b.String()
}

func orDefaults(set string) string {
	if set == "" {
		return "the defaults"
	}
	return set
}
