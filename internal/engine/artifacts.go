package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
	return dir, nil
}
