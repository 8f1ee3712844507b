package mysite

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Stage 9: photo jobs. A web server takes a job (POST /photos/{id}/jobs),
// publishes it to a RabbitMQ queue and answers 202 once the broker has
// confirmed it; workers (mysite -role worker, worker.go) take jobs from the
// queue, do the photo operation and record its effect in PostgreSQL. The
// effects table is the truth the lab reconciles against what clients were
// told.

// JobsConfig is the jobs part of Config.
type JobsConfig struct {
	// Queue is the AMQP URL of the broker (amqp://guest:guest@mq:5672/);
	// "" means no jobs: the routes answer 404 and no worker can run.
	Queue string
	// QueueName is the queue's name; "" means DefaultQueueName.
	QueueName string
	// Transient declares the queue non-durable and publishes messages
	// non-persistent: a broker restart loses every job waiting (the lab's
	// negative control).
	Transient bool
	// NoConfirms answers 202 as soon as the job is handed to the
	// connection, before the broker confirmed it has the message (the
	// lab's negative control).
	NoConfirms bool
	// Timeout bounds a submission (publish and confirm) or, in sync mode,
	// the processing; 0 means DefaultJobTimeout.
	Timeout time.Duration
	// Sync hands each job to a worker over HTTP (POST /process on one of
	// ProcessURLs, round robin) and answers once it is done, as before
	// there was a queue: the web tier waits for the workers and fails with
	// them (the lab's negative control of decoupling).
	Sync bool
	// ProcessURLs are the workers' base URLs for Sync, space-separated
	// (a string, so that Config stays comparable).
	ProcessURLs string
	// PhotoSize is the side of the images jobs work on; 0 means
	// DefaultPhotoSize.
	PhotoSize int

	// Worker settings (-role worker).
	// AutoAck: the broker forgets a job as soon as it is delivered (the
	// lab's negative control): a worker that dies holding it loses it.
	AutoAck bool
	// Prefetch is how many unacknowledged jobs a worker may hold; 0 means 1.
	Prefetch int
	// NoIdempotency records every delivery's effect, a redelivered job's
	// too (the lab's negative control).
	NoIdempotency bool
}

// Job defaults.
const (
	DefaultQueueName  = "photo-jobs"
	DefaultJobTimeout = 2 * time.Second
)

// Roles (-role).
const (
	RoleWeb    = "web"
	RoleWorker = "worker"
)

// Environment variables of the jobs settings.
const (
	EnvRole  = "MYSITE_ROLE"
	EnvQueue = "MYSITE_QUEUE"
)

func jobsEnv(cfg *Config, getenv func(string) string) {
	if v := getenv(EnvRole); v != "" {
		cfg.Role = v
	}
	if v := getenv(EnvQueue); v != "" {
		cfg.Jobs.Queue = v
	}
}

// jobsFlags defines the jobs settings' flags on fs.
func jobsFlags(fs *flag.FlagSet, cfg *Config) {
	j := &cfg.Jobs
	fs.StringVar(&cfg.Role, "role", cfg.Role, "web (the HTTP API) or worker (takes photo jobs from -queue and records their effects in the database) (env "+EnvRole+")")
	fs.StringVar(&j.Queue, "queue", j.Queue, "AMQP URL of the message broker for photo jobs (POST /photos/{id}/jobs), e.g. amqp://guest:guest@mq:5672/; empty: no jobs (env "+EnvQueue+")")
	fs.StringVar(&j.QueueName, "queue-name", j.QueueName, "name of the job queue (default "+DefaultQueueName+")")
	offFlag(fs, "queue-durable", "declare the job queue durable and publish jobs persistent (default true; false: a broker restart loses the jobs waiting, the lab's negative control)", &j.Transient)
	offFlag(fs, "confirms", "answer 202 only once the broker confirmed it has the job (default true; false: answer once it is sent, the lab's negative control)", &j.NoConfirms)
	fs.DurationVar(&j.Timeout, "job-timeout", j.Timeout, "bound on a job submission (publish and confirm), or on its processing with -jobs-mode sync; when it passes the request gets 503 (default 2s)")
	twoWayFlag(fs, "jobs-mode", "async (a job goes to the queue; workers process it) or sync (the web server hands it to a worker, -process-url, and waits: the lab's negative control)",
		"async", "sync", &j.Sync)
	fs.Func("process-url", "with -jobs-mode sync: a worker's base URL (http://worker-1:8080); repeat for every worker", func(v string) error {
		j.ProcessURLs = strings.TrimSpace(j.ProcessURLs + " " + strings.TrimRight(v, "/"))
		return nil
	})
	fs.IntVar(&j.PhotoSize, "photo-size", j.PhotoSize, "side in pixels of the images jobs work on: the CPU a job costs (default 160)")
	twoWayFlag(fs, "ack", "worker: manual (a job is acknowledged once its effect is committed) or auto (the broker forgets it on delivery: the lab's negative control)",
		"manual", "auto", &j.AutoAck)
	fs.IntVar(&j.Prefetch, "prefetch", j.Prefetch, "worker: unacknowledged jobs it may hold (default 1)")
	offFlag(fs, "idempotency", "worker: record a job's effect once whatever how often it is delivered (default true; false: every delivery's, the lab's negative control)", &j.NoIdempotency)
}

