package mysite

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
}

// Environment variables read as fallbacks when the flag is not given.
const (
	EnvListen          = "MYSITE_LISTEN"
	EnvDB              = "MYSITE_DB"
	EnvDBTimeout       = "MYSITE_DB_TIMEOUT"
	EnvMaxConns        = "MYSITE_DB_MAX_CONNS"
	EnvShutdownTimeout = "MYSITE_SHUTDOWN_TIMEOUT"
)

// DefaultConfig is the configuration with every default applied and no DB.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8080",
		DBTimeout:       2 * time.Second,
		MaxConns:        16,
		ShutdownTimeout: 10 * time.Second,
	}
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
