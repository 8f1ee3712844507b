// Package failover is scalelab's small PostgreSQL failover controller (stage
// 4, replication): it watches every database node of a streaming-replication
// cluster, promotes the most advanced replica when the primary stops
// answering, points the other replicas at the new primary, and fences any
// other node that still believes it is a primary.
//
// It is deliberately small and readable: one loop, one probe query per node,
// three actions (promote, follow, fence). Production tools (Patroni,
// repmgr, pg_auto_failover) do the same with a consensus store behind them.
//
// The controller is the cluster's source of truth for "who is primary":
// GET /primary answers the node's name. A database node that restarts asks
// it before starting (see stacks.PostgresReplicated): a former primary then
// rebuilds itself as a replica of the new one instead of coming back as a
// second primary.
//
// HTTP API (on -listen):
//
//	GET /primary  the current primary's name, as text
//	GET /state    JSON: nodes as last probed, the primary, failovers and fences so far
//	GET /healthz  200 while the process runs
package failover

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config is the controller's configuration.
type Config struct {
	Listen string
	// Nodes are the database nodes by name, each with the DSN through which
	// the controller reaches it.
	Nodes []Node
	// Primary is the node that is primary when the cluster boots.
	Primary string
	// Follow is the replication address ("host:port") through which node
	// Follower reaches node Leader, for every pair: where a replica's
	// primary_conninfo must point once Leader is the primary.
	Follow map[Pair]string
	// Interval between two probes of every node; ProbeTimeout bounds one.
	Interval, ProbeTimeout time.Duration
	// FailAfter is how long the primary must be unreachable before a replica
	// is promoted: the detection window, the first part of the recovery time.
	FailAfter time.Duration
	// Promote off: the controller only watches (the lab's "no automatic
	// failover" control). Fence off: it leaves a second primary alone.
	Promote, Fence bool
	// SyncStandbys, when set, is the primary's synchronous_standby_names
	// while a replica streams from it (e.g. `ANY 1 ("a", "b")`); while
	// none does, the controller empties it, so that a lost replica does
	// not stop every commit (Patroni's non-strict synchronous mode: the
	// commits of that time are on the primary only). "": the controller
	// leaves the setting alone (the nodes' own configuration decides).
	// The nodes must not set it on their command line, which would
	// outrank the controller's ALTER SYSTEM.
	SyncStandbys string
}

// Node is one database node.
type Node struct{ Name, DSN string }

// Pair names a replication direction: Follower streams from Leader.
type Pair struct{ Follower, Leader string }

// DefaultConfig has every default and no nodes.
func DefaultConfig() Config {
	return Config{
		Listen:       ":8008",
		Follow:       map[Pair]string{},
		Interval:     100 * time.Millisecond,
		ProbeTimeout: 500 * time.Millisecond,
		FailAfter:    time.Second,
		Promote:      true,
		Fence:        true,
	}
}

