package verdict

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

const ms = time.Millisecond

func avail(name string, ok, failed, unknown int) check.Availability {
	a := check.Availability{Window: check.Window{From: time.Second, To: 2 * time.Second, Name: name},
		Counts: check.Counts{OK: ok, Failed: failed, Unknown: unknown}}
	if r, has := a.Ratio(); has {
		a.Value = r
	} else {
		a.NoData = true
	}
	return a
}

func TestAvailabilityGuarantees(t *testing.T) {
	tests := []struct {
		name     string
		g        Guarantee
		holds    bool
		measured string
	}{
		{"at least, holds", AvailabilityAtLeast("", avail("after", 1460, 30, 10), 0.97), true, "0.9733 (1460/1500 ok)"},
		{"at least, breached", AvailabilityAtLeast("", avail("after", 1460, 30, 10), 0.99), false, "0.9733 (1460/1500 ok)"},
		{"at least, no data never holds", AvailabilityAtLeast("", avail("after", 0, 0, 0), 0), false, "no data (0 ops)"},
		{"at most (SPOF shown)", AvailabilityAtMost("spof", avail("during", 2, 500, 8), 0.01), true, "0.0039 (2/510 ok)"},
		{"at most, the fault did not take", AvailabilityAtMost("spof", avail("during", 500, 10, 0), 0.01), false, "0.9804 (500/510 ok)"},
		{"at most, no data never holds", AvailabilityAtMost("spof", avail("during", 0, 0, 0), 0.01), false, "no data (0 ops)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.g.Holds != tt.holds || tt.g.Measured != tt.measured {
				t.Fatalf("got %+v, want holds=%v measured %q", tt.g, tt.holds, tt.measured)
			}
		})
	}
	if g := AvailabilityAtLeast("", avail("after", 1, 0, 0), 0.99); g.Name != "availability after" || g.Threshold != ">= 0.99" {
		t.Errorf("default name/threshold: %+v", g)
	}
}

func TestLatencyAndRecoveryGuarantees(t *testing.T) {
	l := check.Latency{Window: check.Window{Name: "after"}, Count: 100, P50: 5 * ms, P90: 20 * ms, P99: 80 * ms, Max: 90 * ms}
	if g := LatencyP99Below(l, 100*ms); !g.Holds || g.Value != 0.08 {
		t.Errorf("p99 under bound: %+v", g)
	}
	if g := LatencyP99Below(l, 80*ms); g.Holds {
		t.Errorf("p99 at bound must not hold (strictly below): %+v", g)
	}
	if g := LatencyP99Below(check.Latency{NoData: true}, time.Hour); g.Holds {
		t.Errorf("no data: %+v", g)
	}

	r := check.Recovery{Recovered: true, At: 1500 * ms, SinceInject: 500 * ms, SinceHeal: -200 * ms, Threshold: 0.99, BucketWidth: 100 * ms,
		Inject: 1000 * ms, Heal: 1700 * ms, End: 10 * time.Second}
	if g := RecoveredWithin(r, 500*ms, false); !g.Holds || g.Value != 0.5 {
		t.Errorf("recovered within: %+v", g)
	}
	if g := RecoveredWithin(r, 400*ms, false); g.Holds {
		t.Errorf("recovered too late: %+v", g)
	}
	if g := RecoveredWithinAfterHeal(r, 0); !g.Holds {
		t.Errorf("recovered before heal: %+v", g)
	}
	never := check.Recovery{Reason: "availability still below 0.99 at the end of the run", End: 2 * time.Hour}
	if g := RecoveredWithin(never, time.Hour, false); g.Holds || !strings.Contains(g.Detail, "still below") {
		t.Errorf("never recovered: %+v", g)
	}
}

