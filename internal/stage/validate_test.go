package stage

import (
	"strings"
	"testing"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// A stage made by a user is held to the lab's rules: a guarantee that no
// control breaks, a control that expects a guarantee nobody judges, an
// entry that is not a link, a taken id, are refused with their names.
func TestValidateNamesEveryProblem(t *testing.T) {
	sep, _ := Get("separate-db")
	st := Stage{
		ID:    "user-svc",
		Stack: func(Settings) stacks.Topology { return sep.Stack(Defaults(sep)) },
		Entry: "client->nope",
		Faults: []Fault{{
			ID:     "kill-db",
			Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "db"}} },
			Guarantees: func(ev Evidence, _ Settings) []verdict.Guarantee {
				return []verdict.Guarantee{recovers(ev, 5e9), noLostWrites(ev)}
			},
			Controls: []Control{{Name: "late", RecoverLate: 6e9, Breaks: []string{Recovers, "made-up"}}},
		}},
	}
	err := st.Validate()
	if err == nil {
		t.Fatal("Validate accepted a stage with problems")
	}
	for _, want := range []string{`entry "client->nope" is not a link`, `judges "` + NoLostWrites + `", but none of its controls breaks it`, `expects "made-up" to break`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate's error lacks %q:\n%v", want, err)
		}
	}
	if err := Register(sep); err == nil || !strings.Contains(err.Error(), "registered already") {
		t.Errorf("Register of a taken id: %v", err)
	}
}
