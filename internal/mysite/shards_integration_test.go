package mysite

// Integration tests of sharding and online resharding against a real
// PostgreSQL (see integration_test.go): every shard is a schema of its own
// in the test database, reached through a pool of its own.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startSharded starts a ShardedStore over shards fresh schemas plus the
// spares given (name=DSN; "" for none), and a Server on it.
func startSharded(t *testing.T, shards int, spares []string, strategy string, moveRate float64) (*Server, *ShardedStore) {
	t.Helper()
	var list []string
	for i := range shards {
		list = append(list, fmt.Sprintf("shard-%d=%s", i+1, integrationDSN(t, "")))
	}
	cfg := Config{Listen: ":0", DBTimeout: 2 * time.Second, MaxConns: 8, ShutdownTimeout: time.Second,
		Shards: strings.Join(list, " "), Spares: strings.Join(spares, " "), ShardStrategy: strategy, MoveRate: moveRate}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return serveSharded(t, cfg)
}

// serveSharded runs a ShardedStore of cfg, and a Server on it, until the
// test ends.
func serveSharded(t *testing.T, cfg Config) (*Server, *ShardedStore) {
	t.Helper()
	st, err := NewShardedStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { st.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		st.Close()
	})
	return NewServer(Options{Store: st, DBTimeout: cfg.DBTimeout}), st
}

// spareSchemas are n spares on fresh schemas, named after the shards.
func spareSchemas(t *testing.T, shards, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("shard-%d=%s", shards+i+1, integrationDSN(t, "")))
	}
	return out
}

func userJSON(id, writeID string) string {
	return fmt.Sprintf(`{"id": %q, "firstName": "F", "writeId": %q}`, id, writeID)
}

func TestShardedCRUDAndHeader(t *testing.T) {
	srv, st := startSharded(t, 3, nil, ShardRing, 0)
	waitReady(t, srv, 15*time.Second)
	seen := map[string]int{}
	for i := range 60 {
		id := fmt.Sprintf("u%d", i)
		r := do(t, srv, "POST", "/users", userJSON(id, "w1"))
		if r.code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.code, r.body)
		}
		want := st.ShardOf(id)
		if got := r.header.Get(ShardHeader); got != want {
			t.Errorf("POST %s: %s %q, want %q", id, ShardHeader, got, want)
		}
		seen[want]++
		r = do(t, srv, "PUT", "/users/"+id, userJSON(id, "w2"))
		if r.code != http.StatusOK || r.header.Get(ShardHeader) != want || decodeUserBody(t, r).Version != 2 {
			t.Errorf("PUT %s: %d %q %s", id, r.code, r.header.Get(ShardHeader), r.body)
		}
		r = do(t, srv, "GET", "/users/"+id, "")
		if r.code != http.StatusOK || r.header.Get(ShardHeader) != want || decodeUserBody(t, r).WriteID != "w2" {
			t.Errorf("GET %s: %d %q %s", id, r.code, r.header.Get(ShardHeader), r.body)
		}
	}
	if len(seen) != 3 {
		t.Errorf("60 users over 3 shards: %v", seen)
	}
	// The row is on its shard only.
	for _, n := range st.nodes {
		_, err := n.store.Get(context.Background(), "u0")
		if (err == nil) != (n.name == st.ShardOf("u0")) {
			t.Errorf("u0 on %s: err %v (its shard is %s)", n.name, err, st.ShardOf("u0"))
		}
	}
	r := do(t, srv, "GET", "/users/nobody", "")
	if r.code != http.StatusNotFound || r.header.Get(ShardHeader) != st.ShardOf("nobody") {
		t.Errorf("GET unknown: %d %q", r.code, r.header.Get(ShardHeader))
	}
	r = do(t, srv, "POST", "/users", userJSON("u1", "again"))
	if r.code != http.StatusConflict || r.header.Get(ShardHeader) != st.ShardOf("u1") {
		t.Errorf("create twice: %d %q", r.code, r.header.Get(ShardHeader))
	}
	// No spares: no reshard.
	if r := do(t, srv, "POST", "/admin/reshard?protocol=online", ""); r.code != http.StatusNotFound {
		t.Errorf("reshard without spares: %d %s", r.code, r.body)
	}
	if r := do(t, srv, "GET", "/admin/reshard", ""); r.code != http.StatusNotFound {
		t.Errorf("status without spares: %d %s", r.code, r.body)
	}
}

