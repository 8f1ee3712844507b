package workload

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// fakeSite is a small in-memory mysite users API: PUT /users/{id} upserts and
// bumps the version, GET /users/{id} answers 200 or 404. hook, when set, sees
// every request first and may answer it itself (returning true).
type fakeSite struct {
	mu    sync.Mutex
	users map[string]fakeUser
	hook  func(w http.ResponseWriter, r *http.Request) bool
}

type fakeUser struct {
	ID        string `json:"id"`
	FirstName string `json:"firstName"`
	WriteID   string `json:"writeId"`
	Version   int64  `json:"version"`
}

func newFakeSite(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) (*fakeSite, *httptest.Server) {
	t.Helper()
	f := &fakeSite{users: make(map[string]fakeUser), hook: hook}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", f.get)
	mux.HandleFunc("PUT /users/{id}", f.put)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.hook != nil && f.hook(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
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
