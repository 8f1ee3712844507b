package stage

import (
	"strconv"
	"strings"
	"testing"

	"github.com/scalelab/scalelab/stacks"
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

// resolvedStack is a stage's stack under the given settings (and the
// defaults of the rest), validated.
func resolvedStack(t *testing.T, id string, set Settings) (Settings, stacks.Topology) {
	t.Helper()
	st, err := Get(id)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := st.Resolve(set)
	if err != nil {
		t.Fatal(err)
	}
	topo := st.Stack(resolved)
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	return resolved, topo
}

func TestReplicationStack(t *testing.T) {
	for _, set := range []Settings{nil, {"replication": "sync", "sync_standbys": "2", "fencing": "off", "failover": "off", "reads": "primary"}} {
		resolved, topo := resolvedStack(t, "replication", set)
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

// Stage 8's stack: each data center's web servers try their own database
// first; the controller follows each node's own link to the other; with
// cross_dc=sync the controller (not the nodes' command line, which would
// outrank it) holds synchronous_standby_names.
func TestMultiDCStack(t *testing.T) {
	for _, set := range []Settings{nil, {"cross_dc": "sync", "failover": "off"}} {
		resolved, topo := resolvedStack(t, "multi-dc", set)
		for _, web := range []string{"east-web-1", "west-web-2"} {
			n, _ := topo.Node(web)
			own := dcOf(web)
			other := otherDC(own)
			if args := strings.Join(n.Args, " "); !strings.Contains(args, "${"+own+"-db},${"+other+"-db}") || !strings.Contains(args, "target_session_attrs=read-write") {
				t.Errorf("%s: args %q: want its own DC's database first, read-write", web, args)
			}
		}
		ctl, _ := topo.Node("failover")
		cargs := strings.Join(ctl.Args, " ")
		port, _ := topo.LinkPort("west-db->east-db")
		if !strings.Contains(cargs, "-follow west-db->east-db=toxiproxy:"+strconv.Itoa(port)) {
			t.Errorf("controller args %q lack west-db's own link to east-db", cargs)
		}
		if got, want := strings.Contains(cargs, "-sync-standbys"), resolved["cross_dc"] == "sync"; got != want {
			t.Errorf("cross_dc=%s: controller args %q", resolved["cross_dc"], cargs)
		}
		if !strings.Contains(cargs, "-promote="+map[string]string{"on": "true", "off": "false"}[resolved["failover"]]) {
			t.Errorf("failover=%s: controller args %q", resolved["failover"], cargs)
		}
		for _, db := range []string{"east-db", "west-db"} {
			n, _ := topo.Node(db)
			if strings.Contains(strings.Join(n.Args, " "), "synchronous_standby_names") {
				t.Errorf("%s: args %q set synchronous_standby_names", db, n.Args)
			}
			if n.Networks[0] != strings.TrimSuffix(db, "-db") || n.Env["CONTROLLER"] == "" {
				t.Errorf("%s: networks %v, CONTROLLER %q", db, n.Networks, n.Env["CONTROLLER"])
			}
		}
	}
	// The primary's DC fault defaults to synchronous replication.
	st, _ := Get("multi-dc")
	f, _ := st.Fault("primary-dc-outage")
	if resolved, _ := st.Resolve(nil, f); resolved["cross_dc"] != "sync" {
		t.Errorf("primary-dc-outage: cross_dc=%s, want sync", resolved["cross_dc"])
	}
}
