package mysite

import (
	"fmt"
	"testing"
)

func shardNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("shard-%d", i+1)
	}
	return out
}

func testIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%d", i)
	}
	return out
}

func TestShardHashSpreadsSimilarStrings(t *testing.T) {
	// Similar ids differ in their top bits too (the finalizer's avalanche):
	// each top-4-bit bucket gets a fair share of 1600 near-identical ids.
	var buckets [16]int
	for _, id := range testIDs(1600) {
		buckets[ShardHash(id)>>60]++
	}
	for b, n := range buckets {
		if n < 60 || n > 140 {
			t.Errorf("top-bits bucket %d has %d of 1600 ids (want about 100)", b, n)
		}
	}
	if ShardHash("a") == ShardHash("b") || ShardHash("x") != ShardHash("x") {
		t.Error("hash not deterministic or collides trivially")
	}
}

func TestRouter(t *testing.T) {
	ids := testIDs(10000)
	for _, tc := range []struct {
		strategy         string
		vnodes           int
		minMoved, maxMov float64 // share of ids that move from 4 to 5 shards
		onlyToNew        bool
		minShare         float64 // each shard's share of ids, relative to 1/N
		maxShare         float64
	}{
		{strategy: ShardRing, vnodes: 64, minMoved: 0.12, maxMov: 0.30, onlyToNew: true, minShare: 0.6, maxShare: 1.4},
		{strategy: ShardRing, vnodes: 256, minMoved: 0.15, maxMov: 0.25, onlyToNew: true, minShare: 0.75, maxShare: 1.25},
		{strategy: ShardRing, vnodes: 1, minMoved: 0, maxMov: 1, onlyToNew: true, minShare: 0, maxShare: 5},
		{strategy: ShardModulo, minMoved: 0.75, maxMov: 0.85, minShare: 0.9, maxShare: 1.1},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.strategy, tc.vnodes), func(t *testing.T) {
			r4, err := NewRouter(tc.strategy, shardNames(4), tc.vnodes)
			if err != nil {
				t.Fatal(err)
			}
			r5, err := r4.Grow("shard-5")
			if err != nil {
				t.Fatal(err)
			}
			again, _ := NewRouter(tc.strategy, shardNames(4), tc.vnodes)
			counts := make([]int, 5)
			moved := 0
			for _, id := range ids {
				a, b := r4.Shard(id), r5.Shard(id)
				if again.Shard(id) != a || r4.Shard(id) != a {
					t.Fatalf("%s: not deterministic", id)
				}
				if a != b {
					moved++
					if tc.onlyToNew && b != 4 {
						t.Fatalf("%s moved from %s to %s, not to the new shard", id, r4.names[a], r5.names[b])
					}
				}
				counts[b]++
			}
			share := float64(moved) / float64(len(ids))
			t.Logf("moved %.3f; shares over 5 shards %v", share, counts)
			if share < tc.minMoved || share > tc.maxMov {
				t.Errorf("moved share %.3f, want %.2f..%.2f", share, tc.minMoved, tc.maxMov)
			}
			for i, n := range counts {
				rel := float64(n) / (float64(len(ids)) / 5)
				if rel < tc.minShare || rel > tc.maxShare {
					t.Errorf("shard %d owns %d ids (%.2f of a fair share), want %.2f..%.2f", i+1, n, rel, tc.minShare, tc.maxShare)
				}
			}
		})
	}
}

func TestRouterName(t *testing.T) {
	r, err := NewRouter("", []string{"a", "b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy() != ShardRing || r.Len() != 2 || len(r.ring) != 2*DefaultVNodes {
		t.Errorf("defaults: %s %d %d", r.Strategy(), r.Len(), len(r.ring))
	}
	if n := r.Name("42"); n != "a" && n != "b" {
		t.Errorf("name %q", n)
	}
	for _, bad := range []struct {
		strategy string
		names    []string
		vnodes   int
	}{
		{ShardRing, nil, 1}, {ShardRing, []string{"a", "a"}, 1}, {"hash", []string{"a"}, 1}, {ShardRing, []string{"a"}, -1}, {ShardRing, []string{"a"}, maxVNodes + 1},
	} {
		if _, err := NewRouter(bad.strategy, bad.names, bad.vnodes); err == nil {
			t.Errorf("NewRouter(%q, %v, %d): no error", bad.strategy, bad.names, bad.vnodes)
		}
	}
}
