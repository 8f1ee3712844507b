package check

import (
	"fmt"
	"net/http"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// CacheHits is how a cache answered the lookups of the reads invoked in a
// window that found their user (status 200), as each answer said
// (history.Op.Cache): the share of those reads the cache served, measured
// per request on the client's clock. Reads of users that do not exist are
// left out: they are never cached (no negative caching), so they would
// measure the workload's key space, not the cache.
type CacheHits struct {
	Window Window `json:"window"`
	// Lookups counts the reads answered 200 that said how the cache
	// answered; Hits those the cache served.
	Lookups int `json:"lookups"`
	Hits    int `json:"hits"`
	// Value is Hits/Lookups; NoData when no read said.
	Value  float64 `json:"value"`
	NoData bool    `json:"no_data,omitempty"`
}

func (c CacheHits) String() string {
	if c.NoData {
		return fmt.Sprintf("no cache lookups in %s", c.Window)
	}
	return fmt.Sprintf("%.3f (%d of %d reads from the cache)", c.Value, c.Hits, c.Lookups)
}

// CacheHit is the answer a read gets when the cache served it.
const CacheHit = "hit"

// CacheHitsIn counts the cache's answers to the reads invoked in w.
func CacheHitsIn(h history.History, w Window) CacheHits {
	c := CacheHits{Window: w}
	for _, op := range h.Ops {
		if op.Kind != history.Read || op.Status != http.StatusOK || op.Cache == "" || !w.Contains(op.Invoke) {
			continue
		}
		c.Lookups++
		if op.Cache == CacheHit {
			c.Hits++
		}
	}
	if c.Lookups == 0 {
		c.NoData = true
		return c
	}
	c.Value = float64(c.Hits) / float64(c.Lookups)
	return c
}

// FirstCacheHitRatio finds the first window of length span, starting at
// from and moving by step, in which the cache served at least min of the
// reads (and at least one read said). Windows that end after the history's
// End are not looked at: they are not whole. found is false when none
// reached min; c is then the best window seen (NoData if none had lookups).
func FirstCacheHitRatio(h history.History, from, span, step time.Duration, min float64) (c CacheHits, found bool) {
	best := CacheHits{NoData: true}
	for start := from; start+span <= h.End && step > 0; start += step {
		w := CacheHitsIn(h, Window{From: start, To: start + span, Name: "cache-hits"})
		if w.NoData {
			continue
		}
		if w.Value >= min {
			return w, true
		}
		if best.NoData || w.Value > best.Value {
			best = w
		}
	}
	return best, false
}
