package stacks

import (
	"os/exec"
	"strings"
	"testing"
)

func TestPGNodeEnvNamesItsLinks(t *testing.T) {
	env := PGNode{Name: "r1", BootPrimary: "p", Peers: []string{"r2", "p"}, Controller: "ctl"}.Env()
	if env["NODE"] != "r1" || env["BOOT_PRIMARY"] != "p" || env["PG_PEERS"] != "p=${p} r2=${r2}" || env["CONTROLLER"] != "${ctl}" {
		t.Errorf("env %v", env)
	}
	if env := (PGNode{Name: "r1", BootPrimary: "p"}).Env(); env["CONTROLLER"] != "" {
		t.Errorf("no controller: CONTROLLER=%q", env["CONTROLLER"])
	}
	// The links the env names must exist: Validate checks env references.
	topo := Topology{Name: "t", Nodes: []Node{
		{Name: "p", Role: PostgresReplicated(), Env: PGNode{Name: "p", BootPrimary: "p", Peers: []string{"r1"}, Controller: "ctl"}.Env()},
		{Name: "r1", Role: PostgresReplicated(), Env: PGNode{Name: "r1", BootPrimary: "p", Peers: []string{"p"}, Controller: "ctl"}.Env()},
		{Name: "ctl", Role: Failover()},
	}, Links: []Link{{From: "p", To: "r1"}, {From: "r1", To: "p"}, {From: "p", To: "ctl"}}}
	err := topo.Validate()
	if err == nil || !strings.Contains(err.Error(), `"r1" refers to ${ctl} but there is no link r1->ctl`) {
		t.Errorf("want the missing link r1->ctl named, got %v", err)
	}
}

// The boot script is shell run by the role as is (the role's command is
// never expanded): it must at least parse.
func TestPGBootScriptParses(t *testing.T) {
	r := PostgresReplicated()
	if r.Cmd[0] != "sh" || r.Cmd[1] != "-c" || !strings.Contains(r.Cmd[2], "pg_basebackup") {
		t.Fatalf("cmd %q", r.Cmd[:3])
	}
	if out, err := exec.Command("sh", "-n", "-c", r.Cmd[2]).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, out)
	}
	if r.Ready[0] != "sh" || !strings.Contains(r.Ready[2], "pg_stat_wal_receiver") {
		t.Fatalf("ready %q: a replica must be ready only once it streams", r.Ready)
	}
	if out, err := exec.Command("sh", "-n", "-c", r.Ready[2]).CombinedOutput(); err != nil {
		t.Fatalf("sh -n ready probe: %v\n%s", err, out)
	}
	if !strings.Contains(strings.Join(r.Cmd, " "), "wal_keep_size=") {
		t.Error("no wal_keep_size: a replica that follows a new primary late could find its WAL gone")
	}
}

// The data directory and the replicated role's marker live on a volume: off
// the container's file system (fuse-overlayfs on some engines), and kept
// across a restart of the container.
func TestPostgresDataIsOnAVolume(t *testing.T) {
	for _, r := range []Role{Postgres(), PostgresReplicated()} {
		for _, path := range []string{PGDataDir, "/var/lib/postgresql/15/.scalelab-initialized"} {
			on := false
			for _, v := range r.Volumes {
				on = on || strings.HasPrefix(path, v+"/")
			}
			if !on {
				t.Errorf("%s: %s is on none of its volumes %v", r.Kind, path, r.Volumes)
			}
		}
	}
}
