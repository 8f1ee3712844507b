package mysite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema is created at startup (and again if the table disappears, e.g. the
// database was replaced by an empty one).
const Schema = `CREATE TABLE IF NOT EXISTS users (
	id            text PRIMARY KEY,
	first_name    text NOT NULL,
	last_name     text NOT NULL DEFAULT '',
	address       jsonb,
	phone_numbers jsonb,
	write_id      text,
	version       bigint NOT NULL
)`

const (
	userColumns = `id, first_name, last_name, address, phone_numbers, coalesce(write_id, ''), version`

	sqlGet = `SELECT ` + userColumns + ` FROM users WHERE id = $1`

	sqlCreate = `INSERT INTO users (id, first_name, last_name, address, phone_numbers, write_id, version)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, NULLIF($6, ''), 1)
ON CONFLICT (id) DO NOTHING
RETURNING ` + userColumns

	sqlPut = `INSERT INTO users (id, first_name, last_name, address, phone_numbers, write_id, version)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, NULLIF($6, ''), 1)
ON CONFLICT (id) DO UPDATE SET` + userFieldsReplaced + `
	version       = users.version + 1
RETURNING ` + userColumns

	// userFieldsReplaced is what an upsert replaces of a stored user but
	// its version (each upsert says what becomes of that).
	userFieldsReplaced = `
	first_name    = EXCLUDED.first_name,
	last_name     = EXCLUDED.last_name,
	address       = EXCLUDED.address,
	phone_numbers = EXCLUDED.phone_numbers,
	write_id      = EXCLUDED.write_id,`
)

// replicatedConnectTimeout bounds the connect to one host of the write
// pool when there are replicas (see NewPGStore).
const replicatedConnectTimeout = time.Second

// schemaAttemptTimeout bounds one schema attempt when the DB timeout is 0
// ("no timeout" applies to requests; startup must still make progress).
const schemaAttemptTimeout = 10 * time.Second

// PGStore is the PostgreSQL Store, on a pgx connection pool.
//
// Recovery without restart: a connection that fails (server killed, reset,
// or a statement interrupted by its deadline) is closed by pgx and dropped by
// the pool when released, and new connections are made on demand. Pooled
// connections are pinged before reuse when idle for over a second, and before
// every use for a while after any connection failure; a read whose connection
// turns out dead is retried once on another one. So requests succeed again as
// soon as the database is back.
type PGStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration // per DB call; 0 = none
	mon     *DBMonitor
	log     *slog.Logger

	schemaReady atomic.Bool
	lastErr     atomic.Pointer[string] // last schema error, for readyz
	reinit      chan struct{}          // cap 1: ask MaintainSchema to run again

	// suspectUntil (unix ns): after a connection-level failure, every pooled
	// connection is pinged before use until then, so that the other dead
	// connections of a restarted server are dropped without failing requests.
	suspectUntil atomic.Int64

	// Replication (stage 4), both off without replicas:
	// commitLSN: every write also reads the primary's WAL position after its
	// commit, for read-your-writes routing (User.commitLSN).
	commitLSN bool
	// maxTimeline is the highest timeline seen on a primary. With it set,
	// a new connection to a primary on an older timeline is refused: that
	// is a former primary (back from a crash or a partition) whose commits
	// after the failover the cluster does not have.
	fenceTimeline bool
	maxTimeline   atomic.Int64
	// route steers new connections of a multi-host DSN: pgx tries its hosts
	// in order, and a dead one can take the whole connect timeout to fail
	// (behind Toxiproxy a dead server accepts and never answers).
	route atomic.Pointer[hostRoute]
}

// hostRoute is what the replica monitor last saw: the nodes accepting
// writes (newest timeline first), and the nodes that did not answer.
type hostRoute struct{ prefer, avoid []string }

// suspectWindow is how long pooled connections are pinged before every use
// after a connection failure.
const suspectWindow = 10 * time.Second

