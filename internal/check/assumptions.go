package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Requirements are what a run must show before its numbers mean anything.
type Requirements struct {
	// MinOpsBefore is the baseline: ops invoked before the first injection.
	// Without enough of them "the fault hurt availability" cannot be told
	// from "the system never worked".
	MinOpsBefore int
	// MinOpsDuring and MinOpsAfter: ops invoked during the fault and after
	// the heal. At least 1 is always required: a fault nobody exercised
	// proves nothing, and recovery needs traffic after the heal to be seen.
	MinOpsDuring, MinOpsAfter int
	// EndSlack is how long before h.End the last op may have been invoked
	// and the workload still count as having run until the end. 0 means 1s.
	EndSlack time.Duration
}

// Assumptions validates a run before it is judged. It returns one message per
// failed assumption (nil when all hold); a run that fails any of them does not
// count, whatever its guarantees say, because its numbers measure the lab and
// not the system.
func Assumptions(h history.History, req Requirements) []string {
	var failed []string
	fail := func(format string, args ...any) { failed = append(failed, fmt.Sprintf(format, args...)) }

	failed = append(failed, faultLifecycle(h.Events)...)
	if h.End <= 0 {
		fail("history has no end time (end %v)", h.End)
	}
	if len(h.Ops) == 0 {
		fail("history has no operations: the workload did not run")
		return failed
	}
	failed = append(failed, opSanity(h)...)

	fw, err := Windows(h)
	if err == nil {
		if fw.Heal > h.End {
			fail("last fault healed at %v, after the end of the run at %v: recovery cannot be observed", fw.Heal, h.End)
		}
		var before, during, after int
		for _, op := range h.Ops {
			switch {
			case fw.Before.Contains(op.Invoke):
				before++
			case fw.During.Contains(op.Invoke):
				during++
			case fw.After.Contains(op.Invoke):
				after++
			}
		}
		if before < req.MinOpsBefore {
			fail("only %d ops before the fault (%v), need at least %d for a baseline", before, fw.Before, req.MinOpsBefore)
		}
		if need := max(req.MinOpsDuring, 1); during < need {
			fail("only %d ops during the fault (%v), need at least %d: the fault was not exercised", during, fw.During, need)
		}
		if need := max(req.MinOpsAfter, 1); after < need {
			fail("only %d ops after the heal (%v), need at least %d to observe recovery", after, fw.After, need)
		}
	}

	slack := req.EndSlack
	if slack <= 0 {
		slack = time.Second
	}
	var last time.Duration
	for _, op := range h.Ops {
		last = max(last, op.Invoke)
	}
	if h.End > 0 && last < h.End-slack {
		fail("last op invoked at %v, more than %v before the end at %v: the workload stopped early", last, slack, h.End)
	}
	return failed
}

// faultLifecycle checks that faults were injected, then healed, pairing
// events by their Fault name.
func faultLifecycle(events []history.Event) []string {
	var failed []string
	fail := func(format string, args ...any) { failed = append(failed, fmt.Sprintf(format, args...)) }
	open := make(map[string][]time.Duration) // fault -> injection times not yet healed
	var injected, healed int
	for _, e := range sortedEvents(events) {
		switch e.Kind {
		case history.FaultInjected:
			injected++
			open[e.Fault] = append(open[e.Fault], e.At)
		case history.FaultHealed:
			healed++
			if len(open[e.Fault]) == 0 {
				fail("fault %q healed at %v without being injected before", e.Fault, e.At)
				continue
			}
			open[e.Fault] = open[e.Fault][1:]
		}
	}
	if injected == 0 {
		fail("no %s event: the fault never happened", history.FaultInjected)
	}
	if healed == 0 {
		fail("no %s event: the fault was never healed", history.FaultHealed)
	}
	if injected > 0 && healed > 0 {
		var names []string
		for name, times := range open {
			if len(times) > 0 {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			fail("fault %q injected at %v was never healed", name, open[name][0])
		}
	}
	return failed
}

// opSanity catches records that would silently skew every number.
func opSanity(h history.History) []string {
	var failed []string
	var backwards, badOutcome, late int
	var firstBackwards history.Op
	for _, op := range h.Ops {
		if op.Complete < op.Invoke {
			if backwards == 0 {
				firstBackwards = op
			}
			backwards++
		}
		switch op.Outcome {
		case history.OK, history.Failed, history.Unknown:
		default:
			badOutcome++
		}
		if h.End > 0 && op.Invoke >= h.End {
			late++
		}
	}
	if backwards > 0 {
		failed = append(failed, fmt.Sprintf("%d ops complete before they were invoked (first: client %d %s %q invoked at %v): clock bug",
			backwards, firstBackwards.Client, firstBackwards.Kind, firstBackwards.Key, firstBackwards.Invoke))
	}
	if badOutcome > 0 {
		failed = append(failed, fmt.Sprintf("%d ops have an outcome other than ok/failed/unknown", badOutcome))
	}
	if late > 0 {
		failed = append(failed, fmt.Sprintf("%d ops invoked at or after the end of the run at %v: the end time is wrong", late, h.End))
	}
	return failed
}
