package check

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func TestFirstCacheHitRatio(t *testing.T) {
	ms := time.Millisecond
	// One read every 10 ms for 4 s: the cache errs until 1 s (down),
	// misses until 1.5 s (empty), then serves every read.
	h := history.History{End: 4 * time.Second}
	for at := time.Duration(0); at < h.End; at += 10 * ms {
		answer := "hit"
		switch {
		case at < time.Second:
			answer = "error"
		case at < 1500*ms:
			answer = "miss"
		}
		h.Ops = append(h.Ops, history.Op{Kind: history.Read, Invoke: at, Complete: at + ms, Outcome: history.OK, Status: 200, Cache: answer})
	}
	// A write, a read without the header and a read of a missing user do
	// not count.
	h.Ops = append(h.Ops, history.Op{Kind: history.Write, Invoke: 2 * time.Second, Status: 200, Cache: "miss"},
		history.Op{Kind: history.Read, Invoke: 2 * time.Second, Status: 200},
		history.Op{Kind: history.Read, Invoke: 2 * time.Second, Status: 404, Cache: "miss"})
	cases := []struct {
		name      string
		from      time.Duration
		min       float64
		found     bool
		wantStart time.Duration
	}{
		{"half served once the misses are half the window", 0, 0.5, true, 1000 * ms},
		{"all served after the misses", 0, 1, true, 1500 * ms},
		{"from the start of the hits", 2 * time.Second, 1, true, 2 * time.Second},
		{"no whole window left", 3500 * ms, 0.5, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, found := FirstCacheHitRatio(h, c.from, time.Second, 100*ms, c.min)
			if found != c.found || found && got.Window.From != c.wantStart {
				t.Fatalf("found %v at %v (%s), want found %v at %v", found, got.Window.From, got, c.found, c.wantStart)
			}
		})
	}
	if c := CacheHitsIn(h, Window{From: 2 * time.Second, To: 3 * time.Second}); c.Lookups != 100 || c.Hits != 100 {
		t.Fatalf("CacheHitsIn counted %+v, want 100 of 100", c)
	}
}
