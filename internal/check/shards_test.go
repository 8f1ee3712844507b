package check

import (
	"testing"

	"github.com/scalelab/scalelab/internal/history"
)

func on(o history.Op, shard string) history.Op { o.Shard = shard; return o }

func TestShardsPlacesKeysByTheirAnswersAndCountsTheHurtUsers(t *testing.T) {
	h := faulted(1000, 2000, 3000,
		on(rd(0, "a", "", 100, 110), "shard-1"),
		on(rd(0, "b", "", 100, 110), "shard-2"),
		on(rd(0, "c", "", 100, 110), "shard-2"),
		// during: a's users fine, b hurt (error answer still names its shard), c timed out
		on(rd(0, "a", "", 1100, 1110), "shard-1"),
		on(with(rd(0, "b", "", 1100, 1110), history.Failed), "shard-2"),
		with(rd(0, "c", "", 1200, 2200), history.Unknown),
		rd(0, "new", "", 1300, 1310), // no home before the fault
		// after: b moved to shard-3, a stayed; c never answered after
		on(rd(0, "a", "", 2100, 2110), "shard-1"),
		on(rd(0, "b", "", 2100, 2110), "shard-3"),
		on(rd(0, "b", "", 2200, 2210), "shard-2"), // only the first answer after counts
	)
	w, err := Windows(h)
	if err != nil {
		t.Fatal(err)
	}
	s := ShardsIn(h, w)
	if s.Keys["shard-1"] != 1 || s.Keys["shard-2"] != 2 {
		t.Errorf("keys: %v", s.Keys)
	}
	if s.Users != 3 || s.Hurt["shard-2"] != 2 || s.Hurt["shard-1"] != 0 || s.Unplaced != 1 {
		t.Errorf("users %d hurt %v unplaced %d", s.Users, s.Hurt, s.Unplaced)
	}
	if share, ok := s.HurtShare(); !ok || share < 0.66 || share > 0.67 {
		t.Errorf("hurt share %v %v", share, ok)
	}
	if d := s.During["shard-2"]; d.OK != 0 || d.Total() != 2 {
		t.Errorf("shard-2 during: %+v", d)
	}
	if o := s.Others("shard-2"); o.Value != 1 || o.Total() != 1 {
		t.Errorf("others: %+v", o)
	}
	if s.P99["shard-2"] != 1000*ms || s.P99["shard-1"] != 10*ms {
		t.Errorf("p99: %v", s.P99)
	}
	if s.Last["b"] != "shard-2" || s.Last["a"] != "shard-1" {
		t.Errorf("last: %v", s.Last)
	}
	// b moved; its read during the fault failed.
	if m := s.MovedOps; m.Total() != 1 || m.OK != 0 {
		t.Errorf("moved keys' ops: %+v", m)
	}
	if s.Compared != 2 || s.Moved != 1 || s.MovedShare != 0.5 || s.MovedTo["shard-3"] != 1 {
		t.Errorf("moved: compared %d moved %d share %v to %v", s.Compared, s.Moved, s.MovedShare, s.MovedTo)
	}
}

func TestShardsOfAnUnshardedHistoryIsEmptyEvidence(t *testing.T) {
	h := faulted(1000, 2000, 3000, rd(0, "a", "", 100, 110), rd(0, "a", "", 1100, 1110))
	w, _ := Windows(h)
	s := ShardsIn(h, w)
	if _, ok := s.HurtShare(); ok || s.Compared != 0 || s.Unplaced != 1 {
		t.Errorf("want no evidence: %+v", s)
	}
	if o := s.Others("shard-1"); !o.NoData {
		t.Errorf("others: %+v", o)
	}
}
