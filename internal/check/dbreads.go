package check

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/scalelab/scalelab/internal/history"
)

// Cache answers that mean the request read the database itself: its
// lookup missed ("miss") or failed ("error"). "hit" came from the cache,
// "shared" from another request's database read (a coalesced read, or a
// lease holder's fill).
var readsDatabase = []string{"miss", "error"}

// DBReads counts, per key, the reads invoked in a window that read the
// database themselves, as each answer said (history.Op.Cache), and the
// writes of the key whose span overlaps the window: each may delete the
// cached entry or void a fill under way, so that the next read fills again.
// A write of unknown outcome may take effect at any later time: its span
// has no end. Only reads that found their user (200) count: a user that
// does not exist is never cached, so its reads are no fills to guard. A
// read that got no answer is left out: what it did is unknown.
type DBReads struct {
	Window Window `json:"window"`
	// Reads is the reads answered 200 in the window that said how the
	// cache answered; DB those of them that read the database.
	Reads int `json:"reads"`
	DB    int `json:"db"`
	// ByKey holds every key read or written in the window.
	ByKey map[string]KeyDBReads `json:"by_key"`
}

// KeyDBReads is one key's count in DBReads.
type KeyDBReads struct {
	DB     int `json:"db"`     // reads of the key that read the database
	Writes int `json:"writes"` // writes of the key that overlap the window
}

// DBReadsIn counts the database reads and writes of each key in w.
func DBReadsIn(h history.History, w Window) DBReads {
	d := DBReads{Window: w, ByKey: map[string]KeyDBReads{}}
	for _, op := range h.Ops {
		switch op.Kind {
		case history.Read:
			if op.Status != http.StatusOK || op.Cache == "" || !w.Contains(op.Invoke) {
				continue
			}
			d.Reads++
			k := d.ByKey[op.Key]
			if slices.Contains(readsDatabase, op.Cache) {
				d.DB++
				k.DB++
			}
			d.ByKey[op.Key] = k
		case history.Write:
			end := op.Complete
			if op.Outcome == history.Unknown {
				end = math.MaxInt64
			}
			if op.Invoke >= w.To || end < w.From {
				continue
			}
			k := d.ByKey[op.Key]
			k.Writes++
			d.ByKey[op.Key] = k
		}
	}
	return d
}

// KeyOver is a key whose database reads exceed what it was allowed.
type KeyOver struct {
	Key     string `json:"key"`
	DB      int    `json:"db"`
	Allowed int    `json:"allowed"`
}

func (k KeyOver) String() string {
	return fmt.Sprintf("%s: %d database reads, %d allowed", k.Key, k.DB, k.Allowed)
}

// Over lists the keys that read the database more often than allowed says
// for them, the worst (most reads beyond its allowance) first, then by key.
func (d DBReads) Over(allowed func(KeyDBReads) int) []KeyOver {
	var out []KeyOver
	for key, k := range d.ByKey {
		if a := allowed(k); k.DB > a {
			out = append(out, KeyOver{Key: key, DB: k.DB, Allowed: a})
		}
	}
	slices.SortFunc(out, func(a, b KeyOver) int {
		if ea, eb := a.DB-a.Allowed, b.DB-b.Allowed; ea != eb {
			return eb - ea
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

func (d DBReads) String() string {
	if d.Reads == 0 {
		return fmt.Sprintf("no cache lookups in %s", d.Window)
	}
	per := float64(d.DB) / max(d.Window.Duration().Seconds(), 1e-9)
	return fmt.Sprintf("%d of %d reads read the database (%.1f/s) in %s", d.DB, d.Reads, per, d.Window)
}