// A shard that is down fails its own users' requests (503, named), within
// the timeout, and no other shard's.
func TestShardDownFailsOnlyItsKeys(t *testing.T) {
	proxy, down := proxiedDSN(t)
	list := []string{"shard-1=" + integrationDSN(t, ""), "shard-2=" + down}
	cfg := Config{Listen: ":0", DBTimeout: 500 * time.Millisecond, MaxConns: 4, Shards: strings.Join(list, " ")}
	srv, st := serveSharded(t, cfg)
	waitReady(t, srv, 15*time.Second)
	proxy.set("blackhole")
	proxy.strand()
	r := do(t, srv, "GET", "/readyz", "")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "shard-2") {
		t.Errorf("readyz with shard-2 down: %d %s", r.code, r.body)
	}
	var on1, on2 string
	for i := 0; on1 == "" || on2 == ""; i++ {
		id := fmt.Sprintf("k%d", i)
		if st.ShardOf(id) == "shard-1" {
			on1 = id
		} else {
			on2 = id
		}
	}
	start := time.Now()
	if r := do(t, srv, "PUT", "/users/"+on1, userJSON(on1, "a")); r.code != http.StatusOK || time.Since(start) > 300*time.Millisecond {
		t.Errorf("PUT on the healthy shard: %d in %v: %s", r.code, time.Since(start), r.body)
	}
	r = do(t, srv, "PUT", "/users/"+on2, userJSON(on2, "a"))
	if r.code != http.StatusServiceUnavailable || r.header.Get(ShardHeader) != "shard-2" {
		t.Errorf("PUT on the dead shard: %d %q %s", r.code, r.header.Get(ShardHeader), r.body)
	}
}

// moveRun drives writers and readers through the server during a move and
// reports, per key, the highest acknowledged version and what the store
// holds at the end.
type moveRun struct {
	acked     sync.Map // id -> *atomic.Int64: highest acknowledged version
	backwards atomic.Int64
	writes    atomic.Int64
	refused   atomic.Int64 // 503 answers, reads and writes
}

func (m *moveRun) ack(id string, v int64) {
	p, _ := m.acked.LoadOrStore(id, new(atomic.Int64))
	a := p.(*atomic.Int64)
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func (m *moveRun) ackedOf(id string) int64 {
	if p, ok := m.acked.Load(id); ok {
		return p.(*atomic.Int64).Load()
	}
	return 0
}

// drive writes and reads random ids of ids until stop is closed.
func (m *moveRun) drive(t *testing.T, srv http.Handler, ids []string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[rand.N(len(ids))]
				r := do(t, srv, "PUT", "/users/"+id, userJSON(id, fmt.Sprintf("w%d-%d", w, n)))
				if r.code == http.StatusOK {
					m.ack(id, decodeUserBody(t, r).Version)
					m.writes.Add(1)
				}
				if r.code == http.StatusServiceUnavailable {
					m.refused.Add(1)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[rand.N(len(ids))]
				before := m.ackedOf(id) // acknowledged before this read began
				r := do(t, srv, "GET", "/users/"+id, "")
				if r.code == http.StatusOK && decodeUserBody(t, r).Version < before {
					m.backwards.Add(1)
				}
				if r.code == http.StatusServiceUnavailable {
					m.refused.Add(1)
				}
			}
		})
	}
	return &wg
}

