package mysite

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Worker takes photo jobs from the queue, does each one's operation and
// records its effect (stage 9). With manual acks (the default) a job is
// acknowledged only after its effect committed: a worker that dies holding
// jobs leaves them to the broker, which delivers them again, and
// idempotency (jobs_done) keeps a redelivered job that had already been
// done from being done twice.
type Worker struct {
	cfg     JobsConfig
	name    string
	timeout time.Duration // per effect transaction
	broker  *broker
	effects *effects
	log     *slog.Logger

	fp *Failpoints // nil: every failpoint off

	processed  atomic.Int64 // effects recorded
	duplicates atomic.Int64 // deliveries of jobs already done (idempotency on)
	failed     atomic.Int64 // jobs given back to the queue after an error
	busy       atomic.Bool
	holding    atomic.Bool // the hold-before-ack failpoint holds a done job

	// slot is the one job a worker does at a time: its consumer takes the
	// queue's deliveries one after another, and POST /process (a web
	// server in -jobs-mode sync) waits for the slot too. The "before" of
	// a queue then has the same workers as the queue: what differs is only
	// where the jobs wait (in the clients' requests, not in the queue), not
	// how many a worker does at once.
	slot chan struct{}
}

// WorkerStats is the answer of GET /worker.
type WorkerStats struct {
	Name       string `json:"name"`
	Processed  int64  `json:"processed"`
	Duplicates int64  `json:"duplicates"`
	Failed     int64  `json:"failed"`
	Busy       bool   `json:"busy"`
	Holding    bool   `json:"holding"`
	Ack        string `json:"ack"`
	Prefetch   int    `json:"prefetch"`
	Idempotent bool   `json:"idempotent"`
}

func newWorker(cfg Config, store *PGStore, log *slog.Logger) *Worker {
	j := cfg.Jobs
	w := &Worker{cfg: j, name: cmp.Or(cfg.Name, DefaultName()), timeout: cmp.Or(cfg.DBTimeout, DefaultJobTimeout),
		effects: &effects{pool: store.Pool()}, log: log, slot: make(chan struct{}, 1)}
	w.broker = newBroker(j.Queue, j.queueSpec(), func(ch *amqp.Channel) error {
		return ch.Qos(cmp.Or(j.Prefetch, 1), 0, false)
	}, log)
	return w
}

