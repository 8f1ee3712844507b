package mysite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

// Read replicas (stage 4).
//
// Writes always go to the primary (the Store: a pool on -db, which after a
// failover finds the new primary by itself when -db lists every node with
// target_session_attrs=read-write). Reads go where -reads says:
//
//   - replica: a healthy replica, round robin; if it fails, the next one;
//     if none answers, the primary. Reads may be stale by the replication lag.
//   - read-your-writes: as replica, but only to a replica that has replayed
//     the client's last write. Every write answers with the header
//     Mysite-LSN (the primary's WAL position after the commit); a client
//     sends the highest it got back as Mysite-Min-LSN on its reads, and
//     mysite picks a replica whose replay position is at or past it, else
//     the primary. A client never misses its own writes; it may still see
//     other clients' writes late.
//   - primary: every read from the primary.
//
// Every listed node is probed every -replica-check (pg_is_in_recovery(),
// replay position): a replica is healthy when it answered its last probe and
// is in recovery. A node that fails a read is taken out until its next probe
// passes. Listing every node of the cluster, the primary included, lets a
// former primary that rejoined as a replica serve reads again.
//
// A request may ask for the primary with Mysite-Read-From: primary (the
// lab's final read-back: what the system holds, not what a replica has
// replayed so far).
const (
	// LSNHeader is set on a successful write in read-your-writes mode: the
	// primary's WAL position after the commit, in bytes, decimal.
	LSNHeader = "Mysite-LSN"
	// MinLSNHeader is sent by a client on reads: the highest LSNHeader it got.
	MinLSNHeader = "Mysite-Min-LSN"
	// ReadFromHeader: "primary" asks for the read to be served by the primary.
	ReadFromHeader = "Mysite-Read-From"
)

// replicaReadTimeout bounds one read on one replica, so that a replica that
// hangs leaves time for the next one or the primary.
const replicaReadTimeout = 500 * time.Millisecond

// Replicas routes reads across the database nodes of a replicated cluster.
type Replicas struct {
	mode     string
	fallback bool
	primary  *PGStore
	nodes    []*replicaNode
	interval time.Duration
	log      *slog.Logger

	next         atomic.Uint64 // round robin
	primaryReads atomic.Int64
}

type replicaNode struct {
	name  string
	addr  string // host:port of its DSN
	pool  *pgxpool.Pool
	reads atomic.Int64

	mu sync.Mutex
	st NodeStatus
}

// NodeStatus is what the last probe of a node saw.
type NodeStatus struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
	// Role: "replica" (in recovery), "primary" (read-write), "fenced"
	// (read-write no more: read-only, not in recovery), "down".
	Role string `json:"role"`
	// LSN: a replica's replay position, a primary's WAL position (bytes).
	LSN int64 `json:"lsn"`
	// Timeline of a primary (0 for a replica).
	Timeline int64  `json:"timeline,omitempty"`
	Reads    int64  `json:"reads"` // reads it served
	Error    string `json:"error,omitempty"`
}

// NewReplicas builds the replica pools from cfg (valid, with replicas). It
// does not connect; Monitor probes the nodes until its context ends.
func NewReplicas(cfg Config, primary *PGStore, log *slog.Logger) (*Replicas, error) {
	list, err := cfg.replicas()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replicas{mode: cfg.reads(), fallback: !cfg.NoReadFallback, primary: primary, log: log,
		interval: cfg.ReplicaCheck}
	if r.interval <= 0 {
		r.interval = DefaultReplicaCheck
	}
	for _, n := range list {
		pc, err := pgxpool.ParseConfig(n.DSN)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("-replica %s: %v", n.Name, err)
		}
		pc.MaxConns = 8
		pc.MinConns = 0
		pc.HealthCheckPeriod = 5 * time.Second
		pc.ConnConfig.ConnectTimeout = replicaReadTimeout
		pc.ConnConfig.RuntimeParams["application_name"] = "mysite"
		if cfg.DBConnectRate > 0 {
			// -db-connect-rate for each replica's pool too, a bucket of
			// its own (one shared with the write pool let the writes'
			// retries against a dead primary starve the replicas' reads).
			// Each read that times out closes its connection and opens two
			// (pgx's cancel request, then a new one): uncapped, on a loaded
			// machine where a PostgreSQL connection costs 20+ ms of a core,
			// a failover's slow seconds became a connection storm that
			// filled a replica's listen queue (244 waiting, seen with ss)
			// and outlived the fault by minutes: no client, nor the
			// failover controller, could connect to it any more.
			pc.ConnConfig.DialFunc = rateLimitedDial(pc.ConnConfig.DialFunc,
				rate.NewLimiter(rate.Limit(cfg.DBConnectRate), int(pc.MaxConns)))
		}
		boundClose(&pc.ConnConfig.Config)
		pool, err := pgxpool.NewWithConfig(context.Background(), pc)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("-replica %s: %v", n.Name, err)
		}
		addr := net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port)))
		r.nodes = append(r.nodes, &replicaNode{name: n.Name, addr: addr, pool: pool, st: NodeStatus{Name: n.Name, Role: "down", Error: "not probed yet"}})
	}
	return r, nil
}

