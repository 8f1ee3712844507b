package stage

import (
	"strconv"
	"strings"
	"testing"
)

// Every stage passes Validate: its topology, and every guarantee a fault
// judges broken by one of its controls (no exemptions).
func TestStagesAreValidData(t *testing.T) {
	if len(All()) == 0 {
		t.Fatal("no stages registered")
	}
	for _, st := range All() {
		if err := st.Validate(); err != nil {
			t.Error(err)
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
