package stage

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
)

func TestBlastRadiusJudgesTheShareHurtAndTheOtherShards(t *testing.T) {
	avail := func(ok, failed int) check.Availability {
		a := check.Availability{Counts: check.Counts{OK: ok, Failed: failed}}
		a.Value = float64(ok) / float64(ok+failed)
		return a
	}
	quarter := check.Shards{Users: 100, Hurt: map[string]int{"shard-1": 25},
		During: map[string]check.Availability{"shard-1": avail(0, 50), "shard-2": avail(100, 0)}}
	if g := blastRadius(Evidence{Shards: quarter}, Settings{}); !g.Holds {
		t.Errorf("a quarter hurt, the others fine: %+v", g)
	}
	spread := quarter
	spread.During = map[string]check.Availability{"shard-1": avail(0, 50), "shard-2": avail(97, 3)}
	if g := blastRadius(Evidence{Shards: spread}, Settings{}); g.Holds {
		t.Errorf("another shard's requests failed: %+v", g)
	}
	everyone := check.Shards{Users: 90, Hurt: map[string]int{"shard-1": 90},
		During: map[string]check.Availability{"shard-1": avail(0, 400)}}
	if g := blastRadius(Evidence{Shards: everyone}, Values(shardCount.Is(1))); g.Holds || g.NotJudged != "" {
		t.Errorf("one database, everyone hurt: the default's bound must break it: %+v", g)
	}
	if g := blastRadius(Evidence{}, Settings{}); g.NotJudged == "" {
		t.Errorf("no users: want not judged, got %+v", g)
	}
}

func TestFewKeysMovedNeedsKeysComparedAndRefusesTwoShards(t *testing.T) {
	if g := fewKeysMoved(Evidence{Shards: check.Shards{Compared: 86, Moved: 22, MovedShare: 22.0 / 86}}, Settings{}); !g.Holds {
		t.Errorf("a fifth moved: %+v", g)
	}
	if g := fewKeysMoved(Evidence{Shards: check.Shards{Compared: 81, Moved: 59, MovedShare: 59.0 / 81}}, Settings{}); g.Holds {
		t.Errorf("modulo's share: %+v", g)
	}
	if g := fewKeysMoved(Evidence{Shards: check.Shards{Compared: 5}}, Settings{}); g.NotJudged == "" {
		t.Errorf("5 keys compared: want not judged, got %+v", g)
	}
	if g := fewKeysMoved(Evidence{}, Values(shardCount.Is(2))); g.Vacuous == "" {
		t.Error("two shards: want vacuous")
	}
}

func TestHotShardFastJudgesTheCelebritysShard(t *testing.T) {
	sh := check.Shards{Last: map[string]string{celebrity: "shard-3"},
		P99: map[string]time.Duration{"shard-3": 2 * time.Second, "shard-1": 40 * time.Millisecond}}
	if g := hotShardFast(Evidence{Shards: sh}, Settings{}); g.Holds || g.Vacuous != "" {
		t.Errorf("the celebrity's shard at 2 s: %+v", g)
	}
	sh.P99["shard-3"] = 35 * time.Millisecond
	if g := hotShardFast(Evidence{Shards: sh}, Settings{}); !g.Holds {
		t.Errorf("the celebrity's shard at 35 ms: %+v", g)
	}
	if g := hotShardFast(Evidence{}, Settings{}); g.NotJudged == "" {
		t.Error("no answer named the celebrity's shard: want not judged")
	}
}