// ParseConfig reads the command line (without the program name).
func ParseConfig(args []string, usage io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("pgfailover", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP listen address")
	fs.Func("node", "a database node, name=DSN (repeat for every node)", func(v string) error {
		name, dsn, ok := strings.Cut(v, "=")
		if !ok || name == "" || dsn == "" {
			return fmt.Errorf("want name=DSN, got %q", v)
		}
		cfg.Nodes = append(cfg.Nodes, Node{Name: name, DSN: dsn})
		return nil
	})
	fs.StringVar(&cfg.Primary, "primary", "", "the node that is primary at boot")
	fs.Func("follow", "follower->leader=host:port: where follower's primary_conninfo points when leader is primary (repeat)", func(v string) error {
		pair, addr, ok := strings.Cut(v, "=")
		from, to, ok2 := strings.Cut(pair, "->")
		if !ok || !ok2 || from == "" || to == "" || addr == "" {
			return fmt.Errorf("want follower->leader=host:port, got %q", v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("-follow %s: %v", pair, err)
		}
		cfg.Follow[Pair{from, to}] = addr
		return nil
	})
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between two probes of every node")
	fs.DurationVar(&cfg.ProbeTimeout, "probe-timeout", cfg.ProbeTimeout, "bound on one probe (connect and query)")
	fs.DurationVar(&cfg.FailAfter, "fail-after", cfg.FailAfter, "how long the primary must be unreachable before a replica is promoted")
	fs.BoolVar(&cfg.Promote, "promote", cfg.Promote, "promote a replica when the primary is gone (false: watch only)")
	fs.BoolVar(&cfg.Fence, "fence", cfg.Fence, "fence a node that acts as primary while another one is (read-only, sessions ended)")
	fs.StringVar(&cfg.SyncStandbys, "sync-standbys", cfg.SyncStandbys,
		"the primary's synchronous_standby_names while a replica streams from it, emptied while none does (\"\": leave it alone)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) && usage != nil {
			fmt.Fprintln(usage, "Usage: pgfailover -primary NAME -node NAME=DSN ... [-follow A->B=host:port ...] [flags]")
			fs.SetOutput(usage)
			fs.PrintDefaults()
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.Validate()
}

// Validate names the first problem.
func (c Config) Validate() error {
	if len(c.Nodes) < 2 {
		return errors.New("at least two -node are needed (a primary and a replica)")
	}
	names := map[string]bool{}
	for _, n := range c.Nodes {
		if names[n.Name] {
			return fmt.Errorf("node %q is given twice", n.Name)
		}
		names[n.Name] = true
		if _, err := pgx.ParseConfig(n.DSN); err != nil {
			return fmt.Errorf("node %s: %v", n.Name, err)
		}
	}
	if !names[c.Primary] {
		return fmt.Errorf("-primary %q is not one of the nodes", c.Primary)
	}
	for p := range c.Follow {
		if !names[p.Follower] || !names[p.Leader] {
			return fmt.Errorf("-follow %s->%s names an unknown node", p.Follower, p.Leader)
		}
	}
	if c.Interval <= 0 || c.ProbeTimeout <= 0 || c.FailAfter <= 0 {
		return errors.New("-interval, -probe-timeout and -fail-after must be > 0")
	}
	return nil
}

// NodeState is what the last probe of a node saw.
type NodeState struct {
	Name string `json:"name"`
	// Up: the probe was answered.
	Up bool `json:"up"`
	// Role: "primary" (read-write), "replica" (in recovery), "fenced" (not in
	// recovery but read-only), "down".
	Role string `json:"role"`
	// LSN: for a primary its current WAL position, for a replica the WAL it
	// received and flushed (what a promotion would keep), in bytes.
	LSN int64 `json:"lsn"`
	// Replayed is a replica's replay position, in bytes.
	Replayed int64 `json:"replayed"`
	// Following is the "host:port" of a replica's primary_conninfo.
	Following string `json:"following,omitempty"`
	// Streaming: a replica's WAL receiver streams (pg_stat_wal_receiver).
	Streaming bool `json:"streaming,omitempty"`
	// SyncStandbys is the node's synchronous_standby_names.
	SyncStandbys string    `json:"sync_standbys,omitempty"`
	Error        string    `json:"error,omitempty"`
	At           time.Time `json:"at"`
}

// Event is one action the controller took.
type Event struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"` // "promote", "follow", "fence", "sync", "async"
	Node   string    `json:"node"`
	Detail string    `json:"detail"`
}

// State is the controller's view, served at /state.
type State struct {
	Primary string      `json:"primary"`
	Nodes   []NodeState `json:"nodes"`
	Events  []Event     `json:"events"`
}

// Controller runs the loop.
type Controller struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	primary string
	lastOK  time.Time // the primary last answered as a primary
	nodes   map[string]NodeState
	events  []Event
	connMu  sync.Mutex
	conns   map[string]*pgx.Conn // kept, one per node: probes and actions
	pointed map[string]pointed   // replicas re-pointed, and where
	// syncSet is the last synchronous_standby_names set, on which node
	// (addr) and when: like a re-pointing, a reload may not show in the
	// next probe yet.
	syncSet map[string]pointed
	// synced: the replicas seen streaming from the current primary since
	// it became primary, the only ones that may replace it (Candidate).
	synced map[string]bool
	// held: a failover is due but no replica may be promoted; said once.
	held bool
	// promoting: a promotion is under way; nobody is primary.
	promoting bool
}

// New makes a controller; Run starts it.
func New(cfg Config, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, log: log, primary: cfg.Primary, nodes: map[string]NodeState{}, conns: map[string]*pgx.Conn{}, pointed: map[string]pointed{}, syncSet: map[string]pointed{}, synced: map[string]bool{}}
}

// Snapshot is the current State.
func (c *Controller) Snapshot() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{Primary: c.primary, Events: slices.Clone(c.events)}
	for _, n := range c.cfg.Nodes {
		st, ok := c.nodes[n.Name]
		if !ok {
			st = NodeState{Name: n.Name, Role: "down", Error: "not probed yet"}
		}
		s.Nodes = append(s.Nodes, st)
	}
	return s
}