// NewPGStore builds the store on a pool created from cfg. It does not
// connect: call MaintainSchema (in a goroutine) to create the schema, which
// makes the store ready. mon may be nil.
func NewPGStore(cfg Config, mon *DBMonitor, log *slog.Logger) (*PGStore, error) {
	pc, err := cfg.poolConfig()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mon == nil {
		mon = NewDBMonitor(nil, log)
	}
	s := &PGStore{
		timeout: cfg.DBTimeout,
		mon:     mon,
		log:     log,
		reinit:  make(chan struct{}, 1),
	}
	if strings.TrimSpace(cfg.Replicas) != "" {
		// pgx gives each host of a multi-host DSN the whole connect timeout,
		// and a connect that hangs on a dead host holds a pool slot until
		// it gives up (it is not cancelled with the request): at 2 s a
		// failover's first second fills the pool with them. A healthy
		// connect takes milliseconds.
		if cc := &pc.ConnConfig.Config; cc.ConnectTimeout == 0 || cc.ConnectTimeout > replicatedConnectTimeout {
			cc.ConnectTimeout = replicatedConnectTimeout
		}
		s.fenceTimeline = true
		s.commitLSN = cfg.reads() == ReadsRYW
		inner := pc.ConnConfig.ValidateConnect // target_session_attrs, if any
		pc.ConnConfig.ValidateConnect = func(ctx context.Context, c *pgconn.PgConn) error {
			if inner != nil {
				if err := inner(ctx, c); err != nil {
					return err
				}
			}
			return s.checkTimeline(ctx, c)
		}
		pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			if r := s.route.Load(); r != nil {
				routeHosts(&cc.Config, *r)
			}
			return nil
		}
	}
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		// pgx's default (idle for over a second), plus every use while
		// connections are suspect.
		return p.IdleDuration > time.Second || time.Now().UnixNano() < s.suspectUntil.Load()
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("create database pool: %w", err)
	}
	s.pool = pool
	return s, nil
}

// Pool is the underlying connection pool (for metrics).
func (s *PGStore) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool; it waits for connections in use to be released.
func (s *PGStore) Close() { s.pool.Close() }

// MaintainSchema creates the schema, retrying with backoff until it
// succeeds, then waits until a request finds the table missing and creates it
// again. It returns when ctx is done.
func (s *PGStore) MaintainSchema(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	created := false
	for {
		err := s.createSchema(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.lastErr.Store(nil)
			s.schemaReady.Store(true)
			if created {
				s.log.Warn("database schema re-created (users table was missing)")
			} else {
				s.log.Info("database schema ready")
			}
			created = true
			backoff = minBackoff
			select {
			case <-ctx.Done():
				return
			case <-s.reinit:
				continue
			}
		}
		msg := err.Error()
		s.lastErr.Store(&msg)
		// Full jitter keeps many instances from retrying in lockstep.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (s *PGStore) createSchema(ctx context.Context) error {
	t := s.timeout
	if t <= 0 {
		t = schemaAttemptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	_, err := s.pool.Exec(ctx, Schema)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v: %w", t, err)
	}
	err = s.classify(err, true)
	s.observe(ctx, "schema", err)
	return err
}

// checkSchema fails fast while the schema is not known to exist.
func (s *PGStore) checkSchema() error {
	if s.schemaReady.Load() {
		return nil
	}
	msg := "schema not initialized yet"
	if last := s.lastErr.Load(); last != nil {
		msg += " (last attempt: " + *last + ")"
	}
	return Unavailable(errors.New(msg), true)
}

// Ready reports whether the schema exists and the database answers a ping.
func (s *PGStore) Ready(ctx context.Context) error {
	if err := s.checkSchema(); err != nil {
		return err
	}
	err := s.pool.Ping(ctx)
	err = s.classify(err, pgconn.SafeToRetry(err))
	s.observe(ctx, "ping", err)
	return err
}

// Get implements Store.
func (s *PGStore) Get(ctx context.Context, id string) (User, error) {
	return s.queryUser(ctx, "get", true, sqlGet, id)
}

// sqlTimeline is the timeline of a primary (the first 8 hex digits of its
// current WAL file's name), 0 on a standby.
const sqlTimeline = `SELECT CASE WHEN pg_is_in_recovery() THEN 0
	ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END`

// checkTimeline refuses a primary on a timeline older than one already seen
// (a promotion starts a new timeline), and remembers newer ones.
func (s *PGStore) checkTimeline(ctx context.Context, c *pgconn.PgConn) error {
	res, err := c.Exec(ctx, sqlTimeline).ReadAll()
	if err != nil {
		return err
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return errors.New("timeline query returned nothing")
	}
	tl, err := strconv.ParseInt(string(res[0].Rows[0][0]), 10, 64)
	if err != nil {
		return fmt.Errorf("timeline %q: %w", res[0].Rows[0][0], err)
	}
	if tl == 0 { // a standby: target_session_attrs decides
		return nil
	}
	if seen := s.maxTimeline.Load(); tl < seen {
		return fmt.Errorf("a primary on timeline %d, but timeline %d exists: a former primary, refused", tl, seen)
	}
	s.ObserveTimeline(tl)
	return nil
}

// RouteHosts steers new connections (addresses "host:port" of the DSN's
// hosts): those in prefer are tried first, in that order, and those in
// avoid not at all, unless that would leave none.
func (s *PGStore) RouteHosts(prefer, avoid []string) {
	s.route.Store(&hostRoute{prefer: prefer, avoid: avoid})
}

// routeHosts reorders a connection config's hosts (Host/Port, then its
// Fallbacks) as r says; the others keep their order.
func routeHosts(c *pgconn.Config, r hostRoute) {
	addr := func(h *pgconn.FallbackConfig) string { return net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port))) }
	all := append([]*pgconn.FallbackConfig{{Host: c.Host, Port: c.Port, TLSConfig: c.TLSConfig}}, c.Fallbacks...)
	hosts := slices.DeleteFunc(slices.Clone(all), func(h *pgconn.FallbackConfig) bool { return slices.Contains(r.avoid, addr(h)) })
	if len(hosts) == 0 {
		hosts = all
	}
	rank := func(h *pgconn.FallbackConfig) int {
		if i := slices.Index(r.prefer, addr(h)); i >= 0 {
			return i
		}
		return len(r.prefer)
	}
	slices.SortStableFunc(hosts, func(a, b *pgconn.FallbackConfig) int { return rank(a) - rank(b) })
	c.Host, c.Port, c.TLSConfig = hosts[0].Host, hosts[0].Port, hosts[0].TLSConfig
	c.Fallbacks = hosts[1:]
}

