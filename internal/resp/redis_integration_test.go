package resp

// Integration tests against a real redis-server: a container of the
// project's node image (scalelab/node:current, `make images`), started by
// TestMain below. REDIS_TEST_ADDR, when set, names another server instead, e.g.
//
//	REDIS_TEST_ADDR=127.0.0.1:16379 go test ./internal/resp/ ./internal/mysite/
//
// Keys are prefixed with the test's name and pid and deleted afterwards.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/testdb"
)

// TestMain starts a Redis container in the background and removes it at the end.
func TestMain(m *testing.M) { testdb.Main(m, testdb.Redis) }

func realRedis(t *testing.T) (*Client, string) {
	t.Helper()
	addr := testdb.Redis.Addr(t)
	c := client(t, addr, Options{MaxConns: 4})
	prefix := fmt.Sprintf("scalelab-test:%d:%s:", os.Getpid(), t.Name())
	return c, prefix
}

func TestRealRedis(t *testing.T) {
	c, p := realRedis(t)
	ctx := ctxWithin(t, 5*time.Second)
	t.Cleanup(func() { _, _ = c.Del(context.Background(), p+"k", p+"brief", p+"list") })

	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get(ctx, p+"k"); ok || err != nil {
		t.Fatalf("missing key: %v %v", ok, err)
	}
	if err := c.Set(ctx, p+"k", "v\r\n\x00", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, p+"k"); !ok || err != nil || v != "v\r\n\x00" {
		t.Fatalf("GET %q %v %v", v, ok, err)
	}
	if v, err := c.Do(ctx, "PTTL", p+"k"); err != nil || v.Int <= 59000 || v.Int > 60000 {
		t.Fatalf("PTTL %v %v", v, err)
	}
	if err := c.Set(ctx, p+"brief", "x", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, p+"brief"); ok {
		t.Fatal("key outlived its TTL")
	}
	if n, err := c.Del(ctx, p+"k", p+"nope"); n != 1 || err != nil {
		t.Fatalf("DEL %d %v", n, err)
	}
	// An error reply, and an array reply.
	if _, err := c.Do(ctx, "RPUSH", p+"list", "a", "b"); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Get(ctx, p+"list")
	var se *Error
	if !errors.As(err, &se) || se.Prefix() != "WRONGTYPE" {
		t.Fatalf("GET of a list: %v", err)
	}
	if v, err := c.Do(ctx, "LRANGE", p+"list", "0", "-1"); err != nil || v.String() != `["a", "b"]` {
		t.Fatalf("LRANGE %v %v", v, err)
	}
}

// The server closes a pooled connection (CLIENT KILL, as a restart or a
// proxy would): the next idempotent call goes through on a new one.
func TestRealRedisKilledConnection(t *testing.T) {
	c, p := realRedis(t)
	ctx := ctxWithin(t, 5*time.Second)
	t.Cleanup(func() { _, _ = c.Del(context.Background(), p+"k") })
	if err := c.Set(ctx, p+"k", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	id, err := c.Do(ctx, "CLIENT", "ID")
	if err != nil {
		t.Fatal(err)
	}
	killer := client(t, c.Addr(), Options{})
	if v, err := killer.Do(ctx, "CLIENT", "KILL", "ID", fmt.Sprint(id.Int)); err != nil || v.Int != 1 {
		t.Fatalf("CLIENT KILL: %v %v", v, err)
	}
	time.Sleep(20 * time.Millisecond)
	if v, ok, err := c.Get(ctx, p+"k"); err != nil || !ok || v != "v" {
		t.Fatalf("GET after the server closed the pooled connection: %q %v %v", v, ok, err)
	}
	// A blocking command past the deadline: the call returns at the deadline.
	start := time.Now()
	_, err = c.Do(ctxWithin(t, 150*time.Millisecond), "BLPOP", p+"never", "5")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("BLPOP: %v after %v", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "redis BLPOP") {
		t.Errorf("error does not name the command: %v", err)
	}
}
