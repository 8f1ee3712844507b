package shop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
)

// CallPolicy is how a service calls a dependency: the defences against a
// slow or dead one, each of which the stage can take away.
type CallPolicy struct {
	Timeout   time.Duration // one attempt's; 0: none (the request's own end: the gateway gives up after its timeout)
	Retries   int           // attempts after the first
	Backoff   time.Duration // the first retry's wait, doubling, +-50% jitter; 0: at once
	Breaker   bool
	TripAfter int           // consecutive failed calls that open the breaker
	CoolOff   time.Duration // open -> half-open: one trial call
	Bulkhead  int           // calls in flight at most; 0: no bound
}

func (p CallPolicy) validate() error {
	switch {
	case p.Timeout < 0 || p.Backoff < 0 || p.CoolOff < 0:
		return errors.New("-call-timeout, -backoff and -breaker-cool-off must be >= 0")
	case p.Retries < 0 || p.Retries > 10:
		return fmt.Errorf("-retries %d: want 0..10", p.Retries)
	case p.Breaker && (p.TripAfter < 1 || p.CoolOff <= 0):
		return errors.New("with -breaker, -breaker-trip must be >= 1 and -breaker-cool-off > 0")
	case p.Bulkhead < 0:
		return fmt.Errorf("-bulkhead %d: want >= 0", p.Bulkhead)
	}
	return nil
}

// Errors a call fails with before it reaches the dependency.
var (
	errBulkheadFull = errors.New("bulkhead full: too many calls in flight")
	errBreakerOpen  = errors.New("circuit breaker open")
)

// dependency is one service this one calls, through its CallPolicy.
type dependency struct {
	name    string
	base    string
	client  *http.Client
	policy  CallPolicy
	breaker *gobreaker.CircuitBreaker[[]byte] // nil: no breaker
	slots   chan struct{}                     // the bulkhead; nil: no bound

	calls, attempts, failed, shed atomic.Int64
	opened                        atomic.Int64 // times the breaker opened
}

func newDependency(name, base string, p CallPolicy) *dependency {
	d := &dependency{name: name, base: base, policy: p,
		// No client timeout: each attempt's context carries the policy's.
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}}
	if p.Bulkhead > 0 {
		d.slots = make(chan struct{}, p.Bulkhead)
	}
	if p.Breaker {
		d.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
			Name:    name,
			Timeout: p.CoolOff,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.ConsecutiveFailures >= uint32(p.TripAfter)
			},
			OnStateChange: func(_ string, _, to gobreaker.State) {
				if to == gobreaker.StateOpen {
					d.opened.Add(1)
				}
			},
			// A 4xx is an answer: the dependency is up.
			IsSuccessful: func(err error) bool {
				var p permanent
				return err == nil || errors.As(err, &p)
			},
			// A caller that gave up says nothing of the dependency.
			IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		})
	}
	return d
}

// permanent is an answer that retrying cannot change (a 4xx).
type permanent struct{ status int }

func (p permanent) Error() string { return fmt.Sprintf("answered %d", p.status) }

// call sends method path with body as JSON (nil: none) and returns the
// answer's body. Order of the defences: the bulkhead first (a call that
// cannot get a slot costs nothing), then the breaker around the whole
// call with its retries (one call, one verdict).
func (d *dependency) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	d.calls.Add(1)
	if d.slots != nil {
		select {
		case d.slots <- struct{}{}:
			defer func() { <-d.slots }()
		default:
			d.shed.Add(1)
			return nil, fmt.Errorf("%s: %w", d.name, errBulkheadFull)
		}
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	withRetries := func() ([]byte, error) { return d.retrying(ctx, method, path, payload) }
	var out []byte
	var err error
	if d.breaker != nil {
		out, err = d.breaker.Execute(withRetries)
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			d.shed.Add(1)
			err = errBreakerOpen
		}
	} else {
		out, err = withRetries()
	}
	if err != nil {
		d.failed.Add(1)
		var p permanent
		if errors.As(err, &p) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return out, nil
}

// retrying makes up to 1+Retries attempts, waiting an exponential backoff
// with jitter between them. A 4xx is not retried.
func (d *dependency) retrying(ctx context.Context, method, path string, payload []byte) ([]byte, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = d.policy.Backoff
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxInterval = 2 * time.Second
	var wait backoff.BackOff = b
	if d.policy.Backoff == 0 {
		wait = &backoff.ZeroBackOff{}
	}
	return backoff.Retry(ctx, func() ([]byte, error) {
		out, err := d.attempt(ctx, method, path, payload)
		var p permanent
		if errors.As(err, &p) {
			return nil, backoff.Permanent(err)
		}
		return out, err
	}, backoff.WithBackOff(wait), backoff.WithMaxTries(uint(d.policy.Retries+1)), backoff.WithMaxElapsedTime(0))
}

// attempt is one request, bounded by the policy's timeout.
func (d *dependency) attempt(ctx context.Context, method, path string, payload []byte) ([]byte, error) {
	d.attempts.Add(1)
	if d.policy.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.policy.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(payload))
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("answered %d", resp.StatusCode)
	case resp.StatusCode >= 400:
		return nil, permanent{resp.StatusCode}
	}
	return out, nil
}

// state is the breaker's state for /metrics: closed, open, half-open or
// none.
func (d *dependency) state() string {
	if d.breaker == nil {
		return "none"
	}
	return d.breaker.State().String()
}

func decodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(v)
}
