package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/stacks"
)

// Flood sends requests through a link at Rate a second on top of the
// workload, until the heal: a burst of users (a newsletter went out, a
// job's retry storm). Its requests are load, not measured: the workload's
// own requests are what the guarantees judge while the flood is on. At
// most MaxInFlight of them wait for an answer at once; a request whose
// turn comes beyond that is skipped (counted), as a client that gave up.
//
// It is a pointer: the flood runs between Inject and Recover.
type Flood struct {
	Link string  // e.g. "client->web"
	Rate float64 // requests a second
	// Request makes the n-th request's method, path and body.
	Request     func(n int) (method, path, body string)
	MaxInFlight int // 0: 500
	// Header is set on every request (an abusive client's API key).
	Header map[string]string
	// Client names who floods, in its Tally (e.g. the API key).
	Client string

	mu       sync.Mutex
	stop     context.CancelFunc
	done     chan struct{}
	sent     atomic.Int64
	skipped  atomic.Int64
	byStatus map[int]int64 // under mu
}

func (f *Flood) Name() string   { return fmt.Sprintf("a flood of %.0f requests/s on %s", f.Rate, f.Link) }
func (f *Flood) Target() string { return f.Link + " (flood)" }

func (f *Flood) Inject(ctx context.Context, s *stacks.Stack) error {
	if f.Rate <= 0 || f.Request == nil {
		return errors.New("flood: a rate above 0 and a request are needed")
	}
	base, err := s.URL(ctx, f.Link)
	if err != nil {
		return fmt.Errorf("flood %s: %w", f.Link, err)
	}
	return f.start(base)
}

// start floods base (http://host:port) until Recover.
func (f *Flood) start(base string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return ErrActive
	}
	// Its own context: the flood outlives the Inject call, until Recover.
	fctx, stop := context.WithCancel(context.Background())
	f.stop, f.done = stop, make(chan struct{})
	f.byStatus = map[int]int64{}
	f.sent.Store(0)
	f.skipped.Store(0)
	go f.run(fctx, base)
	return nil
}

func (f *Flood) run(ctx context.Context, base string) {
	defer close(f.done)
	limit := f.MaxInFlight
	if limit <= 0 {
		limit = 500
	}
	slots := make(chan struct{}, limit)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: limit}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.Duration(float64(time.Second) / f.Rate)
	start := time.Now()
	for n := 0; ; n++ {
		// Open model: the n-th request's time is fixed, whatever the
		// answers do.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(time.Duration(n) * every))):
		}
		select {
		case slots <- struct{}{}:
		default:
			f.skipped.Add(1)
			continue
		}
		method, path, body := f.Request(n)
		wg.Go(func() {
			defer func() { <-slots }()
			// Not ctx: a request sent is let finish (within the client's
			// timeout), so that the heal leaves none half done.
			req, err := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range f.Header {
				req.Header.Set(k, v)
			}
			f.sent.Add(1)
			status := 0 // no answer
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			f.mu.Lock()
			f.byStatus[status]++
			f.mu.Unlock()
		})
	}
}

// Recover stops the flood and waits for its requests in flight (each at
// most the client's 5 s timeout).
func (f *Flood) Recover(ctx context.Context, s *stacks.Stack) error {
	f.mu.Lock()
	stop, done := f.stop, f.done
	f.stop = nil
	f.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Landed: the flood has sent its first requests.
func (f *Flood) Landed(context.Context, *stacks.Stack) error {
	if f.sent.Load() == 0 {
		return errors.New("flood: no request sent yet")
	}
	return nil
}

// Healed: the flood stopped.
func (f *Flood) Healed(context.Context, *stacks.Stack) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return errors.New("flood: still running")
	}
	return nil
}

// Tally is what the flood's requests got, by status: the engine keeps it
// in the run's history (faults.Tallied).
func (f *Flood) Tally() history.Tally {
	f.mu.Lock()
	defer f.mu.Unlock()
	return history.Tally{Fault: f.Name(), Client: f.Client, Sent: f.sent.Load(), Skipped: f.skipped.Load(), ByStatus: maps.Clone(f.byStatus)}
}

// Sent and Skipped are how many requests the flood sent, and skipped with
// MaxInFlight of them waiting.
func (f *Flood) Sent() int64    { return f.sent.Load() }
func (f *Flood) Skipped() int64 { return f.skipped.Load() }
