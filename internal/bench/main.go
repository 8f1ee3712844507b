// Command bench measures what `make bench` reports (BENCHMARKS.md): image
// build times, cold and warm, and the time each stack takes to be ready.
// Every figure is the median of -n runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/stacks"
)

func main() {
	n := flag.Int("n", 3, "runs per measurement (the median is reported)")
	cold := flag.Bool("cold", true, "measure cold image builds (removes and rebuilds the base image: about a minute each)")
	only := flag.String("only", "", `run one measurement only: "scaling" (horizontal vs vertical, about a minute), "workload" (the generator vs vegeta and wrk), "stacks" (each stage's stack ready) or "cache" (stage 5 with and without its cache)`)
	rates := flag.String("rates", defaultRates, fmt.Sprintf("workload: offered rates in ops/s, comma-separated; at each, the generator runs and then vegeta. A tool over %v p99 send lag at two rates in a row is not run higher; the ladder ends when both are", lagBound))
	duration := flag.Duration("duration", 5*time.Second, "workload: how long each tool runs at each rate (and wrk, in whole seconds)")
	flag.Parse()
	wopts := workloadOpts{duration: *duration}
	var err error
	if wopts.rates, err = parseRates(*rates); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	if *duration <= 0 {
		fmt.Fprintf(os.Stderr, "bench: -duration %v: want a positive duration\n", *duration)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *only {
	case "":
		err = run(ctx, *n, *cold, wopts)
	case "scaling":
		err = benchScaling(ctx)
	case "workload":
		err = benchWorkload(ctx, wopts)
	case "stacks":
		fmt.Printf("| measurement | median | runs |\n|---|---|---|\n")
		err = benchStacks(ctx, *n)
	case "cache":
		err = benchCache(ctx, *n)
	default:
		err = fmt.Errorf("-only %q: want scaling, workload, stacks or cache", *only)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, n int, cold bool, wopts workloadOpts) error {
	fmt.Printf("scalelab bench, %s, median of %d\n\n", time.Now().Format("2006-01-02 15:04"), n)
	fmt.Printf("| measurement | median | runs |\n|---|---|---|\n")
	quiet := images.Options{Progress: discard{}}
	if cold {
		var runs []time.Duration
		for range n {
			// Cold: every scalelab image is gone (the node images first: a
			// base with children cannot be removed); the Go build cache stays,
			// as on a developer's machine after one build.
			for _, repo := range []string{images.NodeRepo, images.BaseRepo} {
				out, _ := exec.CommandContext(ctx, "docker", "images", "-q", repo).Output()
				if ids := strings.Fields(string(out)); len(ids) > 0 {
					_ = exec.CommandContext(ctx, "docker", append([]string{"rmi", "-f"}, ids...)...).Run()
				}
			}
			start := time.Now()
			if _, err := images.Build(ctx, quiet); err != nil {
				return err
			}
			runs = append(runs, time.Since(start))
		}
		row("image build, cold (mmdebstrap/Dockerfile + import + node layer)", runs)
	}
	var warm []time.Duration
	for range n {
		start := time.Now()
		if _, err := images.Build(ctx, quiet); err != nil {
			return err
		}
		warm = append(warm, time.Since(start))
	}
	row("image build, warm (nothing changed)", warm)

	if err := benchStacks(ctx, n); err != nil {
		return err
	}
	if err := benchWorkload(ctx, wopts); err != nil {
		return err
	}
	if err := benchCheckers(ctx); err != nil {
		return err
	}
	if err := benchCache(ctx, n); err != nil {
		return err
	}
	return benchScaling(ctx)
}

// benchStacks boots every stage's stack (with its default settings) n
// times: the time until every node passed its readiness probe.
func benchStacks(ctx context.Context, n int) error {
	topologies := []stacks.Topology{stacks.Substrate()}
	for _, st := range stage.All() {
		topologies = append(topologies, st.Stack(stage.Defaults(st)))
	}
	for _, t := range topologies {
		var runs []time.Duration
		for range n {
			start := time.Now()
			s, err := stacks.Boot(ctx, t)
			d := time.Since(start)
			if terr := s.Terminate(ctx); terr != nil && err == nil {
				err = terr
			}
			if err != nil {
				return fmt.Errorf("boot %s: %w", t.Name, err)
			}
			runs = append(runs, d)
		}
		row(fmt.Sprintf("stack ready: %s (%d nodes + toxiproxy)", t.Name, len(t.Nodes)), runs)
	}
	return nil
}

func row(name string, runs []time.Duration) {
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	s := ""
	for i, r := range runs {
		if i > 0 {
			s += ", "
		}
		s += r.Round(10 * time.Millisecond).String()
	}
	fmt.Printf("| %s | %s | %s |\n", name, sorted[len(sorted)/2].Round(10*time.Millisecond), s)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