// twoWayFlag defines a flag that takes one of two words: off sets *to to
// false, on to true.
func twoWayFlag(fs *flag.FlagSet, name, usage, off, on string, to *bool) {
	fs.Func(name, usage, func(v string) error {
		switch v {
		case off, on:
			*to = v == on
			return nil
		}
		return fmt.Errorf("want %s or %s, got %q", off, on, v)
	})
}

func (c Config) validateJobs() error {
	switch c.Role {
	case "", RoleWeb:
	case RoleWorker:
		if c.Jobs.Queue == "" {
			return fmt.Errorf("-role worker needs -queue (%s)", EnvQueue)
		}
		if c.Jobs.Sync {
			return errors.New("-jobs-mode sync is the web server's: a worker only takes jobs from the queue")
		}
	default:
		return fmt.Errorf("-role (%s) must be %s or %s, got %q", EnvRole, RoleWeb, RoleWorker, c.Role)
	}
	j := c.Jobs
	if j.Sync && c.Role != RoleWorker && strings.TrimSpace(j.ProcessURLs) == "" {
		return errors.New("-jobs-mode sync needs a worker to hand jobs to: -process-url")
	}
	if j.Queue != "" {
		if _, err := amqp.ParseURI(j.Queue); err != nil {
			return fmt.Errorf("-queue (%s): %v", EnvQueue, err)
		}
	}
	if j.Timeout < 0 {
		return fmt.Errorf("-job-timeout must be > 0, got %v", j.Timeout)
	}
	if j.PhotoSize != 0 && (j.PhotoSize < 8 || j.PhotoSize > 4096) {
		return fmt.Errorf("-photo-size must be between 8 and 4096, got %d", j.PhotoSize)
	}
	if j.Prefetch < 0 || j.Prefetch > 10000 {
		return fmt.Errorf("-prefetch must be between 1 and 10000, got %d", j.Prefetch)
	}
	return nil
}

func (j JobsConfig) queueSpec() queueSpec {
	return queueSpec{Name: cmp.Or(j.QueueName, DefaultQueueName), Durable: !j.Transient}
}

// Job is a job's message body.
type Job struct {
	ID    string `json:"job"`
	Photo string `json:"photo"`
	Op    string `json:"op"`
}

// JobsSchema holds the effects: one row per job processed, or more when a
// job was processed again (a redelivery without idempotency). jobs_done
// keys idempotent processing: its primary key makes a second transaction
// for the same job wait for the first and then find the job done.
const JobsSchema = `CREATE TABLE IF NOT EXISTS photo_effects (
	seq     bigserial PRIMARY KEY,
	job_id  text NOT NULL,
	photo   text NOT NULL,
	op      text NOT NULL,
	result  text NOT NULL,
	worker  text NOT NULL,
	done_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS photo_effects_job ON photo_effects (job_id);
CREATE TABLE IF NOT EXISTS jobs_done (job_id text PRIMARY KEY)`

// effects records and reads jobs' effects in PostgreSQL.
type effects struct {
	pool        *pgxpool.Pool
	schemaReady atomic.Bool // JobsSchema was run once (maintainSchema)
}

