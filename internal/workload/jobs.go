package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Jobs is the Service of a stage whose writes submit photo jobs to mysite
// (stage 9): a write of key k with value v is POST /photos/k/jobs with job
// id v, acknowledged (OK) by a 202 (the broker confirmed it has the job)
// or a 200 (done in the request, -jobs-mode sync). A 503 that says
// not-applied failed; any other 5xx or a timeout is unknown: the job may
// still be queued and done. Reads are not part of such a workload
// (ReadRatio 0); one reads nothing.
func Jobs(baseURL string, client *http.Client) (Service, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("jobs service: bad base URL %q", baseURL)
	}
	return jobsService{base: strings.TrimRight(baseURL, "/"), client: client}, nil
}

type jobsService struct {
	base   string
	client *http.Client
}

func (s jobsService) Write(ctx context.Context, key, value string) Reply {
	body, _ := json.Marshal(map[string]string{"job": value})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/photos/"+url.PathEscape(key)+"/jobs", strings.NewReader(string(body)))
	if err != nil {
		return Reply{Outcome: history.Failed, Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	r, _ := SendHTTP(s.client, req, history.Write, notApplied)
	return r
}

func (s jobsService) Read(context.Context, string) Reply { return Reply{Outcome: history.OK} }

// notApplied: mysite's Mysite-Write-Outcome header says the job never
// reached the broker (or the worker).
func notApplied(r *http.Response) bool { return r.Header.Get("Mysite-Write-Outcome") == "not-applied" }

// errNotFound: the path does not exist (GET /queue of a web server that
// does the jobs in the request: there is no queue to drain).
var errNotFound = errors.New("404 Not Found")

// JobEffects reads every job's effects from mysite (GET /jobs) once its
// queue has drained: GET /queue said no message waits, twice 250 ms apart
// with the same effects in between (a job a worker holds is in no count),
// within drainWait. A queue still holding jobs then is an error: what is
// not done yet is not lost, and cannot be judged.
func JobEffects(ctx context.Context, baseURL string, drainWait time.Duration) (map[string]int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("GET %s: %w", path, errNotFound)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	deadline := time.Now().Add(drainWait)
	var last map[string]int
	lastErr := fmt.Errorf("nothing read yet")
	for {
		var q struct{ Messages int }
		var e struct{ Effects map[string]int }
		err := get("/queue", &q)
		if errors.Is(err, errNotFound) {
			err = nil // no queue: jobs are done in the request
		}
		if err == nil && q.Messages > 0 {
			err = fmt.Errorf("%d jobs still queued", q.Messages)
		}
		if err == nil {
			err = get("/jobs", &e)
		}
		if err == nil {
			if last != nil && maps.Equal(last, e.Effects) {
				return e.Effects, nil
			}
			last, lastErr = e.Effects, fmt.Errorf("jobs still being done (%d have effects)", len(e.Effects))
		} else {
			last, lastErr = nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the queue did not drain within %v: %v", drainWait, lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
