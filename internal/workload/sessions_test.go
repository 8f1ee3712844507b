package workload

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
)

func sessionConfig() Config {
	cfg := testConfig() // 200 ops/s for 1s, 16 clients
	cfg.Sessions, cfg.SessionRatio = true, 0.3
	return cfg
}

// byClient groups a history's ops per client, ordered by Invoke.
func byClient(h history.History) map[int][]history.Op {
	m := make(map[int][]history.Op)
	for _, op := range h.Ops {
		m[op.Client] = append(m[op.Client], op)
	}
	for _, ops := range m {
		slices.SortFunc(ops, func(a, b history.Op) int { return int(a.Invoke - b.Invoke) })
	}
	return m
}

func TestSessionsRun(t *testing.T) {
	f := newFakeHandler(nil, "web1", newFakeSessions())
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := sessionConfig()
	rec, stats, err := Run(context.Background(), cfg, srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	clients := byClient(h)
	if len(h.Ops) != 200 || stats.Logins != len(clients) || stats.NotLoggedIn != 0 {
		t.Fatalf("%d ops, %d clients; stats %v", len(h.Ops), len(clients), stats)
	}
	kinds := map[history.Kind]int{}
	for c, ops := range clients {
		first := ops[0]
		if first.Kind != history.Login || first.Outcome != history.OK || first.Value == "" || first.Key != SessionUser(c) || first.Server != "web1" {
			t.Fatalf("client %d's first op is not its login: %+v", c, first)
		}
		for _, op := range ops {
			kinds[op.Kind]++
			if op.Outcome != history.OK || op.Server != "web1" {
				t.Fatalf("op %+v", op)
			}
			switch op.Kind {
			case history.Login:
				if op != first {
					t.Fatalf("client %d logged in twice: %+v", c, op)
				}
			case history.SessionCheck:
				if op.Value != first.Value || op.Status != 200 || op.Key != SessionUser(c) {
					t.Fatalf("session check %+v, want it to carry %q", op, first.Value)
				}
			}
		}
	}
	if kinds[history.SessionCheck] < 30 || kinds[history.Read] < 50 || kinds[history.Write] < 50 {
		t.Fatalf("kinds %v", kinds)
	}
	// Every /users request carried the session cookie.
	f.mu.Lock()
	cookies, anon := f.cookies, f.anon
	f.mu.Unlock()
	if anon != 0 || cookies != kinds[history.Read]+kinds[history.Write] {
		t.Fatalf("%d /users requests with a cookie, %d without; want all %d with", cookies, anon, kinds[history.Read]+kinds[history.Write])
	}
	s := check.SessionsLost(h)
	if s.Total != len(clients) || s.Count() != 0 || s.Checked != len(h.Ops)-len(clients) {
		t.Fatalf("sessions %v", s)
	}
}

// The server forgets every session mid-run: each client that sends a
// request afterwards is answered 401 and logs in again at its next op.
func TestSessionsReloginAfter401(t *testing.T) {
	sessions := newFakeSessions()
	f := newFakeHandler(nil, "web1", sessions)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clock := NewClock()
	rec := NewRecorder(clock)
	var dropAt atomic.Int64
	dropAt.Store(int64(time.Hour))
	go func() {
		time.Sleep(500 * time.Millisecond)
		dropAt.Store(int64(clock.Now())) // before the drop: no 401 can precede it
		sessions.drop()
	}()
	_, stats, err := Run(context.Background(), sessionConfig(), srv.URL, clock, rec)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	lostClients := 0
	for c, ops := range byClient(h) {
		var lost string // the session answered 401, until the next login
		relogins := 0
		for i, op := range ops {
			switch {
			case op.Status == 401:
				if op.Complete < time.Duration(dropAt.Load()) {
					t.Fatalf("401 before the sessions were dropped: %+v", op)
				}
				// Logged out is a failure for a user, whatever the op.
				if want := history.Failed; op.Outcome != want {
					t.Fatalf("401 on %s recorded as %+v", op.Kind, op)
				}
				if lost == "" {
					lostClients++
				}
				lost = "yes"
			case op.Kind == history.Login && i > 0:
				relogins++
				if lost == "" {
					t.Fatalf("client %d logged in again without a 401: %+v", c, op)
				}
				lost = ""
			}
		}
		if relogins > 1 {
			t.Fatalf("client %d logged in again %d times, once is enough", c, relogins)
		}
	}
	if lostClients < 8 {
		t.Fatalf("only %d clients saw their session dropped", lostClients)
	}
	s := check.SessionsLost(h)
	if s.Count() != lostClients || len(s.Clients) != lostClients || s.Total != stats.Logins || s.Unattributed != 0 {
		t.Fatalf("checker: %v (clients %v, unattributed %d); %d clients lost a session, %d logins", s, s.Clients, s.Unattributed, lostClients, stats.Logins)
	}
	if g := verdict.NoSessionsLost(s); g.Holds {
		t.Fatalf("guarantee holds although sessions were lost: %+v", g)
	}
}

// While a client's login is in flight its next ops wait for it, then carry
// its session; their latency includes the wait.
func TestSessionsWaitForLogin(t *testing.T) {
	const hold = 150 * time.Millisecond
	var logins atomic.Int32
	f := newFakeHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/login" {
			logins.Add(1)
			time.Sleep(hold)
		}
		return false
	}, "web1", newFakeSessions())
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := sessionConfig()
	cfg.Clients, cfg.Rate, cfg.Duration = 1, 100, 300*time.Millisecond
	rec, stats, err := Run(context.Background(), cfg, srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	ops := byClient(h)[0]
	login := ops[0]
	if logins.Load() != 1 || stats.Logins != 1 || login.Kind != history.Login || login.Outcome != history.OK {
		t.Fatalf("%d logins sent; first op %+v", logins.Load(), login)
	}
	waited := 0
	for _, op := range ops[1:] {
		if op.Outcome != history.OK || op.Kind == history.Login {
			t.Fatalf("op %+v", op)
		}
		if op.Kind == history.SessionCheck && op.Value != login.Value {
			t.Fatalf("session check carried %q, want %q", op.Value, login.Value)
		}
		if op.Invoke < login.Complete {
			waited++
			if op.Complete < login.Complete {
				t.Fatalf("op answered before the login it waited for: %+v", op)
			}
		}
	}
	if waited < 5 {
		t.Fatalf("only %d ops were invoked during the %v login", waited, hold)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.anon != 0 {
		t.Fatalf("%d requests went out without the session", f.anon)
	}
}

// A failing login: the ops that waited for it are recorded failed without
// being sent, and the next op tries to log in again.
func TestSessionsLoginFails(t *testing.T) {
	var logins, others atomic.Int32
	_, srv := newFakeSite(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/login" {
			others.Add(1)
			return false
		}
		logins.Add(1)
		time.Sleep(50 * time.Millisecond)
		writeFakeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "session store unavailable: redis down"})
		return true
	})
	cfg := sessionConfig()
	cfg.Clients, cfg.Rate, cfg.Duration = 1, 100, 500*time.Millisecond
	rec, stats, err := Run(context.Background(), cfg, srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	if others.Load() != 0 {
		t.Fatalf("%d requests were sent without a session", others.Load())
	}
	notSent := 0
	for _, op := range h.Ops {
		switch {
		case op.Outcome != history.Failed:
			t.Fatalf("op %+v", op)
		case op.Kind == history.Login:
			if op.Status != 503 || !strings.Contains(op.Error, "session store unavailable") || op.Value != "" {
				t.Fatalf("login %+v", op)
			}
		case op.Error == errLoginFailed:
			notSent++
			if op.Status != 0 || op.Kind == history.SessionCheck && op.Value != "" {
				t.Fatalf("op not sent %+v", op)
			}
		default:
			t.Fatalf("op %+v", op)
		}
	}
	if int(logins.Load()) != stats.Logins || stats.Logins < 5 || notSent != stats.NotLoggedIn || notSent < 10 {
		t.Fatalf("%d logins sent, %d ops not sent; stats %v", logins.Load(), notSent, stats)
	}
	if stats.Launched != stats.Sent+stats.Overloaded+stats.NotLoggedIn {
		t.Fatalf("launched != sent + overloaded + not logged in: %v", stats)
	}
	if s := check.SessionsLost(h); s.Total != 0 || s.Logins != stats.Logins {
		t.Fatalf("checker %v", s)
	}
}