// ObserveTimeline records that a primary on timeline tl exists.
func (s *PGStore) ObserveTimeline(tl int64) {
	for {
		seen := s.maxTimeline.Load()
		if tl <= seen || s.maxTimeline.CompareAndSwap(seen, tl) {
			return
		}
	}
}

// MaxTimeline is the highest primary timeline seen (0: none yet, or no
// replicas configured).
func (s *PGStore) MaxTimeline() int64 { return s.maxTimeline.Load() }

// StandbyStat is one line of the primary's pg_stat_replication.
type StandbyStat struct {
	Name      string  `json:"name"` // application_name
	State     string  `json:"state"`
	SyncState string  `json:"sync_state"`
	LagBytes  float64 `json:"lag_bytes"` // WAL written on the primary, not yet replayed there
	// Lags as PostgreSQL measures them: from a commit's WAL flushed on the
	// primary until the standby reports it written, flushed, replayed (a
	// round trip: the report travels back). 0 when caught up and idle.
	WriteLagMS  float64 `json:"write_lag_ms"`
	FlushLagMS  float64 `json:"flush_lag_ms"`
	ReplayLagMS float64 `json:"replay_lag_ms"`
}

const sqlStandbys = `SELECT coalesce(application_name, ''), coalesce(state, ''), coalesce(sync_state, ''),
	coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8,
	coalesce(extract(epoch FROM write_lag), 0)::float8 * 1000,
	coalesce(extract(epoch FROM flush_lag), 0)::float8 * 1000,
	coalesce(extract(epoch FROM replay_lag), 0)::float8 * 1000
FROM pg_stat_replication ORDER BY application_name`

// Standbys reads pg_stat_replication on the primary.
func (s *PGStore) Standbys(ctx context.Context) ([]StandbyStat, error) {
	return readStandbys(ctx, s.pool)
}

// readStandbys reads pg_stat_replication through pool, which must reach
// the primary.
func readStandbys(ctx context.Context, pool *pgxpool.Pool) ([]StandbyStat, error) {
	rows, err := pool.Query(ctx, sqlStandbys)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StandbyStat, error) {
		var st StandbyStat
		err := r.Scan(&st.Name, &st.State, &st.SyncState, &st.LagBytes, &st.WriteLagMS, &st.FlushLagMS, &st.ReplayLagMS)
		return st, err
	})
}

