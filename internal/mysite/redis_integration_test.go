package mysite

// Session tests against a real redis-server, when REDIS_TEST_ADDR holds its
// host:port (see internal/resp/redis_integration_test.go).

import (
	"net/http"
	"os"
	"testing"
	"time"
)

func TestRealRedisSessions(t *testing.T) {
	addr := os.Getenv("REDIS_TEST_ADDR")
	if addr == "" {
		t.Skip("REDIS_TEST_ADDR not set: skipping real Redis test")
	}
	store := redisSessions(t, addr)
	a := NewServer(Options{Store: newMemStore(), Sessions: store, SessionTTL: time.Minute, Name: "web1"})
	b := NewServer(Options{Store: newMemStore(), Sessions: redisSessions(t, addr), Name: "web2"})
	id := login(t, a, "u1")
	wantJSON(t, doCookie(t, b, "GET", "/me", "", id), http.StatusOK, `{"user": "u1", "server": "web2"}`)
	wantJSON(t, doCookie(t, a, "GET", "/readyz", "", ""), http.StatusOK, `{"status": "ready"}`)
	wantJSON(t, doCookie(t, b, "POST", "/logout", "", id), http.StatusOK, `{"status": "logged out"}`)
	wantJSON(t, doCookie(t, a, "GET", "/me", "", id), http.StatusUnauthorized, `{"error": "not logged in"}`)
}
