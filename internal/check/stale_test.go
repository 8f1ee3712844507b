package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestFindStaleReads(t *testing.T) {
	type want struct {
		read        string // value of the stale read (its key is "a")
		missed      string
		sinceNewest time.Duration
		staleness   time.Duration
		behind      int64
	}
	tests := []struct {
		name     string
		ops      []history.Op
		stale    []want
		phantoms []string // reasons
	}{
		{
			name: "reads see the latest acknowledged write",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), rd(2, "a", "a1", 20, 25), wr(1, "a", "a2", 30, 40), rd(2, "a", "a2", 50, 55)},
		},
		{
			name:  "read returns the value an ack replaced",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), rd(2, "a", "a1", 50, 55)},
			stale: []want{{"a1", "a2", 20 * ms, 20 * ms, 1}},
		},
		{
			name: "several writes missed: staleness from the first, since-newest from the last",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), wr(1, "a", "a3", 40, 50), wr(1, "a", "a4", 60, 70),
				rd(2, "a", "a1", 100, 105),
			},
			stale: []want{{"a1", "a4", 30 * ms, 70 * ms, 3}},
		},
		{
			name: "versions from the server are used when present",
			ops: []history.Op{
				version(wr(1, "a", "a1", 0, 10), 1), version(wr(1, "a", "a2", 20, 30), 5),
				rd(2, "a", "a1", 50, 55),
			},
			stale: []want{{"a1", "a2", 20 * ms, 20 * ms, 4}},
		},
		{
			name: "write concurrent with the read: old value allowed",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 60), rd(2, "a", "a1", 50, 55)},
		},
		{
			name: "write completing exactly when the read starts is concurrent",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 50), rd(2, "a", "a1", 50, 55)},
		},
		{
			name: "concurrent writes: either order allowed, the 'older' one is not stale",
			ops:  []history.Op{wr(1, "a", "a1", 0, 30), wr(2, "a", "a2", 10, 20), rd(3, "a", "a1", 50, 55), rd(3, "a", "a2", 60, 65)},
		},
		{
			name: "value of an unknown write that may be newest is fine",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10),
				with(wr(2, "a", "a2", 5, 500), history.Unknown),
				rd(3, "a", "a2", 50, 55), rd(3, "a", "a1", 60, 65),
			},
		},
		{
			name: "an unknown write may land after a later ack: reading it is not stale",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
		},
		{
			name: "an unknown write seen before a later ack began is older than it",
			ops: []history.Op{
				with(wr(2, "a", "a0", 0, 5), history.Unknown),
				rd(3, "a", "a0", 6, 8), // a0 had landed by 8
				wr(1, "a", "a1", 10, 20),
				rd(3, "a", "a0", 30, 35),
			},
			stale: []want{{"a0", "a1", 10 * ms, 10 * ms, 1}},
		},
		{
			name:  "missing key after an ack is stale",
			ops:   []history.Op{wr(1, "a", "a1", 0, 10), rd(2, "a", "", 50, 55)},
			stale: []want{{"", "a1", 40 * ms, 40 * ms, 1}},
		},
		{
			name: "missing key while the first write is in flight is fine",
			ops:  []history.Op{rd(2, "a", "", 0, 5), wr(1, "a", "a1", 0, 10), rd(2, "a", "", 5, 8)},
		},
		{
			name: "failed and unknown writes do not make reads stale",
			ops: []history.Op{
				wr(1, "a", "a1", 0, 10), with(wr(1, "a", "a2", 20, 30), history.Failed),
				with(wr(1, "a", "a3", 40, 45), history.Unknown), rd(2, "a", "a1", 50, 55),
			},
		},
		{
			name:     "phantoms: value nobody wrote, value of a failed write, value from the future",
			ops:      []history.Op{with(wr(1, "a", "a1", 0, 10), history.Failed), rd(2, "a", "zz", 20, 25), rd(2, "a", "a1", 30, 35), rd(2, "a", "a2", 40, 45), wr(1, "a", "a2", 50, 60)},
			phantoms: []string{"no write produced this value", "value of a write that failed", "value of a write invoked after the read completed"},
		},
		{
			name: "other keys do not interfere",
			ops:  []history.Op{wr(1, "b", "b1", 0, 10), wr(1, "a", "a1", 20, 30), rd(2, "a", "a1", 40, 45), rd(2, "b", "b1", 40, 45)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := slices.Clone(tt.ops)
			slices.Reverse(ops)
			s := FindStaleReads(history.History{Ops: ops})
			var got []want
			for _, r := range s.Stale {
				got = append(got, want{r.Read.Value, r.Missed.Value, r.SinceNewest, r.Staleness, r.VersionsBehind})
			}
			if !slices.Equal(got, tt.stale) {
				t.Fatalf("stale = %+v\nwant    %+v", got, tt.stale)
			}
			var reasons []string
			for _, p := range s.Phantoms {
				reasons = append(reasons, p.Reason)
			}
			if !slices.Equal(reasons, tt.phantoms) {
				t.Fatalf("phantoms = %q, want %q", reasons, tt.phantoms)
			}
		})
	}
}