// sqlTransactions is the database's own count of transactions, committed
// and rolled back, of every client (this query's included).
const sqlTransactions = `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`

// Transactions implements TransactionCounter from pg_stat_database.
// PostgreSQL publishes each connection's counts when its transactions end,
// at most once a second per connection, so the number trails the load by
// about a second (an idle connection's last counts, by up to 10 s).
func (s *PGStore) Transactions(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, sqlTransactions).Scan(&n); err != nil {
		return 0, fmt.Errorf("read pg_stat_database: %w", err)
	}
	return n, nil
}

// Create implements Store.
func (s *PGStore) Create(ctx context.Context, u User) (User, error) {
	args, err := userArgs(u)
	if err != nil {
		return User{}, err
	}
	got, err := s.queryUser(ctx, "create", false, sqlCreate, args...)
	if errors.Is(err, ErrNotFound) { // DO NOTHING returned no row
		return User{}, ErrExists
	}
	return got, err
}

// Put implements Store.
func (s *PGStore) Put(ctx context.Context, u User) (User, error) {
	args, err := userArgs(u)
	if err != nil {
		return User{}, err
	}
	return s.queryUser(ctx, "put", false, sqlPut, args...)
}

func userArgs(u User) ([]any, error) {
	var addr []byte // nil: NULL
	if u.Address != nil {
		b, err := json.Marshal(u.Address)
		if err != nil {
			return nil, fmt.Errorf("encode address: %w", err)
		}
		addr = b
	}
	phones := u.PhoneNumbers
	if phones == nil {
		phones = []PhoneNumber{}
	}
	ph, err := json.Marshal(phones)
	if err != nil {
		return nil, fmt.Errorf("encode phoneNumbers: %w", err)
	}
	// jsonb parameters are sent as text so that pgx passes them through as is.
	var addrArg any
	if addr != nil {
		addrArg = string(addr)
	}
	return []any{u.ID, u.FirstName, u.LastName, addrArg, string(ph), u.WriteID}, nil
}

// queryUser runs a statement returning at most one user row. No row gives
// ErrNotFound.
//
// If the connection turns out to be dead (typically: the server restarted
// since it was last used) and there is time left, the statement is tried once
// more on another connection, provided that is safe: always for reads
// (idempotent), for writes only when the failure certainly happened before
// the statement reached the server.
func (s *PGStore) queryUser(ctx context.Context, op string, idempotent bool, sql string, args ...any) (User, error) {
	if err := s.checkSchema(); err != nil {
		return User{}, err
	}
	withLSN := s.commitLSN && !idempotent
	u, broken, err := s.queryOnce(ctx, withLSN, sql, args...)
	if err != nil && broken && ctx.Err() == nil && (idempotent || writeNotApplied(err)) {
		s.mon.Retried(op)
		u, _, err = s.queryOnce(ctx, withLSN, sql, args...)
	}
	if errors.Is(err, ErrNotFound) {
		s.observe(ctx, op, nil)
		return User{}, err
	}
	s.observe(ctx, op, err)
	return u, err
}

// sqlInsertLSN is the primary's WAL insert position, in bytes. Read on the
// connection that just committed a write, it is at or past the write's
// commit record: a replica that replayed up to it has the write.
const sqlInsertLSN = `SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`

// queryOnce runs the statement on one pooled connection. broken reports that
// the connection was found dead (pgx closed it) by this statement. withLSN
// reads the WAL position after the statement into u.commitLSN; if that
// fails the write happened but cannot be vouched for to read-your-writes
// routing, so it is reported as a failure that may have been applied.
func (s *PGStore) queryOnce(ctx context.Context, withLSN bool, sql string, args ...any) (u User, broken bool, err error) {
	// Acquire separately: a failure here certainly happened before the
	// statement was sent, which callers can report (write not applied).
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return User{}, false, s.classify(err, true)
	}
	defer release(conn)
	u, err = scanUser(conn.QueryRow(ctx, sql, args...))
	switch {
	case err == nil && withLSN:
		if err := conn.QueryRow(ctx, sqlInsertLSN).Scan(&u.commitLSN); err != nil {
			// %v, not %w: whatever the error, the write itself committed.
			return User{}, conn.Conn().IsClosed(), Unavailable(fmt.Errorf("write committed, but reading its WAL position failed: %v", err), false)
		}
		return u, false, nil
	case err == nil:
		return u, false, nil
	case errors.Is(err, pgx.ErrNoRows):
		return User{}, false, ErrNotFound
	}
	return User{}, conn.Conn().IsClosed(), s.classify(err, pgconn.SafeToRetry(err))
}