func TestDataGuarantees(t *testing.T) {
	w := history.Op{Client: 1, Kind: history.Write, Key: "a", Value: "a2", Invoke: 10 * ms, Complete: 20 * ms, Outcome: history.OK}
	r := history.Op{Client: 2, Kind: history.Read, Key: "a", Value: "a1", Invoke: 30 * ms, Complete: 35 * ms, Outcome: history.OK}
	stale := check.StaleRead{Read: r, Missed: w, Staleness: 10 * ms, SinceNewest: 10 * ms, VersionsBehind: 1}

	tests := []struct {
		name   string
		g      Guarantee
		holds  bool
		detail string // substring
	}{
		{"no lost writes, holds", NoLostWrites(check.LostWrites{Checked: true, Acknowledged: 10}), true, ""},
		{"no lost writes, breached", NoLostWrites(check.LostWrites{Checked: true, Acknowledged: 10, Lost: []history.Op{w}}), false, `client 1 write a="a2"`},
		{"lost at most 1 (async RPO)", LostWritesAtMost(check.LostWrites{Checked: true, Acknowledged: 5, Lost: []history.Op{w}}, 1), true, ""},
		{"no stale reads, holds", NoStaleReads(check.StaleReads{Reads: 5}), true, ""},
		{"no stale reads, breached", NoStaleReads(check.StaleReads{Reads: 5, Stale: []check.StaleRead{stale}, MaxStaleness: 10 * ms}), false, `missed "a2"`},
		{"staleness within TTL", StalenessAtMost(check.StaleReads{Reads: 5, Stale: []check.StaleRead{stale}, MaxStaleness: 10 * ms}, 10*ms), true, ""},
		{"staleness beyond TTL", StalenessAtMost(check.StaleReads{Reads: 5, Stale: []check.StaleRead{stale}, MaxStaleness: 10 * ms}, 5*ms), false, ""},
		{"no phantoms", NoPhantomReads(check.StaleReads{Reads: 5}), true, ""},
		{"phantom", NoPhantomReads(check.StaleReads{Reads: 1, Phantoms: []check.Phantom{{Read: r, Reason: "no write produced this value"}}}), false, "no write produced"},
		{"RYW holds", NoRYWViolations(check.ReadYourWrites{Reads: 3}), true, ""},
		{"RYW breached", NoRYWViolations(check.ReadYourWrites{Reads: 3, Violations: []check.StaleRead{stale}}), false, "client 2 read"},
		{"linearizable", Linearizable(check.Linearizability{Result: porcupine.Ok, Keys: 3}), true, ""},
		{"not linearizable", Linearizable(check.Linearizability{Result: porcupine.Illegal, Illegal: []string{"a"}}), false, "illegal keys: a"},
		{"timed out is not proven", Linearizable(check.Linearizability{Result: porcupine.Unknown, Unknown: []string{"b"}}), false, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.g.Holds != tt.holds || !strings.Contains(tt.g.Detail, tt.detail) {
				t.Fatalf("got %+v, want holds=%v detail containing %q", tt.g, tt.holds, tt.detail)
			}
		})
	}
}

func TestExamplesAreCapped(t *testing.T) {
	var lost []history.Op
	for i := range 10 {
		lost = append(lost, history.Op{Kind: history.Write, Key: "k", Value: string(rune('a' + i))})
	}
	g := NoLostWrites(check.LostWrites{Checked: true, Lost: lost})
	if strings.Count(g.Detail, "write k=") != maxExamples || !strings.Contains(g.Detail, "and 7 more") {
		t.Fatalf("detail: %s", g.Detail)
	}
}

