package mysite

// Session tests against a real redis-server: a container of the project's
// node image started by TestMain (testdb_test.go), or REDIS_TEST_ADDR's
// host:port when set.

import (
	"net/http"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/testdb"
)

func TestRealRedisSessions(t *testing.T) {
	addr := testdb.Redis.Addr(t)
	store := redisSessions(t, addr)
	a := NewServer(Options{Store: newMemStore(), Sessions: store, SessionTTL: time.Minute, Name: "web1"})
	b := NewServer(Options{Store: newMemStore(), Sessions: redisSessions(t, addr), Name: "web2"})
	id := login(t, a, "u1")
	wantJSON(t, doCookie(t, b, "GET", "/me", "", id), http.StatusOK, `{"user": "u1", "server": "web2"}`)
	wantJSON(t, doCookie(t, a, "GET", "/readyz", "", ""), http.StatusOK, `{"status": "ready"}`)
	wantJSON(t, doCookie(t, b, "POST", "/logout", "", id), http.StatusOK, `{"status": "logged out"}`)
	wantJSON(t, doCookie(t, a, "GET", "/me", "", id), http.StatusUnauthorized, `{"error": "not logged in"}`)
}
