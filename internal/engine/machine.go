package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/scalelab/scalelab/internal/docker"
)

// machineNote says, in one line at the start of a run, what the machine is
// like: its load, free memory, free disk under the engine's data
// directory, and the other scalelab stacks running. A run that failed on a
// CI machine is often only understood through what else went on there;
// this line is in every spec's narration (and so in the tail make test
// prints for a failed spec). Whatever cannot be read is left out.
func machineNote(ctx context.Context) string {
	var parts []string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			parts = append(parts, fmt.Sprintf("load %s %s %s on %d cores", f[0], f[1], f[2], runtime.NumCPU()))
		}
	}
	if kb, ok := memAvailableKB(); ok {
		parts = append(parts, fmt.Sprintf("%.1f GiB memory available", float64(kb)/(1<<20)))
	}
	if dir, err := docker.RootDir(ctx); err == nil {
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil {
			parts = append(parts, fmt.Sprintf("%.1f GiB free under %s", float64(st.Bavail)*float64(st.Bsize)/(1<<30), dir))
		}
	}
	if stacks, err := docker.RunningStacks(ctx); err == nil {
		if len(stacks) == 0 {
			parts = append(parts, "no other stack running")
		} else {
			var names []string
			for s, n := range stacks {
				names = append(names, fmt.Sprintf("%s (%d containers)", s, n))
			}
			slices.Sort(names)
			parts = append(parts, "other stacks running: "+strings.Join(names, ", "))
		}
	}
	return "machine: " + strings.Join(parts, "; ")
}

// memAvailableKB is /proc/meminfo's MemAvailable.
func memAvailableKB() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
