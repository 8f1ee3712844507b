package mysite

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

// Config is everything mysite needs to start. Later stages add fields here
// (read replicas, cache, sessions, queue) together with their flags in
// ParseConfig; main does not change shape.
type Config struct {
	// Listen is the HTTP listen address (host:port, ":8080").
	Listen string
	// DB is the PostgreSQL DSN (URL or key=value form) of the primary.
	DB string
	// DBTimeout bounds every database call made for a request (and the
	// connect of a new pool connection). 0 means no timeout at all: a slow
	// database then makes requests hang. That is the lab's negative control,
	// never a production setting.
	DBTimeout time.Duration
	// MaxConns is the size limit of the PostgreSQL connection pool.
	MaxConns int
	// DBConnectRate caps how many new connections per second mysite opens
	// to the database (pool connections and the cancel requests pgx sends
	// for calls that timed out), with a burst of MaxConns. 0: no cap.
	DBConnectRate float64
	// ShutdownTimeout is how long in-flight requests may take to finish after
	// SIGTERM/SIGINT before their connections are cut.
	ShutdownTimeout time.Duration
	// Name is this server's name, reported in GET /me and in the
	// Mysite-Server header of every response. "" means the host name.
	Name string
	// Sessions is where login sessions live: SessionsMemory (this process;
	// "" means the same) or SessionsRedis (a shared Redis at Redis).
	Sessions string
	// Redis is the host:port of the session Redis (Sessions == "redis").
	Redis string
	// SessionTTL is how long a session lives after login. 0 means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// SessionTimeout bounds every session store call of a request. 0 means
	// DefaultSessionTimeout; unlike the DB timeout it cannot be turned off.
	SessionTimeout time.Duration
	// Replicas are the database nodes reads may go to (stage 4), as
	// space-separated name=DSN pairs (URL DSNs). Every node of a cluster can
	// be listed, its primary too: mysite probes them and reads only from
	// those in recovery (replicas). "" means no replicas: every read goes to
	// DB, as before. With replicas, DB is usually a multi-host DSN with
	// target_session_attrs=read-write, which finds the primary after a
	// failover.
	Replicas string
	// Reads is where reads go when there are replicas: ReadsReplica ("" means
	// the same), ReadsPrimary, or ReadsRYW (read-your-writes).
	Reads string
	// Writes is WritesThrough ("" means the same) or WritesBehind.
	Writes string
	// ReplicaCheck is how often the replicas are probed; 0 means
	// DefaultReplicaCheck.
	ReplicaCheck time.Duration
	// NoReadFallback turns off replica health checks and the fallback to the
	// primary: reads go round robin to the listed nodes, whatever their
	// state (the lab's negative control).
	NoReadFallback bool
	// Cache is the host:port of a Redis used as a read cache in front of
	// the database (stage 5, see CachedStore); "" means no cache: every
	// read goes to the database, as before.
	Cache string
	// CacheTTL is how long a cached user lives; 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// CacheTimeout bounds every cache call; when it passes, reads go to the
	// database. 0 means no timeout at all: a slow cache then stalls
	// requests (up to the DB timeout). That is the lab's negative control,
	// never a production setting.
	CacheTimeout time.Duration
	// CacheInvalidation is what a write does to the cached user:
	// CacheInvalidateDelete ("" means the same), CacheInvalidateUpdate or
	// CacheInvalidateNone.
	CacheInvalidation string
	// CacheGuard is the stampede guard: CacheGuardNone, CacheGuardCoalesce
	// ("" means the same) or CacheGuardLease.
	CacheGuard string

	// StaticMaxAge is the Cache-Control max-age of the static assets
	// (stage 6, see Static), whole seconds; 0 means DefaultStaticMaxAge and
	// StaticNoStore means Cache-Control: no-store (-static-max-age 0).
	StaticMaxAge time.Duration
	// StaticUnversioned: GET /page names the assets without ?v=N
	// (-static-versioned=false, the lab's negative control).
	StaticUnversioned bool
	// Failpoints serves /failpoints, where the lab turns failpoints on
	// and off while mysite runs (-failpoints; see Failpoints).
	Failpoints bool

	// Role is RoleWeb ("" means the same) or RoleWorker (-role worker:
	// takes photo jobs from the queue; see worker.go).
	Role string
	// Jobs are the photo jobs' settings (stage 9, jobs.go).
	Jobs JobsConfig

	// Shards are the PostgreSQL databases users are split over by id
	// (stage 11, see ShardedStore), as space-separated name=DSN pairs in
	// order; "" means no sharding (DB is the one database). With shards, DB
	// must be empty.
	Shards string
	// Spares are shards that are started and ready but own no keys until
	// POST /admin/reshard adds them to the router (same form as Shards).
	Spares string
	// ShardStrategy is ShardRing ("" means the same) or ShardModulo.
	ShardStrategy string
	// VNodes is the number of ring points per shard; 0 means
	// DefaultVNodes.
	VNodes int
	// MoveRate is how many rows per second a reshard copies; 0 means
	// unpaced (DefaultConfig sets DefaultMoveRate).
	MoveRate float64
	// ReadCacheTTL, with Shards, keeps the users this server read in its
	// memory this long (ReadCache); 0: none.
	ReadCacheTTL time.Duration
}

