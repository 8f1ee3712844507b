package mysite

// Integration tests against a real PostgreSQL: a container of the project's
// node image (scalelab/node:current, `make images`), started by TestMain
// (testdb_test.go). MYSITE_TEST_DB, when set, names another server instead, e.g.
//
//	MYSITE_TEST_DB='postgres://postgres:pw@127.0.0.1:5432/mysite_test?sslmode=disable' go test ./internal/mysite/
//
// Each test works in a fresh PostgreSQL schema (search_path) that it drops
// afterwards, so the database's own users table is never touched.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalelab/scalelab/internal/testdb"
)

var schemaSeq atomic.Int64

// integrationDSN returns a DSN whose search_path is a fresh schema (dropped at the
// end of the test), optionally pointed at another host:port.
func integrationDSN(t *testing.T, hostPort string) string {
	t.Helper()
	base := testdb.PG.DSN(t)
	schema := fmt.Sprintf("mysite_it_%d_%d", os.Getpid(), schemaSeq.Add(1))
	admin := adminConn(t, base)
	if _, err := admin.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return rewriteDSN(t, base, hostPort, map[string]string{"search_path": schema})
}

// adminConn is a direct connection for test setup, closed at the end.
func adminConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// rewriteDSN sets params and, if hostPort is not empty, the address.
func rewriteDSN(t *testing.T, dsn, hostPort string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if hostPort != "" {
			u.Host = hostPort
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	// keyword=value form: later keywords override earlier ones.
	for k, v := range params {
		dsn += fmt.Sprintf(" %s=%s", k, v)
	}
	if hostPort != "" {
		h, p, err := net.SplitHostPort(hostPort)
		if err != nil {
			t.Fatal(err)
		}
		dsn += fmt.Sprintf(" host=%s port=%s", h, p)
	}
	return dsn
}

// startPG starts a PGStore (schema maintained in the background) and a
// Server on it. It waits for readiness unless wait is false.
func startPG(t *testing.T, dsn string, dbTimeout time.Duration, wait bool) (*Server, *PGStore) {
	t.Helper()
	cfg := Config{Listen: ":0", DB: dsn, DBTimeout: dbTimeout, MaxConns: 8, ShutdownTimeout: time.Second}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(nil)
	st, err := NewPGStore(cfg, metrics.DB, nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics.RegisterPool(st.Pool())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { st.MaintainSchema(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		st.Close()
	})
	srv := NewServer(Options{Store: st, DBTimeout: dbTimeout, Metrics: metrics})
	if wait {
		waitReady(t, srv, 15*time.Second)
	}
	return srv, st
}

func waitReady(t *testing.T, h http.Handler, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := do(t, h, "GET", "/readyz", "")
		if r.code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %v: %s", within, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func decodeUserBody(t *testing.T, r response) User {
	t.Helper()
	var u User
	if err := json.Unmarshal([]byte(r.body), &u); err != nil {
		t.Fatalf("not a user: %s", r.body)
	}
	return u
}

func TestPGCRUD(t *testing.T) {
	srv, _ := startPG(t, integrationDSN(t, ""), 2*time.Second, true)
	stored := `{"id": "42", "firstName": "John", "lastName": "Smith",
	 "address": {"streetAddress": "21 2nd Street", "city": "New York", "state": "NY", "postalCode": "10021"},
	 "phoneNumbers": [{"type": "home", "number": "212 555-1234"}, {"type": "fax", "number": "646 555-4567"}],
	 "writeId": "c3-w17", "version": 1}`
	wantJSON(t, do(t, srv, "POST", "/users", johnJSON), http.StatusCreated, stored)
	wantJSON(t, do(t, srv, "POST", "/users", johnJSON), http.StatusConflict, `{"error": "user 42 already exists"}`)
	wantJSON(t, do(t, srv, "GET", "/users/42", ""), http.StatusOK, stored)

	v2 := `{"id": "42", "firstName": "Jane", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "", "version": 2}`
	wantJSON(t, do(t, srv, "PUT", "/users/42", `{"firstName": "Jane"}`), http.StatusOK, v2)
	wantJSON(t, do(t, srv, "GET", "/users/42", ""), http.StatusOK, v2)

	wantJSON(t, do(t, srv, "PUT", "/users/n-1", `{"id": "n-1", "firstName": "N", "writeId": "w1"}`), http.StatusOK,
		`{"id": "n-1", "firstName": "N", "lastName": "", "address": null, "phoneNumbers": [], "writeId": "w1", "version": 1}`)
	wantJSON(t, do(t, srv, "GET", "/users/nobody", ""), http.StatusNotFound, `{"error": "user nobody not found"}`)
	wantJSON(t, do(t, srv, "GET", "/readyz", ""), http.StatusOK, `{"status": "ready"}`)

	// Unicode survives the round trip (jsonb and text).
	r := do(t, srv, "PUT", "/users/u", `{"firstName": "Zoë", "address": {"city": "Zürich \"Ω\""}}`)
	if u := decodeUserBody(t, r); u.FirstName != "Zoë" || u.Address == nil || u.Address.City != `Zürich "Ω"` {
		t.Errorf("unicode: %s", r.body)
	}
}

func TestPGConcurrentVersions(t *testing.T) {
	srv, _ := startPG(t, integrationDSN(t, ""), 5*time.Second, true)
	const n = 40
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := fmt.Sprintf("w%d", i)
			r := do(t, srv, "PUT", "/users/hot", `{"firstName": "a", "writeId": "`+w+`"}`)
			if r.code != http.StatusOK {
				t.Errorf("PUT: %d %s", r.code, r.body)
				return
			}
			u := decodeUserBody(t, r)
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := seen[u.Version]; dup {
				t.Errorf("version %d given to %s and %s", u.Version, prev, w)
			}
			seen[u.Version] = w
		})
	}
	wg.Wait()
	for v := int64(1); v <= n; v++ {
		if _, ok := seen[v]; !ok {
			t.Errorf("version %d missing", v)
		}
	}
	// The stored row is the write that got the last version.
	u := decodeUserBody(t, do(t, srv, "GET", "/users/hot", ""))
	if u.Version != n || u.WriteID != seen[n] {
		t.Errorf("final %+v, want version %d writeId %s", u, n, seen[n])
	}
}

