// Package history is the record of one run: every operation the workload made,
// and every fault event, on one monotonic clock (durations since the run started).
//
// The engine writes it; the checkers only read it. It is plain data so that a
// run's history can be saved as JSON and checked again offline.
package history

import "time"

// Kind is what an operation did.
type Kind string

const (
	Read  Kind = "read"  // GET /users/{key}
	Write Kind = "write" // POST or PUT /users/{key} carrying Value
	Login Kind = "login" // POST /login: start a session; Value is the session id when OK
	// SessionCheck is GET /me with the client's session cookie; Value is the
	// session id sent. OK with Status 200 (the session is valid) or 401 (the
	// request was served, but the user was logged out).
	SessionCheck Kind = "session"
	Other        Kind = "other" // anything the checkers only count for availability
	// Page and Asset are a browser's page load (stage 6, CDN). Page is GET
	// /page from the origin: Key "/page", Value the Asset-Version header the
	// page was rendered with. Asset is one static asset the page named,
	// fetched from the edge cache (and from the origin when the edge failed
	// and the client falls back): Key its path without the query
	// ("/static/app.js"), Value the Asset-Version header of the bytes
	// received ("" when none), Expect and Source set. The read and write
	// checkers ignore both; availability and latency count them like Other.
	Page  Kind = "page"
	Asset Kind = "asset"
)

// Outcome is what the client knows about an operation once it completed.
type Outcome string

const (
	// OK: the server answered with the expected status. For a write this makes
	// the write acknowledged.
	OK Outcome = "ok"
	// Failed: the operation certainly did not take effect (connection refused,
	// a 4xx/5xx answer that the app documents as "nothing written").
	Failed Outcome = "failed"
	// Unknown: the client cannot tell (timeout, connection reset after the
	// request was sent). A write with this outcome may or may not have happened.
	Unknown Outcome = "unknown"
)

// Op is one operation, from the client's point of view.
type Op struct {
	Client int    `json:"client"` // logical client id
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	// Value is the value written (for writes) or read (for reads). Every write
	// carries a value unique within the run, so a read names the write it saw.
	// A read of a missing key has Value "".
	Value string `json:"value,omitempty"`
	// Version orders the writes to one key as the server assigned them, when
	// the server reports it (0 when unknown).
	Version int64  `json:"version,omitempty"`
	Status  int    `json:"status,omitempty"` // HTTP status, 0 when none came back
	Error   string `json:"error,omitempty"`
	// Invoke and Complete are offsets from the run's start on one monotonic clock.
	Invoke   time.Duration `json:"invoke_ns"`
	Complete time.Duration `json:"complete_ns"`
	// Lag is how late the load generator handed the op to its client
	// after Invoke, its scheduled time (a loaded machine's lateness, which
	// the op's latency includes); 0 when it went out on time or was never
	// sent.
	Lag     time.Duration `json:"lag_ns,omitempty"`
	Outcome Outcome       `json:"outcome"`
	// Server names the server that answered (mysite's Mysite-Server
	// header), "" when no answer came or it did not say.
	Server string `json:"server,omitempty"`
	// Cache is, for a read, how mysite's cache answered its lookup
	// (mysite's Mysite-Cache header: "hit", "miss", "shared", "error"); "" when the
	// answer did not say (no cache, or no answer).
	Cache string `json:"cache,omitempty"`
	// Shard names the database shard mysite routed the op's key to
	// (mysite's Mysite-Shard header, stage 11), also on an error answer;
	// "" when no answer came or the system is not sharded.
	Shard string `json:"shard,omitempty"`
	// Expect is, for an Asset op, the Asset-Version of the page that named
	// the asset: an OK asset whose Value is lower is stale (the page
	// promised version N, older bytes came).
	Expect string `json:"expect,omitempty"`
	// Source is, for an Asset op, who finally answered it: SourceEdge or
	// SourceOrigin (the last one asked, when both failed).
	Source string `json:"source,omitempty"`
}

// Sources of an Asset op.
const (
	SourceEdge   = "edge"
	SourceOrigin = "origin"
)

// Latency is how long the operation took.
func (o Op) Latency() time.Duration { return o.Complete - o.Invoke }

// EventKind names a fault lifecycle event.
type EventKind string

const (
	FaultInjected EventKind = "fault-injected"
	FaultHealed   EventKind = "fault-healed"
)

// Event is something the run did to the system, on the same clock as the ops.
type Event struct {
	At    time.Duration `json:"at_ns"`
	Kind  EventKind     `json:"kind"`
	Fault string        `json:"fault"`
	Note  string        `json:"note,omitempty"`
}

// History is one run's ops and events. Ops are in completion order as
// recorded; checkers must not rely on any order and sort what they need.
type History struct {
	Ops    []Op          `json:"ops"`
	Events []Event       `json:"events"`
	End    time.Duration `json:"end_ns"` // when the workload stopped
	// Final is the read-back after the run: for every key written, the value
	// the system holds once everything healed ("" when the key is missing).
	Final map[string]string `json:"final,omitempty"`
	// Effects are, for a stage whose writes submit jobs (stage 9: Value
	// is the job id), how many times the system recorded each job's
	// effect, read after the run once its queue drained; nil when not
	// read.
	Effects map[string]int `json:"effects,omitempty"`
	// Lookups are the clients' DNS lookups, when clients reach the site by
	// name (stage 8): what each client's resolver asked, and when.
	Lookups []Lookup `json:"lookups,omitempty"`
	// Tallies are what a fault's own requests got (stage 12's abusive
	// client: a flood's answers by status). They are load, not ops: no
	// checker of the workload counts them.
	Tallies []Tally `json:"tallies,omitempty"`
}

// Tally counts the answers to one fault's requests, by HTTP status.
type Tally struct {
	Fault string `json:"fault"` // the fault's name, as its events have it
	// Client names who sent them (an API key, "" when none).
	Client string `json:"client,omitempty"`
	Sent   int64  `json:"sent"`
	// Skipped are the requests not sent because too many waited for an
	// answer already (a client that gave up on them).
	Skipped int64 `json:"skipped,omitempty"`
	// ByStatus counts the answers by HTTP status; 0 is no answer (refused,
	// timed out).
	ByStatus map[int]int64 `json:"by_status"`
}

// Lookup is one DNS lookup of a client's stub resolver. A request reuses a
// cached answer without a lookup until its TTL ends.
type Lookup struct {
	Client int    `json:"client"`
	Name   string `json:"name"`
	// Answer is the address the client will use, "" when the lookup failed
	// (Error says why: no answer in time, a server failure, no address).
	Answer string        `json:"answer,omitempty"`
	TTL    time.Duration `json:"ttl_ns,omitempty"`
	Error  string        `json:"error,omitempty"`
	// DC is the data center whose entry Answer is (the engine fills it
	// in: it knows each entry's address), "" when unknown.
	DC string `json:"dc,omitempty"`
	// Invoke and Complete are on the ops' clock; the answer is used until
	// Complete + TTL.
	Invoke   time.Duration `json:"invoke_ns"`
	Complete time.Duration `json:"complete_ns"`
}

// AsSent is the history with every op's Invoke moved to when it was sent
// (Invoke + Lag, at most Complete): its latencies no longer count the load
// generator's lateness. The engine judges it beside the history when the
// generator fell behind, to tell whether its lateness decided anything.
func (h History) AsSent() History {
	out := h
	out.Ops = make([]Op, len(h.Ops))
	for i, op := range h.Ops {
		op.Invoke = min(op.Invoke+op.Lag, max(op.Complete, op.Invoke))
		out.Ops[i] = op
	}
	return out
}