// Read routing modes (-reads).
const (
	ReadsReplica = "replica"          // healthy replicas, round robin; the primary when none answers
	ReadsPrimary = "primary"          // every read from the primary
	ReadsRYW     = "read-your-writes" // a replica that replayed the client's last write, else the primary
)

// DefaultReplicaCheck is how often replicas are probed by default.
const DefaultReplicaCheck = 100 * time.Millisecond

// DefaultDBConnectRate: PostgreSQL forks a process for every connection,
// a cancel request included; on the lab's 2-core VMs that costs 22 ms
// (pgbench -C: about 45 a second, on the host as in a container). A web
// server whose calls time out opens two for each (a new pool connection,
// pgx's cancel request for the old one): at 100 requests/s that is 200 a
// second, the postmaster's queue grew through the fault and took 5-15 s
// to drain after the heal. 20 a second per server leaves the database
// room and still fills a pool of 16 in under a second.
const DefaultDBConnectRate = 20

// Session defaults.
const (
	DefaultSessionTTL     = 30 * time.Minute
	DefaultSessionTimeout = 2 * time.Second
)

// Environment variables read as fallbacks when the flag is not given.
const (
	EnvListen          = "MYSITE_LISTEN"
	EnvDB              = "MYSITE_DB"
	EnvDBTimeout       = "MYSITE_DB_TIMEOUT"
	EnvMaxConns        = "MYSITE_DB_MAX_CONNS"
	EnvDBConnectRate   = "MYSITE_DB_CONNECT_RATE"
	EnvShutdownTimeout = "MYSITE_SHUTDOWN_TIMEOUT"
	EnvName            = "MYSITE_NAME"
	EnvSessions        = "MYSITE_SESSIONS"
	EnvRedis           = "MYSITE_REDIS"
	EnvSessionTTL      = "MYSITE_SESSION_TTL"
	EnvSessionTimeout  = "MYSITE_SESSION_TIMEOUT"
	EnvReplicas        = "MYSITE_REPLICAS"
	EnvReads           = "MYSITE_READS"

	EnvShards        = "MYSITE_SHARDS"
	EnvSpares        = "MYSITE_SPARES"
	EnvShardStrategy = "MYSITE_SHARD_STRATEGY"

	EnvCache             = "MYSITE_CACHE"
	EnvCacheTTL          = "MYSITE_CACHE_TTL"
	EnvCacheTimeout      = "MYSITE_CACHE_TIMEOUT"
	EnvCacheInvalidation = "MYSITE_CACHE_INVALIDATION"
	EnvCacheGuard        = "MYSITE_CACHE_GUARD"
)