// stickyLB is a load balancer over fake servers with cookie stickiness: a
// login goes round robin, and the session it makes sticks to that server;
// a request whose server is dead goes to the next live one.
type stickyLB struct {
	servers []*fakeSite
	mu      sync.Mutex
	dead    map[int]bool
	sticky  map[string]int // session -> server
	next    int
}

func (lb *stickyLB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.mu.Lock()
	target := -1
	if c, err := r.Cookie(SessionCookie); err == nil {
		if s, ok := lb.sticky[c.Value]; ok {
			target = s
		}
	}
	if target < 0 || lb.dead[target] {
		for range lb.servers { // round robin over the live servers
			lb.next = (lb.next + 1) % len(lb.servers)
			if !lb.dead[lb.next] {
				break
			}
		}
		target = lb.next
	}
	lb.mu.Unlock()
	lb.servers[target].ServeHTTP(&learnCookie{ResponseWriter: w, lb: lb, server: target}, r)
}

func (lb *stickyLB) kill(server int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.dead[server] = true
}

// learnCookie makes the session set by a login stick to its server.
type learnCookie struct {
	http.ResponseWriter
	lb     *stickyLB
	server int
}

func (l *learnCookie) WriteHeader(code int) {
	for _, c := range (&http.Response{Header: l.Header()}).Cookies() {
		if c.Name == SessionCookie {
			l.lb.mu.Lock()
			l.lb.sticky[c.Value] = l.server
			l.lb.mu.Unlock()
		}
	}
	l.ResponseWriter.WriteHeader(code)
}

