package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// LostWrites is the recovery point (RPO): acknowledged writes the system no
// longer holds once everything healed.
type LostWrites struct {
	// Checked is false when the history has no final read-back (Final is
	// nil): nothing can be said, and nothing is reported lost.
	Checked      bool `json:"checked"`
	Acknowledged int  `json:"acknowledged"` // OK writes examined
	// Lost holds the lost writes, ordered by Complete.
	Lost []history.Op `json:"lost,omitempty"`
	// First and Last are the Complete times of the earliest and latest lost
	// write, and Span = Last - First: the stretch of acknowledged history the
	// system forgot. All zero when nothing was lost.
	First time.Duration `json:"first_ns"`
	Last  time.Duration `json:"last_ns"`
	Span  time.Duration `json:"span_ns"`
	// Foreign lists keys whose final value no write that may have happened
	// produced (an unknown value, or one from a write that Failed): not a
	// lost write but a bug of its own, in the app or in the engine's outcomes.
	Foreign []FinalValue `json:"foreign,omitempty"`
}

// FinalValue is one key's value in the final read-back.
type FinalValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Count is how many acknowledged writes were lost.
func (l LostWrites) Count() int { return len(l.Lost) }

func (l LostWrites) String() string {
	if !l.Checked {
		return "not checked (no final read-back)"
	}
	return fmt.Sprintf("%d lost of %d acknowledged (span %v)", l.Count(), l.Acknowledged, l.Span)
}

// LostAcknowledgedWrites compares every acknowledged write with h.Final.
//
// An acknowledged write w to key k is lost when Final[k] is neither w's value
// nor the value of a write w2 to k that may have happened (OK or Unknown) and
// did not complete strictly before w was invoked: such a w2 may legitimately
// have been ordered after w and overwritten it. A w2 that completed before w
// started cannot have, so Final[k] == w2.Value means w was dropped.
//
// A key written but absent from a non-nil Final is read as "" (missing), which
// loses every acknowledged write to it: the read-back covers every written key
// by contract, so absence means the system does not have it. A nil Final means
// no read-back happened, and the check is skipped (Checked false).
func LostAcknowledgedWrites(h history.History) LostWrites {
	var l LostWrites
	if h.Final == nil {
		return l
	}
	l.Checked = true
	prod := producers(h.Ops)
	for _, w := range h.Ops {
		if w.Kind != history.Write || w.Outcome != history.OK {
			continue
		}
		l.Acknowledged++
		final := h.Final[w.Key]
		if final == w.Value {
			continue
		}
		if w2, ok := prod.lookup(w.Key, final); ok && final != "" && mayHaveHappened(w2) && w2.Complete >= w.Invoke {
			continue
		}
		l.Lost = append(l.Lost, w)
	}
	byCompletion(l.Lost)
	if n := len(l.Lost); n > 0 {
		l.First, l.Last = l.Lost[0].Complete, l.Lost[n-1].Complete
		l.Span = l.Last - l.First
	}
	for key, value := range h.Final {
		if value == "" {
			continue
		}
		if w2, ok := prod.lookup(key, value); !ok || !mayHaveHappened(w2) {
			l.Foreign = append(l.Foreign, FinalValue{Key: key, Value: value})
		}
	}
	sort.Slice(l.Foreign, func(i, j int) bool { return l.Foreign[i].Key < l.Foreign[j].Key })
	return l
}
