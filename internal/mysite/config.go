package mysite

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
}

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
	EnvShutdownTimeout = "MYSITE_SHUTDOWN_TIMEOUT"
	EnvName            = "MYSITE_NAME"
	EnvSessions        = "MYSITE_SESSIONS"
	EnvRedis           = "MYSITE_REDIS"
	EnvSessionTTL      = "MYSITE_SESSION_TTL"
	EnvSessionTimeout  = "MYSITE_SESSION_TIMEOUT"
)

// DefaultConfig is the configuration with every default applied and no DB.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8080",
		DBTimeout:       2 * time.Second,
		MaxConns:        16,
		ShutdownTimeout: 10 * time.Second,
		Name:            DefaultName(),
		Sessions:        SessionsMemory,
		SessionTTL:      DefaultSessionTTL,
		SessionTimeout:  DefaultSessionTimeout,
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
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{EnvSessionTTL, &cfg.SessionTTL}, {EnvSessionTimeout, &cfg.SessionTimeout}} {
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
	if strings.TrimSpace(c.DB) == "" {
		return fmt.Errorf("a PostgreSQL DSN is required: set -db or %s (e.g. postgres://user:pass@host:5432/db?sslmode=disable)", EnvDB)
	}
	if _, err := c.poolConfig(); err != nil {
		return err
	}
	if c.DBTimeout < 0 {
		return fmt.Errorf("-db-timeout (%s) must be >= 0 (0 disables the timeout), got %v", EnvDBTimeout, c.DBTimeout)
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
		host, port, err := net.SplitHostPort(c.Redis)
		if err != nil || host == "" {
			return fmt.Errorf("-redis (%s) must be host:port, got %q", EnvRedis, c.Redis)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("-redis (%s) has an invalid port in %q", EnvRedis, c.Redis)
		}
	default:
		return fmt.Errorf("-sessions (%s) must be %s or %s, got %q", EnvSessions, SessionsMemory, SessionsRedis, c.Sessions)
	}
	if c.SessionTTL < 0 {
		return fmt.Errorf("-session-ttl (%s) must be > 0, got %v", EnvSessionTTL, c.SessionTTL)
	}
	if c.SessionTimeout < 0 {
		return fmt.Errorf("-session-timeout (%s) must be > 0, got %v", EnvSessionTimeout, c.SessionTimeout)
	}
	return nil
}

// sessions is Sessions with "" meaning memory.
func (c Config) sessions() string { return cmp.Or(c.Sessions, SessionsMemory) }

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
	pc.MinConns = 0
	// Idle connections are checked this often; closed ones (server killed,
	// connection reset) are removed, so the pool refills with fresh ones.
	pc.HealthCheckPeriod = 5 * time.Second
	pc.MaxConnIdleTime = 5 * time.Minute
	if c.DBTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = c.DBTimeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "mysite"
	}
	return pc, nil
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
