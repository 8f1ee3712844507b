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
	Outcome  Outcome       `json:"outcome"`
	// Server names the server that answered (mysite's Mysite-Server
	// header), "" when no answer came or it did not say.
	Server string `json:"server,omitempty"`
}

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
}
