package check

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/history"
)

// synthetic builds a deterministic history of n ops from clients working on
// keys against a simulated linearizable register per key (see generate),
// with one op in a thousand timing out outside the fault.
func synthetic(seed uint64, n, keys, clients int) history.History {
	h, _ := generate(seed, n, keys, clients, 0.001)
	return h
}

// generate builds the history synthetic describes, with a share unknown of
// the ops outside the fault timing out. Every op that took effect did so at
// one instant: an OK op inside its [Invoke, Complete] interval. During the
// fault (the middle fifth of the run) most requests fail fast and some time
// out. A timed-out write takes effect half of the time, and then as often
// as not after it completed, as the app's background store call or a thawed
// server does: up to 3 s late, or up to half the run (then possibly after
// the run, seen only by the final read-back). So the history is clean by
// construction: no stale read, no lost write, linearizable; but it has
// late writes. landed maps each write's value to when it took effect (absent
// if it did not).
func generate(seed uint64, n, keys, clients int, unknown float64) (h history.History, landed map[string]time.Duration) {
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
			case inFault && p < 0.95, !inFault && p < unknown:
				o.Outcome, lat = history.Unknown, timeout
			}
			o.Complete = t + lat
			// The effect lands strictly inside the interval...
			at := t + 1 + time.Duration(rng.Int64N(int64(min(lat, 20*time.Millisecond))-1))
			applies := o.Outcome == history.OK
			if o.Outcome == history.Unknown && o.Kind == history.Write && rng.IntN(2) == 0 {
				applies = true
				switch rng.IntN(4) { // ... or, for a timed-out write, after it.
				case 0:
					at = o.Complete + 1 + time.Duration(rng.Int64N(int64(3*time.Second)))
				case 1:
					at = o.Complete + 1 + time.Duration(rng.Int64N(int64(runLen/2)))
				}
			}
			if applies {
				effects = append(effects, effect{at: at, i: len(ops)})
			}
			ops = append(ops, o)
			t = o.Complete + time.Duration(rng.Int64N(int64(60*time.Millisecond)))
		}
	}
	sort.Slice(effects, func(a, b int) bool { return effects[a].at < effects[b].at })
	state := make(map[string]string)
	versions := make(map[string]int64)
	landed = make(map[string]time.Duration)
	for _, e := range effects {
		o := &ops[e.i]
		if o.Kind == history.Write {
			state[o.Key] = o.Value
			versions[o.Key]++
			landed[o.Value] = e.at
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
	}, landed
}

