package docker

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Reap against the engine, on networks this test makes and labels with its
// own scalelab.test value (reap is narrowed to them: other stacks on the
// engine are never touched). Skipped without a Docker engine.
func TestReapRemovesOnlyDeadRunsOfThisHostAndSaysWhatItLeaves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Client(ctx)
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	mine := "scalelab.test=" + RandomID(4)
	t.Cleanup(func() {
		if _, err := Sweep(context.Background(), "scalelab.test", strings.TrimPrefix(mine, "scalelab.test="), 0); err != nil {
			t.Errorf("remove the test's networks: %v", err)
		}
	})

	// A process of this host that is gone: a child that has exited.
	child := exec.Command("sleep", "0.01")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadPID, deadStart := child.Process.Pid, procStart(child.Process.Pid)
	child.Wait()

	me := Self()
	withOwner := func(run string, pid int, start string, h Host) map[string]string {
		l := labels(run, strconv.Itoa(pid), start, h)
		l["scalelab.test"] = strings.TrimPrefix(mine, "scalelab.test=")
		return l
	}
	legacy := map[string]string{LabelRun: "legacy-run", LabelPID: strconv.Itoa(deadPID), LabelPIDStart: deadStart, "scalelab.test": strings.TrimPrefix(mine, "scalelab.test=")}
	nets := map[string]map[string]string{
		"dead":   withOwner("dead-run", deadPID, deadStart, me.Host),
		"alive":  withOwner("alive-run", me.PID, me.PIDStart, me.Host), // this test process, as another run
		"other":  withOwner("other-run", deadPID, deadStart, Host{"elsewhere", "0f0f0f0f-boot", me.Host.PIDNS}),
		"ns":     withOwner("ns-run", deadPID, deadStart, Host{me.Host.Name, me.Host.BootID, "pid:[1]"}),
		"legacy": legacy,
		"own":    withOwner(me.Run, deadPID, deadStart, me.Host),
	}
	ids := map[string]string{}
	for name, l := range nets {
		r, err := c.NetworkCreate(ctx, "scalelab-reaptest-"+name+"-"+RandomID(3), client.NetworkCreateOptions{Labels: l})
		if err != nil {
			t.Fatalf("create network %s: %v", name, err)
		}
		ids[name] = r.ID
	}
	exists := func(name string) bool {
		_, err := c.NetworkInspect(ctx, ids[name], client.NetworkInspectOptions{})
		return err == nil
	}

	left, err := reap(ctx, false, me, Alive, mine)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range left.Groups {
		t.Log(g.Line()) // as `scalelab down` prints it
	}
	// Another run's boot may have removed the dead run's network first;
	// either way it is gone, and nothing else is.
	if exists("dead") {
		t.Error("the network of a dead run of this host is still there")
	}
	for _, name := range []string{"alive", "other", "ns", "legacy", "own"} {
		if !exists(name) {
			t.Errorf("the %s network was removed; a run must leave it alone", name)
		}
	}
	if n := len(left.Kept()); n != 5 {
		t.Errorf("%d groups left alone, want 5 (alive, other host, other PID namespace, legacy, own run): %+v", n, left.Kept())
	}

	all, err := reap(ctx, true, me, Alive, mine)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range all.Groups {
		t.Log("--all: " + g.Line())
	}
	for name := range nets {
		if exists(name) {
			t.Errorf("--all left the %s network", name)
		}
	}
}
