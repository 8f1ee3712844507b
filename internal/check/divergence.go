package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Divergence is what a partition between data centers did to the keys
// (stage 8): a key is divergent when both sides acknowledged writes to it
// while they could not talk, each side on a database of its own (split
// brain). When the partition heals one side's writes must give way.
type Divergence struct {
	// From and To bound the writes counted: sent from the partition's
	// start plus a margin (the links go down one after another) until the
	// heal.
	From, To time.Duration
	// Written counts the keys with an acknowledged write in the window, by
	// the region of the server that acknowledged it.
	Written map[string]int `json:"written"`
	// Keys are the divergent keys, sorted; Examples a write of each side
	// for the first few.
	Keys     []string     `json:"keys,omitempty"`
	Examples []history.Op `json:"examples,omitempty"`
}

func (d Divergence) String() string {
	return fmt.Sprintf("%d keys written on both sides (keys written: %v)", len(d.Keys), d.Written)
}

// DivergenceSettle is how long after a partition's start writes are counted
// for divergence: its links go down one after another (measured
// 2026-12-04: the last ~0.3 s after the first), and a write in between may
// still reach the other side's database.
const DivergenceSettle = time.Second

// DivergentKeys counts the keys whose acknowledged writes, sent in
// [from, to), were acknowledged by servers of two regions that took writes
// at the same time: the spans from each region's first acknowledged write
// to its last overlap. (A failover's old and new primary take writes one
// after the other, each key's writes continuing on the new one; a split
// brain takes them on both sides at once.)
func DivergentKeys(h history.History, from, to time.Duration, regionOf func(server string) string) Divergence {
	d := Divergence{From: from, To: to, Written: map[string]int{}}
	first := map[string]map[string]history.Op{} // key -> region -> its first acknowledged write
	type span struct{ from, to time.Duration }
	spans := map[string]span{}
	for _, op := range h.Ops {
		if op.Kind != history.Write || op.Outcome != history.OK || op.Server == "" || op.Invoke < from || op.Invoke >= to {
			continue
		}
		r := regionOf(op.Server)
		if sp, ok := spans[r]; !ok {
			spans[r] = span{op.Complete, op.Complete}
		} else {
			spans[r] = span{min(sp.from, op.Complete), max(sp.to, op.Complete)}
		}
		if first[op.Key] == nil {
			first[op.Key] = map[string]history.Op{}
		}
		if _, seen := first[op.Key][r]; !seen {
			first[op.Key][r] = op
			d.Written[r]++
		}
	}
	together := func(a, b string) bool {
		x, y := spans[a], spans[b]
		return x.from <= y.to && y.from <= x.to
	}
	for k, byRegion := range first {
		var rs []string
		for r := range byRegion {
			rs = append(rs, r)
		}
	pairs:
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				if together(rs[i], rs[j]) {
					d.Keys = append(d.Keys, k)
					break pairs
				}
			}
		}
	}
	sort.Strings(d.Keys)
	for _, k := range d.Keys {
		if len(d.Examples) >= 6 {
			break
		}
		var ops []history.Op
		for _, op := range first[k] {
			ops = append(ops, op)
		}
		sort.Slice(ops, func(i, j int) bool { return ops[i].Invoke < ops[j].Invoke })
		d.Examples = append(d.Examples, ops...)
	}
	return d
}
