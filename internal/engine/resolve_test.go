package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/stage"
)

// Settings that would make a check unable to fail are refused before
// anything boots, with a one-line reason.
func TestResolveRefusesVacuousSettings(t *testing.T) {
	for _, tc := range []struct {
		stage, fault string
		set          stage.Settings
		want         string
	}{
		{"load-balancer", "kill-web", stage.Settings{"servers": "1", "check_interval": "2s"}, "availability floor"},
		{"load-balancer", "slow-web", stage.Settings{"latency": "0s"}, "latency=0s"},
		{"replication", "kill-primary", stage.Settings{"failover_after": "8s"}, "not inside the fault window"},
		{"replication", "kill-primary", stage.Settings{"after": "7500ms"}, "not inside the fault window"},
		{"load-balancer", "add-web", stage.Settings{"check_interval": "1s"}, "join bound 5.5s"},
	} {
		_, err := Resolve(Spec{Stage: tc.stage, Fault: tc.fault, Set: tc.set})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s %v: err = %v; want one line with %q", tc.stage, tc.fault, tc.set, err, tc.want)
		}
	}
	for _, ok := range []Spec{
		{Stage: "load-balancer", Fault: "kill-web"},
		{Stage: "load-balancer", Fault: "slow-web"},
		{Stage: "replication", Fault: "kill-primary"},
	} {
		if _, err := Resolve(ok); err != nil {
			t.Errorf("%s %s with defaults: %v", ok.Stage, ok.Fault, err)
		}
	}
}

// The cool-down lasts until the largest recovery bound has passed, plus
// the steadiness the check needs: "recovers" is decided inside the run.
func TestResolveObservesPastEveryBound(t *testing.T) {
	for _, st := range stage.All() {
		for _, f := range st.Faults {
			specs := []Spec{{Stage: st.ID, Fault: f.ID}}
			for _, c := range f.Controls {
				specs = append(specs, Spec{Stage: st.ID, Fault: f.ID, Control: c.Name})
			}
			for _, spec := range specs {
				p, err := Resolve(spec)
				if err != nil {
					t.Errorf("%s %s %q: %v", spec.Stage, spec.Fault, spec.Control, err)
					continue
				}
				for _, flt := range p.Faults {
					for _, g := range flt.Guarantees(stage.Evidence{}, p.Settings) {
						b := g.Bound
						if b == nil {
							continue
						}
						end := p.Spec.Warmup + p.Spec.FaultFor + p.Spec.Cooldown
						from := p.Spec.Warmup
						if b.Since == "heal" {
							from += p.Spec.FaultFor
						}
						decided := from + b.D
						if b.WhileFaulted {
							decided = min(decided, p.Spec.Warmup+p.Spec.FaultFor)
						}
						if decided+check.SteadyFor > end {
							t.Errorf("%s %s %q: %s bound %v after the %s ends past the run (%v)", spec.Stage, spec.Fault, spec.Control, g.Name, b.D, b.Since, end)
						}
					}
				}
			}
		}
	}
	p, err := Resolve(Spec{Stage: "single-server", Fault: "kill-server"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Cooldown <= 10*time.Second {
		t.Errorf("single-server kill-server cool-down %v: want past its 9.25 s recovery bound + 1 s", p.Spec.Cooldown)
	}
}
