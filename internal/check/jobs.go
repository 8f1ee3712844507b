package check

import (
	"fmt"
	"sort"

	"github.com/scalelab/scalelab/internal/history"
)

// Jobs reconciles the jobs clients submitted (stage 9: every Write op is a
// submission, Value its job id) with the effects the system recorded, read
// back once the queue drained (h.Effects).
//
// A job the client was told was taken (OK: 202) must have an effect: one
// without is lost. A job of unknown outcome (a timeout, a 503 that may have
// come after the broker took it) may have an effect or not, at any time:
// it is counted, never lost. A job refused as not applied that has an
// effect anyway is reported on its own: the service said something untrue.
// A job with more than one effect was done twice.
type Jobs struct {
	// Checked is false when the history has no effects read back.
	Checked   bool `json:"checked"`
	Submitted int  `json:"submitted"`
	Confirmed int  `json:"confirmed"` // OK submissions
	Unknown   int  `json:"unknown"`
	Refused   int  `json:"refused"` // Failed submissions
	// Processed is how many submitted jobs have at least one effect.
	Processed int `json:"processed"`
	// UnknownDone is how many jobs of unknown outcome have an effect.
	UnknownDone int `json:"unknown_done"`
	// Lost are confirmed jobs without an effect, by completion time.
	Lost []history.Op `json:"lost,omitempty"`
	// Duplicated are jobs with more than one effect, and how many.
	Duplicated []JobEffects `json:"duplicated,omitempty"`
	// RefusedDone are jobs refused as not applied that have an effect.
	RefusedDone []history.Op `json:"refused_done,omitempty"`
	// Foreign are effects of job ids no submission of the run carried.
	Foreign []JobEffects `json:"foreign,omitempty"`
}

// JobEffects is one job's number of effects.
type JobEffects struct {
	Job     string `json:"job"`
	Effects int    `json:"effects"`
}

// LostCount is how many confirmed jobs were lost.
func (j Jobs) LostCount() int { return len(j.Lost) }

// DuplicatedCount is how many jobs were done more than once.
func (j Jobs) DuplicatedCount() int { return len(j.Duplicated) }

func (j Jobs) String() string {
	if !j.Checked {
		return "not checked (no effects read back)"
	}
	return fmt.Sprintf("%d submitted, %d confirmed, %d unknown, %d refused; %d processed; %d lost, %d done twice or more",
		j.Submitted, j.Confirmed, j.Unknown, j.Refused, j.Processed, j.LostCount(), j.DuplicatedCount())
}

// JobsIn reconciles h's submissions with h.Effects.
func JobsIn(h history.History) Jobs {
	j := Jobs{Checked: h.Effects != nil}
	submitted := map[string]bool{}
	for _, op := range h.Ops {
		if op.Kind != history.Write {
			continue
		}
		j.Submitted++
		submitted[op.Value] = true
		n := h.Effects[op.Value]
		if n > 0 {
			j.Processed++
		}
		switch op.Outcome {
		case history.OK:
			j.Confirmed++
			if n == 0 && j.Checked {
				j.Lost = append(j.Lost, op)
			}
		case history.Unknown:
			j.Unknown++
			if n > 0 {
				j.UnknownDone++
			}
		case history.Failed:
			j.Refused++
			if n > 0 {
				j.RefusedDone = append(j.RefusedDone, op)
			}
		}
	}
	for id, n := range h.Effects {
		if n > 1 {
			j.Duplicated = append(j.Duplicated, JobEffects{id, n})
		}
		if !submitted[id] {
			j.Foreign = append(j.Foreign, JobEffects{id, n})
		}
	}
	sort.Slice(j.Lost, func(a, b int) bool { return j.Lost[a].Complete < j.Lost[b].Complete })
	sort.Slice(j.RefusedDone, func(a, b int) bool { return j.RefusedDone[a].Complete < j.RefusedDone[b].Complete })
	byID := func(s []JobEffects) { sort.Slice(s, func(a, b int) bool { return s[a].Job < s[b].Job }) }
	byID(j.Duplicated)
	byID(j.Foreign)
	return j
}
