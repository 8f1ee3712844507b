package check

import (
	"slices"
	"sort"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Shards is where a sharded system kept its keys and how each shard's users
// fared (stage 11). A key's shard is what the system said it routed the key
// to (history.Op.Shard, on answered ops, errors included): the lab does not
// compute the system's routing itself, it reads it off the answers.
type Shards struct {
	// HomeBefore is each key's shard before the fault: the shard of its
	// last answered op invoked before the injection. A key with no answer
	// before it has no home and its ops during the fault are Unplaced.
	HomeBefore map[string]string `json:"-"`
	// Last is each key's shard at its last answer in the whole run.
	Last map[string]string `json:"-"`
	// Keys counts the keys with a home before the fault, by shard.
	Keys map[string]int `json:"keys"`
	// During is the availability of the ops invoked during the fault, by
	// the shard their key lived on before it.
	During map[string]Availability `json:"during"`
	// Unplaced counts the ops during the fault whose key had no home.
	Unplaced int `json:"unplaced"`
	// Users counts the keys with at least one op during the fault; Hurt
	// are those of them with an op that did not succeed (failed or
	// unknown), by the shard they lived on.
	Users int            `json:"users"`
	Hurt  map[string]int `json:"hurt"`
	// P99 is the 99th percentile latency of the ops invoked during the
	// fault, by the shard their key lived on (nearest rank; every outcome
	// counts, as in Latency: a request that waited for its timeout is what
	// its user waited).
	P99 map[string]time.Duration `json:"p99_ns"`
	// Compared counts the keys answered both before the injection and after
	// the heal; Moved those of them whose shard changed (a reshard); Share
	// is Moved/Compared (0 when nothing was compared: check Compared).
	Compared   int            `json:"compared"`
	Moved      int            `json:"moved"`
	MovedShare float64        `json:"moved_share"`
	MovedTo    map[string]int `json:"moved_to,omitempty"`
	// MovedOps is the availability of the ops invoked during the fault of
	// the keys that moved: whether their users were served while their
	// data moved.
	MovedOps Availability `json:"moved_ops"`
}

// HurtShare is the share of the users active during the fault that saw a
// request not succeed, and false when none was active.
func (s Shards) HurtShare() (float64, bool) {
	if s.Users == 0 {
		return 0, false
	}
	return float64(s.HurtUsers()) / float64(s.Users), true
}

// HurtUsers counts the users hurt on every shard.
func (s Shards) HurtUsers() int {
	n := 0
	for _, h := range s.Hurt {
		n += h
	}
	return n
}

// Others is the availability during the fault of every shard but the
// named one, added up.
func (s Shards) Others(shard string) Availability {
	a := Availability{}
	for name, av := range s.During {
		if name == shard {
			continue
		}
		a.Window = av.Window
		a.OK += av.OK
		a.Failed += av.Failed
		a.Unknown += av.Unknown
	}
	a.Value, a.NoData = ratio(a.Counts)
	return a
}

// ShardsIn reads the keys' shards off the history's answers: the fault
// windows place each key before and after, and measure each shard's users
// during the fault. Ops without a Shard (no answer came, or the system is
// not sharded) place nothing.
func ShardsIn(h history.History, w FaultWindows) Shards {
	s := Shards{
		HomeBefore: map[string]string{}, Last: map[string]string{}, Keys: map[string]int{},
		During: map[string]Availability{}, Hurt: map[string]int{}, P99: map[string]time.Duration{},
	}
	ops := append([]history.Op(nil), h.Ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Invoke < ops[j].Invoke })

	after := map[string]string{} // a key's shard at its first answer after the heal
	for _, op := range ops {
		if op.Shard == "" || op.Key == "" {
			continue
		}
		s.Last[op.Key] = op.Shard
		switch {
		case op.Invoke < w.Inject:
			s.HomeBefore[op.Key] = op.Shard
		case op.Invoke >= w.Heal:
			if _, ok := after[op.Key]; !ok {
				after[op.Key] = op.Shard
			}
		}
	}
	for _, shard := range s.HomeBefore {
		s.Keys[shard]++
	}

	hurt := map[string]bool{}
	counts := map[string]Counts{}
	latencies := map[string][]time.Duration{}
	for _, op := range ops {
		if !w.During.Contains(op.Invoke) || op.Key == "" {
			continue
		}
		shard, ok := s.HomeBefore[op.Key]
		if !ok {
			s.Unplaced++
			continue
		}
		c := counts[shard]
		c.add(op.Outcome)
		counts[shard] = c
		latencies[shard] = append(latencies[shard], op.Latency())
		if _, seen := hurt[op.Key]; !seen {
			hurt[op.Key] = false
		}
		if op.Outcome != history.OK {
			hurt[op.Key] = true
		}
	}
	for shard, c := range counts {
		a := Availability{Window: w.During, Counts: c}
		a.Value, a.NoData = ratio(c)
		s.During[shard] = a
	}
	for shard, ls := range latencies {
		slices.Sort(ls)
		s.P99[shard] = ls[(len(ls)*99+99)/100-1] // nearest rank: ceil(0.99 n)
	}
	for key, h := range hurt {
		s.Users++
		if h {
			s.Hurt[s.HomeBefore[key]]++
		}
	}

	for key, before := range s.HomeBefore {
		now, ok := after[key]
		if !ok {
			continue
		}
		s.Compared++
		if now != before {
			s.Moved++
			if s.MovedTo == nil {
				s.MovedTo = map[string]int{}
			}
			s.MovedTo[now]++
		}
	}
	if s.Compared > 0 {
		s.MovedShare = float64(s.Moved) / float64(s.Compared)
	}
	s.MovedOps.Window = w.During
	for _, op := range ops {
		if !w.During.Contains(op.Invoke) {
			continue
		}
		if before, ok := s.HomeBefore[op.Key]; ok && after[op.Key] != "" && after[op.Key] != before {
			s.MovedOps.add(op.Outcome)
		}
	}
	s.MovedOps.Value, s.MovedOps.NoData = ratio(s.MovedOps.Counts)
	return s
}