// A row lock held by another transaction makes the database "slow" for
// writes to that row: the PUT must give 503 within the DB timeout, reads
// still work, and the pool is fine once the lock goes.
func TestPGSlowWriteTimesOut(t *testing.T) {
	dsn := integrationDSN(t, "")
	const timeout = 300 * time.Millisecond
	srv, _ := startPG(t, dsn, timeout, true)
	if r := do(t, srv, "POST", "/users", `{"id": "locked", "firstName": "a"}`); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}

	ctx := context.Background()
	locker := adminConn(t, dsn)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE users SET first_name = first_name WHERE id = 'locked'"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	r := do(t, srv, "PUT", "/users/locked", `{"firstName": "b", "writeId": "blocked"}`)
	elapsed := time.Since(start)
	if msg := errorOf(t, r, http.StatusServiceUnavailable); msg != "database unavailable: no answer within 300ms" {
		t.Errorf("error %q", msg)
	}
	if elapsed > timeout+300*time.Millisecond {
		t.Errorf("503 after %v, timeout %v", elapsed, timeout)
	}
	if got := r.header.Get(WriteOutcomeHeader); got != "unknown" {
		t.Errorf("%s = %q, want unknown", WriteOutcomeHeader, got)
	}
	// MVCC: reads are not blocked by the row lock.
	if r := do(t, srv, "GET", "/users/locked", ""); r.code != http.StatusOK {
		t.Errorf("read during lock: %d %s", r.code, r.body)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// pgx sends a cancel request for the abandoned statement, so normally
	// it is not applied; but a 503 write is "unknown" by contract.
	time.Sleep(200 * time.Millisecond)
	r = do(t, srv, "PUT", "/users/locked", `{"firstName": "c", "writeId": "after"}`)
	if r.code != http.StatusOK {
		t.Fatalf("PUT after the lock: %d %s", r.code, r.body)
	}
	if v := decodeUserBody(t, r).Version; v != 2 && v != 3 {
		t.Errorf("version after one timed-out and one good PUT: %d", v)
	} else {
		t.Logf("version after the lock: %d (3 would mean the timed-out write was applied)", v)
	}
}

