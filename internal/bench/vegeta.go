package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

const vegetaModule = "github.com/tsenart/vegeta/v12"

// vegetaVersion is the vegeta the binary was built with, from go.mod through
// the build info, so that the table cannot name another version than it ran.
func vegetaVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == vegetaModule {
				return m.Version
			}
		}
	}
	return "v12"
}

// runVegeta offers rate to base with vegeta for d: the same mix as our
// generator (half reads, half writes of benchKeys users, benchTimeout per
// request), and its send lag measured as the generator measures its own.
func runVegeta(ctx context.Context, base string, rate int, d time.Duration) (genRun, error) {
	targets := make([]vegeta.Target, 0, 2*benchKeys)
	for k := range benchKeys {
		url := fmt.Sprintf("%s/users/u%d", base, k)
		targets = append(targets,
			vegeta.Target{Method: http.MethodGet, URL: url},
			vegeta.Target{Method: http.MethodPut, URL: url,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   fmt.Appendf(nil, `{"id":"u%d","firstName":"Ada","lastName":"Lovelace","writeId":"vegeta"}`, k)})
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(benchTimeout))
	defer context.AfterFunc(ctx, func() { atk.Stop() })()

	// Attack takes its own start (unexported) right after this one: the lags
	// below read high by that gap, well under a microsecond.
	start := time.Now()
	var results []*vegeta.Result
	for r := range atk.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		// Only the timing and the outcome are kept: the bodies of a whole
		// run would weigh on the machine while the next runs are measured.
		r.Body, r.Headers = nil, nil
		results = append(results, r)
	}
	if ctx.Err() != nil {
		return genRun{}, fmt.Errorf("vegeta stopped after %d requests: %w", len(results), context.Cause(ctx))
	}
	if len(results) == 0 {
		return genRun{}, fmt.Errorf("vegeta sent nothing in %v", d)
	}

	// Timestamp is when a worker took the hit, before it built the request
	// (ours is taken just before the request goes to the HTTP client, a few
	// microseconds later). Sorted by Seq, timestamps are in sending order;
	// the ConstantPacer schedules hit i at (i+1) whole-nanosecond intervals
	// after the start (lib/pacer.go: delta = (hits+1)*interval), so that is
	// the scheduled time: i intervals would charge vegeta one interval more.
	slices.SortFunc(results, func(a, b *vegeta.Result) int { return cmp.Compare(a.Seq, b.Seq) })
	interval := time.Second / time.Duration(rate)
	lags := make([]time.Duration, len(results))
	var m vegeta.Metrics
	errs := 0
	for i, r := range results {
		// Clamped at 0 as the generator does: early is on time.
		lags[i] = max(r.Timestamp.Sub(start)-time.Duration(r.Seq+1)*interval, 0)
		m.Add(r)
		if r.Error != "" {
			errs++
		}
	}
	m.Close()
	slices.Sort(lags)
	errText := fmt.Sprintf("%d errors", errs)
	if len(m.Errors) > 0 {
		errText += fmt.Sprintf(" (%d kinds, e.g. %.80s)", len(m.Errors), m.Errors[0])
	}
	return genRun{
		achieved: m.Rate,
		p50:      nearestRank(lags, 0.50), p99: nearestRank(lags, 0.99), max: lags[len(lags)-1],
		errors: errText,
	}, nil
}

// nearestRank is the q-quantile of sorted samples as workload.Stats computes
// its lags (the ceil(q*n)-th smallest, with the same tolerance for q*n landing
// just above an integer), so that both columns mean the same thing.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
