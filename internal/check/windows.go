package check

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Window names. Reports key on them, so they are fixed strings.
const (
	Before = "before" // [0, first fault injected)
	During = "during" // [first fault injected, last fault healed)
	After  = "after"  // [last fault healed, h.End)
	Run    = "run"    // [0, h.End): the whole run
)

// Window is a span of the run's clock. It is half-open, [From, To), so that
// consecutive windows never share an operation.
type Window struct {
	From time.Duration `json:"from_ns"`
	To   time.Duration `json:"to_ns"`
	Name string        `json:"name"`
}

// Contains reports whether t lies in [From, To). An operation belongs to a
// window by its Invoke time: that is when the client asked, so a request sent
// during the fault counts against the fault even if it completes after heal.
func (w Window) Contains(t time.Duration) bool { return t >= w.From && t < w.To }

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.To - w.From }

func (w Window) String() string {
	return fmt.Sprintf("%s [%v, %v)", w.Name, w.From, w.To)
}

// FaultWindows splits a run around its fault.
type FaultWindows struct {
	Before, During, After Window
	// Inject is the first FaultInjected event, Heal the last FaultHealed one.
	// With several faults, "during" spans all of them: the system is not
	// known to be healthy again until the last one healed.
	Inject, Heal time.Duration
}

// All returns the three windows in time order.
func (f FaultWindows) All() []Window { return []Window{f.Before, f.During, f.After} }

// ErrNoFault is returned when a history has no complete fault lifecycle.
var ErrNoFault = errors.New("history has no fault-injected followed by fault-healed event")

// Windows derives before/during/after from h.Events. The "after" window ends
// at h.End (exclusive): End is when the workload stopped, so no operation is
// invoked at or after it (Assumptions reports it if one is).
func Windows(h history.History) (FaultWindows, error) {
	inject, heal, ok := faultSpan(h.Events)
	if !ok || inject >= heal {
		return FaultWindows{}, ErrNoFault
	}
	end := max(h.End, heal) // a bogus End must not yield a negative window
	return FaultWindows{
		Before: Window{From: 0, To: inject, Name: Before},
		During: Window{From: inject, To: heal, Name: During},
		After:  Window{From: heal, To: end, Name: After},
		Inject: inject,
		Heal:   heal,
	}, nil
}

// WholeRun is [0, h.End), for checks that do not care about the fault.
func WholeRun(h history.History) Window { return Window{From: 0, To: h.End, Name: Run} }

// faultSpan finds the first injection and the last heal. Events may be
// recorded in any order, so it scans them all.
func faultSpan(events []history.Event) (inject, heal time.Duration, ok bool) {
	var haveInject, haveHeal bool
	for _, e := range events {
		switch e.Kind {
		case history.FaultInjected:
			if !haveInject || e.At < inject {
				inject, haveInject = e.At, true
			}
		case history.FaultHealed:
			if !haveHeal || e.At > heal {
				heal, haveHeal = e.At, true
			}
		}
	}
	return inject, heal, haveInject && haveHeal
}

// sortedEvents returns a copy of events ordered by time (stable, so events
// recorded at the same instant keep their recorded order).
func sortedEvents(events []history.Event) []history.Event {
	s := append([]history.Event(nil), events...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].At < s[j].At })
	return s
}
