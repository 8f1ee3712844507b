package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// drainGrace is how long past Timeout Run waits for in-flight requests.
// Every request is bounded by Timeout already; the grace covers a loaded
// machine scheduling the goroutines that record them.
const drainGrace = time.Second

// Run drives cfg's workload at the mysite at baseURL and records every op.
//
// Clock and recorder: ops are stamped on clock so that fault events recorded
// by the caller (rec.Event) are on the same clock. When rec is nil a new
// Recorder on clock is made; when clock is nil rec's clock is used (or a new
// one). Passing both with rec on another clock is an error.
//
// Timing: the workload starts at start = clock.Now() when Run is called.
// Op i is scheduled at start + i/Rate, and that is its Invoke, even when it
// is sent late; the lag is reported in Stats. The history's End is set to
// start + Duration, the scheduled end of the workload: every op is invoked
// before it, and a run stopped early by ctx keeps that End, so that the
// checkers' "workload stopped early" assumption catches it.
//
// Stopping: no op is launched after Duration or once ctx is done. In-flight
// requests are then awaited up to Timeout + 1s; they do not inherit ctx's
// cancellation, because cancelling them would turn answers on their way into
// "unknown" writes. Requests still running at that deadline are cancelled and
// recorded as abandoned.
//
// The error is non-nil when cfg or baseURL is invalid (nothing ran, rec is
// nil) or when ctx stopped the run early (rec and stats are still valid and
// hold everything recorded).
func Run(ctx context.Context, cfg Config, baseURL string, clock *Clock, rec *Recorder) (*Recorder, Stats, error) {
	sched, err := NewSchedule(cfg)
	if err != nil {
		return nil, Stats{}, err
	}
	cfg.Seed = sched.Seed() // resolved when it was 0
	switch {
	case rec == nil:
		rec = NewRecorder(clock)
	case clock != nil && rec.Clock() != clock:
		return nil, Stats{}, errors.New("workload: recorder and run use different clocks")
	}
	clock = rec.Clock()

	hc := newHTTPClient(cfg.Clients*4, cfg.Timeout)
	defer hc.CloseIdleConnections()
	req, err := newRequester(hc, baseURL, cfg.Timeout)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("workload: %w", err)
	}
	// Clients that resolve the site's name each get their own transport
	// and resolver (newResolvingClient).
	var reqs []*requester
	if cfg.Resolve != nil {
		for c := range cfg.Clients {
			res := NewResolver(*cfg.Resolve, c, clock, rec)
			// Spread the clients' answers over the TTL (Resolver.Age),
			// from the run's seed.
			res.Age(rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(c))).Float64())
			chc := newResolvingClient(cfg.Timeout, res)
			defer chc.CloseIdleConnections()
			q, _ := newRequester(chc, baseURL, cfg.Timeout)
			reqs = append(reqs, q)
		}
	}

	var svc Service
	if cfg.Service != nil {
		if svc, err = cfg.Service(baseURL, hc); err != nil {
			return nil, Stats{}, fmt.Errorf("workload: the service adapter: %w", err)
		}
	}

	e := &engine{
		clock:    clock,
		rec:      rec,
		req:      req,
		reqs:     reqs,
		svc:      svc,
		timeout:  cfg.Timeout,
		cap:      cfg.InFlightCap(),
		end:      cfg.End,
		duration: cfg.Duration,
		inFlight: make(map[int]history.Op),
	}
	if cfg.Sessions {
		e.sess = newClientSessions(cfg.Clients)
	}
	if cfg.Assets != nil {
		if e.pages, err = newPageLoader(hc, baseURL, cfg); err != nil {
			return nil, Stats{}, fmt.Errorf("workload: %w", err)
		}
	}
	e.lsn = make(lsnTokens, cfg.Clients)
	e.stats = Stats{Seed: sched.Seed(), ScheduledOps: sched.Len(), InFlightCap: e.cap}
	rec.countInFlight(e.inFlightBefore)

	// Requests run on a context detached from ctx (see above) that only the
	// drain deadline cancels.
	reqCtx, abandon := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abandon(nil)

	e.start = clock.Now()
	rec.SetEnd(e.start + cfg.Duration)
	lastAt, stopErr := e.launchAll(ctx, reqCtx, sched, cfg.End, cfg.Duration)
	// The send window is the schedule's span, Duration or the End set while
	// it ran (never before the last op launched), unless ctx cut it.
	window := cfg.End.get(cfg.Duration)
	if lastAt >= window {
		window = lastAt + 1
	}
	if window < cfg.Duration {
		rec.SetEnd(e.start + window)
		e.stats.ScheduledOps = scheduledOps(cfg.Rate, window)
	}
	e.stats.SendWindow = window
	if stopErr != nil {
		e.stats.SendWindow = min(clock.Now()-e.start, window)
	}

	e.drain(cfg.Timeout+drainGrace, abandon)
	stats := e.finalStats()
	if stopErr != nil {
		return rec, stats, fmt.Errorf("workload stopped after %v of %v (%d of %d ops launched): %w",
			stats.SendWindow.Round(time.Millisecond), cfg.Duration, stats.Launched, stats.ScheduledOps, stopErr)
	}
	return rec, stats, nil
}