// lost counts the keys whose stored version is below their highest
// acknowledged one, reading through the store's routing after the move.
func (m *moveRun) lost(t *testing.T, st *ShardedStore, ids []string) int {
	lost := 0
	for _, id := range ids {
		u, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("read %s back: %v", id, err)
		}
		if u.Version < m.ackedOf(id) {
			lost++
		}
	}
	return lost
}

// reshardUnderLoad creates users on 2 shards, starts writers and readers,
// moves onto 1 spare with protocol, and waits for the move to end.
func reshardUnderLoad(t *testing.T, protocol string) (*moveRun, *ShardedStore, []string, MoveStatus) {
	srv, st := startSharded(t, 2, spareSchemas(t, 2, 1), ShardRing, 400)
	waitReady(t, srv, 15*time.Second)
	var ids []string
	for i := range 600 {
		id := fmt.Sprintf("user-%d", i)
		if r := do(t, srv, "POST", "/users", userJSON(id, "create")); r.code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.code, r.body)
		}
		ids = append(ids, id)
	}
	m := &moveRun{}
	stop := make(chan struct{})
	wg := m.drive(t, srv, ids, stop)
	time.Sleep(200 * time.Millisecond)

	r := do(t, srv, "POST", "/admin/reshard?protocol="+protocol, "")
	if r.code != http.StatusAccepted || !strings.Contains(r.body, `"state":"copying"`) {
		t.Fatalf("start: %d %s", r.code, r.body)
	}
	if r := do(t, srv, "POST", "/admin/reshard?protocol="+protocol, ""); r.code != http.StatusConflict {
		t.Errorf("second start: %d %s", r.code, r.body)
	}
	var status MoveStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(t, srv, "GET", "/admin/reshard", "")
		if err := json.Unmarshal([]byte(r.body), &status); err != nil || r.code != http.StatusOK {
			t.Fatalf("status: %d %s", r.code, r.body)
		}
		if status.State != MoveCopying || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // writes after the switch too
	close(stop)
	wg.Wait()
	t.Logf("%s: %+v; %d writes acknowledged", protocol, status, m.writes.Load())
	if status.State != MoveDone || status.From != 2 || status.To != 3 || status.Moving == 0 || status.Copied != status.Moving ||
		status.Started == "" || status.Finished == "" || len(status.Shards) != 3 {
		t.Fatalf("move did not end well: %+v", status)
	}
	// Roughly a third of the users moved, every one to the spare.
	if status.Moving < 100 || status.Moving > 350 {
		t.Errorf("moving %d of 600, want about 200", status.Moving)
	}
	return m, st, ids, status
}

