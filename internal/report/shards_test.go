package report

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
)

func TestShardsSection(t *testing.T) {
	if shardsWork(check.Shards{}) != nil {
		t.Error("a run without shards has a shards section")
	}
	s := check.Shards{
		Keys:     map[string]int{"shard-1": 20, "shard-2": 30},
		During:   map[string]check.Availability{"shard-1": {Counts: check.Counts{OK: 1, Failed: 3}, Value: 0.25}},
		Hurt:     map[string]int{"shard-1": 18},
		Compared: 40, Moved: 8, MovedShare: 0.2,
		P99: map[string]time.Duration{"shard-1": 2 * time.Second, "shard-2": 15 * time.Millisecond},
	}
	got := shardsWork(s)
	if a := got.Availability["shard-1"]; a == nil || *a != 0.25 {
		t.Errorf("shard-1 availability %v, want 0.25", a)
	}
	if a, ok := got.Availability["shard-2"]; !ok || a != nil {
		t.Errorf("shard-2 had no request during the fault: availability %v, want null", a)
	}
	if got.UsersHurt["shard-1"] != 18 || got.UsersHurt["shard-2"] != 0 || *got.KeysMovedShare != 0.2 || got.KeysMoved != 8 {
		t.Errorf("section %+v", got)
	}
	if got.HotShardP99MS == nil || *got.HotShardP99MS != 2000 || got.P99MS["shard-2"] != 15 {
		t.Errorf("p99: %v, hot %v", got.P99MS, got.HotShardP99MS)
	}
	page, err := renderHTML(Report{Stage: "sharding", Fault: "reshard", Shards: got})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>The shards</h2>", "<td>shard-1</td>", "25%", "no requests", "keys moved: 8 of 40 (20%)", "2000 ms"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html has no %q", want)
		}
	}
}