// engine is the state of one Run.
type engine struct {
	clock *Clock
	rec   *Recorder
	req   *requester
	reqs  []*requester // per client, when clients resolve the site's name
	svc   Service      // nil: mysite, through req
	// timeout bounds a Service's call (req bounds its own).
	timeout time.Duration
	sess    *clientSessions // nil unless Config.Sessions
	pages   *pageLoader     // nil unless Config.Assets
	lsn     lsnTokens       // per client: the highest LSNHeader its writes got
	cap     int
	start   time.Duration // workload start on clock
	// end and duration are Config.End and Config.Duration: a page load
	// starts no asset once the workload's end has come.
	end      *End
	duration time.Duration
	wg       sync.WaitGroup

	mu       sync.Mutex
	inFlight map[int]history.Op // by Decision.Seq: launched, not yet recorded
	sealed   bool               // drain deadline passed: late results are dropped
	lags     []time.Duration
	stats    Stats
}

// reqFor is the requester of a client: its own when clients resolve the
// site's name, else the one all share.
func (e *engine) reqFor(client int) *requester {
	if client < len(e.reqs) {
		return e.reqs[client]
	}
	return e.req
}

// launchAll launches every decision at its scheduled time. It returns nil
// when the schedule is exhausted, or ctx's cause when ctx stopped it.
func (e *engine) launchAll(ctx, reqCtx context.Context, sched *Schedule, end *End, max time.Duration) (lastAt time.Duration, err error) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		d, ok := sched.Next()
		if !ok || d.At >= end.get(max) {
			return lastAt, nil
		}
		// Wait for the op's time. When the loop is behind (GC pause, busy
		// machine) the wait is <= 0 and overdue ops go out at once, still
		// stamped with their scheduled time: the delay counts as latency.
		if wait := e.start + d.At - e.clock.Now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return lastAt, context.Cause(ctx)
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return lastAt, context.Cause(ctx)
		}
		if d.At >= end.get(max) { // moved while we waited
			return lastAt, nil
		}
		e.launch(reqCtx, d)
		lastAt = d.At
	}
}

// launch starts op d in its own goroutine, or records it as overloaded when
// the in-flight cap is reached: never skipped, never delayed.
func (e *engine) launch(reqCtx context.Context, d Decision) {
	op := history.Op{Client: d.Client, Kind: d.Kind, Key: d.Key, Value: d.WriteID, Invoke: e.start + d.At}

	e.mu.Lock()
	e.stats.Launched++
	if len(e.inFlight) >= e.cap {
		// The client cannot keep up. Recording the op as failed keeps the
		// offered load honest (the checkers see an unavailable second, and
		// the bench sees Overloaded) instead of quietly sending less.
		e.stats.Overloaded++
		op.Outcome, op.Error = history.Failed, "client overloaded"
		op.Complete = max(e.clock.Now(), op.Invoke)
		e.recordLocked(op)
		e.mu.Unlock()
		return
	}
	var plan sessionPlan
	if e.sess != nil {
		plan = e.sess.plan(d.Client)
		switch {
		case plan.login != nil:
			// The client has no session: this slot is its login.
			op.Kind, op.Key, op.Value = history.Login, SessionUser(d.Client), ""
			e.stats.Logins++
		case d.Kind == history.SessionCheck:
			op.Value = plan.id // "" while waiting for a login
		}
	}
	e.inFlight[d.Seq] = op
	e.stats.PeakInFlight = max(e.stats.PeakInFlight, len(e.inFlight))
	e.mu.Unlock()

	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		onSend := func() { e.sent(d.Seq, op.Invoke) }
		if d.Kind == history.Page {
			e.loadPage(reqCtx, d, onSend) // records its ops as they complete
			return
		}
		var res result
		switch {
		case e.sess != nil:
			res = e.execSession(reqCtx, d, plan, onSend)
		case e.svc != nil:
			res = call(WithClient(reqCtx, d.Client), e.svc, d.Kind, d.Key, d.WriteID, e.timeout, onSend)
		default:
			res = e.reqFor(d.Client).execMin(reqCtx, d.Kind, d.Key, d.user, e.lsn.get(d.Client), onSend)
			// Before the op is stamped complete: a read invoked after this
			// write completed carries its token.
			e.lsn.observe(d.Client, res.lsn)
		}
		complete := e.clock.Now()
		e.finish(d.Seq, res, complete)
	}()
}