func TestReshardOnlineLosesNothing(t *testing.T) {
	m, st, ids, _ := reshardUnderLoad(t, ProtocolOnline)
	if n := m.lost(t, st, ids); n > 0 {
		t.Errorf("%d keys lost acknowledged writes", n)
	}
	if n := m.backwards.Load(); n > 0 {
		t.Errorf("%d reads went back in time", n)
	}
	moved := 0
	for _, id := range ids {
		if st.ShardOf(id) == "shard-3" {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no user is on the spare after the move")
	}
}

func TestReshardNaiveLosesWrites(t *testing.T) {
	m, st, ids, _ := reshardUnderLoad(t, ProtocolNaive)
	n := m.lost(t, st, ids)
	t.Logf("naive: %d keys lost acknowledged writes", n)
	if n == 0 {
		t.Error("the naive move lost no acknowledged write (the negative control should)")
	}
}

// The offline move refuses the moving users until the switch: nothing is
// lost, but their requests fail meanwhile.
func TestReshardOfflineRefusesTheMovingUsersAndLosesNothing(t *testing.T) {
	m, st, ids, _ := reshardUnderLoad(t, ProtocolOffline)
	if n := m.lost(t, st, ids); n > 0 {
		t.Errorf("%d keys lost acknowledged writes", n)
	}
	if n := m.backwards.Load(); n > 0 {
		t.Errorf("%d reads went back in time", n)
	}
	if m.refused.Load() == 0 {
		t.Error("no request was refused while the users moved")
	}
}

// A spare that cannot be reached fails the move; the old shards stay
// authoritative and serve every user again.
func TestReshardFailsWhenSpareIsDown(t *testing.T) {
	deadSpare := "shard-3=postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1"
	srv, st := startSharded(t, 2, []string{deadSpare}, ShardRing, 0)
	for _, n := range st.nodes[:2] {
		deadline := time.Now().Add(15 * time.Second)
		for n.store.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready", n.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if r := do(t, srv, "GET", "/readyz", ""); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "shard-3") {
		t.Errorf("readyz with the spare down: %d %s", r.code, r.body)
	}
	for i := range 50 {
		id := fmt.Sprintf("user-%d", i)
		if r := do(t, srv, "POST", "/users", userJSON(id, "c")); r.code != http.StatusCreated {
			t.Fatalf("create: %d %s", r.code, r.body)
		}
	}
	if r := do(t, srv, "POST", "/admin/reshard?protocol=sideways", ""); r.code != http.StatusBadRequest {
		t.Errorf("bad protocol: %d %s", r.code, r.body)
	}
	if r := do(t, srv, "DELETE", "/admin/reshard", ""); r.code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", r.code)
	}
	if r := do(t, srv, "GET", "/admin/reshard", ""); r.code != http.StatusOK || !strings.Contains(r.body, `"state":"idle"`) {
		t.Errorf("idle status: %d %s", r.code, r.body)
	}
	if r := do(t, srv, "POST", "/admin/reshard?protocol=online", ""); r.code != http.StatusAccepted {
		t.Fatalf("start: %d %s", r.code, r.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	var status MoveStatus
	for status.State != MoveFailed {
		if time.Now().After(deadline) {
			t.Fatalf("move not failed: %+v", status)
		}
		time.Sleep(50 * time.Millisecond)
		status = st.MoveStatus()
	}
	if !strings.Contains(status.Error, "shard-3") || len(status.Shards) != 2 {
		t.Errorf("failed status: %+v", status)
	}
	for i := range 50 {
		id := fmt.Sprintf("user-%d", i)
		if r := do(t, srv, "PUT", "/users/"+id, userJSON(id, "after")); r.code != http.StatusOK || r.header.Get(ShardHeader) == "shard-3" {
			t.Errorf("PUT %s after the failed move: %d %q %s", id, r.code, r.header.Get(ShardHeader), r.body)
		}
	}
}

// mysite's run with -shard and -spare: ready once every shard is, routes
// users, moves them on POST /admin/reshard, logs the move, and stops.
func TestRunSharded(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:0", DBTimeout: 2 * time.Second, MaxConns: 4, ShutdownTimeout: time.Second,
		Shards:   "shard-1=" + integrationDSN(t, "") + " shard-2=" + integrationDSN(t, ""),
		Spares:   "shard-3=" + integrationDSN(t, ""),
		MoveRate: 0}
	base, logs, stop := startRun(t, cfg)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 30 {
		resp, err := http.Post(base+"/users", "application/json", strings.NewReader(userJSON(fmt.Sprint(i), "c")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Header.Get(ShardHeader) == "" {
			t.Fatalf("create: %d %q", resp.StatusCode, resp.Header.Get(ShardHeader))
		}
	}
	resp, err := http.Post(base+"/admin/reshard?protocol=online", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("reshard: %d", resp.StatusCode)
	}
	for !strings.Contains(logs.String(), "reshard done") {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("no move logged:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	_, _ = io.Copy(&metrics, resp.Body)
	resp.Body.Close()
	if !strings.Contains(metrics.String(), `mysite_db_pool_max_conns{shard="shard-3"} 4`) {
		t.Errorf("no per-shard pool metrics:\n%s", metrics.String())
	}
	stop()
	if out := logs.String(); !strings.Contains(out, "reshard started") || !strings.Contains(out, "moving=") {
		t.Errorf("log:\n%s", out)
	}
}
