package workload

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// kvService is a user's key-value service seen through an adapter, in
// memory: it forgets the writes whose value forget names (acknowledging
// them all the same), and answers writes of value slow after the
// deadline.
type kvService struct {
	mu     sync.Mutex
	data   map[string]string
	forget func(value string) bool
}

func (s *kvService) Write(ctx context.Context, key, value string) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forget == nil || !s.forget(value) {
		s.data[key] = value
	}
	return Reply{Outcome: history.OK, Status: 200}
}

func (s *kvService) Read(ctx context.Context, key string) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Reply{Outcome: history.OK, Status: 200, Value: s.data[key]}
}

func (s *kvService) new(string, *http.Client) (Service, error) { return s, nil }

// Through a Service, the workload records the same history as through
// mysite, and the read-back and the lost-writes checker see what the
// service really kept: a write it acknowledged and forgot is named.
func TestServiceAdapterRecordsAndLosesWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forget func(string) bool
		lost   bool
	}{
		{"keeps every write", nil, false},
		{"forgets client 3's writes", func(v string) bool { return strings.HasPrefix(v, "c3-") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &kvService{data: map[string]string{}, forget: tc.forget}
			cfg := testConfig()
			cfg.Service = svc.new
			rec, stats, err := Run(context.Background(), cfg, "http://127.0.0.1:1", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if stats.OK != stats.Launched || stats.Launched == 0 {
				t.Fatalf("stats %+v: want every op OK", stats)
			}
			final, err := ReadBackService(context.Background(), "http://127.0.0.1:1", svc.new, rec.WrittenKeys(), time.Second, 0)
			if err != nil {
				t.Fatal(err)
			}
			rec.SetFinal(final)
			lost := check.LostAcknowledgedWrites(rec.History())
			if got := lost.Count() > 0; got != tc.lost {
				t.Fatalf("lost writes %v, want lost: %v", lost, tc.lost)
			}
			for _, op := range lost.Lost {
				if !strings.HasPrefix(op.Value, "c3-") {
					t.Errorf("lost %+v: not one the service forgot", op)
				}
			}
		})
	}
}

func TestServiceNotWithSessions(t *testing.T) {
	cfg := testConfig()
	cfg.Service = (&kvService{}).new
	cfg.Sessions = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "service adapter") {
		t.Fatalf("Validate: %v", err)
	}
}

// A reply outside the history's rules is made explicit: an unknown read
// is a failed one, a failure has a reason, an outcome nobody knows is not
// OK.
func TestValidReply(t *testing.T) {
	for _, tc := range []struct {
		kind history.Kind
		in   Reply
		want history.Outcome
	}{
		{history.Read, Reply{Outcome: history.Unknown}, history.Failed},
		{history.Write, Reply{Outcome: "maybe"}, history.Unknown},
		{history.Read, Reply{Outcome: ""}, history.Failed},
		{history.Write, Reply{Outcome: history.OK, Err: "x", Value: "v"}, history.OK},
	} {
		got := validReply(tc.kind, tc.in)
		if got.Outcome != tc.want || (got.Outcome != history.OK) == (got.Err == "") || (tc.kind == history.Write && got.Value != "") {
			t.Errorf("%s %+v -> %+v, want outcome %s with a reason exactly when not OK", tc.kind, tc.in, got, tc.want)
		}
	}
}

// SendHTTP classifies an exchange as the recording client does.
func TestSendHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "v1")
		case "/missing":
			http.NotFound(w, r)
		case "/boom":
			if r.Header.Get("X-Not-Applied") != "" {
				w.Header().Set("X-Not-Applied", "yes")
			}
			http.Error(w, "boom", http.StatusServiceUnavailable)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/bad":
			http.Error(w, "no", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	notApplied := func(r *http.Response) bool { return r.Header.Get("X-Not-Applied") != "" }
	send := func(kind history.Kind, path string, header bool, timeout time.Duration) (Reply, string) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if header {
			req.Header.Set("X-Not-Applied", "1")
		}
		r, body := SendHTTP(srv.Client(), req, kind, notApplied)
		return r, string(body)
	}
	for _, tc := range []struct {
		kind    history.Kind
		path    string
		header  bool
		want    history.Outcome
		body    string
		timeout time.Duration
	}{
		{history.Read, "/ok", false, history.OK, "v1", time.Second},
		{history.Read, "/missing", false, history.OK, "", time.Second},
		{history.Write, "/boom", false, history.Unknown, "boom\n", time.Second},
		{history.Write, "/boom", true, history.Failed, "boom\n", time.Second},
		{history.Read, "/boom", false, history.Failed, "boom\n", time.Second},
		{history.Write, "/slow", false, history.Unknown, "", 50 * time.Millisecond},
		{history.Read, "/slow", false, history.Failed, "", 50 * time.Millisecond},
		{history.Write, "/bad", false, history.Failed, "no\n", time.Second},
	} {
		got, body := send(tc.kind, tc.path, tc.header, tc.timeout)
		if got.Outcome != tc.want || body != tc.body || (got.Outcome == history.OK) != (got.Err == "") {
			t.Errorf("%s %s: %+v body %q, want %s body %q", tc.kind, tc.path, got, body, tc.want, tc.body)
		}
	}
	// Refused: nothing reached a server, so even a write certainly failed.
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:1/x", nil)
	if got, _ := SendHTTP(http.DefaultClient, req, history.Write, nil); got.Outcome != history.Failed {
		t.Errorf("refused write: %+v, want failed", got)
	}
}