func TestStaleReadsSummary(t *testing.T) {
	s := FindStaleReads(history.History{Ops: []history.Op{
		wr(1, "a", "a1", 0, 10), wr(1, "a", "a2", 20, 30), wr(1, "a", "a3", 40, 50),
		rd(2, "a", "a1", 100, 105), rd(2, "a", "a2", 110, 115), rd(2, "a", "a3", 120, 125),
	}})
	if s.Reads != 3 || len(s.Stale) != 2 || s.MaxStaleness != 70*ms || s.MaxVersionsBehind != 2 {
		t.Fatalf("%+v", s)
	}
}

// TestStaleReadsMatchNaive cross-checks the O(n log n) sweep against the
// definition applied literally, O(n^2), on random messy histories: reads of
// random values (fresh, stale, missing, phantom), overlapping writes.
func TestStaleReadsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	total, totalRYW := 0, 0
	for round := range 200 {
		ops := messyOps(rng)
		h := history.History{Ops: ops}
		got := FindStaleReads(h)
		want := naiveStale(ops, false)
		if !slices.Equal(staleSummary(got.Stale), staleSummary(want)) {
			t.Fatalf("round %d stale:\n got  %v\n want %v", round, staleSummary(got.Stale), staleSummary(want))
		}
		total += len(got.Stale)
		gotRYW := FindRYWViolations(h)
		if !slices.Equal(staleSummary(gotRYW.Violations), staleSummary(naiveStale(ops, true))) {
			t.Fatalf("round %d ryw:\n got  %v\n want %v", round, staleSummary(gotRYW.Violations), staleSummary(naiveStale(ops, true)))
		}
		totalRYW += len(gotRYW.Violations)
	}
	if total < 100 || totalRYW < 20 {
		t.Fatalf("random histories too tame: %d stale, %d RYW violations", total, totalRYW)
	}
	t.Logf("%d stale reads and %d RYW violations cross-checked", total, totalRYW)
}

// messyOps is 60 random ops on 3 keys: reads of random values (fresh,
// stale, missing, phantom), overlapping writes of every outcome.
func messyOps(rng *rand.Rand) []history.Op {
	var ops []history.Op
	var written []history.Op
	for i := range 60 {
		inv := rng.IntN(1000)
		o := op(rng.IntN(4), history.Read, fmt.Sprintf("k%d", rng.IntN(3)), "", inv, inv+rng.IntN(100), history.OK)
		if rng.IntN(2) == 0 {
			o.Kind, o.Value = history.Write, fmt.Sprintf("v%d", i)
			o.Outcome = []history.Outcome{history.OK, history.OK, history.Failed, history.Unknown}[rng.IntN(4)]
			written = append(written, o)
		} else if n := rng.IntN(len(written) + 2); n < len(written) {
			o.Value = written[n].Value
			o.Key = written[n].Key
		} else if n == len(written) {
			o.Value = "never-written"
		}
		ops = append(ops, o)
	}
	return ops
}

func naiveStale(ops []history.Op, sameClient bool) []StaleRead {
	prod := producers(ops)
	var out []StaleRead
	for _, r := range ops {
		if r.Kind != history.Read || r.Outcome != history.OK {
			continue
		}
		src, reason := source(r, prod)
		if reason != "" {
			continue
		}
		// When the source took effect at the latest: a read of "" names the
		// key's absence, an OK write its Complete, an Unknown one the
		// earliest Complete of a read of its value.
		latest := origin
		if src >= 0 {
			latest = ops[src].Complete
			if ops[src].Outcome == history.Unknown {
				latest = r.Complete
				for _, r2 := range ops {
					if r2.Kind == history.Read && r2.Outcome == history.OK && r2.Key == r.Key && r2.Value == r.Value {
						if _, reason := source(r2, prod); reason == "" {
							latest = min(latest, r2.Complete)
						}
					}
				}
			}
		}
		var first, newest *history.Op
		count := 0
		for i, w := range ops {
			if w.Kind != history.Write || w.Outcome != history.OK || w.Key != r.Key || (sameClient && w.Client != r.Client) {
				continue
			}
			if w.Complete < r.Invoke && w.Invoke > latest {
				count++
				if first == nil || w.Complete < first.Complete {
					first = &ops[i]
				}
				if newest == nil || w.Complete > newest.Complete {
					newest = &ops[i]
				}
			}
		}
		if count > 0 {
			out = append(out, StaleRead{Read: r, Missed: *newest, SinceNewest: r.Invoke - newest.Complete,
				Staleness: r.Invoke - first.Complete, VersionsBehind: int64(count)})
		}
	}
	sortStale(out)
	return out
}

// staleSummary drops Missed, which may legitimately differ between writes
// completing at the same instant.
func staleSummary(s []StaleRead) []string {
	var out []string
	for _, r := range s {
		out = append(out, fmt.Sprintf("%d/%s=%q@%v since %v stale %v behind %d",
			r.Read.Client, r.Read.Key, r.Read.Value, r.Read.Invoke, r.SinceNewest, r.Staleness, r.VersionsBehind))
	}
	return out
}