// Handler serves the HTTP API.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /primary", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		primary, promoting := c.primary, c.promoting
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		if promoting {
			// A restarting node must not start as the primary it was while
			// a replica is being promoted in its place: it asks again.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "failover in progress")
			return
		}
		fmt.Fprint(w, primary)
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Snapshot())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Run serves the API and runs the loop until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	c.log.Info("failover controller started", "primary", c.cfg.Primary, "fail_after", c.cfg.FailAfter,
		"interval", c.cfg.Interval, "promote", c.cfg.Promote, "fence", c.cfg.Fence)

	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		c.step(ctx)
		select {
		case <-ctx.Done():
			c.connMu.Lock()
			for _, conn := range c.conns {
				conn.Close(context.Background())
			}
			c.connMu.Unlock()
			return nil
		case <-tick.C:
		}
	}
}

// step probes every node once and acts on what it saw.
func (c *Controller) step(ctx context.Context) {
	states := c.probeAll(ctx)
	now := time.Now()
	c.mu.Lock()
	for _, s := range states {
		c.nodes[s.Name] = s
	}
	primary := c.primary
	p := states[primary]
	if p.Role == "primary" {
		c.lastOK = now
		c.held = false
	}
	for _, s := range states {
		if want, ok := c.cfg.Follow[Pair{s.Name, primary}]; ok && s.Role == "replica" && s.Streaming && s.Following == want {
			c.synced[s.Name] = true
		}
	}
	synced := maps.Clone(c.synced)
	down := !c.lastOK.IsZero() && now.Sub(c.lastOK) >= c.cfg.FailAfter
	c.mu.Unlock()

	if down && c.cfg.Promote {
		if _, ok := Candidate(states, primary, synced); ok {
			c.failover(ctx, primary, states, synced)
			return // act on fresh probes next time
		}
		c.mu.Lock()
		say := !c.held
		c.held = true
		c.mu.Unlock()
		if say {
			c.log.Error("primary unreachable, but no replica that is up has streamed from it since it became primary: not promoting (a replica still on an older timeline would fork the history)",
				"primary", primary, "down_for", now.Sub(c.lastOK).Round(time.Millisecond))
		}
	}
	for _, s := range states {
		if !s.Up || s.Name == primary {
			continue
		}
		switch s.Role {
		case "primary":
			// The controller's primary is the only one: any other node
			// that accepts writes is a former primary back from a crash or
			// a partition, with commits the cluster no longer has.
			if c.cfg.Fence {
				c.fence(ctx, s.Name, primary)
			}
		case "replica":
			if want, ok := c.cfg.Follow[Pair{s.Name, primary}]; ok && s.Following != want && !c.recentlyPointed(s.Name, want) {
				c.follow(ctx, s.Name, primary, want)
			}
		}
	}
	if c.cfg.SyncStandbys != "" && p.Role == "primary" {
		if want := SyncWanted(states, primary, c.cfg.Follow, c.cfg.SyncStandbys); p.SyncStandbys != want && !c.recent(c.syncSet, primary, want) {
			c.setSync(ctx, primary, want)
		}
	}
}

// SyncWanted is the synchronous_standby_names the primary should have:
// sync while a replica that is up streams from it (through the address it
// should follow it by), "" while none does.
func SyncWanted(states map[string]NodeState, primary string, follow map[Pair]string, sync string) string {
	for _, s := range states {
		if want, ok := follow[Pair{s.Name, primary}]; ok && s.Up && s.Role == "replica" && s.Streaming && s.Following == want {
			return sync
		}
	}
	return ""
}

// setSync sets the primary's synchronous_standby_names (reloaded: it
// applies to the next commit, and releases commits waiting for a lost
// replica).
func (c *Controller) setSync(ctx context.Context, primary, names string) {
	if err := c.exec(ctx, primary, c.cfg.ProbeTimeout*4,
		"ALTER SYSTEM SET synchronous_standby_names = "+quote(names), "SELECT pg_reload_conf()"); err != nil {
		c.log.Error("could not set synchronous_standby_names", "node", primary, "err", err)
		return
	}
	c.mu.Lock()
	c.syncSet[primary] = pointed{addr: names, at: time.Now()}
	c.mu.Unlock()
	action, detail := "sync", "commits wait for a replica: synchronous_standby_names = "+names
	if names == "" {
		action, detail = "async", "no replica streams: commits no longer wait for one (synchronous_standby_names emptied)"
	}
	c.record(Event{At: time.Now(), Action: action, Node: primary, Detail: detail})
	c.log.Warn("synchronous replication "+action, "node", primary, "synchronous_standby_names", names)
}

