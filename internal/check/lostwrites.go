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
	// Late lists the writes of unknown outcome that took effect after a
	// later acknowledged write (FindLateWrites). Not lost writes, and
	// filled even when Checked is false: reads alone can show them.
	Late LateWrites `json:"late"`
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
	s := fmt.Sprintf("%d lost of %d acknowledged (span %v)", l.Count(), l.Acknowledged, l.Span)
	if n := l.Late.Count(); n > 0 {
		s += fmt.Sprintf(", %d late", n)
	}
	return s
}

// LostAcknowledgedWrites compares every acknowledged write with h.Final, and
// with the versions the server gave later writes to the same key.
//
// The final read-back alone misses a write that was lost and then overwritten
// by a later write (a workload that keeps writing after recovery overwrites
// every key). The versions do not: the server numbers the writes to a key, so
// an acknowledged write w with version v followed by an acknowledged write w2,
// invoked after w completed, with a version <= v means the server counted
// from a state without w: w was lost.
//
// An acknowledged write w to key k is lost when Final[k] is neither w's value
// nor the value of a write w2 to k that may have happened (OK or Unknown) and
// may have taken effect after w was invoked: such a w2 may legitimately have
// been ordered after w and overwritten it. An OK w2 took effect by its
// Complete; an Unknown w2 has no deadline (the app may apply it after the
// client timed out, see FindLateWrites) unless a read returned its value, by
// that read's Complete. A w2 that took effect before w started cannot have
// overwritten it, so Final[k] == w2.Value means w was dropped.
//
// A key written but absent from a non-nil Final is read as "" (missing), which
// loses every acknowledged write to it: the read-back covers every written key
// by contract, so absence means the system does not have it. A nil Final means
// no read-back happened, and the check is skipped (Checked false).
func LostAcknowledgedWrites(h history.History) LostWrites {
	var l LostWrites
	prod := producers(h.Ops)
	seen := sightings(h.Ops, prod)
	sighted := landedBy(h.Ops, seen)
	l.Late = lateWrites(h, prod, seen, sighted)
	if h.Final == nil {
		return l
	}
	l.Checked = true
	for _, w := range h.Ops {
		if w.Kind != history.Write || w.Outcome != history.OK {
			continue
		}
		l.Acknowledged++
		final := h.Final[w.Key]
		if final == w.Value {
			continue
		}
		if i, ok := prod.lookup(w.Key, final); ok && final != "" && mayHaveHappened(h.Ops[i]) && prod.latestEffect(i, sighted) >= w.Invoke {
			continue
		}
		l.Lost = append(l.Lost, w)
	}
	l.Lost = append(l.Lost, versionRegressions(h.Ops, l.Lost)...)
	byCompletion(l.Lost)
	if n := len(l.Lost); n > 0 {
		l.First, l.Last = l.Lost[0].Complete, l.Lost[n-1].Complete
		l.Span = l.Last - l.First
	}
	for key, value := range h.Final {
		if value == "" {
			continue
		}
		if i, ok := prod.lookup(key, value); !ok || !mayHaveHappened(h.Ops[i]) {
			l.Foreign = append(l.Foreign, FinalValue{Key: key, Value: value})
		}
	}
	sort.Slice(l.Foreign, func(i, j int) bool { return l.Foreign[i].Key < l.Foreign[j].Key })
	return l
}

// versionRegressions finds acknowledged writes whose version a later
// acknowledged write to the same key did not get past (see
// LostAcknowledgedWrites). Writes already in known are not repeated.
func versionRegressions(ops []history.Op, known []history.Op) []history.Op {
	type key = string
	seen := map[string]bool{}
	for _, w := range known {
		seen[w.Key+"\x00"+w.Value] = true
	}
	byKey := map[key][]history.Op{}
	for _, w := range ops {
		if w.Kind == history.Write && w.Outcome == history.OK && w.Version > 0 {
			byKey[w.Key] = append(byKey[w.Key], w)
		}
	}
	var lost []history.Op
	for _, ws := range byKey {
		sort.Slice(ws, func(i, j int) bool { return ws[i].Invoke < ws[j].Invoke })
		// minAfter[i] is the lowest version among ws[i:].
		minAfter := make([]int64, len(ws)+1)
		minAfter[len(ws)] = 1<<63 - 1
		for i := len(ws) - 1; i >= 0; i-- {
			minAfter[i] = min(ws[i].Version, minAfter[i+1])
		}
		for _, w := range ws {
			// The first write invoked strictly after w completed.
			j := sort.Search(len(ws), func(i int) bool { return ws[i].Invoke > w.Complete })
			if minAfter[j] <= w.Version && !seen[w.Key+"\x00"+w.Value] {
				lost = append(lost, w)
				seen[w.Key+"\x00"+w.Value] = true
			}
		}
	}
	return lost
}