// release returns a connection to the pool, and takes one that pgx closed
// (its call timed out, or the link broke) out of the pool at once. pgxpool
// keeps a closed connection's slot until pgx's cleanup of it ends: a cancel
// request on a new connection and a goodbye to the server, for up to 15 s,
// over the very link that just failed. After a 3 s latency on web->db was
// healed, the 16 slots stayed taken by such cleanups for 5 s and more and
// every request timed out waiting for a connection. The cleanup goes on
// (pgx bounds it); only the slot is given back.
func release(c *pgxpool.Conn) {
	if !c.Conn().IsClosed() {
		c.Release()
		return
	}
	closed := c.Hijack()
	go closed.Close(context.Background())
}

func scanUser(row pgx.Row) (User, error) {
	var (
		u            User
		addr, phones []byte
	)
	if err := row.Scan(&u.ID, &u.FirstName, &u.LastName, &addr, &phones, &u.WriteID, &u.Version); err != nil {
		return User{}, err
	}
	if len(addr) > 0 && string(addr) != "null" {
		u.Address = new(Address)
		if err := json.Unmarshal(addr, u.Address); err != nil {
			return User{}, fmt.Errorf("decode stored address of %s: %w", u.ID, err)
		}
	}
	if len(phones) > 0 {
		if err := json.Unmarshal(phones, &u.PhoneNumbers); err != nil {
			return User{}, fmt.Errorf("decode stored phone_numbers of %s: %w", u.ID, err)
		}
	}
	if u.PhoneNumbers == nil {
		u.PhoneNumbers = []PhoneNumber{}
	}
	return u, nil
}

// classify maps a pgx error to the Store error contract. notApplied says
// whether the failure is known to have happened before the statement reached
// the server.
func (s *PGStore) classify(err error, notApplied bool) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// An ERROR rejects the statement and rolls back its implicit
		// transaction: nothing was written. A FATAL ends the session and can
		// come after the commit, so it proves nothing.
		sev := pgErr.SeverityUnlocalized
		if sev == "" {
			sev = pgErr.Severity
		}
		if sev == "ERROR" {
			notApplied = true
		} else {
			s.suspectConns()
		}
		if pgErr.Code == "42P01" { // undefined_table: the database lost our schema
			s.requestSchema()
			return Unavailable(fmt.Errorf("users table missing, re-creating schema: %w", err), notApplied)
		}
		if transientPgError(pgErr.Code) {
			return Unavailable(err, notApplied)
		}
		return err // a real database error: 500
	}
	// Everything else is about reaching the server: connect/dial errors,
	// connection reset or closed, deadlines, a closed pool.
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		s.suspectConns()
	}
	return Unavailable(err, notApplied)
}

// suspectConns makes the pool ping connections before use for a while.
func (s *PGStore) suspectConns() {
	s.suspectUntil.Store(time.Now().Add(suspectWindow).UnixNano())
}

// transientPgError: SQLSTATEs that mean "cannot serve now" rather than "this
// statement is wrong".
func transientPgError(code string) bool {
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: too many connections, disk full
		"57", // operator intervention: admin shutdown, query canceled, cannot connect now
		"58": // system error
		return true
	}
	return code == "25006" // read_only_sql_transaction: a standby after failover
}

func (s *PGStore) requestSchema() {
	s.schemaReady.Store(false)
	select {
	case s.reinit <- struct{}{}:
	default:
	}
}

// observe reports a DB call result to the monitor, except when the caller
// went away (client disconnected, shutdown): that says nothing about the DB.
func (s *PGStore) observe(ctx context.Context, op string, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	s.mon.Observe(op, err)
}
