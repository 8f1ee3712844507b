// Command kvservice is the service the example gates: a tiny key-value HTTP
// API over PostgreSQL, standing in for a service of yours.
//
//	PUT /kv/{key}   stores the body as the key's value: 204 once committed
//	GET /kv/{key}   the value (200), or 404 when the key holds nothing
//	GET /readyz     200 once the database answers and -db-warm-conns are open
//
// A database call that takes longer than -db-timeout fails the request
// (503) instead of hanging. With -ack=early it acknowledges a write as soon
// as it is queued and stores it -flush later (write-behind): faster, and a
// crash loses what was acknowledged in the last -flush (the example's
// negative control). A delay rather than a periodic flush of everything: a
// crash right after such a flush would find nothing to lose, and the control
// would pass by luck.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	dsn := flag.String("db", "", "PostgreSQL DSN")
	timeout := flag.Duration("db-timeout", time.Second, "how long a database call may take")
	ack := flag.String("ack", "stored", "stored: acknowledge a write once committed; early: once queued")
	flush := flag.Duration("flush", 500*time.Millisecond, "with -ack=early, how long a write waits in memory before it is stored")
	conns := flag.Int("db-conns", 64, "the database connection pool's size")
	warm := flag.Int("db-warm-conns", 40, "connections the pool keeps open, ready or not needed (at most -db-conns)")
	flag.Parse()
	if *dsn == "" || (*ack != "stored" && *ack != "early") || *timeout <= 0 || *conns < 1 || *warm < 0 || *warm > *conns {
		fmt.Fprintln(os.Stderr, "kvservice: want -db DSN, -ack stored|early, -db-timeout > 0, -db-conns >= 1 and 0 <= -db-warm-conns <= -db-conns")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := pgxpool.ParseConfig(*dsn)
	if err != nil {
		log.Fatalf("kvservice: %v", err)
	}
	// A request holds a connection for its database round trip: with the
	// database 200 ms away, 100 requests a second need about 20 at once
	// (pgx's default, 4 on 2 cores, queues them until they time out).
	cfg.MaxConns = int32(*conns)
	// A new connection costs its own round trips (start-up, then a prepare
	// for each statement) and a fork on the database's host: when the link
	// slows down, connections made then can take longer than -db-timeout,
	// each timed-out try leaves a new one to make, and the database's host
	// forks for all of them. Seen in a CI run: 457 of 500 requests failed
	// under a 200 ms latency that warm connections serve at once. So the
	// pool opens the connections the load needs before the service says it
	// is ready, and keeps them. How many: the workload is an
	// open model (100 requests a second, however slow the answers), so at
	// 200 ms a request 100 x 0.2 = 20 are in flight on average; 40 covers
	// the bursts of a Poisson arrival (P(> 40 | mean 20) < 1e-4) and a
	// loaded machine. 16 did not: a CI run saw 41 of 500 fail or time out
	// under 200 ms, each a connection opened during the fault.
	cfg.MinConns = int32(*warm)
	// Each statement is prepared when a connection opens, so that a request
	// is one round trip on any connection. pgx would otherwise prepare it on
	// a connection's first use of it: two round trips, 400 ms under the
	// fault, for the first requests on each of the 40 connections. Named by
	// their own text, pgx's Exec and Query use them directly. The table must
	// exist first: the first connection makes it.
	var schemaMade schemaOnce
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if err := schemaMade.do(ctx, c); err != nil {
			return err
		}
		for _, q := range []string{upsert, lookup} {
			if _, err := c.Prepare(ctx, q, q); err != nil {
				return fmt.Errorf("prepare %q: %w", q, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("kvservice: %v", err)
	}
	defer pool.Close()
	s := &server{db: pool, warm: int32(*warm), timeout: *timeout, early: *ack == "early", queue: map[string]queued{}}
	if s.early {
		go s.flushEvery(ctx, *flush)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /kv/{key}", s.put)
	mux.HandleFunc("GET /kv/{key}", s.get)
	mux.HandleFunc("GET /readyz", s.ready)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	log.Printf("kvservice: serving %s, ack=%s, db timeout %v", *listen, *ack, *timeout)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("kvservice: %v", err)
	}
}

type server struct {
	db      *pgxpool.Pool
	warm    int32 // connections open before the service is ready
	timeout time.Duration
	early   bool

	mu    sync.Mutex
	queue map[string]queued // -ack=early: acknowledged, not yet stored
}

const (
	schema = `CREATE TABLE IF NOT EXISTS kv (k text PRIMARY KEY, v text NOT NULL)`
	upsert = `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2`
	lookup = `SELECT v FROM kv WHERE k = $1`
)

func (s *server) store(ctx context.Context, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.Exec(ctx, upsert, key, value)
	return err
}

func (s *server) put(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := r.PathValue("key")
	if s.early {
		s.mu.Lock()
		s.queue[key] = queued{value: string(body), at: time.Now()}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := s.store(r.Context(), key, string(body)); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	key := r.PathValue("key")
	s.mu.Lock()
	q, inQueue := s.queue[key]
	s.mu.Unlock()
	v := q.value
	if !inQueue {
		err := s.db.QueryRow(ctx, lookup, key).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			http.NotFound(w, r)
			return
		case err != nil:
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, v)
}

// schemaOnce makes the table on the first connection that can. One at a
// time: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against itself
// (two at once can both miss the table and one then fails on the catalog).
type schemaOnce struct {
	mu   sync.Mutex
	done bool
}

func (o *schemaOnce) do(ctx context.Context, c *pgx.Conn) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return nil
	}
	if _, err := c.Exec(ctx, schema); err != nil {
		return fmt.Errorf("create the table: %w", err)
	}
	o.done = true
	return nil
}

func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := s.warmUp(ctx); err != nil {
		http.Error(w, fmt.Sprintf("warming the pool (%d of %d connections open): %v", s.db.Stat().TotalConns(), s.warm, err), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// warmUp opens connections until the pool holds s.warm. pgxpool opens its
// MinConns when it starts and then only at its health check, once a
// minute: a database that was not up yet at the start would leave the pool
// cold for that long. It acquires s.warm connections and holds each until
// all are acquired: the idle ones are taken first, and each Acquire past
// them opens a new one. (Acquiring only the shortfall would take idle ones
// and open none.)
func (s *server) warmUp(ctx context.Context) error {
	if s.db.Stat().TotalConns() >= s.warm {
		return nil
	}
	n := int(s.warm)
	conns := make(chan *pgxpool.Conn, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			c, err := s.db.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			conns <- c
		}()
	}
	var err error
	for range n {
		select {
		case c := <-conns:
			defer c.Release()
		case e := <-errs:
			err = e
		}
	}
	return err
}

// queued is a write acknowledged early and not yet stored.
type queued struct {
	value string
	at    time.Time
}

// flushEvery stores each early-acknowledged write once it has waited d,
// looking every d/5.
func (s *server) flushEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(max(d/5, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := time.Now().Add(-d)
		batch := map[string]string{}
		s.mu.Lock()
		for k, q := range s.queue {
			if q.at.Before(due) {
				batch[k] = q.value
				delete(s.queue, k)
			}
		}
		s.mu.Unlock()
		for k, v := range batch {
			if err := s.store(ctx, k, v); err != nil {
				log.Printf("kvservice: storing %s: %v (dropped)", k, err)
			}
		}
	}
}
