package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/scalelab/scalelab/internal/stage"
)

const usageStages = `scalelab stages

Lists the stages of the journey with their nodes, links and faults.
See scalelab faults <stage> for a stage's settings and controls.`

const usageFaults = `scalelab faults <stage>

Lists a stage's faults, the settings each reads (with defaults), and the negative
controls under which named guarantees must break.

Example:
  scalelab faults separate-db`

func runStages(ctx context.Context, args []string) error {
	fs := flags("stages")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("stages takes no arguments (did you mean scalelab faults %s?)", pos[0])
	}
	for _, st := range stage.All() {
		t := st.Stack(stage.Defaults(st))
		nodes := []string{}
		for _, n := range t.Nodes {
			nodes = append(nodes, n.Name+" ("+n.Role.Kind+")")
		}
		faults := []string{}
		for _, f := range st.Faults {
			faults = append(faults, f.ID)
		}
		fmt.Printf("%2d  %-16s %s\n    adds:   %s\n    nodes:  %s\n    links:  %s\n    faults: %s\n\n", st.Number, st.ID, st.Title, st.Adds,
			strings.Join(nodes, ", "), strings.Join(t.LinkNames(), ", "), strings.Join(faults, ", "))
	}
	return nil
}

func runFaults(ctx context.Context, args []string) error {
	fs := flags("faults")
	pos, err := parseWithPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("name one stage: scalelab faults <stage> (stages: %s)", stageIDs())
	}
	st, err := stage.Get(pos[0])
	if err != nil {
		return err
	}
	// One column width for every setting of the stage and its faults, so
	// that defaults and help line up however long a name is.
	nameW, defW := 0, 0
	widen := func(ss []stage.Setting) {
		for _, s := range ss {
			nameW, defW = max(nameW, len(s.Name)), max(defW, len(s.Default))
		}
	}
	widen(st.Settings)
	for _, f := range st.Faults {
		widen(f.Settings)
	}
	fmt.Printf("stage %s settings (--set key=value):\n", st.ID)
	for _, s := range st.Settings {
		fmt.Printf("  %-*s default %-*s  %s\n", nameW, s.Name, defW, s.Default, s.Help)
	}
	for _, f := range st.Faults {
		fmt.Printf("\nfault %s: %s\n", f.ID, f.Help)
		for _, s := range f.Settings {
			fmt.Printf("  setting %-*s default %-*s  %s\n", nameW, s.Name, defW, s.Default, s.Help)
		}
		for _, c := range f.Controls {
			fmt.Printf("  control %q: %s must break\n", c.Name, strings.Join(c.Breaks, ", "))
		}
	}
	return nil
}

func stageIDs() string {
	ids := []string{}
	for _, s := range stage.All() {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ", ")
}