// Killing the server side of every pool connection: requests go on working
// (reads are retried on a fresh connection; after the first failure the pool
// pings connections before use), without restarting anything.
func TestPGReconnectAfterBackendsKilled(t *testing.T) {
	dsn := integrationDSN(t, "")
	srv, st := startPG(t, dsn, 2*time.Second, true)
	do(t, srv, "PUT", "/users/k", `{"firstName": "a"}`)
	ctx := context.Background()
	admin := adminConn(t, dsn)

	// killPooled fills the pool with n idle connections and terminates
	// their backends.
	killPooled := func(n int) {
		t.Helper()
		var conns []interface{ Release() }
		var pids []int32
		for range n {
			c, err := st.Pool().Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			pids = append(pids, int32(c.Conn().PgConn().PID()))
		}
		for _, c := range conns {
			c.Release() // idle in the pool, as after normal traffic
		}
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the backends exit
	}

	killPooled(5)
	for i := range 20 {
		if r := do(t, srv, "GET", "/users/k", ""); r.code != http.StatusOK {
			t.Errorf("GET %d after the kill: %d %s", i, r.code, r.body)
		}
	}

	killPooled(5)
	failures := 0
	for i := range 20 {
		r := do(t, srv, "PUT", "/users/k", `{"firstName": "b"}`)
		switch r.code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			failures++
			t.Logf("PUT %d after the kill: %s (%s=%s)", i, r.body, WriteOutcomeHeader, r.header.Get(WriteOutcomeHeader))
		default:
			t.Fatalf("unexpected %d %s", r.code, r.body)
		}
	}
	if failures > 1 {
		t.Errorf("%d of 20 PUTs failed after the kill, want at most 1", failures)
	}
	waitReady(t, srv, 5*time.Second)
}

