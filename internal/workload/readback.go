package workload

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// ReadBack is the final read: after the run healed, GET every key and return
// key -> writeId ("" when the key is missing, 404). It feeds History.Final,
// which the lost-writes checker compares with the acknowledged writes.
//
// timeout bounds each GET; a key is tried up to 1+retries times, retrying
// transient failures (no answer, 5xx, 429, an unusable body) with
// exponential backoff from 50ms to 1s. ctx bounds the whole read-back: use a
// deadline on it. A 4xx other than 404/429 is not retried: asking again
// cannot change the answer.
//
// Keys that could not be read are absent from the map and named in the
// returned *ReadBackError. WHY an error rather than a partial map alone: the
// lost-writes checker reads a written key missing from Final as "the system
// lost it", so the caller must fail the run's assumptions instead of
// claiming lost writes it never observed.
func ReadBack(ctx context.Context, baseURL string, keys []string, timeout time.Duration, retries int) (map[string]string, error) {
	return ReadBackService(ctx, baseURL, nil, keys, timeout, retries)
}

// ReadBackService is ReadBack through the system's own adapter (nil:
// mysite's API): every key read with newService's Read.
func ReadBackService(ctx context.Context, baseURL string, newService NewService, keys []string, timeout time.Duration, retries int) (map[string]string, error) {
	return ReadBackVia(ctx, baseURL, newService, nil, keys, timeout, retries)
}

// DialFunc dials a connection, as http.Transport's DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ReadBackVia is ReadBackService with the given dial (nil: the default),
// e.g. a Resolver's, for a site reached by name.
func ReadBackVia(ctx context.Context, baseURL string, newService NewService, dial DialFunc, keys []string, timeout time.Duration, retries int) (map[string]string, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("read-back: timeout must be > 0, got %v", timeout)
	}
	if retries < 0 {
		return nil, fmt.Errorf("read-back: retries must be >= 0, got %d", retries)
	}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	hc := newHTTPClient(readBackWorkers, timeout)
	if dial != nil {
		hc.Transport.(*http.Transport).DialContext = dial
	}
	defer hc.CloseIdleConnections()
	var read func(ctx context.Context, key string) result
	if newService != nil {
		svc, err := newService(baseURL, hc)
		if err != nil {
			return nil, fmt.Errorf("read-back: the service adapter: %w", err)
		}
		read = func(ctx context.Context, key string) result {
			return call(ctx, svc, history.Read, key, "", timeout, nil)
		}
	} else {
		q, err := newRequester(hc, baseURL, timeout)
		if err != nil {
			return nil, fmt.Errorf("read-back: %w", err)
		}
		// What the system holds is what its primary holds: with read replicas,
		// a replica may not have replayed the last writes yet.
		q.header = http.Header{ReadFromHeader: {"primary"}}
		read = func(ctx context.Context, key string) result {
			return q.exec(ctx, history.Read, key, nil, nil)
		}
	}

	var (
		mu     sync.Mutex
		final  = make(map[string]string, len(keys))
		failed = make(map[string]string)
		work   = make(chan string)
		wg     sync.WaitGroup
	)
	// A few workers: enough to read thousands of keys in seconds, few enough
	// not to hammer a system that just recovered.
	for range min(readBackWorkers, len(keys)) {
		wg.Go(func() {
			for key := range work {
				value, err := readKey(ctx, read, key, retries)
				mu.Lock()
				if err != nil {
					failed[key] = err.Error()
				} else {
					final[key] = value
				}
				mu.Unlock()
			}
		})
	}
	for _, key := range keys {
		work <- key // workers never stop early, so this cannot block forever
	}
	close(work)
	wg.Wait()

	if len(failed) > 0 {
		return final, &ReadBackError{Failed: failed, Total: len(keys)}
	}
	return final, nil
}

const (
	readBackWorkers    = 4
	readBackBackoff    = 50 * time.Millisecond
	readBackMaxBackoff = time.Second
)

// readKey reads one key, retrying transient failures.
func readKey(ctx context.Context, read func(context.Context, string) result, key string, retries int) (string, error) {
	backoff := readBackBackoff
	var last string
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last == "" {
				last = "not tried"
			}
			return "", fmt.Errorf("%s; gave up: %w", last, context.Cause(ctx))
		}
		res := read(ctx, key)
		if res.outcome == history.OK {
			return res.value, nil
		}
		last = res.err
		if permanent(res.status) {
			return "", errors.New(last)
		}
		if attempt >= retries {
			return "", fmt.Errorf("%s (after %d attempts)", last, attempt+1)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, readBackMaxBackoff)
	}
}

// permanent: a 4xx other than 404 (handled as OK) and 429 (come back later)
// is the server refusing this request; retrying cannot help.
func permanent(status int) bool {
	return status >= 400 && status <= 499 && status != http.StatusTooManyRequests
}

// ReadBackError names the keys ReadBack could not read, each with its last
// failure.
type ReadBackError struct {
	Failed map[string]string // key -> last failure
	Total  int               // keys asked for
}

// Keys is the failed keys, sorted.
func (e *ReadBackError) Keys() []string { return slices.Sorted(maps.Keys(e.Failed)) }

func (e *ReadBackError) Error() string {
	keys := e.Keys()
	var b strings.Builder
	fmt.Fprintf(&b, "read-back failed for %d of %d keys: %s", len(keys), e.Total, strings.Join(keys, ", "))
	// Reasons for the first few; the rest usually fail the same way.
	const reasons = 3
	for i, k := range keys[:min(reasons, len(keys))] {
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s: %s", sep, k, e.Failed[k])
	}
	if len(keys) > reasons {
		b.WriteString("; ...")
	}
	b.WriteString(")")
	return b.String()
}
