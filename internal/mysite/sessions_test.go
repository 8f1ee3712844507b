package mysite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// doCookie is do with an optional session cookie ("" for none).
func doCookie(t *testing.T, h http.Handler, method, path, body, session string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: session})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

var setCookieRE = regexp.MustCompile(`^session=([A-Z2-7]{26}); Path=/; HttpOnly$`)

// login logs user in and returns the session id, checking the answer.
func login(t *testing.T, h http.Handler, user string) string {
	t.Helper()
	r := doCookie(t, h, "POST", "/login", `{"user": "`+user+`"}`, "")
	if r.code != http.StatusOK {
		t.Fatalf("login: %d %s", r.code, r.body)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body) != 2 || body["user"] != user {
		t.Fatalf("login body %s", r.body)
	}
	m := setCookieRE.FindStringSubmatch(r.header.Get("Set-Cookie"))
	if m == nil || m[1] != body["session"] {
		t.Fatalf("Set-Cookie %q does not carry the session %q", r.header.Get("Set-Cookie"), body["session"])
	}
	return body["session"]
}

// sessionStores runs f against memory sessions and against Redis sessions on
// a fake Redis.
func sessionStores(t *testing.T, f func(t *testing.T, newServer func(name string) *Server, redis *miniredis.Miniredis)) {
	t.Run("memory", func(t *testing.T) {
		shared := NewMemorySessions()
		f(t, func(name string) *Server {
			return NewServer(Options{Store: newMemStore(), DBTimeout: time.Second, Sessions: shared, Name: name})
		}, nil)
	})
	t.Run("redis", func(t *testing.T) {
		redis := startFakeRedis(t)
		f(t, func(name string) *Server {
			return NewServer(Options{Store: newMemStore(), DBTimeout: time.Second, Sessions: redisSessions(t, redis.Addr()), Name: name})
		}, redis)
	})
}

func redisSessions(t *testing.T, addr string) *RedisSessions {
	t.Helper()
	r := NewRedisSessions(addr, 4)
	t.Cleanup(r.Close)
	return r
}

func TestLoginMeLogout(t *testing.T) {
	sessionStores(t, func(t *testing.T, newServer func(string) *Server, redis *miniredis.Miniredis) {
		s := newServer("web1")
		id := login(t, s, "u42")

		r := doCookie(t, s, "GET", "/me", "", id)
		wantJSON(t, r, http.StatusOK, `{"user": "u42", "server": "web1"}`)
		if got := r.header.Get(ServerHeader); got != "web1" {
			t.Errorf("%s = %q", ServerHeader, got)
		}
		if redis != nil {
			if v, err := redis.Get(RedisSessionPrefix + id); err != nil || v != "u42" {
				t.Errorf("redis holds %q (%v) for the session", v, err)
			}
			if ttl := redis.TTL(RedisSessionPrefix + id); ttl < 29*time.Minute || ttl > DefaultSessionTTL {
				t.Errorf("session TTL in redis %v, want about %v", ttl, DefaultSessionTTL)
			}
		}

		// Two logins of one user are two sessions.
		id2 := login(t, s, "u42")
		if id2 == id {
			t.Fatal("second login reused the session id")
		}

		// Not logged in: no cookie, a cookie that is not one of ours, an
		// unknown session.
		for _, c := range []string{"", "x", "not a session id at all!", strings.Repeat("A", 26)} {
			wantJSON(t, doCookie(t, s, "GET", "/me", "", c), http.StatusUnauthorized, `{"error": "not logged in"}`)
		}

		// Logout deletes the session and clears the cookie; the other
		// session of the user stays.
		r = doCookie(t, s, "POST", "/logout", "", id)
		wantJSON(t, r, http.StatusOK, `{"status": "logged out"}`)
		if sc := r.header.Get("Set-Cookie"); sc != "session=; Path=/; Max-Age=0; HttpOnly" {
			t.Errorf("logout Set-Cookie %q", sc)
		}
		wantJSON(t, doCookie(t, s, "GET", "/me", "", id), http.StatusUnauthorized, `{"error": "not logged in"}`)
		wantJSON(t, doCookie(t, s, "GET", "/me", "", id2), http.StatusOK, `{"user": "u42", "server": "web1"}`)
		if redis != nil {
			if redis.Exists(RedisSessionPrefix + id) {
				t.Error("logout left the session in redis")
			}
		}
		// Logout is idempotent.
		wantJSON(t, doCookie(t, s, "POST", "/logout", "", id), http.StatusOK, `{"status": "logged out"}`)
		wantJSON(t, doCookie(t, s, "POST", "/logout", "", ""), http.StatusOK, `{"status": "logged out"}`)
	})
}

