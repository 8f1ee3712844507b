package failover

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]string{
		"-primary", "a",
		"-node", "a=postgres://postgres@toxiproxy:20001/postgres",
		"-node", "b=postgres://postgres@toxiproxy:20002/postgres",
		"-follow", "b->a=toxiproxy:20005",
		"-fail-after", "2s", "-promote=false",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Primary != "a" || len(cfg.Nodes) != 2 || cfg.Follow[Pair{"b", "a"}] != "toxiproxy:20005" ||
		cfg.FailAfter != 2*time.Second || cfg.Promote || !cfg.Fence {
		t.Errorf("got %+v", cfg)
	}
	for _, bad := range [][]string{
		{"-primary", "a", "-node", "a=postgres://x/y"},                                                // one node
		{"-primary", "c", "-node", "a=postgres://x/y", "-node", "b=postgres://x/y"},                   // unknown primary
		{"-primary", "a", "-node", "a=postgres://x/y", "-node", "a=postgres://x/y"},                   // twice
		{"-primary", "a", "-node", "a=postgres://x/y", "-node", "b=postgres://x/y", "-follow", "b>a"}, // bad follow
		{"-primary", "a", "-node", "a=postgres://x/y", "-node", "b=postgres://x/y", "-follow", "b->c=h:1"},
	} {
		if _, err := ParseConfig(bad, nil); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestCandidateIsTheMostAdvancedReplica(t *testing.T) {
	states := map[string]NodeState{
		"p":  {Name: "p", Up: false, Role: "down"},
		"r1": {Name: "r1", Up: true, Role: "replica", LSN: 100},
		"r2": {Name: "r2", Up: true, Role: "replica", LSN: 120},
		"r3": {Name: "r3", Up: true, Role: "fenced", LSN: 500},
		"r4": {Name: "r4", Up: false, Role: "down", LSN: 900},
	}
	all := map[string]bool{"r1": true, "r2": true, "r3": true, "r4": true}
	if c, ok := Candidate(states, "p", all); !ok || c != "r2" {
		t.Errorf("got %q %v, want r2", c, ok)
	}
	// r2 never streamed from p: it may be on an older timeline.
	if c, ok := Candidate(states, "p", map[string]bool{"r1": true}); !ok || c != "r1" {
		t.Errorf("r2 not synced: got %q %v, want r1", c, ok)
	}
	if c, ok := Candidate(states, "p", map[string]bool{}); ok {
		t.Errorf("nobody synced: got %q, want none", c)
	}
	states["r2"] = NodeState{Name: "r2", Up: true, Role: "replica", LSN: 100}
	if c, _ := Candidate(states, "p", all); c != "r1" {
		t.Errorf("tie: got %q, want the first name, r1", c)
	}
	if _, ok := Candidate(map[string]NodeState{"p": {Name: "p"}}, "p", all); ok {
		t.Error("no replica: want none")
	}
}

func TestConninfoAddr(t *testing.T) {
	for in, want := range map[string]string{
		"user=postgres passfile='/var/lib/postgresql/.pgpass' host=toxiproxy port=20005 application_name=r": "toxiproxy:20005",
		"host=db user=postgres": "db:5432",
		"":                      "",
	} {
		if got := conninfoAddr(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	if q := quote("a'b"); !strings.Contains(q, "a''b") {
		t.Errorf("quote: %s", q)
	}
}

// The primary waits for a replica only while one streams from it through
// the address it should follow it by; with none, commits do not wait.
func TestSyncWantedOnlyWhileAReplicaStreams(t *testing.T) {
	const sync = `ANY 1 ("a", "b")`
	follow := map[Pair]string{{"b", "a"}: "toxiproxy:20002", {"a", "b"}: "toxiproxy:20001"}
	streaming := map[string]NodeState{
		"a": {Name: "a", Up: true, Role: "primary"},
		"b": {Name: "b", Up: true, Role: "replica", Streaming: true, Following: "toxiproxy:20002"},
	}
	if got := SyncWanted(streaming, "a", follow, sync); got != sync {
		t.Errorf("b streams from a: got %q, want %q", got, sync)
	}
	for name, b := range map[string]NodeState{
		"b is down":                   {Name: "b", Role: "down"},
		"b does not stream":           {Name: "b", Up: true, Role: "replica", Following: "toxiproxy:20002"},
		"b streams from someone else": {Name: "b", Up: true, Role: "replica", Streaming: true, Following: "elsewhere:5432"},
		"b is a fenced primary":       {Name: "b", Up: true, Role: "fenced"},
	} {
		states := map[string]NodeState{"a": streaming["a"], "b": b}
		if got := SyncWanted(states, "a", follow, sync); got != "" {
			t.Errorf("%s: got %q, want \"\" (commits must not wait for nobody)", name, got)
		}
	}
}
