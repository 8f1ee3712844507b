package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Regions is where the traffic of a site with several data centers went
// (stage 8). The region of a server is the caller's (regionOf).
type Regions struct {
	Window Window `json:"window"`
	// Served counts the OK ops of the window by the region of the server
	// that answered them.
	Served map[string]int `json:"served"`
	// Share is the part of Served that Region served.
	Region string  `json:"region"`
	Share  float64 `json:"share"`
	Total  int     `json:"total"`
}

// RegionsIn counts the window's traffic by region.
func RegionsIn(h history.History, w Window, region string, regionOf func(server string) string) Regions {
	r := Regions{Window: w, Region: region, Served: map[string]int{}}
	for _, op := range h.Ops {
		if !w.Contains(op.Invoke) || op.Outcome != history.OK || op.Server == "" {
			continue
		}
		r.Served[regionOf(op.Server)]++
		r.Total++
	}
	if r.Total > 0 {
		r.Share = float64(r.Served[region]) / float64(r.Total)
	}
	return r
}

// Moved is how a region's clients left a data center that went dark: the
// requests sent from From on (the fault's injection plus the bound the
// site promises) until the heal must all succeed.
type Moved struct {
	From time.Duration `json:"from_ns"`
	// Sent and Failed count the ops sent in [From, Heal); Failed are
	// those that did not succeed (failed or unknown), the first few kept.
	Sent, Failed int
	FirstFailed  []history.Op `json:"first_failed,omitempty"`
	// LastFailed is when the last op sent in the fault window that did not
	// succeed was sent, after the injection: how long clients were hurt
	// (0: none was).
	LastFailed time.Duration `json:"last_failed_ns"`
}

// MovedAfter judges the requests of [inject+bound, heal).
func MovedAfter(h history.History, inject, heal, bound time.Duration) Moved {
	m := Moved{From: inject + bound}
	for _, op := range h.Ops {
		if op.Invoke < inject || op.Invoke >= heal {
			continue
		}
		bad := op.Outcome != history.OK
		if bad && op.Invoke-inject > m.LastFailed {
			m.LastFailed = op.Invoke - inject
		}
		if op.Invoke < m.From {
			continue
		}
		m.Sent++
		if bad {
			m.Failed++
			if len(m.FirstFailed) < 3 {
				m.FirstFailed = append(m.FirstFailed, op)
			}
		}
	}
	sort.Slice(m.FirstFailed, func(i, j int) bool { return m.FirstFailed[i].Invoke < m.FirstFailed[j].Invoke })
	return m
}

// CoverMargin is how much TTL an answer must have left at an op's Invoke
// for the op to count as covered by it (CachedAnswersIn).
const CoverMargin = 100 * time.Millisecond

// CachedAnswers is what a DNS outage did to requests whose client still
// held an answer within its TTL: the DNS server said the answer may be used
// until then, and a client that honours it needs no lookup.
type CachedAnswers struct {
	Window Window `json:"window"`
	// Covered counts the window's ops sent while their client's last
	// answer (before the op) was within its TTL; CoveredFailed those of
	// them that did not succeed, the first few kept in FirstFailed.
	Covered, CoveredFailed int
	FirstFailed            []history.Op `json:"first_failed,omitempty"`
	// Uncovered counts the others (the client's answer had expired, or it
	// had none); UncoveredFailed those that did not succeed.
	Uncovered, UncoveredFailed int
}

// CachedAnswersIn judges the ops of window w against each client's
// lookups: an op is covered when the client's last successful lookup that
// completed before the op was sent still had more than CoverMargin of its
// TTL left.
//
// Why the margin: an op's Invoke is its scheduled send time; the client
// looks in its cache when it dials, a little later (the generator may lag
// its schedule by up to 50 ms, check.Assumptions). An op sent within the
// margin of its answer's expiry may find it expired, ask the dead server
// and fail, as it should.
func CachedAnswersIn(h history.History, w Window) CachedAnswers {
	byClient := map[int][]history.Lookup{}
	for _, l := range h.Lookups {
		if l.Answer != "" {
			byClient[l.Client] = append(byClient[l.Client], l)
		}
	}
	for _, ls := range byClient {
		sort.Slice(ls, func(i, j int) bool { return ls[i].Complete < ls[j].Complete })
	}
	c := CachedAnswers{Window: w}
	for _, op := range h.Ops {
		if !w.Contains(op.Invoke) {
			continue
		}
		ls := byClient[op.Client]
		i := sort.Search(len(ls), func(i int) bool { return ls[i].Complete > op.Invoke }) - 1
		bad := op.Outcome != history.OK
		if i >= 0 && op.Invoke < ls[i].Complete+ls[i].TTL-CoverMargin {
			c.Covered++
			if bad {
				c.CoveredFailed++
				if len(c.FirstFailed) < 3 {
					c.FirstFailed = append(c.FirstFailed, op)
				}
			}
			continue
		}
		c.Uncovered++
		if bad {
			c.UncoveredFailed++
		}
	}
	return c
}

func (c CachedAnswers) String() string {
	return fmt.Sprintf("%d of %d requests sent within their client's DNS TTL failed; after it: %d of %d",
		c.CoveredFailed, c.Covered, c.UncoveredFailed, c.Uncovered)
}