// Candidate is the replica to promote when primary is gone: of the synced
// ones (seen streaming from primary since it became primary), the one that
// holds the most WAL (received and flushed), so that a promotion keeps
// every commit that any replica confirmed. Ties go to the first name.
//
// A replica that never streamed from primary may still be on the timeline
// before primary's promotion: promoted, it would start a timeline of its
// own that forks the history, and no node rebuilt from primary could ever
// follow it ("requested starting point ... on timeline 2 is not in this
// server's history"). Seen on a loaded machine: the new primary stalled for
// a second while the old one took a base backup from it, and the other
// replica, not yet switched to the new timeline, was promoted.
func Candidate(states map[string]NodeState, primary string, synced map[string]bool) (string, bool) {
	var names []string
	for name, s := range states {
		if name != primary && s.Up && s.Role == "replica" && synced[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	sort.Strings(names)
	best := names[0]
	for _, n := range names[1:] {
		if states[n].LSN > states[best].LSN {
			best = n
		}
	}
	return best, true
}

// failover replaces the lost primary old:
//
//  1. detach every replica from it (primary_conninfo = ”), and wait until
//     their WAL receivers stopped: WAL still on its way (in a slow
//     network, in a proxy's buffers) would otherwise keep arriving, and a
//     replica that ends up ahead of the one promoted could not follow it;
//  2. read their positions again and promote the one with the most WAL;
//  3. the loop then points the others at it (follow).
//
// While it runs, GET /primary answers 503: a former primary restarting now
// must not start as one.
func (c *Controller) failover(ctx context.Context, old string, states map[string]NodeState, synced map[string]bool) {
	c.mu.Lock()
	c.promoting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.promoting = false
		c.mu.Unlock()
	}()
	start := time.Now()
	var replicas []string
	for _, s := range states {
		if s.Name != old && s.Up && s.Role == "replica" {
			replicas = append(replicas, s.Name)
		}
	}
	sort.Strings(replicas)
	c.log.Warn("primary unreachable: detaching the replicas from it", "old_primary", old, "down_for", c.cfg.FailAfter, "replicas", strings.Join(replicas, ", "))
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() {
			if err := c.detach(ctx, r, 2*time.Second); err != nil {
				c.log.Error("could not detach a replica", "node", r, "err", err)
			}
		})
	}
	wg.Wait()
	detached := time.Since(start)

	// Only the replicas: a probe of the lost primary would wait for its
	// whole timeout.
	states = c.probeNodes(ctx, replicas)
	cand, ok := Candidate(states, old, synced)
	if !ok {
		c.log.Error("no replica to promote")
		return
	}
	var others []string
	for _, s := range states {
		if s.Name != cand && s.Role == "replica" {
			others = append(others, fmt.Sprintf("%s at %d", s.Name, s.LSN))
		}
	}
	sort.Strings(others)
	c.log.Warn("promoting the most advanced replica", "candidate", cand, "lsn", states[cand].LSN, "others", strings.Join(others, ", "),
		"detached_in", detached.Round(time.Millisecond))
	if err := c.promoteNode(ctx, cand, 10*time.Second); err != nil {
		c.log.Error("promotion failed", "node", cand, "err", err)
		return
	}
	took := time.Since(start)
	c.mu.Lock()
	c.primary = cand
	c.lastOK = time.Now()
	clear(c.synced)
	c.events = append(c.events, Event{At: time.Now(), Action: "promote", Node: cand,
		Detail: fmt.Sprintf("%s unreachable for %v; promoted at LSN %d in %v", old, c.cfg.FailAfter, states[cand].LSN, took.Round(time.Millisecond))})
	c.mu.Unlock()
	c.log.Warn("promoted", "node", cand, "took", took.Round(time.Millisecond))
}

