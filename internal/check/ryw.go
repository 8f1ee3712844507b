package check

import (
	"fmt"

	"github.com/scalelab/scalelab/internal/history"
)

// ReadYourWrites is the result of the read-your-writes check.
type ReadYourWrites struct {
	// Reads counts the successful reads at risk: those made after the same
	// client had an acknowledged write to that key.
	Reads      int         `json:"reads"`
	Violations []StaleRead `json:"violations,omitempty"`
}

func (r ReadYourWrites) String() string {
	return fmt.Sprintf("%d violations of %d reads after own writes", len(r.Violations), r.Reads)
}

// FindRYWViolations is FindStaleReads restricted to each client's own writes:
// a read violates read-your-writes when it returns a value definitely older
// than a write the same client had already seen acknowledged. Routing a
// session's reads to the primary after it writes fixes exactly this, while
// stale reads of other clients' writes may remain (and are allowed there).
//
// Phantom reads are skipped here; FindStaleReads reports them.
func FindRYWViolations(h history.History) ReadYourWrites {
	var res ReadYourWrites
	reads, acks, _ := readsAndAcks(h.Ops, true)
	var sw sweeper
	eachGroup(reads, acks, func(reads []readRec, acks []ackRec) {
		v, atRisk := sw.run(h.Ops, reads, acks)
		res.Violations = append(res.Violations, v...)
		res.Reads += atRisk
	})
	sortStale(res.Violations)
	return res
}
