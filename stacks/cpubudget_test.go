package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroups points cgroupRoot at a directory laid out as a v1 or v2 host.
func fakeCgroups(t *testing.T, v2 bool) string {
	t.Helper()
	root := t.TempDir()
	old := cgroupRoot
	cgroupRoot = root
	t.Cleanup(func() { cgroupRoot = old })
	if v2 {
		must(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory"), 0o644))
		return root
	}
	for _, h := range []string{"cpu", "memory"} {
		must(t, os.MkdirAll(filepath.Join(root, h), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "cpu", "cpu.cfs_quota_us"), []byte("-1"), 0o644))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return strings.TrimSpace(string(b))
}

func TestCPUBudgetV1(t *testing.T) {
	root := fakeCgroups(t, false)
	b, err := newCPUBudget("abc123", 0.75)
	must(t, err)
	if b.parent != "/scalelab/abc123" {
		t.Errorf("parent %q", b.parent)
	}
	dir := filepath.Join(root, "cpu", "scalelab", "abc123")
	if q := read(t, filepath.Join(dir, "cpu.cfs_quota_us")); q != "75000" {
		t.Errorf("quota %s, want 75000 (0.75 of a 100000 us period)", q)
	}
	if p := read(t, filepath.Join(dir, "cpu.cfs_period_us")); p != "100000" {
		t.Errorf("period %s", p)
	}
	if err := b.holds("c0ffee"); err == nil {
		t.Error("holds: a container Docker did not put in the budget must be an error")
	}
	must(t, os.Mkdir(filepath.Join(dir, "c0ffee"), 0o755))
	must(t, b.holds("c0ffee"))
}

func TestCPUBudgetV2(t *testing.T) {
	root := fakeCgroups(t, true)
	_, err := newCPUBudget("abc123", 1)
	must(t, err)
	if m := read(t, filepath.Join(root, "scalelab", "abc123", "cpu.max")); m != "100000 100000" {
		t.Errorf("cpu.max %q", m)
	}
	for _, d := range []string{root, filepath.Join(root, "scalelab"), filepath.Join(root, "scalelab", "abc123")} {
		if c := read(t, filepath.Join(d, "cgroup.subtree_control")); c != "+cpu" {
			t.Errorf("%s: subtree_control %q", d, c)
		}
	}
}

func TestCPUBudgetRefusesNothing(t *testing.T) {
	fakeCgroups(t, false)
	if _, err := newCPUBudget("x", 0); err == nil {
		t.Error("a budget of 0 CPUs must be refused")
	}
}

func TestCPUBudgetNoCgroups(t *testing.T) {
	old := cgroupRoot
	cgroupRoot = t.TempDir() // neither v1's cpu hierarchy nor v2's controllers
	t.Cleanup(func() { cgroupRoot = old })
	_, err := newCPUBudget("x", 1)
	if err == nil || !strings.Contains(err.Error(), "no CPU budget") {
		t.Errorf("want an error that says there is no budget, got %v", err)
	}
}
