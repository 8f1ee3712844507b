package mysite

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HTTP server limits. WriteTimeout is derived from the DB timeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	poolCloseTimeout  = 5 * time.Second
)

// Run serves mysite until ctx is done, then shuts down gracefully: stops
// accepting, lets in-flight requests finish within cfg.ShutdownTimeout, and
// closes the database pool. It returns nil after a clean shutdown.
//
// The HTTP server starts at once; the database is connected and the schema
// created in the background, retrying until it works (readyz says 503 until
// then).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return run(ctx, cfg, log, nil)
}

// run is Run with a hook called once the listener is bound (for tests that
// listen on ":0").
func run(ctx context.Context, cfg Config, log *slog.Logger, onListen func(net.Addr)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Role == RoleWorker {
		return runWorker(ctx, cfg, log, onListen)
	}
	metrics := NewMetrics(log)
	if cfg.sharded() {
		return runSharded(ctx, cfg, log, metrics, onListen)
	}
	store, err := NewPGStore(cfg, metrics.DB, log)
	if err != nil {
		return err
	}
	metrics.RegisterPool(store.Pool())
	var replicas *Replicas
	if strings.TrimSpace(cfg.Replicas) != "" {
		if replicas, err = NewReplicas(cfg, store, log); err != nil {
			store.Close()
			return err
		}
	}
	sessions := newSessionStore(cfg)
	name := cmp.Or(cfg.Name, DefaultName())
	sessionTimeout := cmp.Or(cfg.SessionTimeout, DefaultSessionTimeout)

	var front Store = store
	var behind *writeBehind
	if cfg.Writes == WritesBehind {
		behind = newWriteBehind(store, cfg.DBTimeout, log)
		front = behind
		log.Warn("writes are acknowledged before they are stored (write-behind): a slow or unreachable database loses them (negative-control mode)")
	}
	var failpoints *Failpoints
	if cfg.Failpoints {
		failpoints = &Failpoints{}
		log.Warn("failpoints are served at /failpoints: anyone who reaches this server can make it misbehave (lab mode)")
	}
	var cache *CachedStore
	if cfg.Cache != "" {
		cache = NewCachedStore(front, cfg.Cache, CacheOptions{
			TTL: cfg.CacheTTL, Timeout: cfg.CacheTimeout,
			Invalidation: cfg.CacheInvalidation, Guard: cfg.CacheGuard,
			LoadTimeout: cfg.DBTimeout, Logger: log, Failpoints: failpoints,
		})
		front = cache
	}
	var jobs *Jobs
	if cfg.Jobs.Queue != "" || cfg.Jobs.Sync {
		jobs = NewJobs(cfg.Jobs, store.Pool(), name, log)
	}
	handler := NewServer(Options{
		Store: front, DBTimeout: cfg.DBTimeout,
		Sessions: sessions, SessionTTL: cfg.SessionTTL, SessionTimeout: sessionTimeout,
		Name: name, Replicas: replicas, Static: cfg.staticOptions(), Metrics: metrics, Logger: log,
		Failpoints: failpoints, Jobs: jobs,
	})
	hs := newHTTPServer(cfg, handler, sessionTimeout, log)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		store.Close()
		sessions.Close()
		if cache != nil {
			cache.Close()
		}
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	cc := store.Pool().Config().ConnConfig
	sessionAttrs := []any{"sessions", cfg.sessions()}
	if cfg.sessions() == SessionsRedis {
		sessionAttrs = append(sessionAttrs, "redis", cfg.Redis)
	}
	log.Info("mysite started", append([]any{"addr", ln.Addr().String(), "name", name,
		"db_host", cc.Host, "db_port", cc.Port, "db_name", cc.Database, "db_user", cc.User,
		"db_timeout", cfg.DBTimeout, "max_conns", cfg.MaxConns, "shutdown_timeout", cfg.ShutdownTimeout},
		append(sessionAttrs, "session_ttl", cmp.Or(cfg.SessionTTL, DefaultSessionTTL), "session_timeout", sessionTimeout)...)...)
	if cfg.DBTimeout == 0 {
		log.Warn("db timeout is 0: requests will hang while the database is slow (negative-control mode)")
	}
	if cache != nil {
		st := cache.Status()
		log.Info("cache", "addr", st.Addr, "ttl", time.Duration(st.TTLMS)*time.Millisecond, "timeout", cfg.CacheTimeout,
			"invalidation", st.Invalidation, "guard", st.Guard)
		if cfg.CacheTimeout == 0 {
			log.Warn("cache timeout is 0: requests will stall while the cache is slow (negative-control mode)")
		} else if cfg.DBTimeout > 0 && cfg.CacheTimeout >= cfg.DBTimeout {
			log.Warn("cache timeout is not below the db timeout: a slow cache leaves no time for the database", "cache_timeout", cfg.CacheTimeout, "db_timeout", cfg.DBTimeout)
		}
	}
	if onListen != nil {
		onListen(ln.Addr())
	}

	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { store.MaintainSchema(bgCtx) })
	if behind != nil {
		bg.Go(func() { behind.Run(bgCtx) })
	}
	bg.Go(func() { metrics.DB.Run(bgCtx) })
	bg.Go(func() { metrics.Sessions.Run(bgCtx) })
	if cache != nil {
		bg.Go(func() { cache.Monitor().Run(bgCtx) })
	}
	if jobs != nil {
		bg.Go(func() { jobs.Run(bgCtx) })
	}
	if replicas != nil {
		bg.Go(func() { replicas.Monitor(bgCtx) })
		log.Info("read replicas", "reads", replicas.Mode(), "fallback", !cfg.NoReadFallback, "nodes", cfg.Replicas)
	}

	runErr := serve(ctx, cfg, hs, ln, log)

	stopBackground()
	bg.Wait()
	metrics.DB.Flush()
	metrics.Sessions.Flush()
	if cache != nil {
		cache.Monitor().Flush()
		cache.Close()
	}
	if !closeWithin(store.Close, poolCloseTimeout) {
		log.Warn("database pool did not close in time", "timeout", poolCloseTimeout)
	}
	if replicas != nil && !closeWithin(replicas.Close, poolCloseTimeout) {
		log.Warn("replica pools did not close in time", "timeout", poolCloseTimeout)
	}
	sessions.Close()
	log.Info("mysite stopped", "clean", runErr == nil)
	return runErr
}

