package mysite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// redisInfoStats is the shape of a real Redis 7's INFO stats (abridged).
const redisInfoStats = "# Stats\r\n" +
	"total_connections_received:12\r\n" +
	"total_commands_processed:3456\r\n" +
	"instantaneous_ops_per_sec:97\r\n" +
	"expired_keys:3\r\n" +
	"evicted_keys:5\r\n" +
	"evicted_clients:0\r\n" +
	"keyspace_hits:1200\r\n" +
	"keyspace_misses:34\r\n" +
	"pubsub_channels:0\r\n" +
	"latest_fork_usec:0\r\n"

func TestParseRedisStats(t *testing.T) {
	st := parseRedisStats(redisInfoStats)
	for _, c := range []struct {
		name string
		v    *int64
		want int64
	}{{"keyspace_hits", st.KeyspaceHits, 1200}, {"keyspace_misses", st.KeyspaceMisses, 34}, {"evicted_keys", st.EvictedKeys, 5}} {
		if c.v == nil || *c.v != c.want {
			t.Errorf("%s = %v, want %d", c.name, c.v, c.want)
		}
	}

	// A counter Redis does not report (or reports garbled) is absent, not 0.
	st = parseRedisStats("# Stats\ntotal_commands_processed:3\nkeyspace_hits:x\nkeyspace_misses:\n")
	if st.KeyspaceHits != nil || st.KeyspaceMisses != nil || st.EvictedKeys != nil {
		t.Errorf("want no counters, got %+v", st)
	}
}

// startInfoRedis serves just enough of Redis's protocol for INFO: INFO
// answers info, every other command (go-redis's HELLO on connect) an error,
// as a Redis older than 6 would. (miniredis's INFO stats has none of the
// keyspace counters.) It returns the address.
func startInfoRedis(t *testing.T, info string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("info redis: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveInfo(c, info)
		}
	}()
	return ln.Addr().String()
}

