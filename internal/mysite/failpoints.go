package mysite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Failpoints are named places where mysite can be made to misbehave on
// purpose while it runs, as etcd's gofail failpoints: the lab turns one on
// to make a rare interleaving likely (a fill that lands after a write),
// and the real Redis and PostgreSQL then decide what happens. They exist
// only with -failpoints; a nil *Failpoints has every one off.
//
// Over HTTP (with -failpoints):
//
//	GET    /failpoints        the ones that are on, "name=value" lines
//	PUT    /failpoints/{name} turn one on; the body is its value
//	DELETE /failpoints/{name} turn it off
type Failpoints struct {
	slowFill      atomic.Int64 // nanoseconds
	holdBeforeAck atomic.Int64
}

// FailpointSlowFill delays every cache fill by its value (a duration)
// after the database read it fills from: the pause a garbage collection, a
// busy CPU or a slow serializer puts between reading a value and storing
// it. Concurrent misses of a user then meet (a stampede, without a guard),
// and a write that commits during the pause races the fill.
const FailpointSlowFill = "slow-fill"

// FailpointHoldBeforeAck makes a worker (stage 9) hold the job it just
// did, its effect committed, for its value (a duration) before it
// acknowledges it: the moment a worker that dies leaves a job done but not
// acknowledged, which the broker then delivers again. GET /worker says
// "holding" meanwhile.
const FailpointHoldBeforeAck = "hold-before-ack"

// failpointNames are every failpoint, for the error that names them.
var failpointNames = []string{FailpointSlowFill, FailpointHoldBeforeAck}

// value is the named failpoint's setting, nil for an unknown name.
func (f *Failpoints) value(name string) *atomic.Int64 {
	switch name {
	case FailpointSlowFill:
		return &f.slowFill
	case FailpointHoldBeforeAck:
		return &f.holdBeforeAck
	}
	return nil
}

// SlowFill is the slow-fill failpoint's delay, 0 when off.
func (f *Failpoints) SlowFill() time.Duration {
	if f == nil {
		return 0
	}
	return time.Duration(f.slowFill.Load())
}

// HoldBeforeAck is the hold-before-ack failpoint's hold, 0 when off.
func (f *Failpoints) HoldBeforeAck() time.Duration {
	if f == nil {
		return 0
	}
	return time.Duration(f.holdBeforeAck.Load())
}

// pauseFill waits out the slow-fill failpoint, or until ctx ends.
func (f *Failpoints) pauseFill(ctx context.Context) {
	d := f.SlowFill()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// maxFailpoint bounds a failpoint's value: past a minute it is a hang,
// which other faults make.
const maxFailpoint = time.Minute

func (f *Failpoints) register(m *http.ServeMux) {
	m.HandleFunc("GET /failpoints", f.list)
	m.HandleFunc("PUT /failpoints/{name}", f.set)
	m.HandleFunc("DELETE /failpoints/{name}", f.set)
	m.HandleFunc("/failpoints/{name}", methodNotAllowed("PUT, DELETE"))
	m.HandleFunc("/failpoints", methodNotAllowed("GET, HEAD"))
}

func (f *Failpoints) list(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, name := range failpointNames {
		if d := time.Duration(f.value(name).Load()); d > 0 {
			fmt.Fprintf(w, "%s=%s\n", name, d)
		}
	}
}

func (f *Failpoints) set(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v := f.value(name)
	if v == nil {
		http.Error(w, fmt.Sprintf("no failpoint %q (there are %s)", name, strings.Join(failpointNames, ", ")), http.StatusNotFound)
		return
	}
	if r.Method == http.MethodDelete {
		v.Store(0)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64))
	if err != nil {
		http.Error(w, "read the value: "+err.Error(), http.StatusBadRequest)
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(body)))
	if err != nil || d <= 0 || d > maxFailpoint {
		http.Error(w, fmt.Sprintf("%s wants a duration above 0 and up to %v, such as 150ms; got %q", name, maxFailpoint, body), http.StatusBadRequest)
		return
	}
	v.Store(int64(d))
	w.WriteHeader(http.StatusNoContent)
}
