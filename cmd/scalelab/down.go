package main

import (
	"context"
	"fmt"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/stacks"
)

const usageDown = `scalelab down [--all]

Removes the containers and networks that scalelab runs left behind on this Docker
engine, when it is safe: those of runs whose process ran on this host (same hostname,
boot id and PID namespace) and is gone. It leaves alone, and says why:
  - runs whose process still runs (a stack kept by scalelab up, a run in progress),
  - runs of another host or PID namespace (another CI job or container sharing the
    engine): their process cannot be checked from here,
  - resources labelled by an older scalelab, which carry no host identity.
--all removes every scalelab container and network anyway, whoever owns it.

Examples:
  scalelab down
  scalelab down --all`

func runDown(ctx context.Context, args []string) error {
	fs := flags("down")
	all := fs.Bool("all", false, "remove every scalelab container and network, also those of live runs and other hosts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("down takes no arguments (got %q): scalelab down [--all]", fs.Args())
	}
	left, err := docker.Reap(ctx, *all)
	for _, g := range left.Groups {
		fmt.Println(g.Line())
	}
	fmt.Println(downSummary(left))
	if err != nil {
		return fmt.Errorf("remove leftovers: %w", err)
	}
	// The CPU budgets (cgroups) of stacks that no longer have a container.
	if left.Stacks != nil {
		if n, err := stacks.ReapCPUBudgets(left.Stacks); err != nil {
			fmt.Printf("warning: removing CPU budgets of gone stacks: %v\n", err)
		} else if n > 0 {
			fmt.Printf("removed the CPU budgets (cgroups) of %s\n", plural(n, "gone stack"))
		}
	}
	return nil
}

// downSummary is down's last line: what it removed, what it left and how to
// remove that too.
func downSummary(l docker.Leftovers) string {
	kept := l.Kept()
	if len(l.Groups) == 0 {
		return "nothing to remove: no scalelab container or network on this engine"
	}
	s := fmt.Sprintf("removed %s and %s", plural(l.Containers, "container"), plural(l.Networks, "network"))
	if len(kept) == 0 {
		return s
	}
	var c, n int
	runs := map[string]bool{}
	for _, g := range kept {
		c += g.Containers
		n += g.Networks
		runs[g.Owner.Run] = true
	}
	return fmt.Sprintf("%s; left %s and %s of %s (see above): `scalelab down --all` removes them too",
		s, plural(c, "container"), plural(n, "network"), plural(len(runs), "run"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
