// Package expect has the Gomega matchers that make specs read as the
// guarantee they check:
//
//	Expect(run).To(expect.HoldEveryGuarantee())
//	Expect(control).To(expect.Break(stage.FailFast))
package expect

import (
	"fmt"

	"github.com/onsi/gomega/types"

	"github.com/scalelab/scalelab/internal/engine"
)

// HoldEveryGuarantee succeeds when the run's assumptions were met and every
// guarantee held. Its failure message lists every breach, not only the first.
func HoldEveryGuarantee() types.GomegaMatcher {
	return matcher{what: "every guarantee to hold", match: func(r *engine.Result) (bool, error) {
		return r.Passed(), nil
	}}
}

// Break succeeds when the named guarantee was judged in a run that counts
// (its assumptions met) and did not hold. It is the negative control's
// matcher: a run that did not count proves nothing either way.
func Break(name string) types.GomegaMatcher { return guarantee(name, false) }

func guarantee(name string, holds bool) types.GomegaMatcher {
	verb := "hold"
	if !holds {
		verb = "break"
	}
	return matcher{what: fmt.Sprintf("guarantee %q to %s", name, verb), match: func(r *engine.Result) (bool, error) {
		// A guarantee that holds needs a run that met every assumption; one
		// that breaks, a run that counts for it (verdict.CountsFor: another
		// guarantee left without data says nothing of this one), as a
		// control's outcome is judged.
		if holds && len(r.Verdict.Assumptions) > 0 || !holds && !r.Verdict.CountsFor([]string{name}) {
			return false, nil
		}
		g, ok := r.Guarantee(name)
		if !ok {
			return false, fmt.Errorf("the run judged no guarantee %q", name)
		}
		return g.NotJudged == "" && g.Holds == holds, nil
	}}
}

type matcher struct {
	what  string
	match func(*engine.Result) (bool, error)
}

func (m matcher) Match(actual any) (bool, error) {
	r, ok := actual.(*engine.Result)
	if !ok || r == nil {
		return false, fmt.Errorf("expected a *engine.Result, got %T", actual)
	}
	return m.match(r)
}

func (m matcher) FailureMessage(actual any) string {
	return fmt.Sprintf("Expected %s, but:\n%s", m.what, describe(actual))
}

func (m matcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected not %s, but:\n%s", m.what, describe(actual))
}

func describe(v any) string {
	r, ok := v.(*engine.Result)
	if !ok || r == nil {
		return fmt.Sprintf("%v", v)
	}
	s := r.Verdict.String()
	if r.Artifacts != "" {
		s += "\nartifacts: " + r.Artifacts
	}
	return s
}