// Run consumes until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	go w.broker.Run(ctx)
	go w.effects.maintainSchema(ctx, w.log)
	for ctx.Err() == nil {
		ch, err := w.broker.next(ctx)
		if err != nil {
			return
		}
		deliveries, err := ch.ConsumeWithContext(ctx, w.broker.queue.Name, w.name, w.cfg.AutoAck, false, false, false, nil)
		if err != nil {
			w.log.Warn("consume", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for d := range deliveries {
			w.handle(ctx, d)
		}
	}
}

func (w *Worker) handle(ctx context.Context, d amqp.Delivery) {
	w.busy.Store(true)
	defer w.busy.Store(false)
	var job Job
	if err := json.Unmarshal(d.Body, &job); err != nil || job.ID == "" || !validOp(job.Op) {
		w.log.Warn("dropping a malformed job", "message_id", d.MessageId, "err", err)
		if !w.cfg.AutoAck {
			_ = d.Reject(false)
		}
		return
	}
	err := w.do(ctx, job, d.Redelivered)
	if w.cfg.AutoAck {
		w.hold(ctx)
		if err != nil {
			// The broker already forgot it: this job is lost.
			w.log.Warn("job lost (auto ack)", "job", job.ID, "err", err)
		}
		return
	}
	if err != nil {
		w.failed.Add(1)
		w.log.Warn("job failed; back to the queue", "job", job.ID, "err", err)
		_ = d.Nack(false, true)
		return
	}
	w.hold(ctx)
	if err := d.Ack(false); err != nil {
		// The channel closed: the broker delivers it again, and
		// idempotency keeps its effect single.
		w.log.Warn("ack lost", "job", job.ID, "err", err)
	}
}

// hold waits out the hold-before-ack failpoint (see
// FailpointHoldBeforeAck), or until ctx ends.
func (w *Worker) hold(ctx context.Context) {
	d := w.fp.HoldBeforeAck()
	if d <= 0 {
		return
	}
	w.holding.Store(true)
	defer w.holding.Store(false)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// process is POST /process: a web server in -jobs-mode sync hands the job
// to a worker directly and waits for it, as before there was a queue.
func (w *Worker) process(rw http.ResponseWriter, r *http.Request) {
	var job Job
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 4096))
	if err := dec.Decode(&job); err != nil || validName(job.ID) != nil || validName(job.Photo) != nil || !validOp(job.Op) {
		writeError(rw, http.StatusBadRequest, fmt.Sprintf("want a job {\"job\", \"photo\", \"op\"}: %v", err))
		return
	}
	select {
	case w.slot <- struct{}{}:
		defer func() { <-w.slot }()
	case <-r.Context().Done():
		// The web server gave up waiting: the job was not done.
		writeError(rw, http.StatusServiceUnavailable, "the worker was busy until the request ended: not done")
		return
	}
	w.busy.Store(true)
	defer w.busy.Store(false)
	if err := w.do(r.Context(), job, false); err != nil {
		rw.Header().Set(WriteOutcomeHeader, "unknown")
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(rw, http.StatusOK, JobAnswer{Job: job.ID, Photo: job.Photo, Op: job.Op, State: "done"})
}

func (w *Worker) do(ctx context.Context, job Job, redelivered bool) error {
	result, err := ProcessPhoto(job.Photo, job.Op, cmp.Or(w.cfg.PhotoSize, DefaultPhotoSize))
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	done, err := w.effects.record(tctx, job, result, w.name, !w.cfg.NoIdempotency)
	if err != nil {
		return fmt.Errorf("record the effect: %w", err)
	}
	if done {
		w.processed.Add(1)
	} else {
		w.duplicates.Add(1)
		w.log.Info("job already done; not again", "job", job.ID, "redelivered", redelivered)
	}
	return nil
}

// Stats are the worker's counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Name: w.name, Processed: w.processed.Load(), Duplicates: w.duplicates.Load(), Failed: w.failed.Load(),
		Busy: w.busy.Load(), Holding: w.holding.Load(), Ack: map[bool]string{true: "auto", false: "manual"}[w.cfg.AutoAck],
		Prefetch: cmp.Or(w.cfg.Prefetch, 1), Idempotent: !w.cfg.NoIdempotency}
}

// runWorker is Run for -role worker: the worker, and an HTTP server for
// its probes (/healthz, /readyz: broker channel open and database
// reachable) and its counters (/worker).
func runWorker(ctx context.Context, cfg Config, log *slog.Logger, onListen func(net.Addr)) error {
	store, err := NewPGStore(cfg, nil, log)
	if err != nil {
		return err
	}
	defer store.Close()
	w := newWorker(cfg, store, log)
	mux := http.NewServeMux()
	if cfg.Failpoints {
		w.fp = &Failpoints{}
		w.fp.register(mux)
		log.Warn("failpoints are served at /failpoints: anyone who reaches this worker can make it misbehave (lab mode)")
	}
	mux.HandleFunc("POST /process", w.process)
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if _, err := w.broker.Channel(); err != nil {
			writeError(rw, http.StatusServiceUnavailable, err.Error())
			return
		}
		rctx, cancel := context.WithTimeout(r.Context(), w.timeout)
		defer cancel()
		if err := w.effects.ready(rctx); err != nil {
			writeError(rw, http.StatusServiceUnavailable, "database: "+err.Error())
			return
		}
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /worker", func(rw http.ResponseWriter, r *http.Request) { writeJSON(rw, http.StatusOK, w.Stats()) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	log.Info("mysite worker started", "addr", ln.Addr().String(), "name", w.name, "queue", w.broker.queue.Name,
		"durable", w.broker.queue.Durable, "ack", w.Stats().Ack, "prefetch", cmp.Or(cfg.Jobs.Prefetch, 1), "idempotent", !cfg.Jobs.NoIdempotency)
	if cfg.Jobs.AutoAck {
		log.Warn("ack auto: the broker forgets a job when it delivers it; a worker that dies holding jobs loses them (negative-control mode)")
	}
	if cfg.Jobs.NoIdempotency {
		log.Warn("idempotency off: a redelivered job's effect is recorded again (negative-control mode)")
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	var wg sync.WaitGroup
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { w.Run(wctx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), cmp.Or(cfg.ShutdownTimeout, time.Second))
	defer cancel()
	_ = hs.Shutdown(sctx)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
