// Command scalelab is the lab's command line: build images, tear down what
// runs left behind, and (as stages arrive) boot stacks and run experiments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/internal/stage"
)

// Exit codes are a contract for CI pipelines.
const (
	exitOK    = 0
	exitBroke = 1 // a guarantee broke
	exitSetup = 2 // bad usage or a setup failure
)

type command struct {
	name, summary, usage string
	run                  func(ctx context.Context, args []string) error
}

var commands = []command{
	{"images", "build (or check) the container images", "scalelab images [--check]\n\n" +
		"Builds the base image (Debian bookworm with the servers) and the node image (plus\n" +
		"scalelab's binaries), each tagged by a hash of its inputs. With nothing changed it\n" +
		"takes seconds. SCALELAB_IMAGE_PATH=mmdebstrap|dockerfile forces a build path.\n\n" +
		"Examples:\n  scalelab images\n  scalelab images --check", runImages},
	{"stages", "list the stages with their nodes, links, faults and settings", "scalelab stages", runStages},
	{"run", "run one experiment: boot, warm up, inject, heal, cool down, check", "scalelab run <stage> --fault <fault> [--set key=value]... [--control NAME] [--rate N] [--seed S] [--keep]\n\n" +
		"Exit 0 when every guarantee held, 1 when one broke, 2 for bad usage or a setup failure.\n\n" +
		"Examples:\n  scalelab run single-server --fault kill-server\n" +
		"  scalelab run separate-db --fault db-latency --set latency=3s --set timeout=2s\n" +
		"  scalelab run separate-db --fault db-latency --control 'mysite without a database timeout'", runRun},
	{"down", "remove every container and network scalelab left on this engine", "scalelab down\n\n" +
		"Removes all containers and networks labelled scalelab.run, whatever run made them.", runDown},
}

func main() {
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() == 0 {
		usage()
		os.Exit(exitSetup)
	}
	name, args := flag.Arg(0), flag.Args()[1:]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := c.run(ctx, args)
		interrupted := ctx.Err() != nil
		stop()
		var broke errBroke
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(exitOK)
		case errors.As(err, &broke):
			os.Exit(exitBroke)
		case err != nil:
			fmt.Fprintf(os.Stderr, "scalelab %s: %v\n", name, err)
			os.Exit(exitSetup)
		case interrupted:
			fmt.Fprintf(os.Stderr, "scalelab %s: interrupted\n", name)
			os.Exit(exitSetup)
		}
		os.Exit(exitOK)
	}
	fmt.Fprintf(os.Stderr, "scalelab: unknown command %q; commands: %s\n", name, commandNames())
	os.Exit(exitSetup)
}

func commandNames() string {
	s := ""
	for i, c := range commands {
		if i > 0 {
			s += ", "
		}
		s += c.name
	}
	return s
}

func usage() {
	fmt.Fprintln(os.Stderr, "scalelab: a chaos lab for the scale-from-zero journey\n\nUsage: scalelab <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun `scalelab <command> --help` for a command's flags and examples.")
}

// usages is filled from commands at start (a direct reference would be an
// initialization cycle: commands -> run funcs -> flags -> commands).
var usages = map[string]string{}

func init() {
	for _, c := range commands {
		usages[c.name] = c.usage
	}
}

func flags(c string) *flag.FlagSet {
	fs := flag.NewFlagSet(c, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: %s\n", usages[c])
		if n := countFlags(fs); n > 0 {
			fmt.Fprintln(os.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func countFlags(fs *flag.FlagSet) (n int) {
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n
}

func runImages(ctx context.Context, args []string) error {
	fs := flags("images")
	check := fs.Bool("check", false, "only check that the images for the current inputs exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *check {
		base, err := images.BaseTag()
		if err != nil {
			return err
		}
		for _, ref := range []string{base, images.Current} {
			ok, err := docker.ImageExists(ctx, ref)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("image %s is missing: run `make images`", ref)
			}
			fmt.Printf("%s present\n", ref)
		}
		return nil
	}
	start := time.Now()
	res, err := images.Build(ctx, images.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("images ready in %s: %s, %s\n", time.Since(start).Round(100*time.Millisecond), res.Base, res.Node)
	return nil
}

func runDown(ctx context.Context, args []string) error {
	fs := flags("down")
	if err := fs.Parse(args); err != nil {
		return err
	}
	left, err := docker.Reap(ctx, true)
	if err != nil {
		return err
	}
	fmt.Printf("removed %d containers and %d networks\n", left.Containers, left.Networks)
	return nil
}

// errBroke is returned by run when a guarantee broke: exit 1, not 2.
type errBroke struct{}

func (errBroke) Error() string { return "a guarantee broke" }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runStages(ctx context.Context, args []string) error {
	fs := flags("stages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, st := range stage.All() {
		t := st.Stack(stage.Defaults(st))
		nodes := []string{}
		for _, n := range t.Nodes {
			nodes = append(nodes, n.Name+" ("+n.Role.Kind+")")
		}
		fmt.Printf("%d. %s: %s\n   adds: %s\n   nodes: %s\n   links: %s\n", st.Number, st.ID, st.Title, st.Adds,
			strings.Join(nodes, ", "), strings.Join(t.LinkNames(), ", "))
		for _, s := range st.Settings {
			fmt.Printf("   setting %s=%s: %s\n", s.Name, s.Default, s.Help)
		}
		for _, f := range st.Faults {
			fmt.Printf("   fault %s: %s\n", f.ID, f.Help)
			for _, s := range f.Settings {
				fmt.Printf("      setting %s=%s: %s\n", s.Name, s.Default, s.Help)
			}
			for _, c := range f.Controls {
				fmt.Printf("      control %q: %s must break\n", c.Name, strings.Join(c.Breaks, ", "))
			}
		}
	}
	return nil
}

func runRun(ctx context.Context, args []string) error {
	fs := flags("run")
	var sets multiFlag
	fault := fs.String("fault", "", "the fault to inject (see `scalelab stages`)")
	fs.Var(&sets, "set", "a setting as key=value; repeatable")
	control := fs.String("control", "", "run one of the fault's negative controls instead of the fault")
	rate := fs.Float64("rate", 0, "operations per second (default 100)")
	seed := fs.Int64("seed", 0, "the workload's seed, to replay a run (default: from the clock)")
	keep := fs.Bool("keep", false, "keep the run's artifacts even when every guarantee held")
	results := fs.String("results", "", "where artifacts go (default: results/ in the repository)")
	// The stage comes first, flags after it.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		return fmt.Errorf("name a stage: scalelab run <stage> --fault <fault> (stages: %s)", stageIDs())
	}
	stageID := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: flags go after the stage, e.g. scalelab run %s --fault ...", fs.Arg(0), stageID)
	}
	st, err := stage.Get(stageID)
	if err != nil {
		return err
	}
	if *fault == "" {
		ids := []string{}
		for _, f := range st.Faults {
			ids = append(ids, f.ID)
		}
		return fmt.Errorf("--fault is required (faults of %s: %s)", st.ID, strings.Join(ids, ", "))
	}
	set, err := stage.ParseSet(sets)
	if err != nil {
		return err
	}
	spec := engine.Spec{Stage: st.ID, Fault: *fault, Set: set, Control: *control, KeepArtifacts: *keep, Results: *results,
		Progress: func(l string) { fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), l) }}
	spec.Workload.Rate = *rate
	spec.Workload.Seed = *seed
	res, err := engine.Run(ctx, spec)
	if err != nil {
		return err
	}
	if !res.Passed() {
		return errBroke{}
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