// Stage 7 in miniature, without containers: 3 servers behind a sticky load
// balancer, one killed mid-run. With sessions in each server's memory its
// users are logged out (about a third of the sessions); with a shared store
// nobody is.
func TestSessionsStickyVsShared(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "memory sessions (negative control)", true: "shared session store"}[shared]
		t.Run(name, func(t *testing.T) {
			store := newFakeSessions()
			lb := &stickyLB{dead: map[int]bool{}, sticky: map[string]int{}}
			for _, n := range []string{"web1", "web2", "web3"} {
				s := store
				if !shared {
					s = newFakeSessions()
				}
				lb.servers = append(lb.servers, newFakeHandler(nil, n, s))
			}
			srv := httptest.NewServer(lb)
			t.Cleanup(srv.Close)
			clock := NewClock()
			rec := NewRecorder(clock)
			go func() {
				time.Sleep(600 * time.Millisecond)
				lb.kill(1) // web2 dies, and with it what it held in memory
				if !shared {
					lb.servers[1].sessions.drop()
				}
				rec.Event(history.FaultInjected, "kill web2", "")
			}()
			cfg := sessionConfig()
			cfg.Clients, cfg.Rate, cfg.Duration, cfg.SessionRatio = 30, 200, 1500*time.Millisecond, 0.5
			if _, _, err := Run(context.Background(), cfg, srv.URL, clock, rec); err != nil {
				t.Fatal(err)
			}
			h := rec.History()
			s := check.SessionsLost(h)
			t.Logf("%v; held by %v, 401s from %v", s, s.HeldBy, s.ByServer)
			if shared {
				if g := verdict.NoSessionsLost(s); !g.Holds {
					t.Fatalf("%+v", g)
				}
				return
			}
			// 30 clients logged in round robin: 10 sessions on web2, all of
			// them active after the kill. Total counts the re-logins too.
			if g := verdict.SessionsLostAtLeast(s, 0.15); !g.Holds {
				t.Fatalf("%+v", g)
			}
			if g := verdict.NoSessionsLost(s); g.Holds {
				t.Fatalf("%+v", g)
			}
			if s.Count() < 8 || s.Count() > 10 || s.ByServer["web2"] != 0 {
				t.Fatalf("lost %d sessions, 401s from %v; want web2's (about 10), answered by the others", s.Count(), s.ByServer)
			}
			for _, l := range s.Lost {
				// Made on web2; served by it until the kill, if at all.
				if l.At < h.Events[0].At || l.LoginServer != "web2" || l.LastServer != "web2" && l.LastServer != "" {
					t.Fatalf("lost session %+v: want one of web2's, lost after the kill", l)
				}
			}
		})
	}
}

func TestClassifySession(t *testing.T) {
	const user, sess = "c1", "S1"
	for _, tc := range []struct {
		name    string
		kind    history.Kind
		status  int
		body    string
		readErr error
		outcome history.Outcome
		value   string
		err     string
	}{
		{"login ok", history.Login, 200, `{"user":"c1","session":"S9"}`, nil, history.OK, "S9", ""},
		{"login other user", history.Login, 200, `{"user":"c2","session":"S9"}`, nil, history.Failed, "", `logged in as "c2"`},
		{"login no session", history.Login, 200, `{"user":"c1"}`, nil, history.Failed, "", "lacks user or session"},
		{"login empty session", history.Login, 200, `{"user":"c1","session":""}`, nil, history.Failed, "", "lacks"},
		{"login garbage", history.Login, 200, `<html>`, nil, history.Failed, "", "unusable body"},
		{"login body cut", history.Login, 200, `{"user":"c1","session":"S9"}`, errors.New("timeout"), history.Failed, "", "reading body: timeout"},
		{"login 503", history.Login, 503, `{"error":"session store unavailable: x"}`, nil, history.Failed, "", "503: session store unavailable: x"},
		{"login 400", history.Login, 400, `{"error":"user is required"}`, nil, history.Failed, "", "400: user is required"},
		{"me ok", history.SessionCheck, 200, `{"user":"c1","server":"web1"}`, nil, history.OK, sess, ""},
		{"me other user", history.SessionCheck, 200, `{"user":"c2","server":"web1"}`, nil, history.Failed, sess, `session of user "c2"`},
		{"me no user", history.SessionCheck, 200, `{"server":"web1"}`, nil, history.Failed, sess, "lacks user"},
		{"me 401", history.SessionCheck, 401, `{"error":"not logged in"}`, nil, history.Failed, sess, "logged out"},
		{"me 503", history.SessionCheck, 503, `{"error":"session store unavailable: x"}`, nil, history.Failed, sess, "503"},
		{"me 404", history.SessionCheck, 404, `{"error":"no such endpoint"}`, nil, history.Failed, sess, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := classifySession(tc.kind, user, sess, tc.status, []byte(tc.body), tc.readErr)
			if r.outcome != tc.outcome || r.value != tc.value || r.status != tc.status {
				t.Fatalf("%+v, want %s value %q", r, tc.outcome, tc.value)
			}
			if tc.err == "" && r.err != "" || tc.err != "" && !strings.Contains(r.err, tc.err) {
				t.Fatalf("error %q, want %q", r.err, tc.err)
			}
		})
	}
}

