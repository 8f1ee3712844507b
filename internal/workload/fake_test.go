package workload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeSite is a small in-memory mysite users API: PUT /users/{id} upserts and
// bumps the version, GET /users/{id} answers 200 or 404. hook, when set, sees
// every request first and may answer it itself (returning true).
//
// Sessions as mysite has them: POST /login, GET /me, and /users requests
// carrying a session cookie are answered 401 when the session is unknown.
// name, when set, goes into the Mysite-Server header of every answer.
type fakeSite struct {
	mu       sync.Mutex
	users    map[string]fakeUser
	hook     func(w http.ResponseWriter, r *http.Request) bool
	name     string
	sessions *fakeSessions
	cookies  int // /users requests that carried a valid session cookie
	anon     int // /users requests without a session cookie
	mux      *http.ServeMux
}

// fakeSessions is a session store; servers share one to be stateless.
type fakeSessions struct {
	mu  sync.Mutex
	ids map[string]string // session -> user
}

// fakeSessionSeq numbers sessions across every store, so that ids are
// unique like mysite's random ones.
var fakeSessionSeq atomic.Int64

func newFakeSessions() *fakeSessions { return &fakeSessions{ids: map[string]string{}} }

func (s *fakeSessions) create(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("S%06dXXXXXXXXXXXXXXXXXXX", fakeSessionSeq.Add(1))
	s.ids[id] = user
	return id
}

func (s *fakeSessions) get(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.ids[id]
	return u, ok
}

// drop forgets every session (the server holding them died).
func (s *fakeSessions) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.ids)
}

type fakeUser struct {
	ID        string `json:"id"`
	FirstName string `json:"firstName"`
	WriteID   string `json:"writeId"`
	Version   int64  `json:"version"`
}

func newFakeSite(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) (*fakeSite, *httptest.Server) {
	t.Helper()
	f := newFakeHandler(hook, "", newFakeSessions())
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func newFakeHandler(hook func(w http.ResponseWriter, r *http.Request) bool, name string, sessions *fakeSessions) *fakeSite {
	f := &fakeSite{users: make(map[string]fakeUser), hook: hook, name: name, sessions: sessions, mux: http.NewServeMux()}
	f.mux.HandleFunc("GET /users/{id}", f.withSession(f.get))
	f.mux.HandleFunc("PUT /users/{id}", f.withSession(f.put))
	f.mux.HandleFunc("POST /login", f.login)
	f.mux.HandleFunc("GET /me", f.me)
	return f
}

func (f *fakeSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.name != "" {
		w.Header().Set(ServerHeader, f.name)
	}
	if f.hook != nil && f.hook(w, r) {
		return
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeSite) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ User string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.User == "" {
		writeFakeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad login"})
		return
	}
	id := f.sessions.create(in.User)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true})
	writeFakeJSON(w, http.StatusOK, map[string]string{"user": in.User, "session": id})
}

func (f *fakeSite) me(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		writeFakeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not logged in"})
		return
	}
	user, ok := f.sessions.get(c.Value)
	if !ok {
		writeFakeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not logged in"})
		return
	}
	writeFakeJSON(w, http.StatusOK, map[string]string{"user": user, "server": f.name})
}

func (f *fakeSite) withSession(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			f.mu.Lock()
			f.anon++
			f.mu.Unlock()
			h(w, r)
			return
		}
		if _, ok := f.sessions.get(c.Value); !ok {
			writeFakeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not logged in"})
			return
		}
		f.mu.Lock()
		f.cookies++
		f.mu.Unlock()
		h(w, r)
	}
}

func (f *fakeSite) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	u, ok := f.users[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		writeFakeJSON(w, http.StatusNotFound, map[string]string{"error": "user " + r.PathValue("id") + " not found"})
		return
	}
	writeFakeJSON(w, http.StatusOK, u)
}

func (f *fakeSite) put(w http.ResponseWriter, r *http.Request) {
	var in userBody
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.FirstName == "" || in.ID != r.PathValue("id") {
		writeFakeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad user"})
		return
	}
	f.mu.Lock()
	u := f.users[in.ID]
	u = fakeUser{ID: in.ID, FirstName: in.FirstName, WriteID: in.WriteID, Version: u.Version + 1}
	f.users[in.ID] = u
	f.mu.Unlock()
	writeFakeJSON(w, http.StatusOK, u)
}

func (f *fakeSite) set(id, writeID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = fakeUser{ID: id, FirstName: "X", WriteID: writeID, Version: f.users[id].Version + 1}
}

func writeFakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// hangUp hijacks the connection and closes it without answering; with reset,
// SO_LINGER 0 makes the close a TCP RST.
func hangUp(w http.ResponseWriter, reset bool) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// readBody reads the request body, as mysite does before it works (only then
// does the server notice a client hanging up and cancel r.Context()), and
// puts it back for the fake's handler.
func readBody(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
}
