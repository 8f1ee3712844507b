package mysite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const johnJSON = `{"id": "42", "firstName": "John", "lastName": "Smith",
 "address": {"streetAddress": "21 2nd Street", "city": "New York", "state": "NY", "postalCode": "10021"},
 "phoneNumbers": [{"type": "home", "number": "212 555-1234"}, {"type": "fax", "number": "646 555-4567"}],
 "writeId": "c3-w17"}`

func newTestServer(t *testing.T, dbTimeout time.Duration) (*Server, *memStore) {
	t.Helper()
	st := newMemStore()
	return NewServer(Options{Store: st, DBTimeout: dbTimeout}), st
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, h http.Handler, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// wantJSON checks the status and that the body equals want as JSON.
func wantJSON(t *testing.T, r response, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("body\n got %s\nwant %s", g, e)
	}
}

// errorOf checks the status and returns the "error" field of a JSON error.
func errorOf(t *testing.T, r response, code int) string {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, r.body)
	}
	msg, ok := e["error"].(string)
	if !ok || msg == "" || len(e) != 1 {
		t.Fatalf(`error body should be {"error": "..."}, got %s`, r.body)
	}
	return msg
}

func TestCreateGetPut(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	stored := `{"id": "42", "firstName": "John", "lastName": "Smith",
	 "address": {"streetAddress": "21 2nd Street", "city": "New York", "state": "NY", "postalCode": "10021"},
	 "phoneNumbers": [{"type": "home", "number": "212 555-1234"}, {"type": "fax", "number": "646 555-4567"}],
	 "writeId": "c3-w17", "version": 1}`

	r := do(t, s, "POST", "/users", johnJSON)
	wantJSON(t, r, http.StatusCreated, stored)
	if loc := r.header.Get("Location"); loc != "/users/42" {
		t.Errorf("Location %q", loc)
	}
	wantJSON(t, do(t, s, "GET", "/users/42", ""), http.StatusOK, stored)

	// PUT replaces the whole user and bumps the version; id may be omitted.
	r = do(t, s, "PUT", "/users/42", `{"firstName": "Jane", "writeId": "c1-w2"}`)
	v2 := `{"id": "42", "firstName": "Jane", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "c1-w2", "version": 2}`
	wantJSON(t, r, http.StatusOK, v2)
	wantJSON(t, do(t, s, "GET", "/users/42", ""), http.StatusOK, v2)

	// A client may send back what it read, version included: version is ignored.
	r = do(t, s, "PUT", "/users/42", `{"id": "42", "firstName": "Jane", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "c1-w3", "version": 99}`)
	wantJSON(t, r, http.StatusOK, `{"id": "42", "firstName": "Jane", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "c1-w3", "version": 3}`)

	// PUT of a new id creates it with version 1 (still 200).
	r = do(t, s, "PUT", "/users/new_one-2", `{"id": "new_one-2", "firstName": "N"}`)
	wantJSON(t, r, http.StatusOK, `{"id": "new_one-2", "firstName": "N", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "", "version": 1}`)

	// HEAD works like GET without a body.
	if r := do(t, s, "HEAD", "/users/42", ""); r.code != http.StatusOK {
		t.Errorf("HEAD status %d", r.code)
	}
}

func TestCreateConflict(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	do(t, s, "POST", "/users", johnJSON)
	r := do(t, s, "POST", "/users", johnJSON)
	wantJSON(t, r, http.StatusConflict, `{"error": "user 42 already exists"}`)
	// The stored user is unchanged.
	r = do(t, s, "GET", "/users/42", "")
	if !strings.Contains(r.body, `"version":1`) {
		t.Errorf("after 409: %s", r.body)
	}
}

