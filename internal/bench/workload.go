package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/workload"
)

// lagBound is the p99 send lag under which a generator is said to hold a rate
// (issue 12): past it, the latencies a stage run records start to measure the
// client rather than the system under test.
const lagBound = 3 * time.Millisecond

// defaultRates doubles with a step in between, so that the highest rate held
// is known to within 1.5x, from the stages' region to past where a generator
// in Go can keep up on 2 cores (wrk, closed loop, does ~70,000/s there).
const defaultRates = "500,1000,2000,3000,4000,6000,8000,12000,16000,24000,32000,48000,64000"

// The workload both open-model generators offer: what the stages send, half
// reads and half writes over 100 users, each request bounded by a second.
const (
	benchKeys    = 100
	benchTimeout = time.Second
)

// workloadOpts are the -rates and -duration flags.
type workloadOpts struct {
	rates    []int // ascending: the ladder stops at the first saturated pair
	duration time.Duration
}

// parseRates reads -rates, a comma list of ops/s. Whole numbers because
// vegeta's pacer counts hits per second in an int.
func parseRates(s string) ([]int, error) {
	var rates []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("-rates %q: %q is not a positive whole number of ops/s", s, f)
		}
		rates = append(rates, r)
	}
	slices.Sort(rates)
	return slices.Compact(rates), nil
}

// genRun is one generator at one rate.
type genRun struct {
	achieved      float64 // requests sent per second
	p50, p99, max time.Duration
	errors        string
}

// benchWorkload measures the workload generator against a trivial endpoint
// (an in-process HTTP server on 127.0.0.1 that answers every request at once)
// next to vegeta, another open-model generator, at the same rates in the same
// run, and then wrk against the same endpoint: what rate the generator can
// hold, with what schedule lag, next to what dedicated load tools get.
func benchWorkload(ctx context.Context, opts workloadOpts) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("trivial endpoint: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Echo the key back: the recording client rejects an answer about
		// another user as a failed read.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"firstName":"a","writeId":"","version":1}`, strings.TrimPrefix(r.URL.Path, "/users/"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	tools := []struct {
		name   string
		run    func(ctx context.Context, base string, rate int, d time.Duration) (genRun, error)
		held   int // highest rate with p99 lag within lagBound
		misses int // rates in a row over lagBound
	}{
		{name: "scalelab workload (open model, history recorded)", run: runScalelab},
		{name: "vegeta " + vegetaVersion() + " (open model, library)", run: runVegeta},
	}
	// Two misses in a row, not one: a single p99 over the bound can be a
	// hiccup of a busy machine (the 500/s row of 2026-11-27 was).
	saturated := func(i int) bool { return tools[i].misses >= 2 }

	fmt.Printf("\nworkload generators at the same rates (%v each), then wrk, trivial endpoint on 127.0.0.1 (same process for the server)\n\n", opts.duration)
	fmt.Printf("| load | offered | achieved | send lag p50 / p99 / max | errors |\n|---|---|---|---|---|\n")
	for _, rate := range opts.rates {
		if saturated(0) && saturated(1) {
			break
		}
		for i := range tools {
			t := &tools[i]
			if saturated(i) {
				continue
			}
			r, err := t.run(ctx, base, rate, opts.duration)
			if err != nil {
				return fmt.Errorf("%s at %d/s: %w", t.name, rate, err)
			}
			fmt.Printf("| %s | %d/s | %.0f/s | %s / %s / %s | %s |\n", t.name, rate, r.achieved,
				r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond), r.errors)
			if r.p99 <= lagBound {
				t.held, t.misses = max(t.held, rate), 0
			} else {
				t.misses++
			}
		}
	}
	if err := benchWrk(ctx, base, opts.duration); err != nil {
		return err
	}
	held := func(i int) string {
		switch t := tools[i]; {
		case t.held == 0:
			return "none"
		case t.held == opts.rates[len(opts.rates)-1]:
			// It never saturated: the ladder, not the tool, set the figure.
			return fmt.Sprintf("%d/s (the top of -rates)", t.held)
		default:
			return fmt.Sprintf("%d/s", t.held)
		}
	}
	fmt.Printf("\nhighest rate with p99 send lag <= %v: scalelab %s, vegeta %s\n", lagBound, held(0), held(1))
	return nil
}

// runScalelab runs our generator at rate, recording its history as a stage
// run does: the bench measures the generator the stages use, not a lighter one.
func runScalelab(ctx context.Context, base string, rate int, d time.Duration) (genRun, error) {
	cfg := workload.Config{Rate: float64(rate), Duration: d, Clients: 16, Keys: benchKeys, ReadRatio: 0.5, Timeout: benchTimeout, Seed: 1}
	_, st, err := workload.Run(ctx, cfg, base, nil, nil)
	if err != nil {
		return genRun{}, err
	}
	return genRun{
		achieved: st.AchievedRate,
		p50:      st.LagP50, p99: st.LagP99, max: st.LagMax,
		errors: fmt.Sprintf("%d failed, %d unknown", st.Failed, st.Unknown),
	}, nil
}

// benchWrk runs wrk (closed loop, as fast as it can) against the endpoint:
// the ceiling of the machine for this endpoint, not a rate to hold.
func benchWrk(ctx context.Context, base string, d time.Duration) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Printf("| wrk | - | not installed (apt-get install wrk) | - | - |\n")
		return nil
	}
	secs := max(1, int(d.Round(time.Second)/time.Second)) // wrk takes whole seconds
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c32", fmt.Sprintf("-d%ds", secs), base+"/users/u1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %w: %s", err, out)
	}
	rps := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindStringSubmatch(string(out))
	lat := regexp.MustCompile(`Latency\s+(\S+)`).FindStringSubmatch(string(out))
	if len(rps) < 2 || len(lat) < 2 {
		return fmt.Errorf("wrk: unexpected output: %s", strings.TrimSpace(string(out)))
	}
	fmt.Printf("| wrk -t2 -c32 (closed loop, as fast as it can) | - | %s/s | mean latency %s | - |\n", rps[1], lat[1])
	return nil
}

// benchCheckers runs the checkers' Go benchmark: every checker over a
// synthetic 100k-operation history.
func benchCheckers(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "Checkers|Linearizable", "-benchtime", "3x", "./internal/check/").CombinedOutput()
	if err != nil {
		return fmt.Errorf("checker benchmark: %v: %s", err, out)
	}
	fmt.Printf("\ncheckers on a synthetic 100,000-operation history (100 keys, a fault window)\n\n| benchmark | time per run |\n|---|---|\n")
	re := regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(\d+) ns/op`)
	for _, line := range strings.Split(string(out), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			var ns int64
			fmt.Sscan(m[2], &ns)
			fmt.Printf("| %s | %s |\n", m[1], time.Duration(ns).Round(time.Millisecond))
		}
	}
	return nil
}
