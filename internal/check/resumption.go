package check

import (
	"fmt"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Resumption is when operations of one kind were served again after the
// fault, by completion: the outage a user of them saw. RecoveryTime buckets
// operations by when they were sent, so a request that waited through a
// failover and then succeeded counts as served; Resumption counts the wait.
type Resumption struct {
	Kind history.Kind `json:"kind"`
	// Resumed is false when no such operation succeeded after the last one
	// that failed during the fault (Reason says why).
	Resumed bool `json:"resumed"`
	// At is the Complete of the first success among the operations invoked
	// after the last failure during the fault (or after the injection, when
	// none failed). Outage is At minus the injection.
	At     time.Duration `json:"at_ns"`
	Outage time.Duration `json:"outage_ns"`
	// LastFailure is the Invoke of the last operation of the kind invoked
	// during the fault that did not succeed (the injection when none).
	LastFailure time.Duration `json:"last_failure_ns"`
	Reason      string        `json:"reason,omitempty"`
}

func (r Resumption) String() string {
	if !r.Resumed {
		return fmt.Sprintf("%ss never resumed: %s", r.Kind, r.Reason)
	}
	return fmt.Sprintf("%ss resumed %v after the injection (first success after the last failure, sent at %v)", r.Kind, r.Outage, r.LastFailure)
}

// ResumedAfter measures the Resumption of kind in h: the last operation of
// that kind invoked during the fault that did not succeed marks the end of
// the outage as sent; the first success invoked after it, by completion,
// marks when service was back.
func ResumedAfter(h history.History, kind history.Kind) (Resumption, error) {
	r := Resumption{Kind: kind}
	fw, err := Windows(h)
	if err != nil {
		return r, err
	}
	r.LastFailure = fw.Inject
	for _, op := range h.Ops {
		if op.Kind == kind && op.Outcome != history.OK && fw.During.Contains(op.Invoke) {
			r.LastFailure = max(r.LastFailure, op.Invoke)
		}
	}
	first := time.Duration(-1)
	for _, op := range h.Ops {
		if op.Kind != kind || op.Outcome != history.OK || op.Invoke < r.LastFailure || op.Invoke == r.LastFailure && r.LastFailure != fw.Inject {
			continue
		}
		if first < 0 || op.Complete < first {
			first = op.Complete
		}
	}
	if first < 0 {
		r.Reason = fmt.Sprintf("no %s succeeded after the last failure (sent at %v)", kind, r.LastFailure)
		return r, nil
	}
	r.Resumed, r.At, r.Outage = true, first, first-fw.Inject
	return r, nil
}
