// Command kvservice is the service the example gates: a tiny key-value HTTP
// API over PostgreSQL, standing in for a service of yours.
//
//	PUT /kv/{key}   stores the body as the key's value: 204 once committed
//	GET /kv/{key}   the value (200), or 404 when the key holds nothing
//	GET /readyz     200 once the database answers and -db-warm-conns are open
//
// A database call that takes longer than -db-timeout fails the request
// (503) instead of hanging. With -ack=early it acknowledges a write as soon
// as it is queued and stores the queue every -flush: faster, and a crash
// loses what was acknowledged and not yet stored (the example's negative
// control).
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
	flush := flag.Duration("flush", 500*time.Millisecond, "with -ack=early, how often the queue is stored")
	conns := flag.Int("db-conns", 64, "the database connection pool's size")
	warm := flag.Int("db-warm-conns", 16, "connections the pool keeps open, ready or not needed (at most -db-conns)")
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
	// pool opens the connections the load needs (16 clients) before the
	// service says it is ready, and keeps them.
	cfg.MinConns = int32(*warm)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("kvservice: %v", err)
	}
	defer pool.Close()
	s := &server{db: pool, warm: int32(*warm), timeout: *timeout, early: *ack == "early", queue: map[string]string{}}
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
	queue map[string]string // -ack=early: acknowledged, not yet stored
}

const schema = `CREATE TABLE IF NOT EXISTS kv (k text PRIMARY KEY, v text NOT NULL)`

func (s *server) store(ctx context.Context, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.Exec(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2`, key, value)
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
		s.queue[key] = string(body)
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
	v, queued := s.queue[key]
	s.mu.Unlock()
	if !queued {
		err := s.db.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, key).Scan(&v)
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

func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if _, err := s.db.Exec(ctx, schema); err != nil {
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
// cold for that long. Each connection is held until all are open, so that
// every Acquire opens a new one.
func (s *server) warmUp(ctx context.Context) error {
	n := int(s.warm - s.db.Stat().TotalConns())
	if n <= 0 {
		return nil
	}
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

// flushEvery stores the queue of early-acknowledged writes every d.
func (s *server) flushEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		batch := s.queue
		s.queue = map[string]string{}
		s.mu.Unlock()
		for k, v := range batch {
			if err := s.store(ctx, k, v); err != nil {
				log.Printf("kvservice: storing %s: %v (dropped)", k, err)
			}
		}
	}
}
