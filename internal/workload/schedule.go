package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Decision is one scheduled operation: everything about it is decided by the
// seeded RNG before it is sent, so a seed replays the same run from the
// client's side.
type Decision struct {
	Seq    int           // index in the schedule, from 0
	At     time.Duration // offset from the workload start
	Client int
	// Kind is history.Read, history.Write, (with Config.Sessions)
	// history.SessionCheck, or (with Config.Assets) history.Page. With
	// sessions the engine may turn any decision into its client's login
	// (see sessions.go).
	Kind history.Kind
	// Key is the user id read or written; for a session check, the user the
	// client logs in as (SessionUser).
	Key string
	// WriteID is the unique value a write carries ("c3-w17": client 3's 17th
	// write); "" for reads.
	WriteID string

	user *userBody // the body of a write; nil for reads
}

// Schedule produces the decisions of one workload in order. It is not safe
// for concurrent use: the engine draws from it in one goroutine, which is
// what makes the sequence depend on the seed alone and not on goroutine
// scheduling.
type Schedule struct {
	cfg    Config
	rng    *rand.Rand
	n      int
	next   int
	writes []int // per client: writes decided so far
}

// pcgStream is PCG's second seed word. Fixed, so that Seed alone selects the
// sequence.
const pcgStream = 0x9e3779b97f4a7c15

// NewSchedule validates cfg and returns its schedule. A Seed of 0 is resolved
// from the clock first; Seed() reports the one used.
func NewSchedule(cfg Config) (*Schedule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithSeed()
	return &Schedule{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), pcgStream)),
		n:      cfg.ScheduledOps(),
		writes: make([]int, cfg.Clients),
	}, nil
}

// Seed is the seed the schedule was built from.
func (s *Schedule) Seed() int64 { return s.cfg.Seed }

// Len is the number of decisions in the whole schedule.
func (s *Schedule) Len() int { return s.n }

// Next returns the next decision, or false once the schedule is exhausted.
//
// The RNG is drawn in a fixed order per decision (client, session check or
// not when Sessions is on, kind, key, then the content of a write), so the
// sequence of (time, client, kind, key) depends only on the seed and the
// config; with Sessions off the draws are exactly those of a run before
// sessions existed. With Assets only the client is drawn: every decision
// is a page load.
func (s *Schedule) Next() (Decision, bool) {
	if s.next >= s.n {
		return Decision{}, false
	}
	d := Decision{Seq: s.next, At: scheduledAt(s.next, s.cfg.Rate)}
	s.next++
	d.Client = s.rng.IntN(s.cfg.Clients)
	if s.cfg.Assets != nil {
		// A page load: what it fetches is the page's to say (assets.go).
		d.Kind, d.Key = history.Page, PagePath
		return d, true
	}
	if s.cfg.Sessions && s.rng.Float64() < s.cfg.SessionRatio {
		d.Kind, d.Key = history.SessionCheck, SessionUser(d.Client)
		return d, true
	}
	// Float64 is in [0, 1): ratio 0 never reads, ratio 1 always reads.
	if s.rng.Float64() < s.cfg.ReadRatio {
		d.Kind = history.Read
	} else {
		d.Kind = history.Write
	}
	d.Key = KeyName(s.rng.IntN(s.cfg.Keys))
	if d.Kind == history.Write {
		s.writes[d.Client]++
		d.WriteID = fmt.Sprintf("c%d-w%d", d.Client, s.writes[d.Client])
		if s.cfg.WriteIDPrefix != "" {
			d.WriteID = s.cfg.WriteIDPrefix + "-" + d.WriteID
		}
		d.user = s.randomUser(d.Key, d.WriteID)
	}
	return d, true
}

// KeyName is the user id of key number i: "u17".
func KeyName(i int) string { return "u" + strconv.Itoa(i) }

// scheduledAt is the offset of op i. It is computed from i rather than by
// adding intervals, so rounding never accumulates into drift.
func scheduledAt(i int, rate float64) time.Duration {
	return time.Duration(math.Round(float64(i) * float64(time.Second) / rate))
}

// scheduledOps is how many ops fall in [0, d): those with scheduledAt(i) < d.
func scheduledOps(rate float64, d time.Duration) int {
	if !(rate > 0) || d <= 0 {
		return 0
	}
	n := int(math.Ceil(d.Seconds() * rate))
	// The float estimate can be off by one either way at the boundary.
	for n > 0 && scheduledAt(n-1, rate) >= d {
		n--
	}
	for scheduledAt(n, rate) < d {
		n++
	}
	return n
}

// Content of writes. It is unimportant to the checkers (only writeId is
// compared) but looks like the documented user so the app does real work.
var (
	firstNames = []string{"John", "Jane", "Ada", "Alan", "Grace", "Edsger", "Barbara", "Ken", "Leslie", "Margaret"}
	lastNames  = []string{"Smith", "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Thompson", "Lamport", "Hamilton", "Ritchie"}
	cities     = []struct{ city, state string }{
		{"New York", "NY"}, {"Boston", "MA"}, {"Austin", "TX"}, {"Seattle", "WA"}, {"Denver", "CO"},
	}
	phoneTypes = []string{"home", "work", "mobile"}
)

func (s *Schedule) randomUser(key, writeID string) *userBody {
	r := s.rng
	c := cities[r.IntN(len(cities))]
	u := &userBody{
		ID:        key,
		FirstName: firstNames[r.IntN(len(firstNames))],
		LastName:  lastNames[r.IntN(len(lastNames))],
		Address: &address{
			StreetAddress: fmt.Sprintf("%d %s Street", 1+r.IntN(999), lastNames[r.IntN(len(lastNames))]),
			City:          c.city,
			State:         c.state,
			PostalCode:    fmt.Sprintf("%05d", r.IntN(100000)),
		},
		PhoneNumbers: []phoneNumber{},
		WriteID:      writeID,
	}
	for range r.IntN(3) {
		u.PhoneNumbers = append(u.PhoneNumbers, phoneNumber{
			Type:   phoneTypes[r.IntN(len(phoneTypes))],
			Number: fmt.Sprintf("%03d 555-%04d", 200+r.IntN(800), r.IntN(10000)),
		})
	}
	return u
}
