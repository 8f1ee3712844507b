package mysite

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are mysite's Prometheus metrics, on their own registry (so that
// several servers can live in one test process).
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
	inFlight prometheus.Gauge

	logins          prometheus.Counter
	sessionsUnknown prometheus.Counter

	// DB tracks database health (errors, up/down) for the store.
	DB *DBMonitor
	// Sessions tracks the session store's health the same way.
	Sessions *StoreMonitor
}

// NewMetrics creates the registry with the HTTP, DB, Go runtime and process
// metrics. log receives the database up/down lines.
func NewMetrics(log *slog.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mysite_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mysite_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2, 2.5, 3, 5, 10, 30},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mysite_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mysite_session_logins_total",
			Help: "Sessions started (successful POST /login).",
		}),
		sessionsUnknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mysite_session_unknown_total",
			Help: "Requests whose session cookie named no session (answered 401: the user was logged out).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.logins, m.sessionsUnknown,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.DB = NewDBMonitor(reg, log)
	m.Sessions = NewSessionMonitor(reg, log)
	return m
}

// RegisterPool exports the pool statistics, read at scrape time.
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) { m.registerPool(pool, nil) }

// RegisterShardPool exports one shard's pool statistics, labelled
// shard="<name>" (stage 11: a pool per shard).
func (m *Metrics) RegisterShardPool(name string, pool *pgxpool.Pool) {
	m.registerPool(pool, prometheus.Labels{"shard": name})
}

func (m *Metrics) registerPool(pool *pgxpool.Pool, labels prometheus.Labels) {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return f(pool.Stat()) })
	}
	counter := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return f(pool.Stat()) })
	}
	m.Registry.MustRegister(
		gauge("mysite_db_pool_acquired_conns", "Pool connections currently in use.",
			func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("mysite_db_pool_idle_conns", "Idle pool connections.",
			func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("mysite_db_pool_total_conns", "All pool connections (acquired, idle, being opened).",
			func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		gauge("mysite_db_pool_constructing_conns", "Pool connections being opened.",
			func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }),
		gauge("mysite_db_pool_max_conns", "Maximum pool size.",
			func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		counter("mysite_db_pool_acquires_total", "Successful connection acquisitions.",
			func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
		counter("mysite_db_pool_empty_acquires_total", "Acquisitions that had to wait for a connection.",
			func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		counter("mysite_db_pool_canceled_acquires_total", "Acquisitions abandoned because their context ended.",
			func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }),
		counter("mysite_db_pool_new_conns_total", "Connections opened.",
			func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }),
	)
}

// registerActiveSessions exports the number of sessions held in this
// process (memory sessions only), read at scrape time. A second call on the
// same Metrics keeps the first.
func (m *Metrics) registerActiveSessions(active func() int) {
	_ = m.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mysite_sessions_active",
		Help: "Unexpired sessions held in this process's memory (-sessions memory).",
	}, func() float64 { return float64(active()) }))
}

// registerCache exports the cache's counters (mysite_cache_*), read at
// scrape time, and its monitor's errors by operation and up/down state. A
// second call on the same Metrics keeps the first.
func (m *Metrics) registerCache(c *CachedStore) {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	s := &c.stats
	for _, col := range []prometheus.Collector{
		counter("mysite_cache_hits_total", "Cache lookups that found the user (each GET /users/{id} makes one lookup).", &s.hits),
		counter("mysite_cache_misses_total", "Cache lookups that did not find the user.", &s.misses),
		counter("mysite_cache_timeouts_total", "Cache calls ended by the cache timeout (also counted in mysite_cache_errors_total).", &s.timeouts),
		counter("mysite_cache_fills_total", "Users stored in the cache after a database read.", &s.fills),
		counter("mysite_cache_fills_suppressed_total", "Fills dropped because a write took the lease meanwhile (-cache-guard lease).", &s.fillsSuppressed),
		counter("mysite_cache_invalidations_total", "Cache entries deleted or updated after writes.", &s.invalidations),
		counter("mysite_cache_db_reads_total", "Database reads made by user lookups through the cache (misses, failed lookups, lease fallbacks).", &s.dbReads),
		counter("mysite_cache_coalesced_total", "User lookups that shared another request's database read (-cache-guard coalesce).", &s.coalesced),
		counter("mysite_cache_lease_waits_total", "User lookups that found the lease taken and waited for its holder's fill (-cache-guard lease).", &s.leaseWaits),
		counter("mysite_cache_lease_fallbacks_total", "Lease waits that ended without a fill and read the database.", &s.leaseMisses),
		c.mon.errors, c.mon.up, c.mon.changes,
	} {
		_ = m.Registry.Register(col)
	}
}

