// Package shop is mysite split into services (stage 12): users, orders and
// payments, each a server of its own with its own PostgreSQL database, one
// binary (cmd/shop) started as one of them with -service.
//
//	users:    GET  /users/{id}     the user (200), 404 when there is none
//	payments: POST /payments       {"order":..., "user":...}: charge an order (201), idempotent by order
//	orders:   PUT  /orders/{user}  place an order: the body is its id; the user must exist (users),
//	                               the order is charged (payments), then stored: 204
//	          GET  /orders/{user}  the user's last order's id (200), 404 when none: orders alone
//	every:    GET  /readyz         200 once its own database answers
//	          GET  /metrics        requests served, and (orders) each dependency's calls and breaker
//
// Placing an order needs all three services; reading one needs only orders.
// That difference is the stage's lesson: with payments slow or dead, the
// reads must go on as if nothing happened. What protects them is in the
// orders server's calls to its dependencies (dependency.go): a timeout per
// call, retries with exponential backoff and jitter, a circuit breaker and
// a bulkhead (a bounded number of calls in flight per dependency), each a
// flag. The orders server handles at most -workers requests at once, as a
// thread pool does: a request waits for a free worker, and calls that hang
// hold their workers, which is how a slow dependency takes down a service
// that does not even need it.
package shop

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is one service's configuration, from its flags.
type Config struct {
	Service   string // users, orders or payments
	Listen    string
	DB        string        // the service's own PostgreSQL DSN
	DBTimeout time.Duration // per database call
	// Orders only.
	Users, Payments string // base URLs of the dependencies
	Workers         int    // requests handled at once
	Call            CallPolicy
}

