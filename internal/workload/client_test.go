package workload

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// execOnce runs one op against baseURL with a fresh client (so no connection
// is reused between cases).
func execOnce(t *testing.T, baseURL string, kind history.Kind, key string, timeout time.Duration) result {
	t.Helper()
	hc := newHTTPClient(4, timeout)
	defer hc.CloseIdleConnections()
	q, err := newRequester(hc, baseURL, timeout)
	if err != nil {
		t.Fatal(err)
	}
	var user *userBody
	if kind == history.Write {
		user = &userBody{ID: key, FirstName: "Ada", PhoneNumbers: []phoneNumber{}, WriteID: "c1-w1"}
	}
	return q.exec(context.Background(), kind, key, user, nil)
}

// answer is a hook that answers every request with status, an optional
// write-outcome header, and body.
func answer(status int, writeOutcome, body string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if writeOutcome != "" {
			w.Header().Set(WriteOutcomeHeader, writeOutcome)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	}
}

func TestOutcomeRules(t *testing.T) {
	const dbDown = `{"error":"database unavailable: no answer within 500ms"}`
	sleepPastTimeout := func(w http.ResponseWriter, r *http.Request) bool {
		readBody(r)
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done(): // the client gave up and closed
		}
		return true
	}
	for _, tc := range []struct {
		name    string
		hook    func(http.ResponseWriter, *http.Request) bool
		kind    history.Kind
		outcome history.Outcome
		status  int
		err     string // substring of the error; "" means the error must be empty
	}{
		{"write 503 not-applied", answer(503, "not-applied", dbDown), history.Write, history.Failed, 503, "503: database unavailable"},
		{"write 500 not-applied", answer(500, "not-applied", `{"error":"database error: x"}`), history.Write, history.Failed, 500, "500: database error"},
		{"write 503 unknown", answer(503, "unknown", dbDown), history.Write, history.Unknown, 503, "503: database unavailable"},
		{"write 502 without header", answer(502, "", "bad gateway"), history.Write, history.Unknown, 502, "no Mysite-Write-Outcome header"},
		{"read 503", answer(503, "", dbDown), history.Read, history.Failed, 503, "503"},
		{"write 400", answer(400, "", `{"error":"firstName is required"}`), history.Write, history.Failed, 400, "400: firstName is required"},
		{"read 400", answer(400, "", `{"error":"bad id"}`), history.Read, history.Failed, 400, "400: bad id"},
		{"write 404", answer(404, "", `{"error":"no such endpoint"}`), history.Write, history.Failed, 404, "404"},
		{"read 404", nil, history.Read, history.OK, 404, ""},
		{"read 302", answer(302, "", ""), history.Read, history.Failed, 302, "302"},
		{"read 200 garbage", answer(200, "", "<html>"), history.Read, history.Failed, 200, "unusable body"},
		{"read 200 other user", answer(200, "", `{"id":"u9","writeId":"c1-w1","version":1}`), history.Read, history.Failed, 200, "asked for"},
		{"read 200 no writeId", answer(200, "", `{"id":"u1","version":1}`), history.Read, history.Failed, 200, "lacks"},
		{"write 200 garbage body", answer(200, "", "<html>"), history.Write, history.OK, 200, ""},
		{"write EOF", func(w http.ResponseWriter, r *http.Request) bool { hangUp(w, false); return true }, history.Write, history.Unknown, 0, ""},
		{"read EOF", func(w http.ResponseWriter, r *http.Request) bool { hangUp(w, false); return true }, history.Read, history.Failed, 0, ""},
		{"write reset", func(w http.ResponseWriter, r *http.Request) bool { hangUp(w, true); return true }, history.Write, history.Unknown, 0, ""},
		{"read reset", func(w http.ResponseWriter, r *http.Request) bool { hangUp(w, true); return true }, history.Read, history.Failed, 0, ""},
		{"write timeout", sleepPastTimeout, history.Write, history.Unknown, 0, "timeout"},
		{"read timeout", sleepPastTimeout, history.Read, history.Failed, 0, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFakeSite(t, tc.hook)
			got := execOnce(t, srv.URL, tc.kind, "u1", 200*time.Millisecond)
			t.Logf("%s/%d %q", got.outcome, got.status, got.err)
			if got.outcome != tc.outcome || got.status != tc.status {
				t.Fatalf("got %s/%d (%q), want %s/%d", got.outcome, got.status, got.err, tc.outcome, tc.status)
			}
			switch {
			case tc.outcome == history.OK && got.err != "":
				t.Fatalf("OK op with error %q", got.err)
			case tc.outcome != history.OK && got.err == "":
				t.Fatal("failed op without error")
			case tc.err != "" && !strings.Contains(got.err, tc.err):
				t.Fatalf("error %q, want it to contain %q", got.err, tc.err)
			}
		})
	}
}

func TestOutcomeOKValues(t *testing.T) {
	f, srv := newFakeSite(t, nil)
	w := execOnce(t, srv.URL, history.Write, "u1", time.Second)
	if w.outcome != history.OK || w.status != 200 || w.version != 1 {
		t.Fatalf("write: %+v", w)
	}
	f.set("u1", "c2-w5") // version 2
	r := execOnce(t, srv.URL, history.Read, "u1", time.Second)
	if r.outcome != history.OK || r.value != "c2-w5" || r.version != 2 {
		t.Fatalf("read: %+v", r)
	}
	r = execOnce(t, srv.URL, history.Read, "u2", time.Second)
	if r.outcome != history.OK || r.value != "" || r.status != 404 {
		t.Fatalf("read of a missing key: %+v", r)
	}
}

func TestOutcomeNothingSent(t *testing.T) {
	_, srv := newFakeSite(t, nil)
	url := srv.URL
	srv.Close() // the port now refuses connections
	for _, kind := range []history.Kind{history.Write, history.Read} {
		got := execOnce(t, url, kind, "u1", time.Second)
		if got.outcome != history.Failed || !strings.Contains(got.err, "connection refused") {
			t.Errorf("%s to a closed port: %+v, want failed / connection refused", kind, got)
		}
	}
	// A name that cannot resolve: failed, whether the resolver says so or
	// times out first (no connection, so nothing was sent either way).
	got := execOnce(t, "http://no-such-host.invalid", history.Write, "u1", 300*time.Millisecond)
	if got.outcome != history.Failed {
		t.Errorf("write to an unresolvable host: %+v, want failed", got)
	}
}

func TestClassifyTransportErrorNotSent(t *testing.T) {
	// A timeout before any connection was obtained (e.g. the dial hangs in a
	// partition) is failed even for a write: nothing can have reached the server.
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	got := classifyTransportError(history.Write, context.DeadlineExceeded, ctx, false)
	if got.outcome != history.Failed || got.err != "timeout (not sent)" {
		t.Fatalf("%+v", got)
	}
	got = classifyTransportError(history.Write, context.DeadlineExceeded, ctx, true)
	if got.outcome != history.Unknown || got.err != "timeout" {
		t.Fatalf("%+v", got)
	}
}
