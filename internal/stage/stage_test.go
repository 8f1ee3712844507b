package stage

import (
	"strconv"
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
				fs := []Fault{f}
				judged := map[string]bool{}
				for n := range names {
					judged[n] = true
				}
				for _, id := range c.With {
					w, err := st.Fault(id)
					if err != nil {
						t.Errorf("stage %s control %q: %v", st.ID, c.Name, err)
						continue
					}
					fs = append(fs, w)
				}
				cset, err := st.Resolve(c.Set, fs...)
				if err != nil {
					t.Errorf("stage %s control %q: %v", st.ID, c.Name, err)
					continue
				}
				for _, w := range fs {
					for _, g := range w.Guarantees(Evidence{}, cset) {
						judged[g.Name] = true
					}
				}
				for _, b := range c.Breaks {
					if !judged[b] {
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

// Every guarantee a fault judges has a negative control of that fault under
// which it must break: a check that cannot fail proves nothing. Some
// guarantees are judged only under a control's settings (the lesson a
// control shows, e.g. that in-memory sessions are lost): each of those must
// be broken by some control of the stage.
func TestEveryGuaranteeHasANegativeControl(t *testing.T) {
	for _, st := range All() {
		brokenInStage := map[string]bool{}
		for _, f := range st.Faults {
			for _, c := range f.Controls {
				for _, b := range c.Breaks {
					brokenInStage[b] = true
				}
			}
		}
		for _, f := range st.Faults {
			set, err := st.Resolve(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			broken := map[string]bool{}
			for _, c := range f.Controls {
				for _, b := range c.Breaks {
					broken[b] = true
				}
			}
			judged := map[string]bool{}
			for _, g := range f.Guarantees(Evidence{}, set) {
				judged[g.Name] = true
				if !broken[g.Name] {
					t.Errorf("stage %s fault %s judges %q, but none of its controls breaks it", st.ID, f.ID, g.Name)
				}
			}
			for _, c := range f.Controls {
				cset, err := st.Resolve(c.Set, f)
				if err != nil {
					continue // a control with settings of its With faults; TestStagesAreValidData covers it
				}
				for _, g := range f.Guarantees(Evidence{}, cset) {
					if !judged[g.Name] && !brokenInStage[g.Name] {
						t.Errorf("stage %s fault %s judges %q under the control %q, but no control of the stage breaks it", st.ID, f.ID, g.Name, c.Name)
					}
				}
			}
		}
	}
}

func TestReplicationStack(t *testing.T) {
	st, err := Get("replication")
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []Settings{nil, {"replication": "sync", "sync_standbys": "2", "fencing": "off", "failover": "off", "reads": "primary"}} {
		resolved, err := st.Resolve(set)
		if err != nil {
			t.Fatal(err)
		}
		topo := st.Stack(resolved)
		if err := topo.Validate(); err != nil {
			t.Fatal(err)
		}
		web, _ := topo.Node("web")
		args := strings.Join(web.Args, " ")
		for _, want := range []string{"target_session_attrs=read-write", "${db-primary},${db-replica-1},${db-replica-2}", "-replica db-replica-2=", "-reads " + resolved["reads"]} {
			if !strings.Contains(args, want) {
				t.Errorf("settings %v: web args %q lack %q", set, args, want)
			}
		}
		ctl, _ := topo.Node("failover")
		cargs := strings.Join(ctl.Args, " ")
		port, _ := topo.LinkPort("db-replica-2->db-replica-1")
		if !strings.Contains(cargs, "-follow db-replica-2->db-replica-1=toxiproxy:"+strconv.Itoa(port)) {
			t.Errorf("controller args %q lack the follow address of db-replica-2->db-replica-1", cargs)
		}
		db, _ := topo.Node("db-replica-1")
		if resolved["replication"] == "sync" && !strings.Contains(strings.Join(db.Args, " "), `synchronous_standby_names=ANY 2 ("db-primary", "db-replica-1", "db-replica-2")`) {
			t.Errorf("sync: db args %q", db.Args)
		}
		if got, want := db.Env["CONTROLLER"] != "", resolved["fencing"] == "on"; got != want {
			t.Errorf("fencing %s: CONTROLLER=%q", resolved["fencing"], db.Env["CONTROLLER"])
		}
	}
}
