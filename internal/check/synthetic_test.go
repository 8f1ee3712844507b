package check

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/history"
)

// synthetic builds a deterministic history of n ops from clients working on
// keys against a simulated linearizable register per key: every op that took
// effect did so at one instant inside its [Invoke, Complete] interval. During
// the fault (the middle fifth of the run) most requests fail fast and some
// time out; a timed-out write takes effect half of the time. So the history
// is clean by construction: no stale read, no lost write, linearizable.
func synthetic(seed uint64, n, keys, clients int) history.History {
	rng := rand.New(rand.NewPCG(seed, 42))
	const timeout = 500 * time.Millisecond
	perClient := n / clients
	// Each client issues ops back to back with ~50ms between starts, so the
	// run lasts perClient * 50ms; the fault covers its middle fifth.
	runLen := time.Duration(perClient) * 50 * time.Millisecond
	inject, heal := runLen*2/5, runLen*3/5

	type effect struct {
		at time.Duration
		i  int // index in ops
	}
	ops := make([]history.Op, 0, n)
	var effects []effect
	next := 0
	for c := range clients {
		t := time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		for range perClient {
			o := history.Op{Client: c, Key: fmt.Sprintf("k%d", rng.IntN(keys)), Invoke: t, Kind: history.Read}
			if rng.IntN(2) == 0 {
				o.Kind = history.Write
				o.Value = fmt.Sprintf("v%d", next)
				next++
			}
			lat := time.Millisecond + time.Duration(rng.Int64N(int64(20*time.Millisecond)))
			o.Outcome = history.OK
			inFault := t >= inject && t < heal
			switch p := rng.Float64(); {
			case inFault && p < 0.90:
				o.Outcome, lat = history.Failed, time.Millisecond
			case inFault && p < 0.95, p < 0.001:
				o.Outcome, lat = history.Unknown, timeout
			}
			o.Complete = t + lat
			applies := o.Outcome == history.OK || (o.Outcome == history.Unknown && o.Kind == history.Write && rng.IntN(2) == 0)
			if applies {
				// The effect lands strictly inside the interval.
				effects = append(effects, effect{at: t + 1 + time.Duration(rng.Int64N(int64(min(lat, 20*time.Millisecond))-1)), i: len(ops)})
			}
			ops = append(ops, o)
			t = o.Complete + time.Duration(rng.Int64N(int64(60*time.Millisecond)))
		}
	}
	sort.Slice(effects, func(a, b int) bool { return effects[a].at < effects[b].at })
	state := make(map[string]string)
	versions := make(map[string]int64)
	for _, e := range effects {
		o := &ops[e.i]
		if o.Kind == history.Write {
			state[o.Key] = o.Value
			versions[o.Key]++
			if o.Outcome == history.OK { // the server reports a version only in its answer
				o.Version = versions[o.Key]
			}
		} else if o.Outcome == history.OK {
			o.Value = state[o.Key]
		}
	}
	final := make(map[string]string)
	var end time.Duration
	for _, o := range ops {
		if o.Kind == history.Write {
			final[o.Key] = state[o.Key]
		}
		end = max(end, o.Invoke+time.Nanosecond)
	}
	// Completion order, as the engine records it.
	sort.Slice(ops, func(a, b int) bool { return ops[a].Complete < ops[b].Complete })
	return history.History{
		Ops: ops,
		Events: []history.Event{
			{At: inject, Kind: history.FaultInjected, Fault: "kill"},
			{At: heal, Kind: history.FaultHealed, Fault: "kill"},
		},
		End:   end,
		Final: final,
	}
}

// TestSyntheticHistoryIsClean checks the checkers against a history that is
// correct by construction: any anomaly they report is a checker bug.
func TestSyntheticHistoryIsClean(t *testing.T) {
	h := synthetic(1, 20_000, 20, 40)
	if failed := Assumptions(h, Requirements{MinOpsBefore: 1000}); failed != nil {
		t.Fatalf("assumptions: %v", failed)
	}
	if l := LostAcknowledgedWrites(h); !l.Checked || l.Count() != 0 || len(l.Foreign) != 0 || l.Acknowledged == 0 {
		t.Errorf("lost writes: %v %+v", l, l.Foreign)
	}
	if s := FindStaleReads(h); len(s.Stale) != 0 || len(s.Phantoms) != 0 || s.Reads == 0 {
		t.Errorf("stale reads: %v", s)
	}
	if r := FindRYWViolations(h); len(r.Violations) != 0 || r.Reads == 0 {
		t.Errorf("read your writes: %v", r)
	}
	if l := Linearizable(h, 30*time.Second); l.Result != porcupine.Ok {
		t.Errorf("linearizable: %v", l)
	}
	fw, _ := Windows(h)
	if a := AvailabilityIn(h, fw.During); a.Value > 0.1 {
		t.Errorf("availability during fault: %v", a)
	}
	if a := AvailabilityIn(h, fw.After); a.Value < 0.99 {
		t.Errorf("availability after: %v", a)
	}
	if r, err := RecoveryTime(h, 250*time.Millisecond, 0.95); err != nil || !r.Recovered || r.SinceHeal > 250*time.Millisecond {
		t.Errorf("recovery: %v %v", r, err)
	}
}