// maintainSchema runs JobsSchema until it succeeds once or ctx is done.
// Its DDL runs here only, not in a readiness probe: web servers and workers
// start together and race to create the tables already.
func (e *effects) maintainSchema(ctx context.Context, log *slog.Logger) {
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := e.pool.Exec(actx, JobsSchema)
		cancel()
		if err == nil {
			e.schemaReady.Store(true)
			return
		}
		log.Debug("jobs schema", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ready: the schema exists and the database answers a ping within ctx.
func (e *effects) ready(ctx context.Context) error {
	if !e.schemaReady.Load() {
		return errors.New("the jobs schema is not created yet")
	}
	return e.pool.Ping(ctx)
}

// record stores the effect of processing job. With idempotent, a job
// already done records nothing and done is false.
func (e *effects) record(ctx context.Context, job Job, result, worker string, idempotent bool) (done bool, err error) {
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if idempotent {
			tag, err := tx.Exec(ctx, `INSERT INTO jobs_done (job_id) VALUES ($1) ON CONFLICT DO NOTHING`, job.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return nil
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO photo_effects (job_id, photo, op, result, worker) VALUES ($1, $2, $3, $4, $5)`,
			job.ID, job.Photo, job.Op, result, worker)
		done = err == nil
		return err
	})
	return done && err == nil, err
}

// count is how many effects job has.
func (e *effects) count(ctx context.Context, id string) (int, error) {
	var n int
	err := e.pool.QueryRow(ctx, `SELECT count(*) FROM photo_effects WHERE job_id = $1`, id).Scan(&n)
	return n, err
}

// all is every job's number of effects.
func (e *effects) all(ctx context.Context) (map[string]int, error) {
	rows, err := e.pool.Query(ctx, `SELECT job_id, count(*) FROM photo_effects GROUP BY job_id`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	return out, err
}

// Jobs serves the job routes of a web server.
type Jobs struct {
	cfg     JobsConfig
	client  *http.Client  // sync: to the workers
	next    atomic.Uint64 // sync: round robin over ProcessURLs
	broker  *broker
	effects *effects
	name    string
	log     *slog.Logger
}

// NewJobs makes the job routes' backend; Run keeps its broker connection.
func NewJobs(cfg JobsConfig, pool *pgxpool.Pool, name string, log *slog.Logger) *Jobs {
	j := &Jobs{cfg: cfg, effects: &effects{pool: pool}, name: name, log: log, client: &http.Client{}}
	if !cfg.Sync {
		j.broker = newBroker(cfg.Queue, cfg.queueSpec(), func(ch *amqp.Channel) error {
			if cfg.NoConfirms {
				return nil
			}
			return ch.Confirm(false)
		}, log)
	}
	return j
}

// Run keeps the broker connection (none in sync mode) and the effects
// schema until ctx is done.
func (j *Jobs) Run(ctx context.Context) {
	go j.effects.maintainSchema(ctx, j.log)
	if j.broker != nil {
		j.broker.Run(ctx)
	}
}

func (j *Jobs) register(m *http.ServeMux) {
	m.HandleFunc("POST /photos/{id}/jobs", j.submit)
	m.HandleFunc("/photos/{id}/jobs", methodNotAllowed("POST"))
	m.HandleFunc("GET /jobs/{id}", j.get)
	m.HandleFunc("/jobs/{id}", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /jobs", j.list)
	m.HandleFunc("/jobs", methodNotAllowed("GET, HEAD"))
	m.HandleFunc("GET /queue", j.queue)
	m.HandleFunc("/queue", methodNotAllowed("GET, HEAD"))
}

// JobAnswer is the answer to a submission.
type JobAnswer struct {
	Job   string `json:"job"`
	Photo string `json:"photo"`
	Op    string `json:"op"`
	// State: "queued" (the broker confirmed it), "sent" (-confirms=false:
	// handed to the connection, not confirmed), "done" (-jobs-mode sync).
	State string `json:"state"`
}

func (j *Jobs) submit(w http.ResponseWriter, r *http.Request) {
	photo := r.PathValue("id")
	if err := validName(photo); err != nil {
		writeError(w, http.StatusBadRequest, "photo id "+err.Error())
		return
	}
	var body struct {
		Job string `json:"job"`
		Op  string `json:"op"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body: want {\"job\": \"<id>\", \"op\": \"blur|sharpen|crop\"}: "+err.Error())
			return
		}
	}
	job := Job{ID: body.Job, Photo: photo, Op: cmp.Or(body.Op, DefaultOp(photo))}
	if job.ID == "" {
		job.ID = newJobID()
	} else if err := validName(job.ID); err != nil {
		writeError(w, http.StatusBadRequest, "job id "+err.Error())
		return
	}
	if !validOp(job.Op) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("op must be one of %s, got %q", strings.Join(PhotoOps, ", "), job.Op))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(j.cfg.Timeout, DefaultJobTimeout))
	defer cancel()
	if j.cfg.Sync {
		j.process(ctx, w, job)
		return
	}
	state, err := j.publish(ctx, job)
	if err != nil {
		w.Header().Set(WriteOutcomeHeader, outcomeOf(err))
		writeError(w, http.StatusServiceUnavailable, "job not queued: "+err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, JobAnswer{Job: job.ID, Photo: job.Photo, Op: job.Op, State: state})
}

// process is -jobs-mode sync: the job goes to a worker over HTTP, and the
// answer waits for it.
func (j *Jobs) process(ctx context.Context, w http.ResponseWriter, job Job) {
	urls := strings.Fields(j.cfg.ProcessURLs)
	url := urls[int((j.next.Add(1)-1)%uint64(len(urls)))] + "/process"
	body, _ := json.Marshal(job)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		outcome := "unknown"
		if errors.Is(err, syscall.ECONNREFUSED) {
			outcome = "not-applied"
		}
		w.Header().Set(WriteOutcomeHeader, outcome)
		writeError(w, http.StatusServiceUnavailable, "job not done: worker: "+err.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.Header().Set(WriteOutcomeHeader, cmp.Or(resp.Header.Get(WriteOutcomeHeader), "unknown"))
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("job not done: worker answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg)))
		return
	}
	writeJSON(w, http.StatusOK, JobAnswer{Job: job.ID, Photo: job.Photo, Op: job.Op, State: "done"})
}

// notSent: the job certainly did not reach the broker.
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

func outcomeOf(err error) string {
	if errors.As(err, new(notSent)) {
		return "not-applied"
	}
	return "unknown"
}

// publish sends job to the queue and, with confirms, waits for the broker's.
func (j *Jobs) publish(ctx context.Context, job Job) (state string, err error) {
	ch, err := j.broker.Channel()
	if err != nil {
		return "", notSent{err}
	}
	body, _ := json.Marshal(job)
	msg := amqp.Publishing{ContentType: "application/json", MessageId: job.ID, Body: body, Timestamp: time.Now()}
	if !j.cfg.Transient {
		msg.DeliveryMode = amqp.Persistent
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", j.broker.queue.Name, false, false, msg)
	if err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			return "", notSent{fmt.Errorf("publish: %w", err)}
		}
		return "", fmt.Errorf("publish: %w", err)
	}
	if j.cfg.NoConfirms || dc == nil {
		return "sent", nil
	}
	acked, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return "", fmt.Errorf("no confirm from the broker: %w", err)
	case !acked:
		return "", errors.New("the broker refused the job (nack)")
	}
	return "queued", nil
}

