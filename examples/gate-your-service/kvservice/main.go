// Command kvservice is the service the example gates: a tiny key-value HTTP
// API over PostgreSQL, standing in for a service of yours.
//
//	PUT /kv/{key}   stores the body as the key's value: 204 once committed
//	GET /kv/{key}   the value (200), or 404 when the key holds nothing
//	GET /readyz     200 once the database answers
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
	flag.Parse()
	if *dsn == "" || (*ack != "stored" && *ack != "early") || *timeout <= 0 || *conns < 1 {
		fmt.Fprintln(os.Stderr, "kvservice: want -db DSN, -ack stored|early, -db-timeout > 0 and -db-conns >= 1")
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
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("kvservice: %v", err)
	}
	defer pool.Close()
	s := &server{db: pool, timeout: *timeout, early: *ack == "early", queue: map[string]string{}}
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
	io.WriteString(w, "ok\n")
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