// TestSyntheticHistoryIsClean checks the checkers against a history that is
// correct by construction: any anomaly they report is a checker bug.
func TestSyntheticHistoryIsClean(t *testing.T) {
	h, landed := generate(1, 20_000, 20, 40, 0.001)
	if failed := Assumptions(h, Requirements{MinOpsBefore: 1000}); failed != nil {
		t.Fatalf("assumptions: %v", failed)
	}
	l := LostAcknowledgedWrites(h)
	if !l.Checked || l.Count() != 0 || len(l.Foreign) != 0 || l.Acknowledged == 0 {
		t.Errorf("lost writes: %v %+v", l, l.Foreign)
	}
	// The generator lands some timed-out writes after later acknowledged
	// ones; every late write reported must have really landed after its
	// After, itself after it completed.
	late := FindLateWrites(h)
	if late.Count() < 10 || !slices.Contains(kinds(late), ObservedByRead) || !slices.Contains(kinds(late), ObservedByFinal) {
		t.Errorf("late writes: %v %v", late, kinds(late))
	}
	for _, lw := range late.Writes {
		at, ok := landed[lw.Write.Value]
		if !ok || at <= lw.Write.Complete || at <= landed[lw.After.Value] {
			t.Errorf("not late: %+v landed at %v (after %v)", lw, at, landed[lw.After.Value])
		}
	}
	if !reflect.DeepEqual(l.Late, late) {
		t.Errorf("LostWrites.Late %v != FindLateWrites %v", l.Late, late)
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

func kinds(l LateWrites) []string {
	var out []string
	for _, lw := range l.Writes {
		out = append(out, lw.ObservedBy)
	}
	return out
}

// TestCheckersAgreeWithPorcupine generates many small histories full of
// timed-out writes, many of them landing late, breaks some of them at random
// (a read or a final value swapped for another value of the key), and
// requires the checkers never to report what porcupine can linearize: a
// history porcupine calls Ok has no lost, stale, RYW-violating, phantom or
// foreign value. Porcupine sees the final read-back as one read per key after
// every op; a write of unknown outcome has no return time in its model (see
// Linearizable), so it may land at any time after its call.
func TestCheckersAgreeWithPorcupine(t *testing.T) {
	var clean, illegal, flagged, late, timedOut int
	for seed := range uint64(300) {
		// Small enough for porcupine to decide an illegal history in
		// milliseconds: it has to exhaust every order first.
		h, _ := generate(seed, 180, 4, 6, 0.2)
		rng := rand.New(rand.NewPCG(seed, 7))
		if seed%3 != 0 {
			mutate(rng, h)
		}
		l := LostAcknowledgedWrites(h)
		s := FindStaleReads(h)
		r := FindRYWViolations(h)
		late += l.Late.Count()
		anomalies := l.Count() + len(l.Foreign) + len(s.Stale) + len(s.Phantoms) + len(r.Violations)
		if anomalies > 0 {
			flagged++
		}
		p := Linearizable(withFinalReads(h), 10*time.Second)
		if seed%3 == 0 && p.Result != porcupine.Ok {
			t.Errorf("seed %d: generated history not linearizable: %v", seed, p)
		}
		switch p.Result {
		case porcupine.Illegal:
			illegal++
		case porcupine.Ok:
			clean++
			if anomalies > 0 {
				t.Errorf("seed %d: linearizable, but lost %v foreign %v stale %v phantoms %v ryw %v",
					seed, l.Lost, l.Foreign, s.Stale, s.Phantoms, r.Violations)
			}
		default: // inconclusive: nothing to compare
			timedOut++
		}
	}
	// The two outcomes must both be common for the test to mean anything.
	if clean < 100 || illegal < 50 || flagged < 50 || late < 100 || timedOut > 3 {
		t.Fatalf("too tame: %d linearizable, %d not, %d flagged, %d late writes, %d porcupine timeouts",
			clean, illegal, flagged, late, timedOut)
	}
	t.Logf("%d linearizable, %d not (%d flagged by the checkers), %d late writes", clean, illegal, flagged, late)
}

// mutate swaps the value of a random successful read, or a random key's
// final value, for the value of a random write to the same key.
func mutate(rng *rand.Rand, h history.History) {
	byKey := map[string][]string{}
	for _, o := range h.Ops {
		if o.Kind == history.Write {
			byKey[o.Key] = append(byKey[o.Key], o.Value)
		}
	}
	pick := func(key string) string {
		vs := byKey[key]
		if len(vs) == 0 || rng.IntN(10) == 0 {
			return ""
		}
		return vs[rng.IntN(len(vs))]
	}
	if rng.IntN(2) == 0 {
		keys := slices.Sorted(maps.Keys(h.Final))
		k := keys[rng.IntN(len(keys))]
		h.Final[k] = pick(k)
		return
	}
	for {
		o := &h.Ops[rng.IntN(len(h.Ops))]
		if o.Kind == history.Read && o.Outcome == history.OK {
			o.Value = pick(o.Key)
			return
		}
	}
}

// withFinalReads adds h.Final to h as one read per key after every op.
func withFinalReads(h history.History) history.History {
	var end time.Duration
	for _, o := range h.Ops {
		end = max(end, o.Complete)
	}
	out := h
	out.Ops = slices.Clone(h.Ops)
	for _, k := range slices.Sorted(maps.Keys(h.Final)) {
		out.Ops = append(out.Ops, history.Op{Client: -1, Kind: history.Read, Key: k, Value: h.Final[k],
			Invoke: end + 1, Complete: end + 2, Outcome: history.OK})
	}
	return out
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
