package verdict

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
)

// Silence is not evidence: a guarantee measured on nothing is not judged,
// and the run does not count.
func TestEmptyEvidenceIsNotJudged(t *testing.T) {
	for name, g := range map[string]Guarantee{
		"availability, no ops":         AvailabilityAtLeast("", check.Availability{NoData: true}, 0.99),
		"latency, no ops":              LatencyP99Below(check.Latency{NoData: true}, time.Second),
		"lost writes, no read-back":    NoLostWrites(check.LostWrites{}),
		"lost writes, none acked":      NoLostWrites(check.LostWrites{Checked: true}),
		"stale reads, no reads":        NoStaleReads(check.StaleReads{}),
		"read-your-writes, no reads":   NoRYWViolations(check.ReadYourWrites{}),
		"sessions, none":               NoSessionsLost(check.Sessions{}),
		"sessions lost, none":          SessionsLostAtLeast(check.Sessions{}, 0.1),
		"recovery, no ops after fault": RecoveredWithinAfterHeal(check.Recovery{Empty: true, Reason: "no operations after the fault was injected", End: time.Hour}, time.Second),
		"asset loads, none":            AssetsLoadAtLeast("", check.AssetStats{NoData: true}, 0.99),
		"stale assets, none":           NoStaleAssets("", check.AssetStats{NoData: true}),
		"stale assets, none loaded":    NoStaleAssets("", check.AssetStats{Total: 3, Failed: 3}),
		"offload, no asset loads":      OffloadAtLeast("", 0, 0, 0.5),
		"offload, not measured":        OffloadAtLeast("", math.NaN(), 10, 0.5),
	} {
		var v Verdict
		v.Add(g)
		if g.Holds || g.NotJudged == "" || v.Counts() || v.Passed() || len(v.Breaches()) != 0 {
			t.Errorf("%s: %+v; counts=%v breaches=%v", name, g, v.Counts(), v.Breaches())
		}
		if !strings.Contains(v.Assumptions[0], "not judged") {
			t.Errorf("%s: assumption %q", name, v.Assumptions[0])
		}
	}
}

// A recovery bound is decided inside the run: a system not recovered when
// the run ended breaks it; a run that ended before the bound could be
// decided leaves it not judged, never passed.
func TestRecoveryBoundIsDecidedInsideTheRun(t *testing.T) {
	s := time.Second
	base := check.Recovery{Threshold: 0.99, BucketWidth: 250 * time.Millisecond, Inject: 4 * s, Heal: 9 * s}

	notYet := base
	notYet.End, notYet.Reason = 21*s, "availability still below 0.99 at the end of the run"
	if g := RecoveredWithinAfterHeal(notYet, 10*s); g.Holds || g.NotJudged != "" {
		t.Errorf("not recovered when the window (past the bound) ended must break: %+v", g)
	}

	late := base
	late.Recovered, late.At, late.SinceHeal, late.End = true, 20*s, 11*s, 25*s
	if g := RecoveredWithinAfterHeal(late, 10*s); g.Holds || g.NotJudged != "" {
		t.Errorf("recovered after the bound must break: %+v", g)
	}

	// The case: recovered 6 s after the heal, the run ended 8 s
	// after it: a 10 s bound cannot be decided there.
	short := base
	short.Recovered, short.At, short.SinceHeal, short.End = true, 15*s, 6*s, 17*s
	if g := RecoveredWithinAfterHeal(short, 10*s); g.Holds || g.NotJudged == "" {
		t.Errorf("a bound past the end of the run must not pass: %+v", g)
	}

	inTime := base
	inTime.Recovered, inTime.At, inTime.SinceHeal, inTime.End = true, 11*s, 2*s, 21*s
	if g := RecoveredWithinAfterHeal(inTime, 10*s); !g.Holds {
		t.Errorf("recovered 2 s after the heal, observed 12 s past it: %+v", g)
	}

	// Routing around must happen while the fault is in place.
	after := base
	after.Recovered, after.At, after.SinceInject, after.SinceHeal, after.End = true, 10*s, 6*s, 1*s, 21*s
	if g := RecoveredWithin(after, 8*s, true); g.Holds {
		t.Errorf("recovered only after the heal cannot be routing around: %+v", g)
	}

	// A bound past the run, but one that must be met while the fault is in
	// place, is decided at the heal.
	slowChecks := base
	slowChecks.Recovered, slowChecks.At, slowChecks.SinceInject, slowChecks.SinceHeal, slowChecks.End = true, 7*s, 3*s, -2*s, 12*s
	if g := RecoveredWithin(slowChecks, 8500*time.Millisecond, true); !g.Holds || g.NotJudged != "" {
		t.Errorf("routed around 3 s after the injection, a bound of 8.5 s: %+v", g)
	}
}

// A guarantee whose settings make it unable to fail is not judged.
func TestVacuousIsNotJudged(t *testing.T) {
	g := AvailabilityAtLeast("", check.Availability{Counts: check.Counts{OK: 1}, Value: 1}, -0.5)
	g.Vacuous = "negative floor"
	var v Verdict
	v.Add(g)
	if v.Guarantees[0].Holds || v.Counts() {
		t.Errorf("vacuous: %+v", v)
	}
}

// A control counts when what it names was judged: another guarantee of
// the fault left not judged (no data) does not void it, but the named one
// not judged, or a failed assumption of the run, does.
func TestControlCountsForWhatItNames(t *testing.T) {
	broken := Guarantee{Name: "no-lost-writes", Holds: false, Measured: "9 lost"}
	empty := AvailabilityAtLeast("", check.Availability{NoData: true}, 0.99)
	empty.Name = "moved-served"
	var v Verdict
	v.Add(broken, empty)
	if v.Counts() {
		t.Fatal("a run with a guarantee not judged counts as a fault run")
	}
	if o := v.Outcome(true, []string{"no-lost-writes"}, 0, 0); !o.AsExpected {
		t.Errorf("control naming the broken guarantee: %+v", o)
	}
	if o := v.Outcome(true, []string{"moved-served"}, 0, 0); o.AsExpected {
		t.Errorf("control naming the guarantee not judged: %+v", o)
	}
	if o := v.Outcome(false, nil, 0, 0); o.AsExpected {
		t.Errorf("fault run: %+v", o)
	}
	v.Assumptions = append(v.Assumptions, "the workload did not run")
	if o := v.Outcome(true, []string{"no-lost-writes"}, 0, 0); o.AsExpected {
		t.Errorf("control with a failed assumption of the run: %+v", o)
	}
}
