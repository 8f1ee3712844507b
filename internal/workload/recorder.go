package workload

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Recorder collects a run's ops and fault events, concurrently, on one Clock,
// and produces the history.History at the end.
type Recorder struct {
	clock *Clock

	mu      sync.Mutex
	ops     []history.Op
	events  []history.Event
	end     time.Duration
	final   map[string]string
	effects map[string]int
	keys    map[string]struct{} // every key a write was attempted on
	lookups []history.Lookup
	tallies []history.Tally
	// inFlightBefore counts the generator's ops invoked before t and not
	// recorded yet (Run installs it: the generator's own in-flight set).
	inFlightBefore func(t time.Duration) int
}

// NewRecorder records on clock (a new one when nil).
func NewRecorder(clock *Clock) *Recorder {
	if clock == nil {
		clock = NewClock()
	}
	return &Recorder{clock: clock, keys: make(map[string]struct{})}
}

// Clock is the clock every record is stamped with.
func (r *Recorder) Clock() *Clock { return r.clock }

// Op records a completed operation. Ops are kept in the order recorded
// (completion order); checkers sort what they need.
func (r *Recorder) Op(op history.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if op.Kind == history.Write {
		r.keys[op.Key] = struct{}{}
	}
}

// countInFlight installs the count of ops in flight (Run's generator).
func (r *Recorder) countInFlight(f func(t time.Duration) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlightBefore = f
}

// InFlightBefore counts the ops invoked before t that are still in flight:
// requests that hang have not completed, so CompletedSince does not see
// them.
func (r *Recorder) InFlightBefore(t time.Duration) int {
	r.mu.Lock()
	f := r.inFlightBefore
	r.mu.Unlock()
	// Not under r.mu: the generator records ops (r.mu) while it holds its
	// own lock, which f takes.
	if f == nil {
		return 0
	}
	return f(t)
}

// Lookup records a client's DNS lookup.
func (r *Recorder) Lookup(l history.Lookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, l)
}

// CompletedSince counts the ops that completed at or after t: those that
// succeeded and those that did not (failed or unknown).
func (r *Recorder) CompletedSince(t time.Duration) (ok, notOK int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range r.ops {
		switch {
		case op.Complete < t:
		case op.Outcome == history.OK:
			ok++
		default:
			notOK++
		}
	}
	return ok, notOK
}

// Event records a fault event stamped now, and returns it.
func (r *Recorder) Event(kind history.EventKind, fault, note string) history.Event {
	e := history.Event{At: r.clock.Now(), Kind: kind, Fault: fault, Note: note}
	r.AddEvent(e)
	return e
}

// AddEvent records an event whose time was taken on this clock already.
func (r *Recorder) AddEvent(e history.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// SetEnd sets the history's End. Run sets it to the workload's scheduled
// end (its start plus Duration), see Run.
func (r *Recorder) SetEnd(end time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.end = end
}

// SetFinal stores the post-run read-back (ReadBack's result).
func (r *Recorder) SetFinal(final map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.final = maps.Clone(final)
}

// AddTally records what a fault's own requests got (history.History.Tallies).
func (r *Recorder) AddTally(t history.Tally) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tallies = append(r.tallies, t)
}

// SetEffects records the jobs' effects read back after the run
// (history.History.Effects).
func (r *Recorder) SetEffects(effects map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.effects = maps.Clone(effects)
}

// WrittenKeys is every key a write was attempted on, whatever its outcome,
// sorted: the keys ReadBack must cover. Failed writes are included because
// reading a key too many is harmless and one too few hides a lost write.
func (r *Recorder) WrittenKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.keys))
}

// Len is the number of ops recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// History is a copy of everything recorded so far.
func (r *Recorder) History() history.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return history.History{
		Ops:     slices.Clone(r.ops),
		Events:  slices.Clone(r.events),
		End:     r.end,
		Final:   maps.Clone(r.final),
		Effects: maps.Clone(r.effects),
		Lookups: slices.Clone(r.lookups),
		Tallies: slices.Clone(r.tallies),
	}
}

// Recent is a copy of the ops that completed at or after since, and of
// every event and tally: what a live view of a workload that never ends needs,
// without copying all it recorded.
func (r *Recorder) Recent(since time.Duration) history.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Ops are kept in completion order: the recent ones are at the end.
	i := len(r.ops)
	for i > 0 && r.ops[i-1].Complete >= since {
		i--
	}
	return history.History{Ops: slices.Clone(r.ops[i:]), Events: slices.Clone(r.events), Tallies: slices.Clone(r.tallies)}
}

// Forget drops the ops that completed before t, so that a workload that
// runs for hours (scalelab up's live page) holds only a recent window.
// Events and the written keys are kept. Not for a run that will be judged.
func (r *Recorder) Forget(t time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < len(r.ops) && r.ops[i].Complete < t {
		i++
	}
	r.ops = slices.Delete(r.ops, 0, i)
	j := 0
	for j < len(r.lookups) && r.lookups[j].Complete < t {
		j++
	}
	r.lookups = slices.Delete(r.lookups, 0, j)
}