// JobState is the answer of GET /jobs/{id}.
type JobState struct {
	Job string `json:"job"`
	// Effects is how many times the job's effect was recorded: 0 (not
	// processed yet, or unknown), 1, or more (processed twice).
	Effects int `json:"effects"`
	// State is "done" once there is an effect, else "pending".
	State string `json:"state"`
}

func (j *Jobs) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validName(id); err != nil {
		writeError(w, http.StatusBadRequest, "job id "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(j.cfg.Timeout, DefaultJobTimeout))
	defer cancel()
	n, err := j.effects.count(ctx, id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, JobState{Job: id, Effects: n, State: map[bool]string{true: "done", false: "pending"}[n > 0]})
}

// list is every job's number of effects: what the lab reconciles at the end
// of a run.
func (j *Jobs) list(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	all, err := j.effects.all(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"effects": all})
}

// queue tells the queue's depth as the broker counts it.
func (j *Jobs) queue(w http.ResponseWriter, r *http.Request) {
	if j.broker == nil {
		writeError(w, http.StatusNotFound, "no queue: jobs are processed in the request (-jobs-mode sync)")
		return
	}
	msgs, consumers, err := j.broker.Depth()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "message broker: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": j.broker.queue.Name, "messages": msgs, "consumers": consumers})
}

// Ready: the broker channel is open (async), or nothing to wait for.
func (j *Jobs) Ready() error {
	if j.broker == nil {
		return nil
	}
	_, err := j.broker.Channel()
	return err
}

func validOp(op string) bool { return slices.Contains(PhotoOps, op) }

func newJobID() string {
	return "j-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatUint(uint64(rand.Uint32()), 36)
}