// A session made on one server is valid on another that shares the store:
// with memory sessions the store is per process, so only servers sharing one
// MemorySessions (the test's) see it; see TestMemorySessionsArePerServer.
func TestSharedStoreServesAnyServer(t *testing.T) {
	sessionStores(t, func(t *testing.T, newServer func(string) *Server, _ *miniredis.Miniredis) {
		a, b := newServer("web1"), newServer("web2")
		id := login(t, a, "u1")
		wantJSON(t, doCookie(t, b, "GET", "/me", "", id), http.StatusOK, `{"user": "u1", "server": "web2"}`)
	})
}

func TestMemorySessionsArePerServer(t *testing.T) {
	a := NewServer(Options{Store: newMemStore(), Name: "web1"})
	b := NewServer(Options{Store: newMemStore(), Name: "web2"})
	id := login(t, a, "u1")
	wantJSON(t, doCookie(t, a, "GET", "/me", "", id), http.StatusOK, `{"user": "u1", "server": "web1"}`)
	r := doCookie(t, b, "GET", "/me", "", id)
	wantJSON(t, r, http.StatusUnauthorized, `{"error": "not logged in"}`)
	if r.header.Get(ServerHeader) != "web2" {
		t.Errorf("401 answered without %s: %v", ServerHeader, r.header)
	}
}

// Requests to /users that carry a session cookie are checked; without a
// cookie they are anonymous, as before sessions.
func TestUsersWithSession(t *testing.T) {
	sessionStores(t, func(t *testing.T, newServer func(string) *Server, _ *miniredis.Miniredis) {
		s := newServer("web1")
		st := s.store.(*memStore)
		id := login(t, s, "u1")
		if r := doCookie(t, s, "PUT", "/users/42", `{"firstName": "a"}`, id); r.code != http.StatusOK {
			t.Fatalf("PUT with a session: %d %s", r.code, r.body)
		}
		if r := doCookie(t, s, "GET", "/users/42", "", id); r.code != http.StatusOK {
			t.Fatalf("GET with a session: %d %s", r.code, r.body)
		}
		if r := doCookie(t, s, "POST", "/users", `{"id": "43", "firstName": "a"}`, id); r.code != http.StatusCreated {
			t.Fatalf("POST with a session: %d %s", r.code, r.body)
		}
		if r := doCookie(t, s, "GET", "/users/42", "", ""); r.code != http.StatusOK {
			t.Fatalf("anonymous GET: %d %s", r.code, r.body)
		}
		calls := st.calls.Load()
		lost := strings.Repeat("B", 26)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/users/42", ""},
			{"PUT", "/users/42", `{"firstName": "b"}`},
			{"POST", "/users", `{"id": "44", "firstName": "a"}`},
		} {
			r := doCookie(t, s, c.method, c.path, c.body, lost)
			wantJSON(t, r, http.StatusUnauthorized, `{"error": "not logged in"}`)
		}
		if n := st.calls.Load(); n != calls {
			t.Errorf("requests of a logged-out user reached the database (%d calls)", n-calls)
		}
	})
}

func TestLoginBadInput(t *testing.T) {
	s := NewServer(Options{Store: newMemStore()})
	for _, c := range []struct{ body, want string }{
		{``, "request body is empty"},
		{`{"user": `, "invalid JSON"},
		{`["u1"]`, "expected a login object"},
		{`{"user": 42}`, "field user must be a string"},
		{`{"user": "u1", "password": "x"}`, `unknown field "password"`},
		{`{}`, "user is required"},
		{`{"user": ""}`, "user id is required"},
		{`{"user": "a b"}`, "user id \"a b\" contains an invalid character"},
		{`{"user": "` + strings.Repeat("a", 65) + `"}`, "user id is too long"},
		{`{"user": "u1"} {}`, "unexpected data after"},
		{`{"user": "` + strings.Repeat("a", MaxBodyBytes) + `"}`, "body too large"},
	} {
		msg := errorOf(t, doCookie(t, s, "POST", "/login", c.body, ""), http.StatusBadRequest)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%.40q: %q, want it to mention %q", c.body, msg, c.want)
		}
	}
}

func TestSessionRoutesMethods(t *testing.T) {
	s := NewServer(Options{Store: newMemStore()})
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/login", "POST"},
		{"PUT", "/login", "POST"},
		{"POST", "/me", "GET, HEAD"},
		{"DELETE", "/me", "GET, HEAD"},
		{"GET", "/logout", "POST"},
	} {
		r := doCookie(t, s, c.method, c.path, "", "")
		errorOf(t, r, http.StatusMethodNotAllowed)
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

// Every response names the server, whatever the route and status.
func TestServerHeaderEverywhere(t *testing.T) {
	s := NewServer(Options{Store: newMemStore(), Name: "web-7"})
	for _, c := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"}, {"GET", "/users/1"},
		{"GET", "/nope"}, {"DELETE", "/users/1"}, {"GET", "/me"}, {"POST", "/login"},
	} {
		if got := doCookie(t, s, c.method, c.path, "", "").header.Get(ServerHeader); got != "web-7" {
			t.Errorf("%s %s: %s = %q", c.method, c.path, ServerHeader, got)
		}
	}
	// Without a name, the host name.
	d := NewServer(Options{Store: newMemStore()})
	if got := doCookie(t, d, "GET", "/healthz", "", "").header.Get(ServerHeader); got != DefaultName() || got == "" {
		t.Errorf("default %s = %q, want the host name %q", ServerHeader, got, DefaultName())
	}
}