// TestSyntheticDetectsInjectedAnomalies breaks the clean history in known
// ways and expects each checker to notice exactly that.
func TestSyntheticDetectsInjectedAnomalies(t *testing.T) {
	h := synthetic(2, 5_000, 10, 20)

	// Stale read: make the last OK read of some key return the key's first
	// acknowledged value, long overwritten.
	first, last := map[string]history.Op{}, map[string]int{}
	for i, o := range h.Ops {
		if o.Kind == history.Write && o.Outcome == history.OK {
			if _, ok := first[o.Key]; !ok {
				first[o.Key] = o
			}
		}
		if o.Kind == history.Read && o.Outcome == history.OK {
			last[o.Key] = i
		}
	}
	i := last["k3"]
	h.Ops[i].Value = first["k3"].Value
	s := FindStaleReads(h)
	if len(s.Stale) != 1 || s.Stale[0].Read != h.Ops[i] || s.Stale[0].VersionsBehind < 10 {
		t.Fatalf("stale: %v %+v", s, s.Stale)
	}
	if l := Linearizable(h, 30*time.Second); l.Result != porcupine.Illegal || len(l.Illegal) != 1 || l.Illegal[0] != "k3" {
		t.Fatalf("linearizable: %v %v", l, l.Illegal)
	}

	// Lost write: roll one key's final value back to its first write.
	h.Final["k5"] = first["k5"].Value
	if l := LostAcknowledgedWrites(h); l.Count() == 0 || l.Lost[0].Key != "k5" || l.Lost[0].Value == first["k5"].Value {
		t.Fatalf("lost: %v", l)
	}
}

// BenchmarkCheckers runs every checker but porcupine over a 100k-op history
// ("all"), and each one alone to show where the time goes.
func BenchmarkCheckers(b *testing.B) {
	h := synthetic(7, 100_000, 100, 100)
	fw, err := Windows(h)
	if err != nil {
		b.Fatal(err)
	}
	checkers := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"windows", func(b *testing.B) {
			if _, err := Windows(h); err != nil {
				b.Fatal(err)
			}
		}},
		{"availability", func(*testing.B) {
			for _, w := range fw.All() {
				AvailabilityIn(h, w)
			}
		}},
		{"buckets", func(b *testing.B) {
			if _, err := Buckets(h, WholeRun(h), 250*time.Millisecond); err != nil {
				b.Fatal(err)
			}
		}},
		{"latency", func(*testing.B) {
			for _, w := range fw.All() {
				LatencyIn(h, w)
			}
		}},
		{"recovery", func(b *testing.B) {
			if r, err := RecoveryTime(h, 250*time.Millisecond, 0.95); err != nil || !r.Recovered {
				b.Fatal(r, err)
			}
		}},
		{"lost-writes", func(b *testing.B) {
			if l := LostAcknowledgedWrites(h); l.Count() != 0 {
				b.Fatal(l)
			}
		}},
		{"stale-reads", func(b *testing.B) {
			if s := FindStaleReads(h); len(s.Stale) != 0 {
				b.Fatal(s)
			}
		}},
		{"ryw", func(b *testing.B) {
			if r := FindRYWViolations(h); len(r.Violations) != 0 {
				b.Fatal(r)
			}
		}},
		{"assumptions", func(b *testing.B) {
			if a := Assumptions(h, Requirements{MinOpsBefore: 1000}); a != nil {
				b.Fatal(a)
			}
		}},
	}
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			for _, c := range checkers {
				c.run(b)
			}
		}
	})
	for _, c := range checkers {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.run(b)
			}
		})
	}
}

func BenchmarkLinearizable(b *testing.B) {
	h := synthetic(7, 100_000, 100, 100)
	b.ResetTimer()
	for b.Loop() {
		if l := Linearizable(h, time.Minute); l.Result != porcupine.Ok {
			b.Fatal(l)
		}
	}
}