// DefaultConfig is the configuration with every default applied and no DB.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8080",
		DBTimeout:       2 * time.Second,
		MaxConns:        16,
		DBConnectRate:   DefaultDBConnectRate,
		ShutdownTimeout: 10 * time.Second,
		Name:            DefaultName(),
		Sessions:        SessionsMemory,
		SessionTTL:      DefaultSessionTTL,
		SessionTimeout:  DefaultSessionTimeout,

		CacheTTL:          DefaultCacheTTL,
		CacheTimeout:      DefaultCacheTimeout,
		CacheInvalidation: DefaultCacheInvalidation,
		CacheGuard:        DefaultCacheGuard,

		ShardStrategy: ShardRing,
		VNodes:        DefaultVNodes,
		MoveRate:      DefaultMoveRate,
	}
}

// DefaultName is the host name (in a container: its hostname), or "mysite"
// when it cannot be read.
func DefaultName() string {
	if h, err := os.Hostname(); err == nil && validName(h) == nil {
		return h
	}
	return "mysite"
}

// ErrHelp is returned by ParseConfig when -h or -help was asked for; the usage
// text has then been written to the output.
var ErrHelp = flag.ErrHelp

// ParseConfig builds the Config from command-line arguments (without the
// program name), falling back to environment variables (looked up through
// getenv) and then to the defaults. Flags win over the environment. The usage
// text goes to usageOut, and only when -h/-help is given.
//
// The returned error is one line suitable for stderr.
func ParseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := DefaultConfig()
	// Environment first: it provides the defaults that flags override.
	if v := getenv(EnvListen); v != "" {
		cfg.Listen = v
	}
	if v := getenv(EnvDB); v != "" {
		cfg.DB = v
	}
	if v := getenv(EnvDBTimeout); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: %v", EnvDBTimeout, v, err)
		}
		cfg.DBTimeout = d
	}
	if v := getenv(EnvMaxConns); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: not an integer", EnvMaxConns, v)
		}
		cfg.MaxConns = n
	}
	if v := getenv(EnvDBConnectRate); v != "" {
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: not a number", EnvDBConnectRate, v)
		}
		cfg.DBConnectRate = r
	}
	if v := getenv(EnvShutdownTimeout); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: %v", EnvShutdownTimeout, v, err)
		}
		cfg.ShutdownTimeout = d
	}
	if v := getenv(EnvName); v != "" {
		cfg.Name = v
	}
	if v := getenv(EnvSessions); v != "" {
		cfg.Sessions = v
	}
	if v := getenv(EnvRedis); v != "" {
		cfg.Redis = v
	}
	if v := getenv(EnvReplicas); v != "" {
		cfg.Replicas = v
	}
	if v := getenv(EnvReads); v != "" {
		cfg.Reads = v
	}
	if v := getenv(EnvShards); v != "" {
		cfg.Shards = v
	}
	if v := getenv(EnvSpares); v != "" {
		cfg.Spares = v
	}
	if v := getenv(EnvShardStrategy); v != "" {
		cfg.ShardStrategy = v
	}
	for _, t := range []struct {
		env string
		to  *string
	}{{EnvCache, &cfg.Cache}, {EnvCacheInvalidation, &cfg.CacheInvalidation}, {EnvCacheGuard, &cfg.CacheGuard}} {
		if v := getenv(t.env); v != "" {
			*t.to = v
		}
	}
	jobsEnv(&cfg, getenv)
	if err := staticEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{EnvSessionTTL, &cfg.SessionTTL}, {EnvSessionTimeout, &cfg.SessionTimeout},
		{EnvCacheTTL, &cfg.CacheTTL}, {EnvCacheTimeout, &cfg.CacheTimeout}} {
		if v := getenv(d.env); v != "" {
			x, err := parseDuration(v)
			if err != nil {
				return Config{}, fmt.Errorf("%s=%q: %v", d.env, v, err)
			}
			*d.to = x
		}
	}

	fs := flag.NewFlagSet("mysite", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned as one line; usage only on -h
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen,
		"HTTP listen address (env "+EnvListen+")")
	fs.StringVar(&cfg.DB, "db", cfg.DB,
		"PostgreSQL DSN, e.g. postgres://user:pass@host:5432/db?sslmode=disable; required (env "+EnvDB+")")
	fs.DurationVar(&cfg.DBTimeout, "db-timeout", cfg.DBTimeout,
		"bound on every database call of a request and on connecting; when it passes the request gets 503. "+
			"0 disables the timeout: requests then HANG while the database is slow (the lab's negative control, never for real use) (env "+EnvDBTimeout+")")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns,
		"maximum PostgreSQL pool connections (env "+EnvMaxConns+")")
	fs.Float64Var(&cfg.DBConnectRate, "db-connect-rate", cfg.DBConnectRate,
		"new database connections per second at most, cancel requests included (burst: -max-conns); a connect that would wait over a second fails at once; 0: no cap (env "+EnvDBConnectRate+")")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout,
		"on SIGTERM/SIGINT, how long in-flight requests may take to finish (env "+EnvShutdownTimeout+")")
	fs.StringVar(&cfg.Name, "name", cfg.Name,
		"this server's name, reported by GET /me and in the Mysite-Server header of every response; default the host name (env "+EnvName+")")
	fs.StringVar(&cfg.Sessions, "sessions", cfg.Sessions,
		"where login sessions live: memory (this process: users stay logged in only while sticky routing keeps them on this server and it lives) "+
			"or redis (a shared Redis at -redis: any server serves any user) (env "+EnvSessions+")")
	fs.StringVar(&cfg.Redis, "redis", cfg.Redis,
		"host:port of the session Redis; required with -sessions redis (env "+EnvRedis+")")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", cfg.SessionTTL,
		"how long a session lives after login (env "+EnvSessionTTL+")")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout,
		"bound on every session store call of a request; when it passes the request gets 503 (env "+EnvSessionTimeout+")")
	replicasFromFlags := false
	fs.Func("replica", "a database node reads may go to, name=DSN (URL form); repeat for every node. "+
		"mysite probes them and reads only from those in recovery (env "+EnvReplicas+": space-separated)", func(v string) error {
		if !replicasFromFlags { // flags replace the environment's list
			cfg.Replicas, replicasFromFlags = "", true
		}
		cfg.Replicas = strings.TrimSpace(cfg.Replicas + " " + v)
		return nil
	})
	fs.StringVar(&cfg.Reads, "reads", cfg.Reads,
		"where reads go with -replica: replica (healthy replicas, the primary when none answers), primary, "+
			"or read-your-writes (a replica that replayed the client's last write, named by the Mysite-Min-LSN header, else the primary) (env "+EnvReads+")")
	fs.StringVar(&cfg.Writes, "writes", cfg.Writes,
		"through: a write is acknowledged once the database committed it; behind: once queued in memory, stored in the "+
			"background, and dropped if it cannot be stored within -db-timeout (the lab's negative control)")
	fs.DurationVar(&cfg.ReplicaCheck, "replica-check", cfg.ReplicaCheck, "how often replicas are probed (0: 100ms)")
	offFlag(fs, "read-fallback", "health-check replicas and fall back to the primary (default true; false: reads go round robin "+
		"to every -replica whatever its state, the lab's negative control)", &cfg.NoReadFallback)
	fs.StringVar(&cfg.Cache, "cache", cfg.Cache,
		"host:port of a Redis used as a cache-aside read cache in front of the database; empty: no cache (env "+EnvCache+")")
	fs.DurationVar(&cfg.CacheTTL, "cache-ttl", cfg.CacheTTL,
		"how long a cached user lives (Redis TTL); it also bounds how long a stale entry can be served (env "+EnvCacheTTL+")")
	fs.DurationVar(&cfg.CacheTimeout, "cache-timeout", cfg.CacheTimeout,
		"bound on every cache call; when it passes, reads go to the database. "+
			"0 disables the timeout: requests then STALL while the cache is slow, up to -db-timeout (the lab's negative control, never for real use) (env "+EnvCacheTimeout+")")
	fs.StringVar(&cfg.CacheInvalidation, "cache-invalidation", cfg.CacheInvalidation,
		"what a write does to the cached user after the database committed it: delete (the next read loads it), "+
			"update (store the written user), or none (reads stay stale until the TTL ends: the lab's negative control) (env "+EnvCacheInvalidation+")")
	fs.StringVar(&cfg.CacheGuard, "cache-guard", cfg.CacheGuard,
		"stampede guard for concurrent misses of one user: none (each reads the database: the lab's negative control), "+
			"coalesce (one database read per key in this server), or lease (a lease in Redis: one read for the whole web tier, "+
			"and fills that raced a write are dropped) (env "+EnvCacheGuard+")")
	fs.BoolVar(&cfg.Failpoints, "failpoints", cfg.Failpoints,
		"serve /failpoints, where a test can make mysite misbehave on purpose while it runs (e.g. PUT /failpoints/slow-fill 150ms); "+
			"for the lab, never for real use")
	staticFlags(fs, &cfg)
	jobsFlags(fs, &cfg)
	shardFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if usageOut != nil {
				fmt.Fprintln(usageOut, "Usage: mysite -db DSN [flags]")
				fs.SetOutput(usageOut)
				fs.PrintDefaults()
			}
			return Config{}, ErrHelp
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (all settings are flags, see -h)", fs.Arg(0))
	}
	// In a Config built in code 0 means "the default"; given as a setting,
	// 0 is a mistake.
	if cfg.SessionTTL == 0 {
		return Config{}, fmt.Errorf("-session-ttl (%s) must be > 0", EnvSessionTTL)
	}
	if cfg.SessionTimeout == 0 {
		return Config{}, fmt.Errorf("-session-timeout (%s) must be > 0 (session store calls are always bounded)", EnvSessionTimeout)
	}
	if cfg.CacheTTL == 0 {
		return Config{}, fmt.Errorf("-cache-ttl (%s) must be > 0", EnvCacheTTL)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the configuration; the error is one line naming the setting.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Listen) == "" {
		return fmt.Errorf("-listen (%s) must not be empty", EnvListen)
	}
	if c.sharded() {
		// Each shard's DSN is checked as -db would be (validateShards).
		if strings.TrimSpace(c.DB) != "" {
			return fmt.Errorf("-db (%s) must be empty with -shard: every user lives on the shard its id routes to", EnvDB)
		}
	} else {
		if strings.TrimSpace(c.Spares) != "" {
			return c.validateShards() // the spares' own error
		}
		if strings.TrimSpace(c.DB) == "" {
			return fmt.Errorf("a PostgreSQL DSN is required: set -db or %s (e.g. postgres://user:pass@host:5432/db?sslmode=disable)", EnvDB)
		}
		if _, err := c.poolConfig(); err != nil {
			return err
		}
	}
	if c.DBTimeout < 0 {
		return fmt.Errorf("-db-timeout (%s) must be >= 0 (0 disables the timeout), got %v", EnvDBTimeout, c.DBTimeout)
	}
	switch c.Writes {
	case "", WritesThrough, WritesBehind:
	default:
		return fmt.Errorf("-writes must be %s or %s, got %q", WritesThrough, WritesBehind, c.Writes)
	}
	if c.DBConnectRate < 0 || math.IsNaN(c.DBConnectRate) || math.IsInf(c.DBConnectRate, 0) {
		return fmt.Errorf("-db-connect-rate (%s) must be a number >= 0 (0: no cap), got %v", EnvDBConnectRate, c.DBConnectRate)
	}
	if c.MaxConns < 1 || c.MaxConns > 10000 {
		return fmt.Errorf("-max-conns (%s) must be between 1 and 10000, got %d", EnvMaxConns, c.MaxConns)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("-shutdown-timeout (%s) must be >= 0, got %v", EnvShutdownTimeout, c.ShutdownTimeout)
	}
	if c.Name != "" {
		if err := validName(c.Name); err != nil {
			return fmt.Errorf("-name (%s) %v", EnvName, err)
		}
	}
	switch c.sessions() {
	case SessionsMemory:
	case SessionsRedis:
		if strings.TrimSpace(c.Redis) == "" {
			return fmt.Errorf("-sessions redis needs the Redis address: set -redis or %s (host:port, e.g. redis:6379)", EnvRedis)
		}
		if err := validHostPort(c.Redis); err != nil {
			return fmt.Errorf("-redis (%s) %v", EnvRedis, err)
		}
	default:
		return fmt.Errorf("-sessions (%s) must be %s or %s, got %q", EnvSessions, SessionsMemory, SessionsRedis, c.Sessions)
	}
	if _, err := c.replicas(); err != nil {
		return err
	}
	switch c.Reads {
	case "", ReadsReplica, ReadsPrimary, ReadsRYW:
	default:
		return fmt.Errorf("-reads (%s) must be %s, %s or %s, got %q", EnvReads, ReadsReplica, ReadsPrimary, ReadsRYW, c.Reads)
	}
	if c.ReplicaCheck < 0 {
		return fmt.Errorf("-replica-check must be >= 0, got %v", c.ReplicaCheck)
	}
	if c.SessionTTL < 0 {
		return fmt.Errorf("-session-ttl (%s) must be > 0, got %v", EnvSessionTTL, c.SessionTTL)
	}
	if c.SessionTimeout < 0 {
		return fmt.Errorf("-session-timeout (%s) must be > 0, got %v", EnvSessionTimeout, c.SessionTimeout)
	}
	if err := c.validateStatic(); err != nil {
		return err
	}
	if err := c.validateJobs(); err != nil {
		return err
	}
	if err := c.validateShards(); err != nil {
		return err
	}
	return c.validateCache()
}