func serveInfo(c net.Conn, info string) {
	defer c.Close()
	rd := bufio.NewReader(c)
	for {
		args, err := readCommand(rd)
		if err != nil {
			return
		}
		reply := "-ERR empty command\r\n"
		switch {
		case len(args) > 0 && strings.EqualFold(args[0], "INFO"):
			reply = fmt.Sprintf("$%d\r\n%s\r\n", len(info), info)
		case len(args) > 0:
			reply = fmt.Sprintf("-ERR unknown command '%s'\r\n", args[0])
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// readCommand reads one command: an array of bulk strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, fmt.Errorf("array length %q: %w", line, err)
	}
	args := make([]string, 0, n)
	for range n {
		hdr, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(hdr, "$") {
			return nil, fmt.Errorf("not a bulk string: %q", hdr)
		}
		size, err := strconv.Atoi(strings.TrimSpace(hdr[1:]))
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bulk length %q: %v", hdr, err)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

// txStore is a database store that counts its transactions
// (TransactionCounter): each call counts one more, fails with err, or, with
// hang set, waits for hang to close whatever its context says.
type txStore struct {
	*memStore
	n    atomic.Int64
	err  error
	hang chan struct{}
}

func (s *txStore) Transactions(ctx context.Context) (int64, error) {
	if s.hang != nil {
		<-s.hang
	}
	if s.err != nil {
		return 0, s.err
	}
	return s.n.Add(1), nil
}

// stats decodes GET /cache's "stats".
func stats(t *testing.T, s *Server) map[string]any {
	t.Helper()
	r := do(t, s, "GET", "/cache", "")
	if r.code != http.StatusOK {
		t.Fatalf("GET /cache: %d %s", r.code, r.body)
	}
	var body struct {
		Stats map[string]any `json:"stats"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("GET /cache: %v: %s", err, r.body)
	}
	if body.Stats == nil {
		t.Fatalf("GET /cache has no stats: %s", r.body)
	}
	return body.Stats
}

// GET /cache's stats are Redis's INFO counters and the database's count of
// transactions.
func TestCacheTierStats(t *testing.T) {
	db := &txStore{memStore: newMemStore()}
	db.n.Store(76)
	c := newTestCache(t, db, startInfoRedis(t, redisInfoStats), CacheOptions{Timeout: 100 * time.Millisecond})
	s := NewServer(Options{Store: c, DBTimeout: time.Second})
	wantJSON(t, do(t, s, "GET", "/cache", ""), http.StatusOK, fmt.Sprintf(`{"addr": %q, "ttl_ms": 30000, "timeout_ms": 100,
		"invalidation": "delete", "guard": "coalesce", "up": false,
		"hits": 0, "misses": 0, "errors": 0, "timeouts": 0, "fills": 0, "fills_suppressed": 0, "invalidations": 0,
		"db_reads": 0, "coalesced": 0, "lease_waits": 0, "lease_fallbacks": 0,
		"stats": {"redis_keyspace_hits": 1200, "redis_keyspace_misses": 34, "redis_evicted_keys": 5, "db_transactions": 77}}`, c.addr))
}

// A Redis that is down, or does not answer, leaves its counters out and
// says why, within the cache timeout (or statusTimeout without one); the
// database's part still comes. A Redis that answers without the counters
// (miniredis) leaves them out without an error.
func TestCacheTierStatsRedisDown(t *testing.T) {
	m := startFakeRedis(t)
	db := &txStore{memStore: newMemStore()}
	c := newTestCache(t, db, m.Addr(), CacheOptions{Timeout: 50 * time.Millisecond})
	s := NewServer(Options{Store: c, DBTimeout: time.Second})
	if got := stats(t, s); len(got) != 1 || got["db_transactions"] != 1.0 {
		t.Errorf("miniredis: stats = %v, want db_transactions 1 alone", got)
	}

	addr := m.Addr()
	m.Close()
	got := stats(t, s)
	msg, _ := got["redis_error"].(string)
	if !strings.HasPrefix(msg, "redis INFO stats "+addr+": ") || got["db_transactions"] != 2.0 || got["redis_keyspace_hits"] != nil {
		t.Errorf("redis down: stats = %v", got)
	}
	if st := c.Status(); st.Errors != 0 || st.Timeouts != 0 {
		// The stats read is not a cache call of a request.
		t.Errorf("the failed stats read counted as a cache error: %+v", st)
	}

	for _, timeout := range []time.Duration{50 * time.Millisecond, 0} {
		t.Run(fmt.Sprint("timeout=", timeout), func(t *testing.T) {
			live := startFakeRedis(t)
			p := startHangProxy(t, live.Addr())
			c := newTestCache(t, db, p.Addr, CacheOptions{Timeout: timeout})
			s := NewServer(Options{Store: c, DBTimeout: time.Second})
			p.Hang(true)
			want := statusBound(timeout)
			start := time.Now()
			got := stats(t, s)
			d := time.Since(start)
			msg, _ := got["redis_error"].(string)
			if !strings.Contains(msg, "deadline exceeded") || got["db_transactions"] == nil {
				t.Errorf("frozen redis: stats = %v", got)
			}
			if d < want || d > want+300*time.Millisecond {
				t.Errorf("answered after %v, want about %v", d, want)
			}
		})
	}
}

// A database that fails or does not answer leaves its count out and says
// why, within the DB timeout (statusBound); without a TransactionCounter
// there is neither the count nor an error.
func TestCacheTierStatsDBDown(t *testing.T) {
	m := startFakeRedis(t)
	failing := &txStore{memStore: newMemStore(), err: errors.New("connection refused\nby the database")}
	c := newTestCache(t, failing, m.Addr(), CacheOptions{Timeout: 50 * time.Millisecond})
	if got := stats(t, NewServer(Options{Store: c, DBTimeout: time.Second})); len(got) != 1 || got["db_error"] != "connection refused; by the database" {
		t.Errorf("failing database: stats = %v", got)
	}

	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	frozen := &txStore{memStore: newMemStore(), hang: hang}
	c = newTestCache(t, frozen, m.Addr(), CacheOptions{Timeout: 50 * time.Millisecond})
	const dbTimeout = 100 * time.Millisecond
	start := time.Now()
	got := stats(t, NewServer(Options{Store: c, DBTimeout: dbTimeout}))
	if d := time.Since(start); got["db_error"] != "no answer within 100ms" || d < dbTimeout || d > dbTimeout+300*time.Millisecond {
		t.Errorf("frozen database: stats = %v after %v", got, d)
	}

	c = newTestCache(t, newMemStore(), m.Addr(), CacheOptions{Timeout: 50 * time.Millisecond})
	if got := stats(t, NewServer(Options{Store: c})); len(got) != 0 {
		t.Errorf("no TransactionCounter: stats = %v, want {}", got)
	}
}
