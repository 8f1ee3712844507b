package mysite

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// WriteOutcomeHeader is set on 5xx answers to writes (POST, PUT): "not-applied"
// when the failure certainly happened before the statement reached the
// database, "unknown" when the write may or may not have been applied (e.g. a
// timeout after the statement was sent).
const WriteOutcomeHeader = "Mysite-Write-Outcome"

// ServerHeader is set on every response to the answering server's name
// (-name), so that a client behind a load balancer sees which server
// answered.
const ServerHeader = "Mysite-Server"

// SessionCookie is the name of the session cookie.
const SessionCookie = "session"

// Options configure a Server. Later stages add their dependencies here.
type Options struct {
	Store Store
	// DBTimeout bounds every Store call of a request; 0 means no bound (the
	// request waits for the store as long as the client does).
	DBTimeout time.Duration
	// Sessions keeps login sessions; nil means a fresh MemorySessions.
	Sessions SessionStore
	// SessionTTL is how long a session lives after login; 0 means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// SessionTimeout bounds every session store call of a request (always:
	// there is no "wait forever" for sessions); 0 means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Name is this server's name, in /me answers and the Mysite-Server
	// header; "" means the host name.
	Name string
	// Replicas routes reads to read replicas (stage 4); nil: every read
	// goes to Store.
	Replicas *Replicas
	// Static configures the static assets and page (stage 6); the zero
	// value means the defaults.
	Static StaticOptions
	// Metrics; nil creates a fresh set.
	Metrics *Metrics
	// Logger; nil discards.
	Logger *slog.Logger
	// Failpoints, when not nil, are served at /failpoints.
	Failpoints *Failpoints
	// Jobs, when not nil, serves the photo job routes (stage 9).
	Jobs *Jobs
}

// Server is the mysite HTTP API. It is an http.Handler.
type Server struct {
	store          Store
	dbTimeout      time.Duration
	sessions       SessionStore
	sessionTTL     time.Duration
	sessionTimeout time.Duration
	name           string
	replicas       *Replicas
	static         *Static
	metrics        *Metrics
	log            *slog.Logger
	mux            *http.ServeMux
	jobs           *Jobs
}