// validateCache checks the cache settings.
func (c Config) validateCache() error {
	if c.Cache != "" {
		if err := validHostPort(c.Cache); err != nil {
			return fmt.Errorf("-cache (%s) %v", EnvCache, err)
		}
		// Reads through replicas (stage 4) bypass the store the cache
		// wraps, and write-behind acknowledges before the database has the
		// write, so an invalidation would come before the commit: neither
		// combination means what its settings say.
		if strings.TrimSpace(c.Replicas) != "" {
			return fmt.Errorf("-cache cannot be combined with -replica (reads through replicas would bypass the cache)")
		}
		if c.Writes == WritesBehind {
			return fmt.Errorf("-cache cannot be combined with -writes %s (the invalidation would come before the database has the write)", WritesBehind)
		}
	}
	if c.CacheTTL < 0 {
		return fmt.Errorf("-cache-ttl (%s) must be > 0, got %v", EnvCacheTTL, c.CacheTTL)
	}
	if c.CacheTimeout < 0 {
		return fmt.Errorf("-cache-timeout (%s) must be >= 0 (0 disables the timeout), got %v", EnvCacheTimeout, c.CacheTimeout)
	}
	switch c.CacheInvalidation {
	case "", CacheInvalidateDelete, CacheInvalidateUpdate, CacheInvalidateNone:
	default:
		return fmt.Errorf("-cache-invalidation (%s) must be %s, %s or %s, got %q", EnvCacheInvalidation,
			CacheInvalidateDelete, CacheInvalidateUpdate, CacheInvalidateNone, c.CacheInvalidation)
	}
	switch c.CacheGuard {
	case "", CacheGuardNone, CacheGuardCoalesce, CacheGuardLease:
	default:
		return fmt.Errorf("-cache-guard (%s) must be %s, %s or %s, got %q", EnvCacheGuard,
			CacheGuardNone, CacheGuardCoalesce, CacheGuardLease, c.CacheGuard)
	}
	return nil
}

