package specs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/scalelab/scalelab/stacks"
)

// The client-side checks of the substrate specs: plain HTTP from this machine
// through a stack's published entry link. A fresh connection per request, so
// a refused or reset connection shows instead of hiding in a pool.

func get(ctx context.Context, s *stacks.Stack, link, path string, timeout time.Duration) (time.Duration, error) {
	url, err := s.URL(ctx, link)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return time.Since(start), nil
}

// clientMeasures: the median of 5 requests lies within want ± tol.
func clientMeasures(link, path string, want time.Duration, tol float64) func(context.Context, *stacks.Stack) error {
	return func(ctx context.Context, s *stacks.Stack) error {
		var rtts []time.Duration
		for range 5 {
			d, err := get(ctx, s, link, path, 5*time.Second)
			if err != nil {
				return err
			}
			rtts = append(rtts, d)
		}
		return withinTolerance(rtts, want, tol)
	}
}

// withinTolerance: the median lies within want ± tol. The median, because one
// slow sample (a GC pause, a busy core) says nothing about the link.
func withinTolerance(rtts []time.Duration, want time.Duration, tol float64) error {
	slices.Sort(rtts)
	median := rtts[len(rtts)/2]
	if math.Abs(float64(median-want)) > tol*float64(want) {
		return fmt.Errorf("median round trip %s (of %v) is not within %s ± %.0f%%", median.Round(time.Millisecond), rtts, want, tol*100)
	}
	return nil
}

// linkMeasures: the median of 5 pings through a link (one round trip in the
// server's own protocol) lies within want ± tol.
func linkMeasures(link string, want time.Duration, tol float64) func(context.Context, *stacks.Stack) error {
	return func(ctx context.Context, s *stacks.Stack) error {
		var rtts []time.Duration
		for range 5 {
			d, err := s.PingLink(ctx, link, 5*time.Second)
			if err != nil {
				return err
			}
			rtts = append(rtts, d)
		}
		return withinTolerance(rtts, want, tol)
	}
}

// clientServed: one request succeeds within 5 s.
func clientServed(link, path string) func(context.Context, *stacks.Stack) error {
	return func(ctx context.Context, s *stacks.Stack) error {
		_, err := get(ctx, s, link, path, 5*time.Second)
		return err
	}
}

// clientRefused: a request fails, and fails fast (under a second): the
// connection is refused, reset or closed rather than left hanging.
func clientRefused(link, path string) func(context.Context, *stacks.Stack) error {
	return func(ctx context.Context, s *stacks.Stack) error {
		start := time.Now()
		_, err := get(ctx, s, link, path, 3*time.Second)
		switch {
		case err == nil:
			return errors.New("the request was served")
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("the request hung instead of failing: %w", err)
		case time.Since(start) > time.Second:
			return fmt.Errorf("the request failed, but only after %s", time.Since(start).Round(time.Millisecond))
		}
		return nil
	}
}

// clientHangs: a request gets no answer at all within 1 s: no error, no
// status, just silence.
func clientHangs(link, path string) func(context.Context, *stacks.Stack) error {
	return func(ctx context.Context, s *stacks.Stack) error {
		_, err := get(ctx, s, link, path, time.Second)
		switch {
		case err == nil:
			return errors.New("the request was served")
		case !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("the request failed instead of hanging: %w", err)
		}
		return nil
	}
}
