package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/workload"
)

// benchWorkload measures the workload generator against a trivial endpoint
// (an in-process HTTP server on 127.0.0.1 that answers every request at once),
// and wrk against the same endpoint in the same run: what rate the generator
// can hold, with what schedule lag, next to what a dedicated load tool gets.
func benchWorkload(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
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

	fmt.Printf("\nworkload generator vs wrk, trivial endpoint on 127.0.0.1 (same process for the server)\n\n")
	fmt.Printf("| load | offered | achieved | schedule lag p50 / p99 / max | errors |\n|---|---|---|---|---|\n")
	for _, rate := range []float64{500, 1000, 2000, 4000} {
		cfg := workload.Config{Rate: rate, Duration: 5 * time.Second, Clients: 16, Keys: 100, ReadRatio: 0.5, Timeout: time.Second, Seed: 1}
		_, st, err := workload.Run(ctx, cfg, base, nil, nil)
		if err != nil {
			return err
		}
		fmt.Printf("| scalelab workload (open model) | %.0f/s | %.0f/s | %s / %s / %s | %d failed, %d unknown |\n",
			rate, st.AchievedRate, st.LagP50.Round(time.Microsecond), st.LagP99.Round(time.Microsecond), st.LagMax.Round(time.Microsecond), st.Failed, st.Unknown)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Printf("| wrk | - | not installed (apt-get install wrk) | - | - |\n")
		return nil
	}
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c32", "-d5s", base+"/users/u1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %v: %s", err, out)
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