// Mode is the read mode.
func (r *Replicas) Mode() string { return r.mode }

// Close closes the replica pools.
func (r *Replicas) Close() {
	for _, n := range r.nodes {
		n.pool.Close()
	}
}

// Get reads a user as the read mode says. minLSN is the client's
// Mysite-Min-LSN (0: none).
func (r *Replicas) Get(ctx context.Context, id string, minLSN int64) (User, error) {
	if r.mode == ReadsPrimary {
		return r.fromPrimary(ctx, id)
	}
	if !r.fallback {
		// The "before" configuration: round robin over every listed node,
		// no health checks, no second try.
		n := r.nodes[int(r.next.Add(1)%uint64(len(r.nodes)))]
		return n.get(ctx, id, 0)
	}
	for _, c := range r.candidates(minLSN) {
		u, err := c.node.get(ctx, id, c.check)
		if err == nil || errors.Is(err, ErrNotFound) {
			return u, err
		}
		if errors.Is(err, errBehind) {
			continue
		}
		if ctx.Err() != nil { // the request's own time is up: not the replica's fault
			return User{}, Unavailable(ctx.Err(), true)
		}
		n := c.node
		n.failed(err)
		r.primary.RouteHosts(r.route())
		r.log.Debug("replica read failed; trying the next", "node", n.name, "err", err)
	}
	return r.fromPrimary(ctx, id)
}

func (r *Replicas) fromPrimary(ctx context.Context, id string) (User, error) {
	r.primaryReads.Add(1)
	return r.primary.Get(ctx, id)
}

// candidate is a replica to try; check > 0 asks to verify on the replica,
// before reading, that it has replayed that far.
type candidate struct {
	node  *replicaNode
	check int64
}

// candidates are the healthy replicas that may serve a read, starting at
// the next one in round-robin order. In read-your-writes mode, first those
// whose last probed replay position is at or past minLSN (a replay
// position only grows, so they still are), then the others, to be checked
// on the spot: the probe is up to -replica-check old.
func (r *Replicas) candidates(minLSN int64) []candidate {
	var healthy []*replicaNode
	for _, n := range r.nodes {
		if st := n.status(); st.Up && st.Role == "replica" {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) == 0 {
		return nil
	}
	start := int(r.next.Add(1) % uint64(len(healthy)))
	var sure, maybe []candidate
	for i := range healthy {
		n := healthy[(start+i)%len(healthy)]
		st := n.status()
		if !st.Up || st.Role != "replica" {
			continue
		}
		switch {
		case r.mode != ReadsRYW || minLSN <= 0 || st.LSN >= minLSN:
			sure = append(sure, candidate{node: n})
		default:
			maybe = append(maybe, candidate{node: n, check: minLSN})
		}
	}
	return append(sure, maybe...)
}

// errBehind: the replica has not replayed the client's last write yet.
var errBehind = errors.New("replica has not replayed that far")

// sqlReplayed is a replica's replay position, in bytes.
const sqlReplayed = `SELECT (coalesce(pg_last_wal_replay_lsn(), '0/0') - '0/0'::pg_lsn)::bigint`

// get reads a user on this node. With atLeast > 0 it first checks, on the
// same connection, that the node has replayed that far (errBehind if not):
// the read's snapshot is taken after, so it sees everything replayed.
func (n *replicaNode) get(ctx context.Context, id string, atLeast int64) (User, error) {
	ctx, cancel := context.WithTimeout(ctx, replicaReadTimeout)
	defer cancel()
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return User{}, Unavailable(fmt.Errorf("replica %s: %w", n.name, err), true)
	}
	defer release(conn)
	if atLeast > 0 {
		var replayed int64
		if err := conn.QueryRow(ctx, sqlReplayed).Scan(&replayed); err != nil {
			return User{}, Unavailable(fmt.Errorf("replica %s: %w", n.name, err), true)
		}
		if replayed < atLeast {
			return User{}, errBehind
		}
	}
	u, err := scanUser(conn.QueryRow(ctx, sqlGet, id))
	switch {
	case err == nil:
		n.reads.Add(1)
		return u, nil
	case errors.Is(err, pgx.ErrNoRows):
		n.reads.Add(1)
		return User{}, ErrNotFound
	}
	return User{}, Unavailable(fmt.Errorf("replica %s: %w", n.name, err), true)
}

func (n *replicaNode) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.st
	st.Reads = n.reads.Load()
	return st
}

// failed takes the node out until its next probe passes.
func (n *replicaNode) failed(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st.Up, n.st.Role, n.st.Error = false, "down", oneLine(err.Error())
}

