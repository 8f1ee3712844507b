package verdict

import (
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// The constructors below turn one checker result into one guarantee. Each
// sets Measured to a sentence a human can check against the history, and
// Detail to the first few offenders. A guarantee measured on no data is not
// judged (NotJudged): silence is not evidence, neither a pass nor a breach.

// maxExamples caps the offenders quoted in Detail; the full lists stay in the
// checker results.
const maxExamples = 3

// AvailabilityAtLeast holds when availability in a's window is >= min.
// An empty name defaults to "availability <window>".
func AvailabilityAtLeast(name string, a check.Availability, min float64) Guarantee {
	return availability(name, a, ">=", min, a.Value >= min)
}

// AvailabilityAtMost holds when availability in a's window is <= max. It is
// how a stage shows a single point of failure: with the only server killed,
// availability during the fault must be about 0, and a run where it is not
// means the fault did not take.
func AvailabilityAtMost(name string, a check.Availability, max float64) Guarantee {
	return availability(name, a, "<=", max, a.Value <= max)
}

func availability(name string, a check.Availability, op string, bound float64, holds bool) Guarantee {
	if name == "" {
		name = "availability " + a.Window.Name
	}
	g := Guarantee{
		Name:      name,
		Threshold: fmt.Sprintf("%s %g", op, bound),
		Measured:  fmt.Sprintf("%.4f (%d/%d ok)", a.Value, a.OK, a.Total()),
		Value:     a.Value,
		Holds:     holds && !a.NoData,
		Detail:    fmt.Sprintf("window %s [%v, %v): %d failed, %d unknown", a.Window.Name, a.Window.From, a.Window.To, a.Failed, a.Unknown),
	}
	if a.NoData {
		g.Measured = "no data (0 ops)"
		g.Detail = ""
		g = NotJudgedBecause(g, fmt.Sprintf("no operation was invoked in window %s [%v, %v)", a.Window.Name, a.Window.From, a.Window.To))
	}
	return g
}

// LatencyP99Below holds when the p99 latency in l's window is below d.
func LatencyP99Below(l check.Latency, d time.Duration) Guarantee {
	g := Guarantee{
		Name:      "p99 latency " + l.Window.Name,
		Threshold: fmt.Sprintf("< %v", d),
		Measured:  fmt.Sprintf("%v (p50 %v, p90 %v, max %v; %d ops)", l.P99, l.P50, l.P90, l.Max, l.Count),
		Value:     l.P99.Seconds(),
		Holds:     !l.NoData && l.P99 < d,
	}
	if l.NoData {
		g.Measured = "no data (0 ops)"
		g = NotJudgedBecause(g, fmt.Sprintf("no operation was invoked in window %s [%v, %v)", l.Window.Name, l.Window.From, l.Window.To))
	}
	return g
}

// LatencyP90Below holds when the p90 latency in l's window is below d: at
// most one request in ten was slower (e.g. the share a slow server got).
func LatencyP90Below(l check.Latency, d time.Duration) Guarantee {
	g := LatencyP99Below(l, d)
	g.Name = "p90 latency " + l.Window.Name
	g.Value = l.P90.Seconds()
	g.Holds = g.NotJudged == "" && l.P90 < d
	if !l.NoData {
		g.Measured = fmt.Sprintf("p90 %v (p50 %v, p99 %v, max %v; %d ops)", l.P90, l.P50, l.P99, l.Max, l.Count)
	}
	return g
}

// RecoveredWithin holds when steady availability returned within d of the
// fault's injection (the RTO). Value is the recovery time in seconds.
// whileFaulted says the recovery must come while the fault is still in
// place (routing around it): a recovery at or after the heal breaks it.
func RecoveredWithin(r check.Recovery, d time.Duration, whileFaulted bool) Guarantee {
	return recovered("recovery time (from inject)", r, Bound{Since: SinceInject, D: d, WhileFaulted: whileFaulted})
}

// RecoveredWithinAfterHeal holds when steady availability returned within d
// of the heal (immediately holds if it returned before the heal).
func RecoveredWithinAfterHeal(r check.Recovery, d time.Duration) Guarantee {
	return recovered("recovery time (from heal)", r, Bound{Since: SinceHeal, D: d})
}

// recovered judges a recovery bound inside what the run observed. "Steady"
// means up to the end of the run, so the bound is decided only when the run
// went on for at least check.SteadyFor past it: then a system still failing
// at the bound, or not recovered when the run ended, breaks the guarantee.
// A run that ended before that is not judged (the engine's cool-down lasts
// past every bound, so this is a guard, not the rule).
func recovered(name string, r check.Recovery, b Bound) Guarantee {
	from, took := r.Heal, r.SinceHeal
	if b.Since == SinceInject {
		from, took = r.Inject, r.SinceInject
	}
	g := Guarantee{
		Name:      name,
		Threshold: fmt.Sprintf("<= %v after the %s (availability >= %.4g in every %v bucket to the end)", b.D, b.Since, r.Threshold, r.BucketWidth),
		Measured:  r.String(),
		Value:     took.Seconds(),
		Holds:     r.Recovered && took <= b.D,
		Bound:     &b,
	}
	if b.WhileFaulted && r.Recovered && r.At >= r.Heal {
		// Routing around a fault means recovering while it is in place: a
		// bound longer than the fault window (slow health checks) is not
		// met by the heal doing the work.
		g.Holds = false
		g.Detail = fmt.Sprintf("recovered only %v after the heal: not while the fault was in place", r.SinceHeal)
	}
	if !r.Recovered {
		g.Value = 0
		g.Detail = r.Reason
	}
	decided := from + b.D // the bound passed...
	if b.WhileFaulted {
		decided = min(decided, r.Heal) // ...or the heal did, whichever came first
	}
	switch {
	case r.Empty:
		g = NotJudgedBecause(g, r.Reason)
	case r.End < decided+check.SteadyFor:
		g = NotJudgedBecause(g, fmt.Sprintf("the run was observed until %v, %v after the %s; deciding a %v bound needs %v",
			r.End, r.End-from, b.Since, b.D, decided+check.SteadyFor-from))
	}
	return g
}

// NoLostWrites holds when every acknowledged write survived (RPO = 0).
func NoLostWrites(l check.LostWrites) Guarantee {
	g := LostWritesAtMost(l, 0)
	g.Name = "no lost acknowledged writes"
	return g
}

// LostWritesAtMost holds when at most n acknowledged writes were lost: the
// recovery point a configuration promises (e.g. async replication).
func LostWritesAtMost(l check.LostWrites, n int) Guarantee {
	g := Guarantee{
		Name:      "lost acknowledged writes",
		Threshold: fmt.Sprintf("<= %d", n),
		Measured:  l.String(),
		Value:     float64(l.Count()),
		Holds:     l.Checked && l.Count() <= n,
	}
	var detail []string
	if l.Count() > 0 {
		detail = append(detail, "lost: "+examples(l.Lost, describeOp))
	}
	if len(l.Foreign) > 0 {
		detail = append(detail, fmt.Sprintf("%d keys hold a value no write produced: %s", len(l.Foreign),
			examples(l.Foreign, func(f check.FinalValue) string { return fmt.Sprintf("%s=%q", f.Key, f.Value) })))
	}
	g.Detail = strings.Join(detail, "; ")
	switch {
	case !l.Checked:
		g = NotJudgedBecause(g, "no final read-back in the history, nothing to compare with")
	case l.Acknowledged == 0:
		g = NotJudgedBecause(g, "no write was acknowledged: nothing could be lost")
	}
	return g
}

// noReads marks a read guarantee not judged when no read was examined.
func noReads(g Guarantee, reads int, what string) Guarantee {
	if reads == 0 {
		return NotJudgedBecause(g, "no "+what+" to check")
	}
	return g
}

// NoStaleReads holds when no read returned a value older than a write
// acknowledged before it began.
func NoStaleReads(s check.StaleReads) Guarantee {
	return noReads(Guarantee{
		Name:      "no stale reads",
		Threshold: "0 stale",
		Measured:  fmt.Sprintf("%d stale of %d reads (max %v, %d versions behind)", len(s.Stale), s.Reads, s.MaxStaleness, s.MaxVersionsBehind),
		Value:     float64(len(s.Stale)),
		Holds:     len(s.Stale) == 0,
		Detail:    staleDetail(s.Stale),
	}, s.Reads, "successful read")
}

// StalenessAtMost holds when no read was stale by more than d: the bound a
// cache TTL or a replication lag budget promises.
func StalenessAtMost(s check.StaleReads, d time.Duration) Guarantee {
	return noReads(Guarantee{
		Name:      "max staleness",
		Threshold: fmt.Sprintf("<= %v", d),
		Measured:  fmt.Sprintf("%v (%d stale of %d reads)", s.MaxStaleness, len(s.Stale), s.Reads),
		Value:     s.MaxStaleness.Seconds(),
		Holds:     s.MaxStaleness <= d,
		Detail:    staleDetail(s.Stale),
	}, s.Reads, "successful read")
}

// NoPhantomReads holds when every read value was written by a write that may
// have happened before the read returned.
func NoPhantomReads(s check.StaleReads) Guarantee {
	g := Guarantee{
		Name:      "no phantom reads",
		Threshold: "0 phantom",
		Measured:  fmt.Sprintf("%d phantom of %d reads", len(s.Phantoms), s.Reads),
		Value:     float64(len(s.Phantoms)),
		Holds:     len(s.Phantoms) == 0,
	}
	if len(s.Phantoms) > 0 {
		g.Detail = examples(s.Phantoms, func(p check.Phantom) string { return describeOp(p.Read) + ": " + p.Reason })
	}
	return noReads(g, s.Reads, "successful read")
}

// NoRYWViolations holds when every client read its own acknowledged writes.
func NoRYWViolations(r check.ReadYourWrites) Guarantee {
	return noReads(Guarantee{
		Name:      "read your writes",
		Threshold: "0 violations",
		Measured:  fmt.Sprintf("%d violations of %d reads after own writes", len(r.Violations), r.Reads),
		Value:     float64(len(r.Violations)),
		Holds:     len(r.Violations) == 0,
		Detail:    staleDetail(r.Violations),
	}, r.Reads, "read after the same client's acknowledged write")
}

// Linearizable holds only when porcupine proved every key linearizable. A
// timeout (Unknown) does not hold: unproven is not proven.
func Linearizable(l check.Linearizability) Guarantee {
	g := Guarantee{
		Name:      "linearizable",
		Threshold: string(porcupine.Ok),
		Measured:  l.String(),
		Value:     float64(len(l.Illegal)),
		Holds:     l.Result == porcupine.Ok,
	}
	switch {
	case len(l.Illegal) > 0:
		g.Detail = "illegal keys: " + examples(l.Illegal, func(k string) string { return k })
	case len(l.Unknown) > 0:
		g.Detail = "check timed out on keys: " + examples(l.Unknown, func(k string) string { return k })
	}
	return g
}

func staleDetail(s []check.StaleRead) string {
	return examples(s, func(r check.StaleRead) string {
		return fmt.Sprintf("%s missed %q acknowledged at %v (stale %v)", describeOp(r.Read), r.Missed.Value, r.Missed.Complete, r.Staleness)
	})
}

func describeOp(op history.Op) string {
	return fmt.Sprintf("client %d %s %s=%q [%v, %v]", op.Client, op.Kind, op.Key, op.Value, op.Invoke, op.Complete)
}

// examples renders the first maxExamples items and how many more there are.
func examples[T any](items []T, describe func(T) string) string {
	var parts []string
	for i, it := range items {
		if i == maxExamples {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-maxExamples))
			break
		}
		parts = append(parts, describe(it))
	}
	return strings.Join(parts, "; ")
}