// The session store down (nothing listens): 503 at once on every route that
// needs it; requests without a cookie, and health, are unaffected.
func TestSessionStoreDown(t *testing.T) {
	redis := startFakeRedis(t)
	s := NewServer(Options{Store: newMemStore(), DBTimeout: time.Second, Sessions: redisSessions(t, redis.Addr()), SessionTimeout: time.Second, Name: "web1"})
	id := login(t, s, "u1")
	redis.Close()

	for _, c := range []struct {
		method, path, body string
		write              bool
	}{
		{"POST", "/login", `{"user": "u1"}`, false},
		{"GET", "/me", "", false},
		{"POST", "/logout", "", false},
		{"GET", "/users/42", "", false},
		{"PUT", "/users/42", `{"firstName": "a"}`, true},
		{"POST", "/users", `{"id": "42", "firstName": "a"}`, true},
	} {
		start := time.Now()
		r := doCookie(t, s, c.method, c.path, c.body, id)
		msg := errorOf(t, r, http.StatusServiceUnavailable)
		if !strings.HasPrefix(msg, "session store unavailable: redis ") || !strings.Contains(msg, "connection refused") {
			t.Errorf("%s %s: %q", c.method, c.path, msg)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s %s: 503 after %v", c.method, c.path, d)
		}
		if got := r.header.Get(WriteOutcomeHeader); c.write && got != "not-applied" || !c.write && got != "" {
			t.Errorf("%s %s: %s = %q", c.method, c.path, WriteOutcomeHeader, got)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", c.method, c.path)
		}
	}
	if r := doCookie(t, s, "GET", "/users/42", "", ""); r.code != http.StatusNotFound {
		t.Errorf("anonymous GET with the session store down: %d %s", r.code, r.body)
	}
	wantJSON(t, doCookie(t, s, "GET", "/healthz", "", ""), http.StatusOK, `{"status": "alive"}`)
	msg := errorOf(t, doCookie(t, s, "GET", "/readyz", "", ""), http.StatusServiceUnavailable)
	if !strings.HasPrefix(msg, "session store: ") || !strings.Contains(msg, "connection refused") {
		t.Errorf("readyz: %q", msg)
	}

	// Metrics: the errors, by operation, and the store marked down.
	body := doCookie(t, s, "GET", "/metrics", "", "").body
	for _, want := range []string{
		`mysite_session_store_errors_total{op="get"} 4`, // /me, GET, PUT, POST /users
		`mysite_session_store_errors_total{op="login"} 1`,
		`mysite_session_store_errors_total{op="delete"} 1`,
		`mysite_session_store_errors_total{op="ping"} 1`,
		`mysite_session_store_up 0`,
		`mysite_session_logins_total 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "mysite_sessions_active") {
		t.Error("mysite_sessions_active exported for redis sessions")
	}
}

// A session store that accepts connections and never answers: 503 within
// the session timeout, never a hang.
func TestSessionStoreSlow(t *testing.T) {
	const timeout = 200 * time.Millisecond
	redis := startHangProxy(t, startFakeRedis(t).Addr())
	s := NewServer(Options{Store: newMemStore(), DBTimeout: time.Second, Sessions: redisSessions(t, redis.Addr), SessionTimeout: timeout})
	id := login(t, s, "u1")
	redis.Hang(true)
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/login", `{"user": "u1"}`, "session store unavailable: no answer within 200ms"},
		{"GET", "/me", "", "session store unavailable: no answer within 200ms"},
		{"PUT", "/users/42", `{"firstName": "a"}`, "session store unavailable: no answer within 200ms"},
		{"GET", "/readyz", "", "session store: no answer within 200ms"},
	} {
		start := time.Now()
		r := doCookie(t, s, c.method, c.path, c.body, id)
		d := time.Since(start)
		if msg := errorOf(t, r, http.StatusServiceUnavailable); msg != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, msg, c.want)
		}
		if d < timeout || d > timeout+300*time.Millisecond {
			t.Errorf("%s %s: answered after %v, want about %v", c.method, c.path, d, timeout)
		}
	}
	// Once Redis answers again, so does mysite (the hung connections were
	// dropped, not reused).
	redis.Hang(false)
	wantJSON(t, doCookie(t, s, "GET", "/me", "", id), http.StatusOK, fmt.Sprintf(`{"user": "u1", "server": %q}`, DefaultName()))
}

// A store that ignores its context still cannot hold a request past the
// session timeout.
func TestSessionStoreIgnoringContext(t *testing.T) {
	s := NewServer(Options{Store: newMemStore(), Sessions: stuckSessions{}, SessionTimeout: 100 * time.Millisecond})
	start := time.Now()
	msg := errorOf(t, doCookie(t, s, "GET", "/me", "", strings.Repeat("C", 26)), http.StatusServiceUnavailable)
	if msg != "session store unavailable: no answer within 100ms" || time.Since(start) > 500*time.Millisecond {
		t.Errorf("%q after %v", msg, time.Since(start))
	}
}

type stuckSessions struct{ SessionStore }

func (stuckSessions) Get(context.Context, string) (string, error) {
	time.Sleep(time.Second)
	return "", nil
}
func (stuckSessions) Ready(context.Context) error { return nil }

func TestMemorySessionsExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemorySessions()
	m.now = func() time.Time { return now }
	ctx := context.Background()
	_ = m.Put(ctx, "a", "u1", time.Minute)
	_ = m.Put(ctx, "b", "u2", 2*time.Minute)
	if u, err := m.Get(ctx, "a"); u != "u1" || err != nil || m.Active() != 2 {
		t.Fatalf("%q %v active %d", u, err, m.Active())
	}
	now = now.Add(time.Minute)
	if _, err := m.Get(ctx, "a"); err != ErrNoSession {
		t.Fatalf("expired session: %v", err)
	}
	if m.Active() != 1 {
		t.Fatalf("active %d", m.Active())
	}
	now = now.Add(2 * time.Minute)
	_ = m.Put(ctx, "c", "u3", time.Minute) // sweeps b
	m.mu.Lock()
	n := len(m.sessions)
	m.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions kept after the sweep, want 1", n)
	}
	_ = m.Delete(ctx, "c")
	if _, err := m.Get(ctx, "c"); err != ErrNoSession {
		t.Fatal(err)
	}
}

func TestSessionMetricsMemory(t *testing.T) {
	s := NewServer(Options{Store: newMemStore()})
	id := login(t, s, "u1")
	login(t, s, "u2")
	doCookie(t, s, "GET", "/me", "", strings.Repeat("D", 26))
	doCookie(t, s, "POST", "/logout", "", id)
	body := doCookie(t, s, "GET", "/metrics", "", "").body
	for _, want := range []string{
		"mysite_sessions_active 1",
		"mysite_session_logins_total 2",
		"mysite_session_unknown_total 1",
		"mysite_session_store_up 1",
		`mysite_http_requests_total{code="401",route="GET /me"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestValidSessionID(t *testing.T) {
	for range 100 {
		if id := newSessionID(); !validSessionID(id) || len(id) != 26 {
			t.Fatalf("made an id it does not accept: %q", id)
		}
	}
	for _, id := range []string{"", "short", strings.Repeat("a", 129), strings.Repeat("a", 20) + ";", strings.Repeat("a", 20) + " "} {
		if validSessionID(id) {
			t.Errorf("accepted %q", id)
		}
	}
}

// Run wires the configured session store and name: login works through a
// real listener with Redis sessions even while the database is unreachable.
func TestRunWithRedisSessions(t *testing.T) {
	redis := startFakeRedis(t)
	cfg := Config{Listen: "127.0.0.1:0", DB: "postgres://u:p@127.0.0.1:1/x?sslmode=disable",
		DBTimeout: 500 * time.Millisecond, MaxConns: 2, ShutdownTimeout: time.Second,
		Name: "web-run", Sessions: SessionsRedis, Redis: redis.Addr(), SessionTTL: time.Minute}
	base, logs, stop := startRun(t, cfg)

	resp, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"user": "u9"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(ServerHeader) != "web-run" || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
	id := resp.Cookies()[0].Value
	if v, err := redis.Get(RedisSessionPrefix + id); err != nil || v != "u9" {
		t.Fatalf("session not in redis: %q %v", v, err)
	}
	if ttl := redis.TTL(RedisSessionPrefix + id); ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("ttl %v, want the configured 1m", ttl)
	}
	req, _ := http.NewRequest("GET", base+"/me", nil)
	req.AddCookie(resp.Cookies()[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"server":"web-run"`) {
		t.Fatalf("me: %d %s", resp.StatusCode, b)
	}

	stop()
	for _, want := range []string{"name=web-run", "sessions=redis", "redis=" + redis.Addr(), "session_ttl=1m0s"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("start log lacks %s:\n%s", want, logs.String())
		}
	}
}