// NewServer builds the handler with all routes.
func NewServer(opts Options) *Server {
	s := &Server{
		store:          opts.Store,
		dbTimeout:      opts.DBTimeout,
		sessions:       opts.Sessions,
		sessionTTL:     cmp.Or(opts.SessionTTL, DefaultSessionTTL),
		sessionTimeout: cmp.Or(opts.SessionTimeout, DefaultSessionTimeout),
		name:           cmp.Or(opts.Name, DefaultName()),
		replicas:       opts.Replicas,
		static:         NewStatic(opts.Static),
		metrics:        opts.Metrics,
		log:            opts.Logger,
		mux:            http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(s.log)
	}
	if s.sessions == nil {
		s.sessions = NewMemorySessions()
	}
	if mem, ok := s.sessions.(interface{ Active() int }); ok {
		s.metrics.registerActiveSessions(mem.Active)
	}
	if c, ok := s.store.(*CachedStore); ok {
		s.metrics.registerCache(c)
	}
	m := s.mux
	if opts.Failpoints != nil {
		opts.Failpoints.register(m)
	}
	if opts.Jobs != nil {
		opts.Jobs.register(m)
	}
	s.jobs = opts.Jobs
	m.HandleFunc("POST /users", s.withSession(true, s.createUser))
	m.HandleFunc("/users", methodNotAllowed("POST"))
	m.HandleFunc("GET /users/{id}", s.withSession(false, s.getUser))
	m.HandleFunc("PUT /users/{id}", s.withSession(true, s.putUser))
	m.HandleFunc("/users/{id}", methodNotAllowed("GET, HEAD, PUT"))
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("/login", methodNotAllowed("POST"))
	m.HandleFunc("GET /me", s.me)
	m.HandleFunc("/me", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("/logout", methodNotAllowed("POST"))
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("/readyz", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /replication", s.replication)
	m.HandleFunc("/replication", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /admin/reshard", s.reshardStatus)
	m.HandleFunc("POST /admin/reshard", s.startReshard)
	m.HandleFunc("/admin/reshard", methodNotAllowed("GET, HEAD, POST"))
	m.HandleFunc("GET /cache", s.cache)
	m.HandleFunc("/cache", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /static/{name}", s.static.serveAsset)
	m.HandleFunc("POST /static/publish", s.static.publish)
	m.HandleFunc("/static/{name}", s.static.staticOther)
	m.HandleFunc("GET /static-stats", s.static.stats)
	m.HandleFunc("/static-stats", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /page", s.static.page)
	m.HandleFunc("/page", methodNotAllowed("GET, HEAD"))
	m.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("/metrics", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP serves one request, recording its metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	w.Header().Set(ServerHeader, s.name)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.metrics.inFlight.Dec()
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			if !rec.wroteHeader {
				writeError(rec, http.StatusInternalServerError, "internal error")
			}
		}
		route := r.Pattern // set by the mux on this request
		if route == "" {
			route = "other"
		}
		s.metrics.observeRequest(route, rec.status(), time.Since(start))
	}()
	s.mux.ServeHTTP(rec, r)
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ValidateID(id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	get := s.store.Get
	if s.replicas != nil && r.Header.Get(ReadFromHeader) != "primary" {
		min := minLSN(r)
		get = func(ctx context.Context, id string) (User, error) { return s.replicas.Get(ctx, id, min) }
	}
	var (
		cached cacheAnswer
		routed shardNote
	)
	u, err := s.callStore(r, func(ctx context.Context) (User, error) {
		return get(withShardNote(withCacheAnswer(ctx, &cached), &routed), id)
	})
	if a := cached.String(); a != "" {
		w.Header().Set(CacheHeader, a)
	}
	s.setShard(w, &routed, id)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, u)
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("user %s not found", id))
	default:
		s.writeStoreError(w, r, err, false)
	}
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	in, err := decodeUser(w, r, "")
	if err != nil {
		writeClientError(w, err)
		return
	}
	var routed shardNote
	u, err := s.callStore(r, func(ctx context.Context) (User, error) { return s.store.Create(withShardNote(ctx, &routed), in) })
	s.setShard(w, &routed, in.ID)
	switch {
	case err == nil:
		w.Header().Set("Location", "/users/"+u.ID)
		setLSN(w, u)
		writeJSON(w, http.StatusCreated, u)
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("user %s already exists", in.ID))
	default:
		s.writeStoreError(w, r, err, true)
	}
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ValidateID(id); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	in, err := decodeUser(w, r, id)
	if err != nil {
		writeClientError(w, err)
		return
	}
	var routed shardNote
	u, err := s.callStore(r, func(ctx context.Context) (User, error) { return s.store.Put(withShardNote(ctx, &routed), in) })
	s.setShard(w, &routed, id)
	if err != nil {
		s.writeStoreError(w, r, err, true)
		return
	}
	setLSN(w, u)
	writeJSON(w, http.StatusOK, u)
}

// setShard sets Mysite-Shard when the store is sharded: the shard the call
// was routed to, or, when the store did not get to route it (the call
// timed out first), the shard that serves id now.
func (s *Server) setShard(w http.ResponseWriter, routed *shardNote, id string) {
	namer, ok := s.store.(ShardNamer)
	if !ok {
		return
	}
	name := routed.String()
	if name == "" {
		name = namer.ShardOf(id)
	}
	if name != "" {
		w.Header().Set(ShardHeader, name)
	}
}

// setLSN sets Mysite-LSN when the store read the write's WAL position
// (read-your-writes mode).
func setLSN(w http.ResponseWriter, u User) {
	if u.commitLSN > 0 {
		w.Header().Set(LSNHeader, strconv.FormatInt(u.commitLSN, 10))
	}
}

// replication answers mysite's view of a replicated cluster: each node's
// role and position, and the primary's pg_stat_replication (GET
// /replication; 404 without replicas).
func (s *Server) replication(w http.ResponseWriter, r *http.Request) {
	if s.replicas == nil {
		writeError(w, http.StatusNotFound, "no replicas configured (-replica)")
		return
	}
	timeout := s.dbTimeout
	if timeout <= 0 || timeout > time.Second {
		timeout = time.Second
	}
	writeJSON(w, http.StatusOK, s.replicas.Status(r.Context(), timeout))
}

// cache answers the cache's settings and counters, and the tier's (GET
// /cache; 404 without a cache).
func (s *Server) cache(w http.ResponseWriter, r *http.Request) {
	c, ok := s.store.(*CachedStore)
	if !ok {
		writeError(w, http.StatusNotFound, "no cache configured (-cache)")
		return
	}
	st := c.Status()
	st.Stats = s.tierStats(r, c)
	writeJSON(w, http.StatusOK, st)
}

// tierStats reads Redis's and the database's own statistics at the same
// time, so that a slow one does not delay the other: the answer takes at
// most the longer of their bounds (statusBound).
func (s *Server) tierStats(r *http.Request, c *CachedStore) TierStats {
	var (
		ts       TierStats
		rs       RedisStats
		rerr     error
		tx       int64
		txErr    error
		tc, hasT = c.dbCounter()
		wg       sync.WaitGroup
	)
	wg.Go(func() { rs, rerr = c.RedisStats(r.Context()) })
	if hasT {
		// callWithin: the answer must not wait for a store that does not
		// honour its context.
		wg.Go(func() {
			tx, txErr = callWithin(s, r, statusBound(s.dbTimeout), func(error) bool { return false }, tc.Transactions)
		})
	}
	wg.Wait()
	if rerr != nil {
		ts.RedisError = oneLine(rerr.Error())
	} else {
		ts.RedisKeyspaceHits, ts.RedisKeyspaceMisses, ts.RedisEvictedKeys = rs.KeyspaceHits, rs.KeyspaceMisses, rs.EvictedKeys
	}
	switch {
	case !hasT:
	case txErr != nil:
		ts.DBError = oneLine(s.describeStoreError(r, txErr))
	default:
		ts.DBTransactions = &tx
	}
	return ts
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// readyz checks the database, then the session store (a no-op for memory
// sessions; a PING for Redis).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	_, err := s.callStore(r, func(ctx context.Context) (User, error) { return User{}, s.store.Ready(ctx) })
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "database: "+s.describeStoreError(r, err))
		return
	}
	_, err = s.callSessions(r, sessionPing, func(ctx context.Context) (string, error) { return "", s.sessions.Ready(ctx) })
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "session store: "+s.describeStoreError(r, err))
		return
	}
	if s.jobs != nil {
		if err := s.jobs.Ready(); err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// storeTimeoutError: the store call did not answer within the DB timeout.
type storeTimeoutError struct {
	timeout time.Duration
	err     error // what the store returned, if it did
}

func (e *storeTimeoutError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("no answer within %v: %v", e.timeout, e.err)
	}
	return fmt.Sprintf("no answer within %v", e.timeout)
}