func (m *Metrics) observeRequest(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, codeLabel(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func codeLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}

type dbState int

const (
	dbUnknown dbState = iota
	dbUp
	dbDown
)

// StoreMonitor counts a backing store's errors and tracks whether it is up,
// logging one line per state change ("database down", "session store up").
// When the state flaps (e.g. latency near the timeout), lines are limited to
// one per second; the line then says how many changes it summarizes, and Run
// logs the final state.
type StoreMonitor struct {
	log     *slog.Logger
	what    string // "database", "session store": the subject of log lines
	errors  *prometheus.CounterVec
	up      prometheus.Gauge
	changes prometheus.Counter
	retries *prometheus.CounterVec

	mu      sync.Mutex
	state   dbState
	logged  dbState
	lastLog time.Time
	pending int    // state changes not logged yet
	lastErr string // most recent error
}

// DBMonitor is the StoreMonitor of the database.
type DBMonitor = StoreMonitor

// NewDBMonitor registers the database's metrics (mysite_db_*) on reg (if
// not nil).
func NewDBMonitor(reg prometheus.Registerer, log *slog.Logger) *DBMonitor {
	return newStoreMonitor(reg, log, "db", "database", "get, create, put, ping, schema")
}

// NewSessionMonitor registers the session store's metrics
// (mysite_session_store_*) on reg (if not nil).
func NewSessionMonitor(reg prometheus.Registerer, log *slog.Logger) *StoreMonitor {
	return newStoreMonitor(reg, log, "session_store", "session store", "login, get, delete, ping")
}

func newStoreMonitor(reg prometheus.Registerer, log *slog.Logger, metric, what, ops string) *StoreMonitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &StoreMonitor{
		log:  log,
		what: what,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mysite_" + metric + "_errors_total",
			Help: "Failed " + what + " calls by operation (" + ops + ").",
		}, []string{"op"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mysite_" + metric + "_up",
			Help: "1 if the last " + what + " call succeeded, 0 if it failed for unavailability.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mysite_" + metric + "_state_changes_total",
			Help: strings.ToUpper(what[:1]) + what[1:] + " up/down transitions.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mysite_" + metric + "_retries_total",
			Help: "Calls tried again on another connection because theirs was dead.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.errors, m.up, m.changes, m.retries)
	}
	return m
}

// Observe records the result of one call. err is nil on success (including
// answers such as "not found", "already exists", "no such session").
func (m *StoreMonitor) Observe(op string, err error) {
	next := dbUp
	if err != nil {
		m.errors.WithLabelValues(op).Inc()
		if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			next = dbDown
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil && next == dbDown {
		m.lastErr = oneLine(err.Error())
	}
	if next != m.state {
		m.state = next
		m.pending++
		m.changes.Inc()
		if next == dbUp {
			m.up.Set(1)
		} else {
			m.up.Set(0)
		}
	}
	if m.state != m.logged && time.Since(m.lastLog) >= time.Second {
		m.logLocked()
	}
}

// Retried counts a call retried on another connection.
func (m *StoreMonitor) Retried(op string) { m.retries.WithLabelValues(op).Inc() }

// Up reports whether the last call succeeded.
func (m *StoreMonitor) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == dbUp
}

func (m *StoreMonitor) logLocked() {
	attrs := []any{}
	if m.pending > 1 {
		attrs = append(attrs, "changes", m.pending)
	}
	if m.state == dbUp {
		m.log.Info(m.what+" up", attrs...)
	} else {
		m.log.Warn(m.what+" down", append(attrs, "err", m.lastErr)...)
	}
	m.logged = m.state
	m.lastLog = time.Now()
	m.pending = 0
}

// Flush logs the current state if a rate-limited change is still unlogged.
func (m *StoreMonitor) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != m.logged {
		m.logLocked()
	}
}

// Run flushes rate-limited state changes every second until ctx is done.
func (m *StoreMonitor) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Flush()
		}
	}
}