// detach stops a replica's replication (primary_conninfo = ”, reloaded)
// and waits until its WAL receiver is gone, on one connection.
func (c *Controller) detach(ctx context.Context, node string, within time.Duration) error {
	return c.onConn(ctx, node, within+c.cfg.ProbeTimeout, func(ctx context.Context, conn *pgx.Conn) error {
		for _, st := range []string{"ALTER SYSTEM SET primary_conninfo = ''", "SELECT pg_reload_conf()"} {
			if _, err := conn.Exec(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		return pollUntil(ctx, conn, within, "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver)", "its WAL receiver still runs")
	})
}

// promoteNode promotes a replica and waits until it left recovery. (It
// polls itself: pg_promote's own wait checks only every 100 ms.)
func (c *Controller) promoteNode(ctx context.Context, node string, within time.Duration) error {
	return c.onConn(ctx, node, within+c.cfg.ProbeTimeout, func(ctx context.Context, conn *pgx.Conn) error {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_promote(false)").Scan(&ok); err != nil || !ok {
			return fmt.Errorf("pg_promote: %v (ok %v)", err, ok)
		}
		return pollUntil(ctx, conn, within, "SELECT NOT pg_is_in_recovery()", "still in recovery")
	})
}

// pollUntil runs a boolean query every 20 ms until it is true.
func pollUntil(ctx context.Context, conn *pgx.Conn, within time.Duration, sql, notYet string) error {
	deadline := time.Now().Add(within)
	for {
		var done bool
		if err := conn.QueryRow(ctx, sql).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s after %v", notYet, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// onConn runs fn on node's kept connection (the probes'; one is made when
// there is none), everything within timeout. The controller opens no
// connection of its own for an action: at a failover the replicas may be
// swamped by clients' new connections (a listen queue full of them, seen on
// a loaded machine), and a connection it already holds still works. A
// connection that saw an error is dropped; the next probe makes a new one.
func (c *Controller) onConn(ctx context.Context, node string, timeout time.Duration, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.keptConn(ctx, node, timeout)
	if err != nil {
		return err
	}
	if err := fn(ctx, conn); err != nil {
		c.dropConn(node, conn)
		return err
	}
	return nil
}

// keptConn is node's kept connection, made within timeout when there is
// none.
func (c *Controller) keptConn(ctx context.Context, node string, timeout time.Duration) (*pgx.Conn, error) {
	c.connMu.Lock()
	conn := c.conns[node]
	c.connMu.Unlock()
	if conn != nil && !conn.IsClosed() {
		return conn, nil
	}
	var dsn string
	for _, n := range c.cfg.Nodes {
		if n.Name == node {
			dsn = n.DSN
		}
	}
	conn, err := connect(ctx, dsn, timeout)
	if err != nil {
		return nil, err
	}
	c.connMu.Lock()
	c.conns[node] = conn
	c.connMu.Unlock()
	return conn, nil
}

// connect opens a connection to dsn within timeout, named pgfailover in
// pg_stat_activity: the probes' and the actions' one way in.
func connect(ctx context.Context, dsn string, timeout time.Duration) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cc.ConnectTimeout = timeout
	cc.RuntimeParams["application_name"] = "pgfailover"
	return pgx.ConnectConfig(ctx, cc)
}

// dropConn closes conn and forgets it if it is still node's kept one.
func (c *Controller) dropConn(node string, conn *pgx.Conn) {
	c.connMu.Lock()
	if c.conns[node] == conn {
		delete(c.conns, node)
	}
	c.connMu.Unlock()
	conn.Close(context.Background())
}

// follow points a replica at the new primary; primary_conninfo is reloaded
// without a restart (PostgreSQL 13+), and the replica switches to the new
// primary's timeline (recovery_target_timeline is 'latest' by default).
func (c *Controller) follow(ctx context.Context, node, leader, addr string) {
	host, port, _ := net.SplitHostPort(addr)
	conninfo := fmt.Sprintf("host=%s port=%s user=postgres application_name=%s", host, port, node)
	err := c.exec(ctx, node, c.cfg.ProbeTimeout*4,
		"ALTER SYSTEM SET primary_conninfo = "+quote(conninfo), "SELECT pg_reload_conf()")
	if err != nil {
		c.log.Error("could not point replica at the new primary", "node", node, "primary", leader, "err", err)
		return
	}
	c.mu.Lock()
	c.pointed[node] = pointed{addr: addr, at: time.Now()}
	c.mu.Unlock()
	c.record(Event{At: time.Now(), Action: "follow", Node: node, Detail: "follows " + leader + " at " + addr})
	c.log.Info("replica follows the new primary", "node", node, "primary", leader, "via", addr)
}

// fence stops a second primary from taking writes: new sessions are
// read-only (clients asking for target_session_attrs=read-write skip it) and
// its current sessions are ended. It stays out of service: rebuilding it as
// a replica needs a restart, which is the node's own script's job.
func (c *Controller) fence(ctx context.Context, node, primary string) {
	err := c.exec(ctx, node, c.cfg.ProbeTimeout*4,
		"ALTER SYSTEM SET default_transaction_read_only = on",
		"SELECT pg_reload_conf()",
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	if err != nil {
		c.log.Error("could not fence a second primary", "node", node, "err", err)
		return
	}
	c.record(Event{At: time.Now(), Action: "fence", Node: node, Detail: "acted as primary while " + primary + " is: made read-only, sessions ended"})
	c.log.Warn("fenced a second primary", "node", node, "primary", primary)
}

// recentlyPointed: the node was pointed at addr less than a second ago; its
// reload may not show in the last probe yet.
func (c *Controller) recentlyPointed(node, addr string) bool {
	return c.recent(c.pointed, node, addr)
}

// recent: m says node got value less than a second ago.
func (c *Controller) recent(m map[string]pointed, node, value string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := m[node]
	return ok && p.addr == value && time.Since(p.at) < time.Second
}

type pointed struct {
	addr string
	at   time.Time
}

func (c *Controller) record(e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// probeSQL reads everything the loop needs in one round trip.
const probeSQL = `SELECT pg_is_in_recovery(),
	current_setting('transaction_read_only') = 'on',
	CASE WHEN pg_is_in_recovery()
		THEN coalesce(greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0') - '0/0'::pg_lsn
		ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END,
	coalesce(pg_last_wal_replay_lsn(), '0/0') - '0/0'::pg_lsn,
	current_setting('primary_conninfo'),
	exists (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
	current_setting('synchronous_standby_names')`

func (c *Controller) probeAll(ctx context.Context) map[string]NodeState {
	return c.probeNodes(ctx, nil)
}

// probeNodes probes the named nodes (nil: all of them).
func (c *Controller) probeNodes(ctx context.Context, names []string) map[string]NodeState {
	out := make(map[string]NodeState, len(c.cfg.Nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range c.cfg.Nodes {
		if names != nil && !slices.Contains(names, n.Name) {
			continue
		}
		c.connMu.Lock()
		conn := c.conns[n.Name]
		c.connMu.Unlock()
		wg.Go(func() {
			s, conn := probe(ctx, n, conn, c.cfg.ProbeTimeout)
			mu.Lock()
			out[n.Name] = s
			mu.Unlock()
			c.connMu.Lock()
			if conn == nil {
				delete(c.conns, n.Name)
			} else {
				c.conns[n.Name] = conn
			}
			c.connMu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// probe runs probeSQL on conn (connecting first when it is nil) and returns
// the state and the connection to reuse (nil after a failure).
func probe(ctx context.Context, n Node, conn *pgx.Conn, timeout time.Duration) (NodeState, *pgx.Conn) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := NodeState{Name: n.Name, Role: "down", At: time.Now()}
	fail := func(err error) (NodeState, *pgx.Conn) {
		if conn != nil {
			conn.Close(context.Background())
		}
		s.Error = oneLine(err.Error())
		return s, nil
	}
	if conn == nil {
		var err error
		if conn, err = connect(ctx, n.DSN, timeout); err != nil {
			return fail(err)
		}
	}
	var (
		recovery, readOnly  bool
		lsn, replayed       float64 // pg_lsn differences are numeric
		conninfo, syncNames string
		streaming           bool
	)
	if err := conn.QueryRow(ctx, probeSQL).Scan(&recovery, &readOnly, &lsn, &replayed, &conninfo, &streaming, &syncNames); err != nil {
		return fail(err)
	}
	s.Up, s.LSN, s.Replayed, s.SyncStandbys = true, int64(lsn), int64(replayed), syncNames
	switch {
	case recovery:
		s.Role = "replica"
		s.Following = conninfoAddr(conninfo)
		s.Streaming = streaming
	case readOnly:
		s.Role = "fenced"
	default:
		s.Role = "primary"
	}
	return s, conn
}

// exec runs statements on node's kept connection (onConn).
func (c *Controller) exec(ctx context.Context, node string, timeout time.Duration, stmts ...string) error {
	return c.onConn(ctx, node, timeout, func(ctx context.Context, conn *pgx.Conn) error {
		for _, st := range stmts {
			if _, err := conn.Exec(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		return nil
	})
}

// conninfoAddr is "host:port" of a libpq key=value conninfo ("" when it
// names none).
func conninfoAddr(conninfo string) string {
	var host, port string
	for _, f := range strings.Fields(conninfo) {
		k, v, _ := strings.Cut(f, "=")
		v = strings.Trim(v, "'")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	if host == "" {
		return ""
	}
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