// validHostPort: a Redis address, host:port.
func validHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has an invalid port in %q", addr)
	}
	return nil
}

// ReplicaNode is one entry of Config.Replicas.
type ReplicaNode struct{ Name, DSN string }

// replicas parses Replicas.
func (c Config) replicas() ([]ReplicaNode, error) {
	var out []ReplicaNode
	seen := map[string]bool{}
	for _, f := range strings.Fields(c.Replicas) {
		name, dsn, ok := strings.Cut(f, "=")
		if !ok || name == "" || dsn == "" {
			return nil, fmt.Errorf("-replica (%s) wants name=DSN, got %q", EnvReplicas, f)
		}
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("-replica name %v", err)
		}
		if seen[name] {
			return nil, fmt.Errorf("-replica %s is given twice", name)
		}
		seen[name] = true
		if _, err := pgxpool.ParseConfig(dsn); err != nil {
			return nil, fmt.Errorf("-replica %s: not a valid PostgreSQL DSN: %v", name, err)
		}
		out = append(out, ReplicaNode{Name: name, DSN: dsn})
	}
	return out, nil
}

// reads is the read mode: ReadsPrimary without replicas, Reads otherwise
// ("" meaning ReadsReplica).
func (c Config) reads() string {
	if strings.TrimSpace(c.Replicas) == "" {
		return ReadsPrimary
	}
	return cmp.Or(c.Reads, ReadsReplica)
}

