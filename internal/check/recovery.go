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
	// Reason says why Recovered is false.
	Reason string `json:"reason,omitempty"`
}

func (r Recovery) String() string {
	if !r.Recovered {
		return "not recovered: " + r.Reason
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
// after one lucky bucket counts as recovered there; Assumptions is where a
// run too short to show steadiness gets rejected.
func RecoveryTime(h history.History, width time.Duration, threshold float64) (Recovery, error) {
	r := Recovery{Threshold: threshold, BucketWidth: width}
	fw, err := Windows(h)
	if err != nil {
		return r, err
	}
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
		r.Reason = "no operations after the fault was injected"
	default:
		r.Reason = fmt.Sprintf("availability still below %.4g at the end of the run", threshold)
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