// newHTTPServer is the HTTP server of a web role.
func newHTTPServer(cfg Config, handler http.Handler, sessionTimeout time.Duration, log *slog.Logger) *http.Server {
	writeTimeout := time.Duration(0) // DB timeout 0: requests may hang, by design
	if cfg.DBTimeout > 0 {
		// A request may wait for the session store, then for the database.
		writeTimeout = cfg.DBTimeout + sessionTimeout + 10*time.Second
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve serves on ln until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, cfg Config, hs *http.Server, ln net.Listener, log *slog.Logger) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("mysite stopping", "shutdown_timeout", cfg.ShutdownTimeout)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err := hs.Shutdown(shutdownCtx)
		cancel()
		if err != nil {
			// In-flight requests did not finish in time: cut their
			// connections, which also cancels their contexts.
			_ = hs.Close()
			runErr = fmt.Errorf("shutdown: in-flight requests did not finish within %v; connections closed", cfg.ShutdownTimeout)
		}
		<-serveErr // http.ErrServerClosed
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	return runErr
}

// runSharded is run for a sharded configuration (stage 11): users over
// -shard databases, sessions in memory, no replicas, cache or jobs
// (Validate refuses them).
func runSharded(ctx context.Context, cfg Config, log *slog.Logger, metrics *Metrics, onListen func(net.Addr)) error {
	store, err := NewShardedStore(cfg, log)
	if err != nil {
		return err
	}
	for _, p := range store.Pools() {
		metrics.RegisterShardPool(p.Name, p.Pool)
	}
	var failpoints *Failpoints
	if cfg.Failpoints {
		failpoints = &Failpoints{}
		log.Warn("failpoints are served at /failpoints: anyone who reaches this server can make it misbehave (lab mode)")
	}
	sessions := newSessionStore(cfg)
	name := cmp.Or(cfg.Name, DefaultName())
	sessionTimeout := cmp.Or(cfg.SessionTimeout, DefaultSessionTimeout)
	var served Store = store
	if cfg.ReadCacheTTL > 0 {
		served = NewReadCache(store, cfg.ReadCacheTTL)
	}
	handler := NewServer(Options{
		Store: served, DBTimeout: cfg.DBTimeout,
		Sessions: sessions, SessionTTL: cfg.SessionTTL, SessionTimeout: sessionTimeout,
		Name: name, Static: cfg.staticOptions(), Metrics: metrics, Logger: log, Failpoints: failpoints,
	})
	hs := newHTTPServer(cfg, handler, sessionTimeout, log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		store.Close()
		sessions.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("mysite started", "addr", ln.Addr().String(), "name", name,
		"shards", store.Shards(), "spares", store.Spares(), "strategy", cmp.Or(cfg.ShardStrategy, ShardRing),
		"vnodes", cmp.Or(cfg.VNodes, DefaultVNodes), "move_rate", cfg.MoveRate, "read_cache_ttl", cfg.ReadCacheTTL,
		"db_timeout", cfg.DBTimeout, "max_conns_per_shard", cfg.MaxConns, "shutdown_timeout", cfg.ShutdownTimeout,
		"sessions", cfg.sessions(), "session_ttl", cmp.Or(cfg.SessionTTL, DefaultSessionTTL))
	if cfg.DBTimeout == 0 {
		log.Warn("db timeout is 0: requests will hang while a shard is slow (negative-control mode)")
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { store.Run(bgCtx) })
	bg.Go(func() { metrics.Sessions.Run(bgCtx) })

	runErr := serve(ctx, cfg, hs, ln, log)

	stopBackground()
	bg.Wait()
	metrics.Sessions.Flush()
	if !closeWithin(store.Close, poolCloseTimeout) {
		log.Warn("shard pools did not close in time", "timeout", poolCloseTimeout)
	}
	sessions.Close()
	log.Info("mysite stopped", "clean", runErr == nil)
	return runErr
}

// sessionConns caps the session Redis connections of one server.
const sessionConns = 32

// newSessionStore builds the configured session store (cfg is valid).
func newSessionStore(cfg Config) SessionStore {
	if cfg.sessions() == SessionsRedis {
		return NewRedisSessions(cfg.Redis, sessionConns)
	}
	return NewMemorySessions()
}

// closeWithin runs f and waits at most d for it.
func closeWithin(f func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