func TestSessionsTransportErrors(t *testing.T) {
	_, srv := newFakeSite(t, nil)
	url := srv.URL
	srv.Close()
	hc := newHTTPClient(4, time.Second)
	defer hc.CloseIdleConnections()
	q, err := newRequester(hc, url, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []history.Kind{history.Login, history.SessionCheck} {
		r := q.execAs(context.Background(), kind, "c1", nil, "S1", nil)
		if r.outcome != history.Failed || !strings.Contains(r.err, "connection refused") {
			t.Errorf("%s to a closed port: %+v", kind, r)
		}
	}
}

func TestSessionsConfigAndSchedule(t *testing.T) {
	cfg := testConfig()
	cfg.SessionRatio = 0.5
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "needs sessions on") {
		t.Errorf("session ratio without sessions: %v", err)
	}
	cfg.Sessions, cfg.SessionRatio = true, 1.5
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "session ratio must be within [0, 1]") {
		t.Errorf("ratio 1.5: %v", err)
	}

	cfg = sessionConfig()
	checks := 0
	ds := decisions(t, cfg)
	for _, d := range ds {
		if d.Kind == history.SessionCheck {
			checks++
			if d.Key != SessionUser(d.Client) || d.WriteID != "" || d.user != nil {
				t.Fatalf("session check decision %+v", d)
			}
		}
	}
	if checks < 40 || checks > 80 {
		t.Errorf("%d session checks in 200 ops at ratio 0.3", checks)
	}
	if again := decisions(t, cfg); !slices.EqualFunc(ds, again, func(a, b Decision) bool {
		return a.Kind == b.Kind && a.Key == b.Key && a.Client == b.Client && a.WriteID == b.WriteID
	}) {
		t.Error("sessions schedule does not replay")
	}
	// Sessions off: no session checks, and the schedule of a run from
	// before sessions existed.
	for _, d := range decisions(t, testConfig()) {
		if d.Kind != history.Read && d.Kind != history.Write {
			t.Fatalf("decision %+v without sessions", d)
		}
	}
	if SessionUser(3) != "c3" {
		t.Error(SessionUser(3))
	}
}

// A logged-in client keeps the other cookies it is given (a load balancer's
// stickiness cookie) and sends them back, per client; an answer to a
// request that carried an older session cannot overwrite them.
func TestSessionsKeepCookiesPerClient(t *testing.T) {
	s := newClientSessions(2)
	p := s.plan(0).login
	s.keep(0, "", []*http.Cookie{{Name: "SRV", Value: "web-2"}})
	s.loggedIn(0, p, "S1")
	if j := s.jar(0); len(j) != 1 || j[0].Value != "web-2" {
		t.Fatalf("client 0's jar: %v", j)
	}
	if j := s.jar(1); len(j) != 0 {
		t.Fatalf("client 1 shares client 0's cookies: %v", j)
	}
	s.keep(0, "OLD", []*http.Cookie{{Name: "SRV", Value: "web-3"}})
	if j := s.jar(0); j[0].Value != "web-2" {
		t.Fatalf("a stale answer overwrote the cookie: %v", j)
	}
	s.keep(0, "S1", []*http.Cookie{{Name: "SRV", Value: "web-1"}})
	if j := s.jar(0); j[0].Value != "web-1" {
		t.Fatalf("the current session's answer did not update the cookie: %v", j)
	}
	s.keep(0, "S1", []*http.Cookie{{Name: "SRV", MaxAge: -1}})
	if j := s.jar(0); len(j) != 0 {
		t.Fatalf("a deleted cookie is still sent: %v", j)
	}
}