func TestGetNotFound(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	wantJSON(t, do(t, s, "GET", "/users/42", ""), http.StatusNotFound, `{"error": "user 42 not found"}`)
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("a", 65)
	big := `{"id": "x", "firstName": "` + strings.Repeat("x", MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, body, want string
	}{
		{"invalid JSON", "POST", "/users", `{"id": "1", "firstName": `, "invalid JSON"},
		{"syntax error", "POST", "/users", `{"id": "1" "firstName": "a"}`, "invalid JSON at byte"},
		{"not an object", "POST", "/users", `["a"]`, "expected a user object"},
		{"wrong type", "POST", "/users", `{"id": "1", "firstName": 5}`, "field firstName must be a string"},
		{"unknown field", "POST", "/users", `{"id": "1", "firstName": "a", "age": 3}`, `unknown field "age"`},
		{"unknown nested field", "POST", "/users", `{"id": "1", "firstName": "a", "address": {"zip": "1"}}`, `unknown field "zip"`},
		{"trailing data", "POST", "/users", `{"id": "1", "firstName": "a"} {}`, "unexpected data after"},
		{"empty body", "POST", "/users", ``, "body is empty"},
		{"missing firstName", "POST", "/users", `{"id": "1"}`, "firstName is required"},
		{"blank firstName", "POST", "/users", `{"id": "1", "firstName": "  "}`, "firstName is required"},
		{"missing id", "POST", "/users", `{"firstName": "a"}`, "id is required"},
		{"empty id", "POST", "/users", `{"id": "", "firstName": "a"}`, "id is required"},
		{"id too long", "POST", "/users", `{"id": "` + long + `", "firstName": "a"}`, "id is too long"},
		{"id bad char", "POST", "/users", `{"id": "a b", "firstName": "a"}`, "invalid character"},
		{"id not a string", "POST", "/users", `{"id": 42, "firstName": "a"}`, "field id must be a string"},
		{"NUL", "POST", "/users", `{"id": "1", "firstName": "a\u0000b"}`, "firstName must not contain the NUL"},
		{"body too large", "POST", "/users", big, "body too large: limit is 65536 bytes"},
		{"put id mismatch", "PUT", "/users/1", `{"id": "2", "firstName": "a"}`, "does not match id in path"},
		{"put path id too long", "PUT", "/users/" + long, `{"firstName": "a"}`, "id is too long"},
		{"put missing firstName", "PUT", "/users/1", `{"lastName": "a"}`, "firstName is required"},
		{"get path id too long", "GET", "/users/" + long, ``, "id is too long"},
		{"get path id bad char", "GET", "/users/a.b", ``, "invalid character"},
		{"get path id escaped slash", "GET", "/users/a%2Fb", ``, "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, st := newTestServer(t, time.Second)
			msg := errorOf(t, do(t, s, c.method, c.path, c.body), http.StatusBadRequest)
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not mention %q", msg, c.want)
			}
			if n := st.calls.Load(); n != 0 {
				t.Errorf("bad input reached the store (%d calls)", n)
			}
		})
	}

	// Boundaries that are fine.
	s, _ := newTestServer(t, time.Second)
	id64 := strings.Repeat("Z", 64)
	if r := do(t, s, "POST", "/users", `{"id": "`+id64+`", "firstName": "a"}`); r.code != http.StatusCreated {
		t.Errorf("64-char id: %d %s", r.code, r.body)
	}
	if r := do(t, s, "PUT", "/users/a-_9", `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Errorf("id a-_9: %d %s", r.code, r.body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/users/42", "GET, HEAD, PUT"},
		{"POST", "/users/42", "GET, HEAD, PUT"},
		{"PATCH", "/users/42", "GET, HEAD, PUT"},
		{"GET", "/users", "POST"},
		{"PUT", "/users", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"DELETE", "/readyz", "GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
	} {
		r := do(t, s, c.method, c.path, "")
		msg := errorOf(t, r, http.StatusMethodNotAllowed)
		if !strings.Contains(msg, c.method) {
			t.Errorf("%s %s: %q", c.method, c.path, msg)
		}
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	for _, p := range []string{"/", "/nope", "/users/a/b", "/users/"} {
		msg := errorOf(t, do(t, s, "GET", p, ""), http.StatusNotFound)
		if !strings.Contains(msg, "no such endpoint") {
			t.Errorf("%s: %q", p, msg)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	s, st := newTestServer(t, time.Second)
	wantJSON(t, do(t, s, "GET", "/healthz", ""), http.StatusOK, `{"status": "alive"}`)
	wantJSON(t, do(t, s, "GET", "/readyz", ""), http.StatusOK, `{"status": "ready"}`)

	st.setFail(Unavailable(errors.New("dial tcp 10.0.0.1:5432: connection refused"), true))
	wantJSON(t, do(t, s, "GET", "/healthz", ""), http.StatusOK, `{"status": "alive"}`)
	wantJSON(t, do(t, s, "GET", "/readyz", ""), http.StatusServiceUnavailable,
		`{"error": "database: dial tcp 10.0.0.1:5432: connection refused"}`)
}

func TestStoreUnavailable(t *testing.T) {
	s, st := newTestServer(t, time.Second)
	st.setFail(Unavailable(errors.New("connection refused"), true))

	r := do(t, s, "GET", "/users/42", "")
	wantJSON(t, r, http.StatusServiceUnavailable, `{"error": "database unavailable: connection refused"}`)
	if r.header.Get(WriteOutcomeHeader) != "" {
		t.Errorf("%s set on a read", WriteOutcomeHeader)
	}
	r = do(t, s, "PUT", "/users/42", `{"firstName": "a"}`)
	wantJSON(t, r, http.StatusServiceUnavailable, `{"error": "database unavailable: connection refused"}`)
	if got := r.header.Get(WriteOutcomeHeader); got != "not-applied" {
		t.Errorf("%s = %q, want not-applied", WriteOutcomeHeader, got)
	}

	// A store error that is neither "unavailable" nor a context error is a 500.
	st.setFail(errors.New("syntax error at or near SELEKT"))
	r = do(t, s, "POST", "/users", `{"id": "1", "firstName": "a"}`)
	wantJSON(t, r, http.StatusInternalServerError, `{"error": "database error: syntax error at or near SELEKT"}`)
	if got := r.header.Get(WriteOutcomeHeader); got != "unknown" {
		t.Errorf("%s = %q, want unknown", WriteOutcomeHeader, got)
	}
}

// A store that reports a timeout right away (e.g. pgx's own deadline).
func TestStoreReturnsTimeout(t *testing.T) {
	s, st := newTestServer(t, time.Second)
	st.setFail(fmt.Errorf("timeout: %w", context.DeadlineExceeded))
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/users/42", ""},
		{"POST", "/users", `{"id": "42", "firstName": "a"}`},
		{"PUT", "/users/42", `{"firstName": "a"}`},
	} {
		msg := errorOf(t, do(t, s, c.method, c.path, c.body), http.StatusServiceUnavailable)
		if !strings.HasPrefix(msg, "database unavailable: ") {
			t.Errorf("%s %s: %q", c.method, c.path, msg)
		}
	}
}

// A store call that blocks longer than the DB timeout gives 503 within the
// timeout, whether or not the store honours its context.
func TestSlowStoreTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, ignoreCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreCtx=%v", ignoreCtx), func(t *testing.T) {
			s, st := newTestServer(t, timeout)
			st.setDelay(3*time.Second, ignoreCtx)
			for _, c := range []struct{ method, path, body string }{
				{"GET", "/users/42", ""},
				{"POST", "/users", `{"id": "42", "firstName": "a"}`},
				{"PUT", "/users/42", `{"firstName": "a"}`},
				{"GET", "/readyz", ""},
			} {
				start := time.Now()
				r := do(t, s, c.method, c.path, c.body)
				elapsed := time.Since(start)
				msg := errorOf(t, r, http.StatusServiceUnavailable)
				want := "database unavailable: no answer within 200ms"
				if c.path == "/readyz" {
					want = "database: no answer within 200ms"
				}
				if msg != want {
					t.Errorf("%s %s: error %q, want %q", c.method, c.path, msg, want)
				}
				if elapsed < timeout || elapsed > timeout+300*time.Millisecond {
					t.Errorf("%s %s: answered after %v, want about %v", c.method, c.path, elapsed, timeout)
				}
				if c.method != "GET" {
					if got := r.header.Get(WriteOutcomeHeader); got != "unknown" {
						t.Errorf("%s = %q, want unknown", WriteOutcomeHeader, got)
					}
				}
			}
		})
	}
}

// With DB timeout 0 (the negative control) a slow store makes the request
// hang for as long as the client waits.
func TestNoTimeoutHangs(t *testing.T) {
	s, st := newTestServer(t, 0)
	st.returned = make(chan error, 1)
	st.setDelay(time.Minute, false)
	ts := httptest.NewServer(s)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/users/42", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer (%d) after %v; want a hang", resp.StatusCode, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client error %v, want its deadline", err)
	}
	// Once the client gives up, the store call is canceled.
	select {
	case <-st.returned:
	case <-time.After(2 * time.Second):
		t.Fatal("store call still running after the client went away")
	}
}

func TestConcurrentPutsGetDistinctVersions(t *testing.T) {
	s, _ := newTestServer(t, time.Second)
	const n = 50
	versions := make(chan int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := do(t, s, "PUT", "/users/k", fmt.Sprintf(`{"firstName": "a", "writeId": "w%d"}`, i))
			var u User
			if err := json.Unmarshal([]byte(r.body), &u); err != nil || r.code != 200 {
				t.Errorf("PUT: %d %s", r.code, r.body)
				return
			}
			versions <- u.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] || v < 1 || v > n {
			t.Errorf("version %d repeated or out of range", v)
		}
		seen[v] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct versions, want %d", len(seen), n)
	}
}

func TestMetrics(t *testing.T) {
	s, st := newTestServer(t, time.Second)
	do(t, s, "POST", "/users", johnJSON)
	do(t, s, "GET", "/users/42", "")
	do(t, s, "GET", "/users/43", "")
	do(t, s, "DELETE", "/users/42", "")
	do(t, s, "GET", "/nope", "")
	st.setFail(Unavailable(errors.New("down"), true))
	do(t, s, "GET", "/users/42", "")

	r := do(t, s, "GET", "/metrics", "")
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %q", r.code, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`mysite_http_requests_total{code="201",route="POST /users"} 1`,
		`mysite_http_requests_total{code="200",route="GET /users/{id}"} 1`,
		`mysite_http_requests_total{code="404",route="GET /users/{id}"} 1`,
		`mysite_http_requests_total{code="503",route="GET /users/{id}"} 1`,
		`mysite_http_requests_total{code="405",route="/users/{id}"} 1`,
		`mysite_http_requests_total{code="404",route="/"} 1`,
		`mysite_http_request_duration_seconds_count{route="GET /users/{id}"} 3`,
		`mysite_http_requests_in_flight 1`, // the /metrics request itself
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestPanicGives500JSON(t *testing.T) {
	s := NewServer(Options{Store: panicStore{}, DBTimeout: time.Second})
	msg := errorOf(t, do(t, s, "GET", "/users/42", ""), http.StatusInternalServerError)
	if !strings.Contains(msg, "internal error") {
		t.Errorf("%q", msg)
	}
}

type panicStore struct{ Store }

func (panicStore) Get(context.Context, string) (User, error) { panic("boom") }

func TestOneLine(t *testing.T) {
	in := "failed to connect to `user=u database=x`:\n\t127.0.0.1:1: refused\n\t127.0.0.2:1: refused"
	want := "failed to connect to `user=u database=x`: 127.0.0.1:1: refused; 127.0.0.2:1: refused"
	if got := oneLine(in); got != want {
		t.Errorf("got %q", got)
	}
}