// sessions is Sessions with "" meaning memory.
func (c Config) sessions() string { return cmp.Or(c.Sessions, SessionsMemory) }

// offFlag defines a boolean flag whose false sets *to (a setting whose
// zero value is the default, on: -confirms=false sets NoConfirms).
func offFlag(fs *flag.FlagSet, name, usage string, to *bool) {
	fs.BoolFunc(name, usage, func(v string) error {
		b, err := strconv.ParseBool(v)
		*to = !b
		return err
	})
}

// validName: a server name goes into a response header and JSON; 1 to 128
// visible ASCII characters.
func validName(n string) error {
	if n == "" || len(n) > 128 {
		return fmt.Errorf("must be 1 to 128 characters, got %d", len(n))
	}
	for i := 0; i < len(n); i++ {
		if n[i] <= ' ' || n[i] > '~' {
			return fmt.Errorf("must be visible ASCII characters (no spaces), got %q", n)
		}
	}
	return nil
}

// poolConfig turns the DSN and pool settings into a pgxpool configuration.
func (c Config) poolConfig() (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(c.DB)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("-db (%s) is not a valid PostgreSQL DSN: %v", EnvDB, err)
	}
	pc.MaxConns = int32(c.MaxConns)
	// MinConns is 0 unless the DSN says (pool_min_conns): connections
	// the pool opens in the background from the start and keeps.
	// Idle connections are checked this often; closed ones (server killed,
	// connection reset) are removed, so the pool refills with fresh ones.
	pc.HealthCheckPeriod = 5 * time.Second
	pc.MaxConnIdleTime = 5 * time.Minute
	// A connect takes at most the database timeout, unless the DSN says
	// (connect_timeout, per host of a multi-host DSN: stage 8's 1 s).
	if c.DBTimeout > 0 && pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = c.DBTimeout
	}
	if c.DBConnectRate > 0 {
		pc.ConnConfig.DialFunc = rateLimitedDial(pc.ConnConfig.DialFunc, rate.NewLimiter(rate.Limit(c.DBConnectRate), c.MaxConns))
	}
	boundClose(&pc.ConnConfig.Config)
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "mysite"
	}
	return pc, nil
}

// maxConnectWait is the longest a new connection waits for its turn under
// -db-connect-rate; past it the connect fails at once. A cancel request
// that fails so is harmless (the statement ends on its own), and requests
// that would wait longer are better told now.
const maxConnectWait = time.Second

// rateLimitedDial wraps a pgconn dial function with a token bucket.
func rateLimitedDial(dial pgconn.DialFunc, limit *rate.Limiter) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		r := limit.Reserve()
		if d := r.Delay(); d > maxConnectWait {
			r.Cancel()
			return nil, fmt.Errorf("over -db-connect-rate (%g new connections a second)", float64(limit.Limit()))
		} else if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				r.Cancel()
				return nil, ctx.Err()
			}
		}
		return dial(ctx, network, addr)
	}
}

// parseDuration accepts Go durations ("2s", "500ms") and a bare "0".
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration (use e.g. 2s or 500ms)")
	}
	return d, nil
}