func (e *storeTimeoutError) Unwrap() error { return e.err }

// callStore runs one Store call under the DB timeout. It returns when the
// timeout passes even if the store does not honour its context (the store
// call then finishes in the background), so that a slow database can never
// make a request hang. With DBTimeout 0 it waits as long as the request lives.
func (s *Server) callStore(r *http.Request, call func(context.Context) (User, error)) (User, error) {
	return callWithin(s, r, s.dbTimeout, func(err error) bool {
		return errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists)
	}, call)
}

// callWithin runs call under timeout (0: no bound beyond the request's own
// life) and returns when the timeout passes even if call does not honour its
// context. isAnswer tells errors that are answers (not found, ...) from
// failures. A failure once the timeout passed becomes an UnavailableError
// wrapping a storeTimeoutError.
func callWithin[T any](s *Server, r *http.Request, timeout time.Duration, isAnswer func(error) bool, call func(context.Context) (T, error)) (T, error) {
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(r.Context(), timeout)
	} else {
		ctx, cancel = context.WithCancel(r.Context())
	}
	defer cancel()

	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("store panic", "panic", fmt.Sprint(p))
				done <- result{err: fmt.Errorf("internal error in store: %v", p)}
			}
		}()
		v, err := call(ctx)
		done <- result{v, err}
	}()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		select {
		case res = <-done: // finished at the same moment: use its answer
		default:
			res = result{err: Unavailable(ctx.Err(), false)}
		}
	}
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	if dl, ok := ctx.Deadline(); ok && !timedOut && errors.Is(res.err, context.DeadlineExceeded) {
		// A store that puts our deadline on its sockets can report it a
		// moment before ctx's own timer marks ctx done.
		timedOut = !time.Now().Before(dl)
	}
	if res.err != nil && timedOut && r.Context().Err() == nil && !isAnswer(res.err) {
		// Our deadline passed: say so plainly, whatever shape the store's
		// error took. A write may have been applied unless the store knows
		// it was not.
		res.err = Unavailable(&storeTimeoutError{timeout: timeout, err: res.err}, writeNotApplied(res.err))
	}
	return res.v, res.err
}

// describeStoreError is the message for a failed store call.
func (s *Server) describeStoreError(r *http.Request, err error) string {
	var te *storeTimeoutError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("no answer within %v", te.timeout)
	case r.Context().Err() != nil:
		return "request canceled: " + err.Error()
	}
	return err.Error()
}

// writeStoreError answers a failed store call: 503 when the database is
// unavailable (down, unreachable, slower than the timeout), 500 otherwise.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, err error, write bool) {
	status := http.StatusInternalServerError
	prefix := "database error: "
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		status = http.StatusServiceUnavailable
		prefix = "database unavailable: "
		w.Header().Set("Retry-After", "1")
	} else {
		s.log.Error("database error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if write {
		if writeNotApplied(err) {
			w.Header().Set(WriteOutcomeHeader, "not-applied")
		} else {
			w.Header().Set(WriteOutcomeHeader, "unknown")
		}
	}
	writeError(w, status, prefix+s.describeStoreError(r, err))
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}

// writeClientError answers a request that failed validation.
func writeClientError(w http.ResponseWriter, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		writeError(w, br.status, br.msg)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// errorBody is the shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: oneLine(msg)})
}

// oneLine joins the lines of multi-line messages (pgx lists every address it
// tried on its own line) with "; ".
func oneLine(msg string) string {
	if !strings.ContainsAny(msg, "\r\n") {
		return msg
	}
	var b strings.Builder
	for _, l := range strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"cannot encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
