package check

import (
	"fmt"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Recovery is how long the system took to serve requests steadily again.
type Recovery struct {
	Recovered bool `json:"recovered"`
	// At is when steady success began: the start of the first bucket from
	// which every non-empty bucket up to the end of the run has availability
	// >= Threshold. Meaningful only when Recovered.
	At time.Duration `json:"at_ns"`
	// SinceInject is the recovery time (RTO): At minus the first injection.
	// 0 means the fault never visibly hurt availability.
	SinceInject time.Duration `json:"since_inject_ns"`
	// SinceHeal is At minus the last heal. It is negative when the system
	// recovered while the fault was still in place (it routed around it,
	// e.g. a load balancer dropping a dead server), which is the good case.
	SinceHeal   time.Duration `json:"since_heal_ns"`
	Threshold   float64       `json:"threshold"`
	BucketWidth time.Duration `json:"bucket_width_ns"`
	// Inject and Heal are the first injection and the last heal; End is
	// where the run's observation ended. A bound is decided only inside
	// [Inject, End).
	Inject time.Duration `json:"inject_ns"`
	Heal   time.Duration `json:"heal_ns"`
	End    time.Duration `json:"end_ns"`
	// Empty: no operation was invoked after the injection, so there is no
	// evidence either way.
	Empty bool `json:"empty,omitempty"`
	// Reason says why Recovered is false.
	Reason string `json:"reason,omitempty"`
}

// SteadyFor is how long past a recovery bound a run must go on for the bound
// to be decided: "steady" means to the end of the run, and one lucky 250 ms
// bucket right at the end is not steadiness. Four buckets.
const SteadyFor = time.Second

func (r Recovery) String() string {
	if !r.Recovered {
		return "not recovered: " + r.Reason
	}
	switch {
	case r.SinceInject == 0:
		return fmt.Sprintf("never below %.4g: the fault did not hurt availability", r.Threshold)
	case r.SinceHeal < 0:
		// Routed around the fault: say so, not "-3s after heal".
		return fmt.Sprintf("recovered %v after inject, while the fault was still in place (%v before the heal)", r.SinceInject, -r.SinceHeal)
	}
	return fmt.Sprintf("recovered %v after inject (%v after heal)", r.SinceInject, r.SinceHeal)
}

// RecoveryTime finds when availability came back to threshold for good after
// the fault. Buckets of the given width are aligned on the injection, so the
// result is not rounded against an unrelated grid; its resolution is width.
//
// "For good" means up to the end of the run: a system that comes back, then
// falls over again, has not recovered until the last dip is over. Empty
// buckets carry no evidence either way and are skipped. A run that ends right
// after one lucky bucket counts as recovered there; the guarantees that judge
// a recovery bound require the run to go on SteadyFor past the bound.
func RecoveryTime(h history.History, width time.Duration, threshold float64) (Recovery, error) {
	r := Recovery{Threshold: threshold, BucketWidth: width}
	fw, err := Windows(h)
	if err != nil {
		return r, err
	}
	r.Inject, r.Heal, r.End = fw.Inject, fw.Heal, fw.After.To
	buckets, err := Buckets(h, Window{From: fw.Inject, To: fw.After.To, Name: "since-inject"}, width)
	if err != nil {
		return r, err
	}
	// Walk backwards: the answer is the earliest bucket of the longest
	// all-good suffix, and the first bad bucket from the end bounds it.
	found := -1
	for i := len(buckets) - 1; i >= 0; i-- {
		b := buckets[i]
		if b.NoData {
			continue
		}
		if b.Availability < threshold {
			break
		}
		found = i
	}
	switch {
	case found >= 0:
		r.Recovered = true
		r.At = buckets[found].Start
		r.SinceInject = r.At - fw.Inject
		r.SinceHeal = r.At - fw.Heal
	case allEmpty(buckets):
		r.Empty = true
		r.Reason = "no operations after the fault was injected"
	default:
		r.Reason = fmt.Sprintf("availability still below %.4g at the end of the run (%v after the heal)", threshold, r.End-r.Heal)
	}
	return r, nil
}

func allEmpty(buckets []Bucket) bool {
	for _, b := range buckets {
		if !b.NoData {
			return false
		}
	}
	return true
}