// The users table disappears (e.g. the database was replaced by an empty
// one): requests get 503 while mysite creates it again, then work.
func TestPGSchemaRecreated(t *testing.T) {
	dsn := integrationDSN(t, "")
	srv, _ := startPG(t, dsn, 2*time.Second, true)
	if r := do(t, srv, "PUT", "/users/k", `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	admin := adminConn(t, dsn)
	if _, err := admin.Exec(context.Background(), "DROP TABLE users"); err != nil {
		t.Fatal(err)
	}
	msg := errorOf(t, do(t, srv, "GET", "/users/k", ""), http.StatusServiceUnavailable)
	if !strings.Contains(msg, "users table missing") {
		t.Errorf("error %q", msg)
	}
	waitReady(t, srv, 5*time.Second)
	wantJSON(t, do(t, srv, "GET", "/users/k", ""), http.StatusNotFound, `{"error": "user k not found"}`)
	r := do(t, srv, "PUT", "/users/k", `{"firstName": "b"}`)
	if r.code != http.StatusOK || decodeUserBody(t, r).Version != 1 {
		t.Errorf("PUT after re-creation: %d %s", r.code, r.body)
	}
}

// faultProxy is a TCP proxy in front of PostgreSQL that can refuse
// connections, black-hole traffic (a very slow database), kill every
// connection (a crashed server), or strand the connections it has (a dead
// host behind a proxy: they stay swallowed when the mode changes back).
type faultProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Value // "forward", "refuse", "blackhole"
	epoch  atomic.Int64 // a pipe forwards only in the epoch it began in (strand)
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// proxiedDSN is a fresh schema's DSN (integrationDSN) through a faultProxy
// in front of the test database, and the proxy.
func proxiedDSN(t *testing.T) (*faultProxy, string) {
	t.Helper()
	pc, err := pgconn.ParseConfig(testdb.PG.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFaultProxy(t, net.JoinHostPort(pc.Host, fmt.Sprint(pc.Port)))
	return proxy, integrationDSN(t, proxy.ln.Addr().String())
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.mode.Store("forward")
	p.wg.Go(p.acceptLoop)
	t.Cleanup(func() {
		ln.Close()
		p.killAll()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) set(mode string) { p.mode.Store(mode) }
func (p *faultProxy) get() string     { return p.mode.Load().(string) }

// strand leaves the connections of now swallowed for good, whatever the
// mode becomes: their pipes forward no more.
func (p *faultProxy) strand() { p.epoch.Add(1) }

func (p *faultProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *faultProxy) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *faultProxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		switch p.get() {
		case "refuse":
			c.Close()
			continue
		case "blackhole":
			p.track(c)
			p.wg.Go(func() { io.Copy(io.Discard, c); c.Close() })
			continue
		}
		b, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c)
		p.track(b)
		epoch := p.epoch.Load()
		p.wg.Go(func() { p.pipe(b, c, epoch) })
		p.wg.Go(func() { p.pipe(c, b, epoch) })
	}
}

// pipe copies src to dst, dropping data while black-holed or once
// stranded.
func (p *faultProxy) pipe(dst, src net.Conn, epoch int64) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.get() != "blackhole" && p.epoch.Load() == epoch {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// The database is unreachable at start, comes up, crashes, becomes slow, and
// comes back: mysite answers 503 quickly throughout the outages and serves
// again each time the database is back, without a restart.
func TestPGOutagesAndRecovery(t *testing.T) {
	proxy, dsn := proxiedDSN(t)
	const timeout = 500 * time.Millisecond
	fast := func(what string, start time.Time) {
		t.Helper()
		if d := time.Since(start); d > timeout+400*time.Millisecond {
			t.Errorf("%s: took %v with a %v DB timeout", what, d, timeout)
		}
	}

	proxy.set("refuse")
	srv, _ := startPG(t, dsn, timeout, false)
	check503 := func(what string) {
		t.Helper()
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/users/k", ""},
			{"PUT", "/users/k", `{"firstName": "x"}`},
			{"GET", "/readyz", ""},
		} {
			start := time.Now()
			r := do(t, srv, c.method, c.path, c.body)
			fast(what+": "+c.method+" "+c.path, start)
			msg := errorOf(t, r, http.StatusServiceUnavailable)
			if !strings.HasPrefix(msg, "database") {
				t.Errorf("%s: %q", what, msg)
			}
		}
	}

	// 1. Database unreachable at start.
	check503("unreachable at start")
	wantJSON(t, do(t, srv, "GET", "/healthz", ""), http.StatusOK, `{"status": "alive"}`)

	// 2. It comes up: the schema is created and requests work.
	proxy.set("forward")
	waitReady(t, srv, 10*time.Second)
	if r := do(t, srv, "PUT", "/users/k", `{"firstName": "a"}`); r.code != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}

	recoverDB := func(what string) {
		t.Helper()
		proxy.set("forward")
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := do(t, srv, "GET", "/users/k", "")
			if r.code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no recovery: %d %s", what, r.code, r.body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for i := range 10 {
			if r := do(t, srv, "GET", "/users/k", ""); r.code != http.StatusOK {
				t.Errorf("%s: request %d after recovery: %d %s", what, i, r.code, r.body)
			}
		}
	}

	// 3. Crash: every connection dies and new ones are refused.
	proxy.set("refuse")
	proxy.killAll()
	check503("crashed")
	recoverDB("after crash")

	// 4. Slow: established connections stop answering, new ones hang.
	proxy.set("blackhole")
	check503("black-holed")
	recoverDB("after black hole")

	// 5. Crash without refusing: killed connections, immediate restart.
	proxy.killAll()
	recoverDB("after kill")
}

// A database host dies behind a proxy while every pool slot holds a
// connection to it: each call on them times out, and then the database is
// reachable again (a replacement took over). mysite serves again within
// 2 x closeWait: the broken connections give their slots back although the dead
// host never answers pgx's close of them (boundClose); without the bound
// they held all 8 slots for 15 s.
func TestPGBrokenConnectionsGiveBackTheirPoolSlots(t *testing.T) {
	proxy, dsn := proxiedDSN(t)
	const timeout = 500 * time.Millisecond
	srv, st := startPG(t, dsn, timeout, true) // a pool of 8
	pool := st.Pool()

	// Every slot holds an established connection, as under load.
	var held []*pgxpool.Conn
	for range pool.Stat().MaxConns() {
		c, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	proxy.set("blackhole") // the host dies: new connections are swallowed,
	proxy.strand()         // and so are those of before, also once it is back
	var wg sync.WaitGroup
	for _, c := range held {
		wg.Go(func() {
			defer c.Release()
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
				t.Error("a query answered by a dead host")
			}
		})
	}
	wg.Wait()

	proxy.set("forward") // a replacement took over
	revived := time.Now()
	// bound: the broken connections' close (two waits of closeWait), a
	// request on a new connection (the timeout), and 1 s for a loaded
	// machine.
	bound := 2*closeWait + timeout + time.Second
	for {
		r := do(t, srv, "GET", "/readyz", "")
		if r.code == http.StatusOK {
			t.Logf("serving again %v after the database was back (bound %v)", time.Since(revived).Round(time.Millisecond), bound)
			break
		}
		if time.Since(revived) > bound {
			s := pool.Stat()
			t.Fatalf("still failing %v after the database was back (bound %v): %d %s; pool: %d acquired, %d constructing, %d idle of %d",
				time.Since(revived).Round(time.Millisecond), bound, r.code, r.body, s.AcquiredConns(), s.ConstructingConns(), s.IdleConns(), s.MaxConns())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Graceful shutdown waits for an in-flight request (blocked on a row lock)
// and returns nil; the request completes.
func TestPGGracefulShutdown(t *testing.T) {
	dsn := integrationDSN(t, "")
	cfg := Config{Listen: "127.0.0.1:0", DB: dsn, DBTimeout: 5 * time.Second, MaxConns: 4, ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, nil, func(a net.Addr) { addrc <- a }) }()
	base := "http://" + (<-addrc).String()
	client := &http.Client{Timeout: 10 * time.Second}

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	put := func(body string) (*http.Response, error) {
		req, _ := http.NewRequest("PUT", base+"/users/g", strings.NewReader(body))
		return client.Do(req)
	}
	resp, err := put(`{"firstName": "a"}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v", err, resp)
	}
	resp.Body.Close()

	locker := adminConn(t, dsn)
	tx, err := locker.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "UPDATE users SET first_name = first_name WHERE id = 'g'"); err != nil {
		t.Fatal(err)
	}
	inflight := make(chan int, 1)
	go func() {
		resp, err := put(`{"firstName": "b"}`)
		if err != nil {
			t.Errorf("in-flight PUT: %v", err)
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the PUT is now waiting for the lock
	cancel()                           // SIGTERM
	time.Sleep(300 * time.Millisecond)
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("new requests still accepted during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("run returned before the in-flight request finished: %v", err)
	default:
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := <-inflight; code != 200 {
		t.Errorf("in-flight PUT got %d, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return")
	}
}
