// Command scalelab is the lab's command line: build the images, list the
// stages, run one experiment or the whole matrix, keep a stack up for a
// workshop and break it from a second terminal, and clean up.
//
// Exit codes are a contract for CI pipelines: 0 every guarantee held (or the
// command did what it was asked), 1 a guarantee broke, 2 bad usage or a setup
// failure (with a message that says what to do), 130 interrupted (Ctrl-C;
// everything it started is removed first).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/scalelab/scalelab/internal/docker"
)

const (
	exitOK          = 0
	exitBroke       = 1
	exitSetup       = 2
	exitInterrupted = 130
)

type command struct {
	name, summary, usage string
	run                  func(ctx context.Context, args []string) error
}

var commands = []command{
	{"stages", "list the stages with their nodes, links and faults", usageStages, runStages},
	{"faults", "list one stage's faults, settings, defaults and controls", usageFaults, runFaults},
	{"run", "run one experiment: boot, warm up, inject, heal, cool down, check", usageRun, runRun},
	{"matrix", "run every stage x fault, controls included, and write the matrix", usageMatrix, runMatrix},
	{"merge", "join the directories of matrix shards (--shard i/n) into one matrix", usageMerge, runMerge},
	{"diff", "set a matrix against an earlier one: changed verdicts and figures; exit 1 on a regression", usageDiff, runDiff},
	{"up", "boot a stage's stack and keep it up until Ctrl-C", usageUp, runUp},
	{"fault", "inject a fault into the stack that `scalelab up` keeps", usageFault, runFault},
	{"heal", "heal the faults injected with `scalelab fault`", usageHeal, runHeal},
	{"images", "build (or check) the container images", usageImages, runImages},
	{"down", "remove what dead scalelab runs of this host left (--all: everything)", usageDown, runDown},
}

// errBroke: a guarantee broke (exit 1). Its message has been printed.
type errBroke struct{}

func (errBroke) Error() string { return "a guarantee broke" }

func main() {
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() == 0 {
		usage()
		os.Exit(exitSetup)
	}
	name, args := flag.Arg(0), flag.Args()[1:]
	if name == "help" {
		usage()
		os.Exit(exitOK)
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		// The signals stay caught until the process exits (stop is never
		// called): a second Ctrl-C during teardown must not kill it halfway
		// through, and one that lands after the work is done must not turn a
		// finished run's exit code into death by signal.
		ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := c.run(ctx, args)
		interrupted := ctx.Err() != nil
		leftErr := removeLeftovers(name)
		if leftErr != nil && !interrupted {
			fmt.Fprintf(os.Stderr, "scalelab %s: warning: %v\n", name, leftErr)
		}
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(exitOK)
		case interrupted && leftErr != nil:
			fmt.Fprintf(os.Stderr, "scalelab %s: interrupted; removing what it started failed: %v\n"+
				"  check with: docker ps -a --filter label=%s=%s\n", name, leftErr, docker.LabelRun, docker.RunID())
			os.Exit(exitInterrupted)
		case interrupted:
			fmt.Fprintf(os.Stderr, "scalelab %s: interrupted; everything it started was removed\n", name)
			os.Exit(exitInterrupted)
		case errors.As(err, new(errBroke)):
			os.Exit(exitBroke)
		case err != nil:
			fmt.Fprintf(os.Stderr, "scalelab %s: %v\n", name, err)
			os.Exit(exitSetup)
		}
		os.Exit(exitOK)
	}
	fmt.Fprintf(os.Stderr, "scalelab: unknown command %q (commands: %s); see scalelab --help\n", name, commandNames())
	os.Exit(exitSetup)
}

// removeLeftovers is the backstop after a command: every stack removes
// itself, so nothing labelled with this process's run should remain. If
// something does, it is removed here and said (a teardown bug to report).
// Commands that never reached the Docker engine made nothing and skip it.
func removeLeftovers(name string) error {
	if !docker.Connected() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	swept, err := docker.Sweep(ctx, docker.LabelRun, docker.RunID(), 0)
	if swept.Containers+swept.Networks > 0 {
		fmt.Fprintf(os.Stderr, "scalelab %s: warning: removed %d containers and %d networks of run %s that its teardown had left behind\n",
			name, swept.Containers, swept.Networks, docker.RunID())
	}
	if err != nil {
		return fmt.Errorf("remove what run %s left: %w", docker.RunID(), err)
	}
	return nil
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func usage() {
	fmt.Fprintln(os.Stderr, "scalelab: a chaos lab for the scale-from-zero journey\n\nUsage: scalelab <command> [arguments]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun `scalelab <command> --help` for its flags and examples.\nExit codes: 0 ok, 1 a guarantee broke, 2 bad usage or setup failure, 130 interrupted.")
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
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(os.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseWithPositional parses flags that may come before or after positional
// arguments ("run <stage> --fault x" and "run --fault x <stage>" both work).
func parseWithPositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// flagSet: the command line named the flag (a default is not a choice).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