// ParseConfig reads the flags.
func ParseConfig(args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(out)
	var c Config
	fs.StringVar(&c.Service, "service", "", "which service to be: users, orders or payments")
	fs.StringVar(&c.Listen, "listen", ":8080", "address to serve on")
	fs.StringVar(&c.DB, "db", "", "the service's PostgreSQL DSN")
	fs.DurationVar(&c.DBTimeout, "db-timeout", 2*time.Second, "how long a database call may take")
	fs.StringVar(&c.Users, "users", "", "orders: the users service's base URL")
	fs.StringVar(&c.Payments, "payments", "", "orders: the payments service's base URL")
	fs.IntVar(&c.Workers, "workers", 32, "orders: requests handled at once (the others wait for a worker)")
	fs.DurationVar(&c.Call.Timeout, "call-timeout", 500*time.Millisecond, "orders: how long one call to a dependency may take (0: as long as the request lasts)")
	fs.IntVar(&c.Call.Retries, "retries", 1, "orders: retries of a failed call, with exponential backoff and jitter")
	fs.DurationVar(&c.Call.Backoff, "backoff", 50*time.Millisecond, "orders: the first retry's wait (doubling, with +-50% jitter); 0: retry at once")
	fs.BoolVar(&c.Call.Breaker, "breaker", true, "orders: a circuit breaker per dependency")
	fs.IntVar(&c.Call.TripAfter, "breaker-trip", 5, "orders: consecutive failed calls that open the breaker")
	fs.DurationVar(&c.Call.CoolOff, "breaker-cool-off", time.Second, "orders: how long the breaker stays open before it lets a trial call through")
	fs.IntVar(&c.Call.Bulkhead, "bulkhead", 8, "orders: calls in flight per dependency at most (0: no bound); a call past it fails at once")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var problems []string
	switch c.Service {
	case "users", "payments":
	case "orders":
		if c.Users == "" || c.Payments == "" {
			problems = append(problems, "orders needs -users and -payments")
		}
		if c.Workers < 1 {
			problems = append(problems, fmt.Sprintf("-workers %d: want >= 1", c.Workers))
		}
		if err := c.Call.validate(); err != nil {
			problems = append(problems, err.Error())
		}
	default:
		problems = append(problems, fmt.Sprintf("-service %q: want users, orders or payments", c.Service))
	}
	if c.DB == "" {
		problems = append(problems, "-db is required")
	}
	if c.DBTimeout <= 0 {
		problems = append(problems, "-db-timeout must be > 0")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// schemas: each service's own tables. users are seeded (u0..u999, the
// workload's user ids): a shop's users exist before they order.
var schemas = map[string][]string{
	"users": {
		`CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO users (id, name) SELECT 'u' || g, 'user ' || g FROM generate_series(0, 999) g ON CONFLICT DO NOTHING`,
	},
	"payments": {`CREATE TABLE IF NOT EXISTS payments (order_id text PRIMARY KEY, user_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`},
	"orders":   {`CREATE TABLE IF NOT EXISTS orders (user_id text PRIMARY KEY, order_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`},
}

// Run serves the configured service until ctx ends.
func Run(ctx context.Context, c Config, log *slog.Logger) error {
	pc, err := pgxpool.ParseConfig(c.DB)
	if err != nil {
		return fmt.Errorf("-db: %w", err)
	}
	pc.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("database pool: %w", err)
	}
	defer pool.Close()
	db := &database{pool: pool, timeout: c.DBTimeout, schema: schemas[c.Service]}
	served := &atomic.Int64{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", db.ready)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	var handler http.Handler = mux
	var metrics func(io.Writer)
	switch c.Service {
	case "users":
		mux.HandleFunc("GET /users/{id}", users{db}.get)
	case "payments":
		mux.HandleFunc("POST /payments", payments{db}.pay)
	case "orders":
		o := newOrders(db, c, log)
		mux.HandleFunc("PUT /orders/{user}", o.place)
		mux.HandleFunc("GET /orders/{user}", o.last)
		handler = o.workers(mux)
		metrics = o.metrics
	}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "shop_requests_total %d\n", served.Load())
		if metrics != nil {
			metrics(w)
		}
	})
	srv := &http.Server{Addr: c.Listen, Handler: counting(served, handler), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("shop: serving", "service", c.Service, "listen", c.Listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// counting counts the requests a service was asked to serve (its own
// view of its load: what a retry storm multiplies), probes aside.
func counting(n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isProbe(r) {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// isProbe: r is a health check or a metrics scrape, not a request of the
// shop's users.
func isProbe(r *http.Request) bool {
	switch r.URL.Path {
	case "/readyz", "/healthz", "/metrics":
		return true
	}
	return false
}

// database is a service's own PostgreSQL database.
type database struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	schema  []string
	made    atomic.Bool // the schema exists
}

// ctx bounds one database call.
func (d *database) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d.timeout)
}

// ready answers 200 once the database answers and the schema is made (the
// database may come up after the service).
func (d *database) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := d.ctx(r.Context())
	defer cancel()
	if !d.made.Load() {
		for _, q := range d.schema {
			if _, err := d.pool.Exec(ctx, q); err != nil {
				http.Error(w, "schema: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		d.made.Store(true)
	}
	if err := d.pool.Ping(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// users serves the users.
type users struct{ db *database }

func (u users) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := u.db.ctx(r.Context())
	defer cancel()
	var id, name string
	err := u.db.pool.QueryRow(ctx, `SELECT id, name FROM users WHERE id = $1`, r.PathValue("id")).Scan(&id, &name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		http.Error(w, "no such user", http.StatusNotFound)
	case err != nil:
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\":%q,\"name\":%q}\n", id, name)
	}
}

// payments charges orders. A charge is idempotent by order id, so that a
// caller may retry one whose answer it did not get.
type payments struct{ db *database }

func (p payments) pay(w http.ResponseWriter, r *http.Request) {
	var req struct{ Order, User string }
	if err := decodeJSON(r, &req); err != nil || req.Order == "" || req.User == "" {
		http.Error(w, "want {\"order\":..., \"user\":...}", http.StatusBadRequest)
		return
	}
	ctx, cancel := p.db.ctx(r.Context())
	defer cancel()
	if _, err := p.db.pool.Exec(ctx, `INSERT INTO payments (order_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, req.Order, req.User); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusCreated)
}
