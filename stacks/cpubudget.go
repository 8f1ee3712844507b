package stacks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A CPU budget caps a whole stack (every node and its toxiproxy together) at
// a number of CPUs, so that stacks running side by side (scalelab matrix
// --parallel) cannot take each other's time: a neighbour's boot burst slows
// only its own servers. It is one cgroup, /scalelab/<stack id>, with a CFS
// quota, made the parent of the stack's containers (Docker's --cgroup-parent
// with the cgroupfs driver). A per-container limit would not do: a stack's
// busy node could not borrow what its idle ones leave.
//
// Docker removes each container's own cgroup, not the parent: Terminate
// removes it, and ReapCPUBudgets the empty ones of runs that died. The
// directory that holds them (/scalelab in each hierarchy) stays: removing
// it could race with a stack that is making its own under it.

// cgroupRoot is where the cgroup file systems are mounted (a test points it
// at a directory of its own).
var cgroupRoot = "/sys/fs/cgroup"

// cgroupParentDir is the directory of scalelab's cgroups, under each
// hierarchy (v1) or the unified one (v2).
const cgroupParentDir = "scalelab"

// cfsPeriod is the CFS period the quota is counted in (the kernel's default).
const cfsPeriod = 100 * time.Millisecond

type cpuBudget struct {
	parent string   // the cgroup parent given to Docker: /scalelab/<id>
	dirs   []string // the directories made, or made by Docker, to remove
	quota  string   // where the quota was written, to check it took
}

// unified tells a cgroup v2 machine (one hierarchy) from a v1 one.
func unified() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
}

// newCPUBudget makes the stack's cgroup with its quota. The error says why
// a machine cannot have one (no writable cgroup file system: not root, or
// inside a container).
func newCPUBudget(stackID string, cpus float64) (*cpuBudget, error) {
	if cpus <= 0 {
		return nil, fmt.Errorf("CPU budget %v: want more than 0 CPUs", cpus)
	}
	quota := int64(cpus * float64(cfsPeriod/time.Microsecond))
	b := &cpuBudget{parent: "/" + cgroupParentDir + "/" + stackID}
	fail := func(err error) (*cpuBudget, error) {
		b.remove()
		return nil, fmt.Errorf("no CPU budget of %.2f CPUs for the stack (cgroup %s): %w", cpus, b.parent, err)
	}
	if unified() {
		// v2: the cpu controller must be enabled from the root down to the
		// stack's cgroup, whose cpu.max is "quota period".
		top := filepath.Join(cgroupRoot, cgroupParentDir)
		dir := filepath.Join(top, stackID)
		for _, d := range []string{top, dir} {
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fail(err)
			}
		}
		b.dirs = []string{dir}
		for _, d := range []string{cgroupRoot, top, dir} {
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
				return fail(fmt.Errorf("enable the cpu controller in %s: %w", d, err))
			}
		}
		b.quota = filepath.Join(dir, "cpu.max")
		if err := os.WriteFile(b.quota, []byte(fmt.Sprintf("%d %d", quota, cfsPeriod/time.Microsecond)), 0o644); err != nil {
			return fail(err)
		}
		return b, nil
	}
	// v1: the quota lives in the cpu hierarchy; Docker makes the same path
	// in the other hierarchies, which go when the stack does.
	cpu := filepath.Join(cgroupRoot, "cpu")
	if _, err := os.Stat(filepath.Join(cpu, "cpu.cfs_quota_us")); err != nil {
		return fail(fmt.Errorf("no cgroup v1 cpu hierarchy at %s: %w", cpu, err))
	}
	dir := filepath.Join(cpu, cgroupParentDir, stackID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	for _, top := range budgetTops() {
		b.dirs = append(b.dirs, filepath.Join(top, stackID))
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.FormatInt(int64(cfsPeriod/time.Microsecond), 10)), 0o644); err != nil {
		return fail(err)
	}
	b.quota = filepath.Join(dir, "cpu.cfs_quota_us")
	if err := os.WriteFile(b.quota, []byte(strconv.FormatInt(quota, 10)), 0o644); err != nil {
		return fail(err)
	}
	return b, nil
}

// budgetTops are the directories that hold the stacks' budgets: scalelab's
// in the unified hierarchy (v2), or in every hierarchy (v1: Docker makes a
// stack's path in each of them).
func budgetTops() []string {
	if unified() {
		return []string{filepath.Join(cgroupRoot, cgroupParentDir)}
	}
	var tops []string
	if hs, err := os.ReadDir(cgroupRoot); err == nil {
		for _, h := range hs {
			if h.IsDir() {
				tops = append(tops, filepath.Join(cgroupRoot, h.Name(), cgroupParentDir))
			}
		}
	}
	return tops
}

// holds tells whether a container's cgroup is inside the budget: Docker
// made it under the parent (a daemon with another cgroup driver or root
// would put it elsewhere, and the budget would cap nothing).
func (b *cpuBudget) holds(containerID string) error {
	dir := filepath.Dir(b.quota)
	if _, err := os.Stat(filepath.Join(dir, containerID)); err != nil {
		return fmt.Errorf("container %.12s is not in the stack's cgroup %s (does the Docker engine use the cgroupfs driver?): %w", containerID, dir, err)
	}
	return nil
}

// remove deletes the stack's cgroup directories, once their containers are
// gone. A directory the kernel still holds is reported.
func (b *cpuBudget) remove() error {
	if b == nil {
		return nil
	}
	var errs []error
	for _, d := range b.dirs {
		if err := rmCgroup(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rmCgroup removes a cgroup directory and the empty container cgroups left
// under it (cgroup directories are removed with rmdir, never unlinked).
func rmCgroup(dir string) error {
	subs, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, s := range subs {
		if s.IsDir() {
			_ = os.Remove(filepath.Join(dir, s.Name()))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// ReapCPUBudgets removes the cgroups of stacks that are gone: those whose id
// live (the stack ids that still have containers) does not hold and that are
// older than a minute (a stack that is booting makes its cgroup a moment
// before its first container). It returns how many it removed.
func ReapCPUBudgets(live map[string]bool) (int, error) {
	removed := map[string]bool{}
	var errs []error
	for _, top := range budgetTops() {
		ids, err := os.ReadDir(top)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if !id.IsDir() || live[id.Name()] || strings.HasPrefix(id.Name(), "cgroup.") {
				continue
			}
			info, err := id.Info()
			if err != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
			if err := rmCgroup(filepath.Join(top, id.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			removed[id.Name()] = true
		}
	}
	return len(removed), errors.Join(errs...)
}