// sqlProbe: in recovery, read-only, position, timeline.
const sqlProbe = `SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on',
	CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0') - '0/0'::pg_lsn
		ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END::bigint,
	CASE WHEN pg_is_in_recovery() THEN 0
		ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END`

// Monitor probes every node every interval until ctx ends. Each node has
// its own loop, so that a node that hangs (a dead server behind a proxy
// accepts and never answers) does not delay what is learnt about the
// others; the write pool's route is updated after every probe.
func (r *Replicas) Monitor(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range r.nodes {
		wg.Go(func() {
			t := time.NewTicker(r.interval)
			defer t.Stop()
			for {
				r.probe(ctx, n)
				r.primary.RouteHosts(r.route())
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
}

// route is where the write pool should connect: first the nodes last seen
// accepting writes, newest timeline first; not to the nodes that did not
// answer their last probe.
func (r *Replicas) route() (prefer, avoid []string) {
	type p struct {
		addr string
		tl   int64
	}
	var ps []p
	for _, n := range r.nodes {
		switch st := n.status(); {
		case st.Role == "primary":
			ps = append(ps, p{n.addr, st.Timeline})
		case !st.Up:
			avoid = append(avoid, n.addr)
		}
	}
	slices.SortStableFunc(ps, func(a, b p) int { return int(b.tl - a.tl) })
	for _, x := range ps {
		prefer = append(prefer, x.addr)
	}
	return prefer, avoid
}

func (r *Replicas) probe(ctx context.Context, n *replicaNode) {
	ctx, cancel := context.WithTimeout(ctx, replicaReadTimeout)
	defer cancel()
	var (
		recovery, readOnly bool
		lsn, tl            int64
	)
	err := n.pool.QueryRow(ctx, sqlProbe).Scan(&recovery, &readOnly, &lsn, &tl)
	st := NodeStatus{Name: n.name, Role: "down"}
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled):
		return // shutting down
	case err != nil:
		st.Error = oneLine(err.Error())
	case recovery:
		st.Up, st.Role, st.LSN = true, "replica", lsn
	case readOnly:
		st.Up, st.Role, st.LSN, st.Timeline = true, "fenced", lsn, tl
	default:
		st.Up, st.Role, st.LSN, st.Timeline = true, "primary", lsn, tl
		r.primary.ObserveTimeline(tl)
	}
	n.mu.Lock()
	prev := n.st.Role
	n.st = st
	n.mu.Unlock()
	if prev != st.Role {
		r.log.Info("database node role", "node", n.name, "role", st.Role, "was", prev, "err", st.Error)
	}
}

// ReplicationStatus is GET /replication: mysite's view of the cluster.
type ReplicationStatus struct {
	Reads    string       `json:"reads"`
	Fallback bool         `json:"fallback"`
	Nodes    []NodeStatus `json:"nodes"`
	// PrimaryReads counts reads the primary served (mode primary, no
	// replica able to, or asked for).
	PrimaryReads int64 `json:"primary_reads"`
	// Writable counts the nodes whose last probe found them accepting
	// writes: more than one is two primaries (split brain).
	Writable int `json:"writable"`
	// MaxTimeline is the newest primary timeline seen.
	MaxTimeline int64 `json:"max_timeline"`
	// Standbys is the primary's pg_stat_replication; StandbysError says why
	// it is missing (the primary is down).
	Standbys      []StandbyStat `json:"standbys"`
	StandbysError string        `json:"standbys_error,omitempty"`
}

// Status is the current ReplicationStatus; the primary's standby view is
// read within timeout.
func (r *Replicas) Status(ctx context.Context, timeout time.Duration) ReplicationStatus {
	out := ReplicationStatus{Reads: r.mode, Fallback: r.fallback, PrimaryReads: r.primaryReads.Load(),
		MaxTimeline: r.primary.MaxTimeline(), Standbys: []StandbyStat{}}
	var primary *replicaNode // the newest primary the probes saw
	var primaryTL int64
	for _, n := range r.nodes {
		st := n.status()
		if st.Role == "primary" {
			out.Writable++
			if primary == nil || st.Timeline > primaryTL {
				primary, primaryTL = n, st.Timeline
			}
		}
		out.Nodes = append(out.Nodes, st)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The standby view is read through the node's own (probe and read)
	// pool, not the write pool: with synchronous replication under lag
	// every write connection waits for a replica, and the view of that lag
	// would wait behind them (seen: no sample for 2.7 s of a 5 s fault).
	read := r.primary.Standbys
	if primary != nil {
		read = func(ctx context.Context) ([]StandbyStat, error) { return readStandbys(ctx, primary.pool) }
	}
	if sb, err := read(ctx); err != nil {
		out.StandbysError = oneLine(err.Error())
	} else {
		out.Standbys = sb
	}
	return out
}

// minLSN reads the client's Mysite-Min-LSN (0 when absent or invalid).
func minLSN(r *http.Request) int64 {
	v, err := strconv.ParseInt(r.Header.Get(MinLSNHeader), 10, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}
