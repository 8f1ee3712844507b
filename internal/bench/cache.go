package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Phases of benchCache's run, on the workload's clock: the users are
// written and the cache fills, then 5 s with the cache, then its links
// refuse (Toxiproxy takes them down: every lookup fails at once, no
// timeout is waited out) and, after a second for the change to settle, 5 s
// without it.
const (
	cacheWarm    = 4 * time.Second
	cacheMeasure = 5 * time.Second
	cacheSettle  = time.Second
)

// benchCache measures the seeds' claim for a cache, on one stack in one
// run: the database's load and the read latency with stage 5's cache and
// without it. The database's load is its own count of transactions
// (pg_stat_database, through mysite's GET /cache); latencies are the
// client's, of the reads that found their user.
func benchCache(ctx context.Context, n int) error {
	fmt.Printf("\nstage 5 (cache), stage workload at 100 ops/s; with the cache, then with every web-i->cache link refusing (reads go to the database), %d runs\n\n", n)
	fmt.Printf("| run | window | reads from the cache | database transactions/s | read p50 | read p99 |\n|---|---|---|---|---|---|\n")
	for i := range n {
		if err := benchCacheOnce(ctx, i+1); err != nil {
			return fmt.Errorf("cache run %d: %w", i+1, err)
		}
	}
	return nil
}

func benchCacheOnce(ctx context.Context, run int) (err error) {
	st, err := stage.Get("cache")
	if err != nil {
		return err
	}
	s, err := stacks.Boot(ctx, st.Stack(stage.Defaults(st)))
	defer func() {
		if terr := s.Terminate(ctx); terr != nil && err == nil {
			err = terr
		}
	}()
	if err != nil {
		return err
	}
	base, err := s.URL(ctx, st.Entry)
	if err != nil {
		return err
	}
	if err := workload.WaitServing(ctx, base+"/readyz", time.Minute); err != nil {
		return err
	}

	cfg := workload.Config{Rate: 100, Clients: 16, Timeout: 5 * time.Second,
		Duration: cacheWarm + 2*cacheMeasure + cacheSettle}
	st.Workload(&cfg)
	clock := workload.NewClock()
	rec := workload.NewRecorder(clock)
	done := make(chan error, 1)
	go func() {
		_, _, err := workload.Run(ctx, cfg, base, clock, rec)
		done <- err
	}()

	with := check.Window{From: cacheWarm, To: cacheWarm + cacheMeasure, Name: "with the cache"}
	off := cacheWarm + cacheMeasure
	without := check.Window{From: off + cacheSettle, To: off + cacheSettle + cacheMeasure, Name: "without it"}
	var samples []check.CounterSample
	sample := func() {
		if v, err := stacks.MysiteCache(ctx, base); err == nil {
			samples = append(samples, check.CounterSample{At: clock.Now(), Values: v})
		}
	}
	var downs []*faults.Injection
	for at := time.Duration(0); at < cfg.Duration; at = clock.Now() {
		if at >= off && downs == nil {
			for i := 1; i <= 3; i++ {
				in, err := faults.Apply(ctx, s, faults.Down{Link: stacks.WebName(i) + "->cache"})
				if err != nil {
					return errors.Join(err, faults.HealAll(ctx, downs, nil), <-done)
				}
				downs = append(downs, in)
			}
		}
		sample()
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), faults.HealAll(ctx, downs, nil), <-done)
		case <-time.After(250 * time.Millisecond):
		}
	}
	werr := <-done
	if err := errors.Join(werr, faults.HealAll(ctx, downs, nil)); err != nil {
		return err
	}
	h := rec.History()
	// The reads that found their user, the ones CacheHitsIn counts too.
	found := history.History{End: h.End}
	for _, op := range h.Ops {
		if op.Kind == history.Read && op.Status == 200 {
			found.Ops = append(found.Ops, op)
		}
	}
	for _, w := range []check.Window{with, without} {
		hits := check.CacheHitsIn(h, w)
		rate, _ := check.IncreaseIn(samples, w, stacks.CounterDBTransactions).PerSecond()
		lat := check.LatencyIn(found, w)
		fmt.Printf("| %d | %s | %s | %.0f | %v | %v |\n", run, w.Name, hits, rate,
			lat.P50.Round(100*time.Microsecond), lat.P99.Round(100*time.Microsecond))
	}
	return nil
}
