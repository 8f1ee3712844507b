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
	"syscall"
	"time"

	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/images"
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
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(exitOK)
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
	fmt.Printf("removed %d containers and %d networks\n", left.Containers, left.Networks)
	return err
}
