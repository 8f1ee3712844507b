package stage

import (
	"strings"
	"testing"
)

func TestStagesAreValidData(t *testing.T) {
	if len(All()) == 0 {
		t.Fatal("no stages registered")
	}
	for _, st := range All() {
		if err := st.Stack(Defaults(st)).Validate(); err != nil {
			t.Errorf("stage %s: %v", st.ID, err)
		}
		if _, ok := st.Stack(Defaults(st)).LinkPort(st.Entry); !ok {
			t.Errorf("stage %s: entry %q is not a link", st.ID, st.Entry)
		}
		for _, f := range st.Faults {
			if len(f.Controls) == 0 {
				t.Errorf("stage %s fault %s has no negative control", st.ID, f.ID)
			}
			set, err := st.Resolve(nil, f)
			if err != nil {
				t.Fatalf("stage %s fault %s: %v", st.ID, f.ID, err)
			}
			names := map[string]bool{}
			for _, g := range f.Guarantees(Evidence{}, set) {
				names[g.Name] = true
			}
			for _, c := range f.Controls {
				if _, err := st.Resolve(c.Set, f); err != nil {
					t.Errorf("stage %s control %q: %v", st.ID, c.Name, err)
				}
				for _, b := range c.Breaks {
					if !names[b] {
						t.Errorf("stage %s control %q expects %q to break, but the fault judges no such guarantee", st.ID, c.Name, b)
					}
				}
			}
		}
	}
}

func TestBadInputIsNamed(t *testing.T) {
	if _, err := Get("nope"); err == nil || !strings.Contains(err.Error(), "stages: single-server, separate-db") {
		t.Errorf("Get: %v", err)
	}
	st, _ := Get("separate-db")
	if _, err := st.Fault("nope"); err == nil || !strings.Contains(err.Error(), "faults: db-latency, db-down, kill-db") {
		t.Errorf("Fault: %v", err)
	}
	f, _ := st.Fault("db-latency")
	if _, err := st.Resolve(Settings{"speed": "1"}, f); err == nil || !strings.Contains(err.Error(), "settings: durability, latency, timeout") {
		t.Errorf("Resolve unknown: %v", err)
	}
	if _, err := st.Resolve(Settings{"timeout": "soon"}, f); err == nil || !strings.Contains(err.Error(), "want a duration") {
		t.Errorf("Resolve bad value: %v", err)
	}
	if _, err := ParseSet([]string{"timeout"}); err == nil || !strings.Contains(err.Error(), "want key=value") {
		t.Errorf("ParseSet: %v", err)
	}
}
