package shop

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// orders places and reads orders; placing one calls users and payments.
type orders struct {
	db              *database
	users, payments *dependency
	slots           chan struct{} // the workers
	log             *slog.Logger
}

func newOrders(db *database, c Config, log *slog.Logger) *orders {
	return &orders{db: db, log: log,
		users:    newDependency("users", c.Users, c.Call),
		payments: newDependency("payments", c.Payments, c.Call),
		slots:    make(chan struct{}, c.Workers)}
}

// workers lets at most cap(o.slots) requests in at once; the others wait
// for a worker until their request is given up (the gateway's timeout): a
// thread pool with its accept queue. Probes do not wait: a load
// balancer's health check is answered.
func (o *orders) workers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProbe(r) {
			h.ServeHTTP(w, r)
			return
		}
		select {
		case o.slots <- struct{}{}:
			defer func() { <-o.slots }()
		case <-r.Context().Done():
			// Its client is gone; nothing was done.
			notApplied(w, http.StatusServiceUnavailable, "no worker was free before the request was given up")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// place places the order named by the body for the user: the user must
// exist, the order is charged, then stored as the user's last. A failed
// call to a dependency fails the order with 503 and the reason.
func (o *orders) place(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	id, err := io.ReadAll(io.LimitReader(r.Body, 256))
	if err != nil || len(id) == 0 {
		http.Error(w, "the body is the order's id", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	// Until the database write, a failed order was certainly not stored:
	// the answer says so, and its client need not wonder.
	if _, err := o.users.call(ctx, http.MethodGet, "/users/"+url.PathEscape(user), nil); err != nil {
		var p permanent
		if errors.As(err, &p) && p.status == http.StatusNotFound {
			notApplied(w, http.StatusNotFound, "no such user")
			return
		}
		notApplied(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if _, err := o.payments.call(ctx, http.MethodPost, "/payments", map[string]string{"order": string(id), "user": user}); err != nil {
		notApplied(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	dctx, cancel := o.db.ctx(ctx)
	defer cancel()
	if _, err := o.db.pool.Exec(dctx, `INSERT INTO orders (user_id, order_id) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET order_id = EXCLUDED.order_id, at = now()`, user, string(id)); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// WriteOutcomeHeader says, on a failed order, that it was not stored
// ("not-applied"), so that its client knows it need not wonder (as
// mysite's Mysite-Write-Outcome).
const WriteOutcomeHeader = "Shop-Write-Outcome"

// notApplied answers a request that changed nothing.
func notApplied(w http.ResponseWriter, status int, msg string) {
	w.Header().Set(WriteOutcomeHeader, "not-applied")
	http.Error(w, msg, status)
}

// last is the user's last order's id: orders' own database only.
func (o *orders) last(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := o.db.ctx(r.Context())
	defer cancel()
	var id string
	err := o.db.pool.QueryRow(ctx, `SELECT order_id FROM orders WHERE user_id = $1`, r.PathValue("user")).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		http.Error(w, "no order", http.StatusNotFound)
	case err != nil:
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
	default:
		io.WriteString(w, id)
	}
}

// metrics: each dependency's calls, attempts, failed calls (the shed ones
// included), calls shed (the bulkhead full or the breaker open), the
// breaker's openings and state.
func (o *orders) metrics(w io.Writer) {
	fmt.Fprintf(w, "shop_workers_busy %d\n", len(o.slots))
	for _, d := range []*dependency{o.users, o.payments} {
		fmt.Fprintf(w, "shop_calls_total{dependency=%q} %d\n", d.name, d.calls.Load())
		fmt.Fprintf(w, "shop_call_attempts_total{dependency=%q} %d\n", d.name, d.attempts.Load())
		fmt.Fprintf(w, "shop_calls_failed_total{dependency=%q} %d\n", d.name, d.failed.Load())
		fmt.Fprintf(w, "shop_calls_shed_total{dependency=%q} %d\n", d.name, d.shed.Load())
		fmt.Fprintf(w, "shop_breaker_opened_total{dependency=%q} %d\n", d.name, d.opened.Load())
		fmt.Fprintf(w, "shop_breaker_state{dependency=%q,state=%q} 1\n", d.name, d.state())
	}
}
