package docker

import (
	"os"
	"strings"
	"testing"
)

// labels is a resource labelled by a scalelab with host labels.
func labels(run string, pid, start string, h Host) map[string]string {
	return map[string]string{
		LabelRun: run, LabelPID: pid, LabelPIDStart: start,
		LabelHost: h.Name, LabelBootID: h.BootID, LabelPIDNS: h.PIDNS,
	}
}

func TestClassifyReapsOnlyDeadOwnersOfThisHost(t *testing.T) {
	here := Host{Name: "ci-1", BootID: "b00t-1", PIDNS: "pid:[4026531836]"}
	me := Owner{Run: "0101-000000-aaaaaa", PID: 100, PIDStart: "5", Host: here, HasHost: true}
	// Alive: pid 200 started at tick 7 runs on this host; nothing else does.
	alive := func(pid int, start string) bool { return pid == 200 && start == "7" }
	legacy := map[string]string{LabelRun: "r-old", LabelPID: "300", LabelPIDStart: "9"}

	cases := []struct {
		name   string
		labels map[string]string
		want   State
	}{
		{"same host, owner dead: a leftover", labels("r1", "300", "9", here), OwnerGone},
		{"same host, owner alive", labels("r1", "200", "7", here), OwnerAlive},
		{"same host, pid reused by another process", labels("r1", "200", "6", here), OwnerGone},
		{"this very run", labels(me.Run, "300", "9", here), OwnRun},
		{"another hostname (another CI runner)", labels("r1", "300", "9", Host{"ci-2", "b00t-2", here.PIDNS}), OtherHost},
		{"same hostname, another boot id (rebooted, or a machine named alike)", labels("r1", "300", "9", Host{"ci-1", "b00t-0", here.PIDNS}), OtherHost},
		{"another container on this machine: same boot id, own hostname", labels("r1", "300", "9", Host{"c0ffee", "b00t-1", "pid:[4026532000]"}), OtherHost},
		{"same hostname and boot id, another PID namespace", labels("r1", "300", "9", Host{"ci-1", "b00t-1", "pid:[4026532000]"}), OtherPIDNS},
		{"missing host labels (an older scalelab), owner pid dead here", legacy, NoHost},
		{"only some host labels", func() map[string]string {
			l := labels("r1", "300", "9", here)
			delete(l, LabelPIDNS)
			return l
		}(), NoHost},
		{"host labels but no pid", labels("r1", "", "", here), NoOwner},
		{"host labels but a pid that is no number", labels("r1", "x", "", here), NoOwner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Classify(c.labels, me, alive)
			if got != c.want {
				t.Fatalf("Classify = %v (%s), want %v (%s)", got, got.Why(), c.want, c.want.Why())
			}
			if got.Reapable() != (c.want == OwnerGone) {
				t.Fatalf("Reapable = %v for %s", got.Reapable(), got.Why())
			}
		})
	}
}

func TestThisHostReadsBootIDAndPIDNamespace(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		t.Skip("no /proc here: only the hostname identifies the host")
	}
	h := thisHost()
	if h.Name == "" || len(h.BootID) != 36 || !strings.HasPrefix(h.PIDNS, "pid:[") {
		t.Fatalf("thisHost() = %+v: want a hostname, a boot id (a UUID) and pid:[inode]", h)
	}
	l := RunLabels(map[string]string{LabelStack: "s"})
	o := OwnerOf(l)
	if !o.HasHost || o.Host != h || o.PID != os.Getpid() || o.Run != RunID() || l[LabelStack] != "s" {
		t.Fatalf("RunLabels round trip: %+v from %v", o, l)
	}
	// Our own resources are never reaped; a live process of this host is kept.
	if st := Classify(l, Self(), Alive); st != OwnRun {
		t.Fatalf("own labels: %v", st)
	}
	other := RunLabels(map[string]string{LabelRun: "another-run"})
	if st := Classify(other, Self(), Alive); st != OwnerAlive {
		t.Fatalf("labels of a live pid of this host: %v (%s)", st, st.Why())
	}
}

func TestGroupSaysWhoseAndWhy(t *testing.T) {
	here := Self().Host
	cases := []struct {
		g    Group
		want string
	}{
		{Group{Owner: Owner{Run: "R", PID: 123, Host: here, HasHost: true}, State: OwnerAlive, Containers: 6, Networks: 1},
			"6 containers and 1 network of run R owned by pid 123 on host " + here.Name + " (alive)"},
		{Group{Owner: Owner{Run: "R", PID: 9, Host: Host{"ci-2", "abcdef0123", "pid:[1]"}, HasHost: true}, State: OtherHost, Containers: 1},
			"1 container of run R owned by pid 9 on host ci-2 boot abcdef01 (another host"},
		{Group{Owner: Owner{Run: "R", PID: 9, Host: Host{here.Name, here.BootID, "pid:[1]"}, HasHost: true}, State: OtherPIDNS, Networks: 2},
			"2 networks of run R owned by pid 9 on host " + here.Name + " in pid:[1] (another PID namespace"},
		{Group{Owner: Owner{Run: "R", PID: 9}, State: NoHost, Containers: 3},
			"3 containers of run R owned by pid 9 (labelled by an older scalelab"},
	}
	for _, c := range cases {
		if got := c.g.String(); !strings.HasPrefix(got, c.want) {
			t.Errorf("got  %q\nwant %q...", got, c.want)
		}
	}
}
