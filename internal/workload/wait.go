package workload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// waitPollInterval is the pause between two probes of WaitServing: short, so
// that readiness is seen within tens of milliseconds, long enough not to spin.
const waitPollInterval = 50 * time.Millisecond

// WaitServing polls GET url until it answers 200, for at most timeout (and
// no longer than ctx). Each probe is bounded by the time left (and 1s), so
// a hung server cannot stretch the wait. The error says what the last probe
// saw.
func WaitServing(ctx context.Context, url string, timeout time.Duration) error {
	return WaitServingVia(ctx, url, timeout, nil)
}

// WaitServingVia is WaitServing with the given dial (nil: the default),
// e.g. a Resolver's, for a site reached by name.
func WaitServingVia(ctx context.Context, url string, timeout time.Duration, dial DialFunc) error {
	if timeout <= 0 {
		return fmt.Errorf("wait for %s: timeout must be > 0, got %v", url, timeout)
	}
	if _, err := parseBaseURL(url); err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := newTransport(1, timeout)
	if dial != nil {
		tr.DialContext = dial
	}
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()

	last := "not probed"
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not serving after %v: last probe: %s", url, timeout, last)
		case <-tick.C:
		}
		status, err := probe(ctx, hc, url)
		switch {
		case err != nil:
			last = describeError(err, ctx)
		case status == http.StatusOK:
			return nil
		default:
			last = fmt.Sprintf("status %d", status)
		}
		tick.Reset(waitPollInterval)
	}
}

func probe(ctx context.Context, hc *http.Client, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
