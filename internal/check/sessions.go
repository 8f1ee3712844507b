package check

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Sessions is what happened to the login sessions of a run (stage 7): how
// many were established, and which were lost. A session is lost when a
// request carrying it was answered 401 (the user was logged out) after the
// login that established it had succeeded: with sessions in a web server's
// memory, that is what losing the server does to its users.
type Sessions struct {
	// Logins counts login attempts (history.Login ops), whatever their
	// outcome.
	Logins int `json:"logins"`
	// Total is the distinct sessions established by an OK login.
	Total int `json:"total"`
	// Checked counts the requests that tested an established session: those
	// carrying one that were answered OK (the session was accepted: 200, or
	// a read's 404) or 401 (lost). Zero means the run never looked, and no
	// loss could have been seen.
	Checked int `json:"checked"`
	// Lost holds one entry per lost session, ordered by At.
	Lost []LostSession `json:"lost,omitempty"`
	// Clients are the clients that lost at least one session, ascending.
	Clients []int `json:"clients,omitempty"`
	// ByServer counts lost sessions by the server that answered their first
	// 401 ("" when it did not say); HeldBy by the last server that had
	// served them before ("" when none had): with sticky routing, the server
	// that died with them.
	ByServer map[string]int `json:"by_server,omitempty"`
	HeldBy   map[string]int `json:"held_by,omitempty"`
	// First and Last are the At of the earliest and latest loss; 0 when
	// none.
	First time.Duration `json:"first_ns"`
	Last  time.Duration `json:"last_ns"`
	// Unattributed counts 401 answers that carried no session established in
	// the history (a session check naming an unknown session, or a request
	// of a client that had no session): not a loss of a known session, but
	// worth a look.
	Unattributed int `json:"unattributed,omitempty"`
}

// LostSession is one lost session.
type LostSession struct {
	Session string `json:"session"`
	Client  int    `json:"client"`
	User    string `json:"user"` // the Key of the login
	// Established is when the login that made it completed, LoginServer the
	// server that answered it.
	Established time.Duration `json:"established_ns"`
	LoginServer string        `json:"login_server,omitempty"`
	// LastServer is the last server that accepted the session (an OK answer)
	// before it was lost, at LastOK (its Complete); "" and 0 when none did.
	LastServer string        `json:"last_server,omitempty"`
	LastOK     time.Duration `json:"last_ok_ns,omitempty"`
	// At is the Complete of the first 401 (by Complete), Server the server
	// that answered it, Op that op.
	At     time.Duration `json:"at_ns"`
	Server string        `json:"server,omitempty"`
	Op     history.Op    `json:"op"`
}

// Count is how many sessions were lost.
func (s Sessions) Count() int { return len(s.Lost) }

// Fraction is Lost/Total; ok is false when no session was established.
func (s Sessions) Fraction() (frac float64, ok bool) {
	if s.Total == 0 {
		return 0, false
	}
	return float64(len(s.Lost)) / float64(s.Total), true
}

func (s Sessions) String() string {
	if s.Total == 0 {
		return fmt.Sprintf("no session established (%d logins)", s.Logins)
	}
	f, _ := s.Fraction()
	out := fmt.Sprintf("%d of %d sessions lost (%.1f%%; %d requests tested a session)", len(s.Lost), s.Total, 100*f, s.Checked)
	if len(s.Lost) > 0 {
		out += fmt.Sprintf(", %d clients logged out between %v and %v", len(s.Clients), s.First, s.Last)
	}
	return out
}

// SessionsLost finds the sessions established and lost in h.
//
// Which session an op carried: a login's is its Value (when OK); a session
// check's is its Value; a read's or write's is the session of its client's
// latest login invoked before it, if that login was OK (the workload's
// contract: a client's logins never overlap, and every op carries the
// session of the latest login launched before it; see workload/sessions.go).
// Ops are ordered per client by Invoke, so the result does not depend on the
// order of h.Ops. O(n log n).
//
// A 401 on any op carrying an established session loses it (once, at its
// earliest 401 by Complete). Other failures (5xx, timeouts) are not losses:
// the session may well be intact, the server just did not answer.
func SessionsLost(h history.History) Sessions {
	var res Sessions
	byClient := make(map[int][]int)
	for i, op := range h.Ops {
		byClient[op.Client] = append(byClient[op.Client], i)
	}

	type served struct {
		complete time.Duration
		server   string
	}
	type session struct {
		lost  LostSession
		first *history.Op // the earliest 401
		oks   []served
	}
	sessions := make(map[string]*session)

	for _, client := range slices.Sorted(maps.Keys(byClient)) {
		idx := byClient[client]
		slices.SortFunc(idx, func(a, b int) int {
			x, y := h.Ops[a], h.Ops[b]
			return cmp.Or(cmp.Compare(x.Invoke, y.Invoke), cmp.Compare(x.Complete, y.Complete), cmp.Compare(a, b))
		})
		current := "" // the session of the client's latest login
		for _, i := range idx {
			op := &h.Ops[i]
			var id string
			switch op.Kind {
			case history.Login:
				res.Logins++
				current = ""
				if op.Outcome == history.OK && op.Value != "" {
					current = op.Value
					if sessions[current] == nil {
						sessions[current] = &session{lost: LostSession{
							Session: current, Client: op.Client, User: op.Key,
							Established: op.Complete, LoginServer: op.Server,
						}}
					}
				}
				continue
			case history.SessionCheck:
				id = op.Value
			default:
				id = current
			}
			s := sessions[id]
			switch {
			case op.Status == http.StatusUnauthorized && s == nil:
				res.Unattributed++
			case s == nil:
			case op.Status == http.StatusUnauthorized:
				res.Checked++
				if s.first == nil || op.Complete < s.first.Complete ||
					op.Complete == s.first.Complete && op.Invoke < s.first.Invoke {
					s.first = op
				}
			case op.Outcome == history.OK && op.Status != 0:
				// Answered, and not 401: the server accepted the session
				// (mysite checks it before anything else, so a read's 404
				// counts as much as a 200).
				res.Checked++
				s.oks = append(s.oks, served{op.Complete, op.Server})
			}
		}
	}

	res.Total = len(sessions)
	clients := make(map[int]bool)
	for _, s := range sessions {
		if s.first == nil {
			continue
		}
		l := s.lost
		l.At, l.Server, l.Op = s.first.Complete, s.first.Server, *s.first
		for _, ok := range s.oks {
			if ok.complete < l.At && ok.complete >= l.LastOK {
				l.LastOK, l.LastServer = ok.complete, ok.server
			}
		}
		res.Lost = append(res.Lost, l)
		clients[l.Client] = true
	}
	if len(res.Lost) == 0 {
		return res
	}
	slices.SortFunc(res.Lost, func(a, b LostSession) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Session, b.Session))
	})
	res.Clients = slices.Sorted(maps.Keys(clients))
	res.ByServer, res.HeldBy = make(map[string]int), make(map[string]int)
	for _, l := range res.Lost {
		res.ByServer[l.Server]++
		res.HeldBy[l.LastServer]++
	}
	res.First, res.Last = res.Lost[0].At, res.Lost[len(res.Lost)-1].At
	return res
}
