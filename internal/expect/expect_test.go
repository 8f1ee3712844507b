package expect

import (
	"testing"

	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/verdict"
)

// A control's run counts for the guarantee it breaks when only another
// guarantee went without data, as its outcome does; not when the run
// failed an assumption of its own, nor when the named one was not judged.
func TestBreakCountsAsTheControlsOutcome(t *testing.T) {
	run := func(assumptions []string, gs ...verdict.Guarantee) *engine.Result {
		v := verdict.Verdict{Assumptions: assumptions}
		v.Add(gs...)
		return &engine.Result{Verdict: v}
	}
	broken := verdict.Guarantee{Name: "fault-paged", Measured: "not heard"}
	other := verdict.NotJudgedBecause(verdict.Guarantee{Name: "alert-resolves"}, "it never fired")
	for _, c := range []struct {
		name string
		res  *engine.Result
		want bool
	}{
		{"broken, another not judged", run(nil, broken, other), true},
		{"broken, the run's own assumption failed", run([]string{"the load generator fell behind"}, broken), false},
		{"the named guarantee not judged", run(nil, verdict.NotJudgedBecause(broken, "no data")), false},
		{"it held", run(nil, verdict.Guarantee{Name: "fault-paged", Holds: true}), false},
	} {
		if got, err := Break("fault-paged").Match(c.res); err != nil || got != c.want {
			t.Errorf("%s: Break matched %v (%v), want %v", c.name, got, err, c.want)
		}
	}
	if ok, _ := guarantee("alert-resolves", true).Match(run(nil, broken, other)); ok {
		t.Error("Hold matched a guarantee that was not judged")
	}
}
