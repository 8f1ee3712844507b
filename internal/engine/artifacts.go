package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// keep writes a run's artifacts under
// Results/<stage>-<fault>-<run id>-<seed>-<stack id>[-control] (the stack id
// tells apart runs of one process, also those side by side):
// the history (re-checkable offline), the verdict, the run's settings and
// seed, and every node's log. It runs before the stack is torn down.
func (res *Result) keep(ctx context.Context, stack *stacks.Stack) (string, error) {
	name := fmt.Sprintf("%s-%s-%s-%d-%s", res.Spec.Stage, res.Spec.Fault, res.RunID, res.Seed, stack.ID())
	if res.Spec.Control != "" {
		name += "-control"
	}
	dir := filepath.Join(res.Spec.Results, name)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return "", err
	}
	run := map[string]any{
		"stage": res.Spec.Stage, "fault": res.Spec.Fault, "control": res.Spec.Control,
		"settings": res.Settings, "seed": res.Seed, "run_id": res.RunID,
		"started": res.Started, "workload": res.Spec.Workload, "stats": res.Stats,
		"warmup_ns": res.Spec.Warmup, "fault_for_ns": res.Spec.FaultFor, "cooldown_ns": res.Spec.Cooldown,
		"phases": res.Phases, // teardown not yet: the stack is still up
	}
	for file, v := range map[string]any{"run.json": run, "history.json": res.History, "verdict.json": res.Verdict, "evidence.json": res.Evidence} {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return "", fmt.Errorf("encode %s: %w", file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return "", err
		}
	}
	for _, node := range append(stack.NodeNames(), stacks.ProxyNode) {
		logs, err := stack.Logs(ctx, node)
		if err != nil {
			logs = "could not read the log: " + err.Error()
		}
		if err := os.WriteFile(filepath.Join(dir, "logs", node+".log"), []byte(logs), 0o644); err != nil {
			return "", err
		}
	}
	if res.Spec.KeepArtifacts {
		// Asked for: never pruned (pruneArtifacts).
		if err := os.WriteFile(filepath.Join(dir, keptMarker), []byte("scalelab run --keep: pruning leaves this folder alone\n"), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// KeepLastArtifacts is how many artifact folders of failed runs results/
// keeps: a lab's worth of failed controls and broken runs (18 folders,
// 26 MB after one lab, before pruning). Folders of runs with --keep stay.
const KeepLastArtifacts = 20

// keptMarker marks an artifact folder written by a run with --keep.
const keptMarker = "KEPT"

// pruneArtifacts removes the oldest artifact folders under root (those
// with a run.json, by its modification time) beyond the newest keep,
// except those marked kept. It returns how many it removed.
func pruneArtifacts(root string, keep int) (int, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	type folder struct {
		path string
		mod  time.Time
	}
	var folders []folder
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		info, err := os.Stat(filepath.Join(dir, "run.json"))
		if err != nil {
			continue // not a run's artifacts (e.g. a matrix), or being written
		}
		if _, err := os.Stat(filepath.Join(dir, keptMarker)); err == nil {
			continue
		}
		folders = append(folders, folder{dir, info.ModTime()})
	}
	if len(folders) <= keep {
		return 0, nil
	}
	slices.SortFunc(folders, func(a, b folder) int { return b.mod.Compare(a.mod) })
	removed := 0
	var errs []error
	for _, f := range folders[keep:] {
		if err := os.RemoveAll(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