func TestVerdict(t *testing.T) {
	ok := Guarantee{Name: "a", Holds: true}
	bad1 := Guarantee{Name: "b", Holds: false}
	bad2 := Guarantee{Name: "c", Holds: false}
	tests := []struct {
		name     string
		v        Verdict
		passed   bool
		counts   bool
		breaches []string
	}{
		{"all hold", Verdict{Guarantees: []Guarantee{ok, ok}}, true, true, nil},
		{"every breach is reported", Verdict{Guarantees: []Guarantee{bad1, ok, bad2}}, false, true, []string{"b", "c"}},
		{"failed assumption: does not count", Verdict{Guarantees: []Guarantee{ok}, Assumptions: []string{"no ops during the fault"}}, false, false, nil},
		{"no guarantee judged: not passed", Verdict{}, false, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var names []string
			for _, g := range tt.v.Breaches() {
				names = append(names, g.Name)
			}
			if tt.v.Passed() != tt.passed || tt.v.Counts() != tt.counts || strings.Join(names, ",") != strings.Join(tt.breaches, ",") {
				t.Fatalf("passed=%v counts=%v breaches=%v", tt.v.Passed(), tt.v.Counts(), names)
			}
		})
	}
}

func TestVerdictJSONAndString(t *testing.T) {
	var v Verdict
	v.Add(AvailabilityAtLeast("", avail("after", 99, 1, 0), 0.99), NoLostWrites(check.LostWrites{Checked: true, Acknowledged: 3, Lost: []history.Op{{Kind: history.Write, Key: "k"}}}))
	v.Assumptions = []string{"only 3 ops before the fault"}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"guarantees":`, `"threshold":`, `"measured":"0.9900 (99/100 ok)"`, `"holds":true`, `"assumptions":["only 3 ops`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil || back.Guarantees[0] != v.Guarantees[0] || back.Passed() != v.Passed() {
		t.Errorf("round trip: %v %+v", err, back)
	}
	s := v.String()
	if !strings.HasPrefix(s, "DOES NOT COUNT") || !strings.Contains(s, "FAIL no lost acknowledged writes") {
		t.Errorf("String:\n%s", s)
	}
}

// TestEndToEnd wires checkers to guarantees on a small history: a SPOF
// killed and restarted, one acknowledged write lost.
func TestEndToEnd(t *testing.T) {
	op := func(kind history.Kind, key, value string, inv, comp int, out history.Outcome) history.Op {
		return history.Op{Kind: kind, Key: key, Value: value, Invoke: time.Duration(inv) * ms, Complete: time.Duration(comp) * ms, Outcome: out}
	}
	var ops []history.Op
	for i := range 40 {
		out := history.OK
		if i >= 10 && i < 20 {
			out = history.Failed
		}
		ops = append(ops, op(history.Other, "", "", i*100, i*100+5, out))
	}
	ops = append(ops, op(history.Write, "a", "a1", 50, 60, history.OK), op(history.Write, "a", "a2", 900, 950, history.OK))
	h := history.History{
		Ops: ops,
		Events: []history.Event{
			{At: 1000 * ms, Kind: history.FaultInjected, Fault: "kill"},
			{At: 2000 * ms, Kind: history.FaultHealed, Fault: "kill"},
		},
		End:   4000 * ms,                    // the 100 ms recovery bound plus check.SteadyFor fit after the heal
		Final: map[string]string{"a": "a1"}, // a2 was acknowledged, then lost
	}
	fw, err := check.Windows(h)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := check.RecoveryTime(h, 100*ms, 0.99)
	if err != nil {
		t.Fatal(err)
	}
	v := Verdict{Assumptions: check.Assumptions(h, check.Requirements{MinOpsBefore: 5})}
	v.Add(
		AvailabilityAtMost("SPOF: down while killed", check.AvailabilityIn(h, fw.During), 0.01),
		AvailabilityAtLeast("", check.AvailabilityIn(h, fw.After), 0.99),
		RecoveredWithinAfterHeal(rec, 100*ms),
		NoLostWrites(check.LostAcknowledgedWrites(h)),
	)
	if !v.Counts() {
		t.Fatalf("assumptions: %v", v.Assumptions)
	}
	if b := v.Breaches(); len(b) != 1 || b[0].Name != "no lost acknowledged writes" || b[0].Value != 1 {
		t.Fatalf("breaches: %+v\n%s", b, v)
	}
}