// inFlightBefore counts the ops invoked before t that are still in flight
// (Recorder.InFlightBefore).
func (e *engine) inFlightBefore(t time.Duration) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, op := range e.inFlight {
		if op.Invoke < t {
			n++
		}
	}
	return n
}

// sent notes op seq's request handed to the HTTP client, and its schedule
// lag (kept on the op too).
func (e *engine) sent(seq int, invoke time.Duration) {
	lag := max(e.clock.Now()-invoke, 0)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Sent++
	e.lags = append(e.lags, lag)
	if op, ok := e.inFlight[seq]; ok && op.Invoke == invoke {
		op.Lag = lag
		e.inFlight[seq] = op
	}
}

// finish records op seq's result, unless the drain deadline already
// recorded it as abandoned.
func (e *engine) finish(seq int, res result, complete time.Duration) {
	e.finishThen(seq, res, complete, nil)
}

// finishThen is finish that, when next is not nil, puts next in flight in
// slot seq in the same step: the next op of a page load (an asset), so
// that the slot never looks free between its ops. It reports false when
// the drain deadline sealed the engine: then nothing more may be sent.
func (e *engine) finishThen(seq int, res result, complete time.Duration, next *history.Op) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	op, ok := e.inFlight[seq]
	if !ok || e.sealed {
		return false
	}
	delete(e.inFlight, seq)
	if next != nil {
		e.inFlight[seq] = *next
	}
	op.Outcome, op.Status, op.Error, op.Server, op.Shard = res.outcome, res.status, res.err, res.server, res.shard
	if op.Kind == history.Read {
		op.Cache = res.cache
	}
	switch op.Kind {
	case history.Read, history.Login, history.SessionCheck, history.Page, history.Asset:
		op.Value = res.value
	}
	op.Source = res.source
	if res.err == errLoginFailed || res.err == errLoginWait {
		e.stats.NotLoggedIn++
	}
	op.Version = res.version
	op.Complete = max(complete, op.Invoke)
	e.recordLocked(op)
	return true
}

func (e *engine) recordLocked(op history.Op) {
	switch op.Outcome {
	case history.OK:
		e.stats.OK++
	case history.Failed:
		e.stats.Failed++
	case history.Unknown:
		e.stats.Unknown++
	}
	e.rec.Op(op)
}

// drain waits up to limit for in-flight requests, then cancels and records
// the rest as abandoned.
func (e *engine) drain(limit time.Duration, abandon context.CancelCauseFunc) {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	abandon(errAbandoned)
	e.abandonAll()
}

// abandonAll records every op still in flight and seals the engine so that
// their late results are dropped. A write may still reach the server, so it
// is Unknown; a read is Failed, as for any read without an answer.
func (e *engine) abandonAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	for _, op := range e.inFlight {
		op.Outcome, op.Error = history.Failed, errAbandoned.Error()
		if op.Kind == history.Write {
			op.Outcome = history.Unknown
		}
		op.Complete = max(now, op.Invoke)
		e.recordLocked(op)
		e.stats.Abandoned++
	}
	clear(e.inFlight)
	e.sealed = true
}

func (e *engine) finalStats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.setLags(e.lags)
	if s.SendWindow > 0 {
		s.AchievedRate = float64(s.Sent) / s.SendWindow.Seconds()
	}
	return s
}

// lsnTokens holds each client's read-your-writes token: the highest
// LSNHeader its writes were answered with (0: none yet, or the app sends
// none).
type lsnTokens []atomic.Int64

func (t lsnTokens) get(client int) int64 {
	if client < 0 || client >= len(t) {
		return 0
	}
	return t[client].Load()
}

func (t lsnTokens) observe(client int, lsn int64) {
	if lsn <= 0 || client < 0 || client >= len(t) {
		return
	}
	for {
		cur := t[client].Load()
		if lsn <= cur || t[client].CompareAndSwap(cur, lsn) {
			return
		}
	}
}
