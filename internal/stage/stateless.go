package stage

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 7.
const (
	NoSessionsLost    = "no-sessions-lost"    // no logged-in user is logged out by losing or adding a web server
	SessionsLostShown = "sessions-lost-shown" // in-memory sessions: losing a server logs its users out, and it is counted
	ClearErrors       = "clear-errors"        // a dead session store gives clear 503s, never a crash
)

// stlServers is the size of the web tier of stage 7 (web-1..web-3); web-4
// is the standby for scale-out.
const stlServers = 3

// Settings of stage 7.
var (
	sessionStore = Choice("sessions", "redis",
		"where login sessions live: redis (shared; any server serves any user) or memory (each server's own; the load balancer routes each user back to its server with a cookie)",
		"redis", "memory")
	unpinnedBalance = Choice("balance", "leastconn", "HAProxy's algorithm for requests that no stickiness cookie pins",
		"leastconn", "roundrobin")
	sessionTimeout = Duration("session_timeout", stlSessionTimeout.String(),
		"mysite's bound on every session store call; above HAProxy's 1 s server timeout, a dead store shows as 504s from the load balancer instead of mysite's clear 503")
	// kill-session-store's
	restartStore = OnOff("restart", "on",
		"on: the heal starts Redis again; off: it stays dead (the store never comes back)")
)

// Stage 7: the web tier keeps no state. Login sessions live in a shared
// Redis, so any web server serves any user, and servers can be added,
// removed or lost without logging anyone out. The "before" configuration
// keeps sessions in each server's memory, with sticky routing (a cookie the
// load balancer inserts) to keep each user on the server that knows them.
func init() {
	register(Stage{
		ID: "stateless", Number: 7, Title: "Stateless web tier",
		Adds:          "session state moved out of the web servers into a shared store (Redis)",
		Fixes:         "no sticky sessions needed; web servers can be added, removed or lost without logging users out",
		Weak:          "the session store is now shared by every request: when it is down, nobody is logged in",
		Lab:           "labs/07-stateless",
		Settings:      []Setting{sessionStore.Setting, unpinnedBalance.Setting, sessionTimeout.Setting},
		Stack:         statelessStack,
		Entry:         "client->lb",
		ClientTimeout: 5 * time.Second,
		Counters:      stacks.HAProxyResponses,
		// Every client is a logged-in user; 30% of the ops check the
		// session (GET /me), the rest are reads and writes.
		Workload: func(w *workload.Config) {
			w.Sessions = true
			if w.SessionRatio == 0 {
				w.SessionRatio = 0.3
			}
		},
		Faults: []Fault{
			{
				ID:         "kill-web",
				Help:       "SIGKILL web-1 while its users are logged in, then start it again",
				Inject:     func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "web-1"}} },
				Guarantees: stlSessionGuarantees,
				Controls: []Control{stlMemoryControl,
					// The memory control judges sessions-lost-shown (the
					// checker counts what in-memory sessions lose); with
					// nothing killed it must see no loss.
					{Name: "sessions in memory, no-op in place of the kill", Set: Values(sessionStore.Is("memory")), NoOp: true,
						Breaks: []string{SessionsLostShown}}},
			},
			{
				ID:   "scale-in",
				Help: "drain web-3 at the load balancer, then stop it (SIGTERM); start it again at the heal",
				Inject: func(Settings) []faults.Fault {
					web := lbWebName(stlServers)
					return []faults.Fault{faults.Drain{LB: "lb", Server: web}, faults.Stop{Node: web, Grace: 10}}
				},
				Guarantees: stlSessionGuarantees,
				Controls:   []Control{stlMemoryControl},
			},
			{
				ID:   "scale-out",
				Help: "start the standby web-4 under load; at the heal drain it and stop it again (scale back in)",
				Inject: func(Settings) []faults.Fault {
					web := lbWebName(stlServers + 1)
					return []faults.Fault{faults.AddNode{Node: web, Grace: 10}, faults.Enable{LB: "lb", Server: web}}
				},
				Guarantees: stlSessionGuarantees,
				// With sticky in-memory sessions a new server gets only
				// users who log in after it joined, and in a steady run
				// nobody does: adding a server alone loses nothing. The
				// control adds the loss of web-1 (its users log in again,
				// some on web-4), and web-4's scale-in at the heal then
				// logs them out once more.
				Controls: []Control{{Name: "sessions in memory, sticky routing, and web-1 lost",
					Set: Values(sessionStore.Is("memory")), With: []string{"kill-web"}, Breaks: []string{NoSessionsLost}}},
			},
			{
				ID:       "kill-session-store",
				Help:     "SIGKILL the session Redis under load, then start it again",
				Settings: []Setting{restartStore.Setting},
				Inject: func(set Settings) []faults.Fault {
					if !restartStore.Get(set) {
						return []faults.Fault{faults.NeverRecovered{Fault: faults.Kill{Node: "redis"}}}
					}
					return []faults.Fault{faults.Kill{Node: "redis"}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{downDuring(ev), stlClearErrors(ev), recovers(ev, stlRecoverBound)}
				},
				Controls: []Control{
					{Name: "no-op in place of the kill", NoOp: true, Breaks: []string{DownDuring, ClearErrors}},
					{Name: "the store never comes back", Set: Values(restartStore.Is(false)), Breaks: []string{Recovers}},
					{Name: "session store timeout above the load balancer's", Set: Values(sessionTimeout.Is(2 * time.Second)), Breaks: []string{ClearErrors}},
				},
			},
		},
	})
}

// stlMemoryControl is the "before" configuration: sessions in each web
// server's memory, sticky routing.
var stlMemoryControl = Control{Name: "sessions in memory, sticky routing",
	Set: Values(sessionStore.Is("memory")), Breaks: []string{NoSessionsLost}}

// stlRecoverBound: the heal starts Redis again (0.6 s to ready,
// measured); a request sent just before waits for mysite's session timeout
// (500 ms) or HAProxy's 1 s server timeout; plus loadedMachineMargin. 8.1 s.
const stlRecoverBound = 600*time.Millisecond + time.Second + stlSessionTimeout + loadedMachineMargin

// stlLostAtLeast is the share of sessions in-memory sessions must lose when
// one of the N servers goes: its users, about 1/N of the live sessions, are
// logged out. Total counts the re-logins too, so the fraction is below 1/N.
// Measured (16 clients, 3 servers): kill-web 4/20 to 7/23 (0.20-0.30, 6
// runs), scale-in 5/21 to 6/22 (4 runs); the server held 4-7 of 16 users.
// 0.1 leaves room for an uneven spread (3 of 16 users would give 3/19).
const stlLostAtLeast = 0.1

func stlSessionGuarantees(ev Evidence, set Settings) []verdict.Guarantee {
	out := []verdict.Guarantee{named(NoSessionsLost, verdict.NoSessionsLost(ev.Sessions))}
	if sessionStore.Get(set) == "memory" {
		// The lesson of the control, judged in its own run: the loss shows,
		// and the checker counts about 1/N of the sessions.
		out = append(out, named(SessionsLostShown, verdict.SessionsLostAtLeast(ev.Sessions, stlLostAtLeast)))
	}
	return out
}

// stlClearErrors: while the session store is down, requests fail, and
// every failure is mysite's own clear answer: 503 "session store
// unavailable". No other 5xx (a 502 or 504 from the load balancer would
// mean a web server crashed or hung) and no request without an answer.
func stlClearErrors(ev Evidence) verdict.Guarantee {
	g := verdict.Guarantee{Name: ClearErrors, Threshold: `>= 1 failed request, every one 503 "session store unavailable"`}
	f := check.FailuresIn(ev.History, ev.Windows.During, func(op history.Op) bool {
		return op.Status == http.StatusServiceUnavailable && strings.Contains(op.Error, "session store unavailable")
	})
	g.Measured = fmt.Sprintf("%d of %d failed requests were clear 503s", f.Clear, f.Failed)
	g.Value = float64(f.Failed - f.Clear)
	g.Holds = f.Failed > 0 && f.Clear == f.Failed
	switch {
	case f.Failed == 0:
		g.Detail = "no request failed during the fault: the store's loss did not show"
	case len(f.Other) > 0:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(f.Other)) {
			parts = append(parts, fmt.Sprintf("%dx %s", f.Other[k], k))
		}
		g.Detail = "other failures: " + strings.Join(parts, "; ")
	}
	return g
}

// stlSessionTimeout bounds every session store call of mysite. Measured:
// with the default 2 s, a dead Redis (behind Toxiproxy, a connection to it
// hangs) made HAProxy answer 504 after its 1 s read timeout and retry reads
// 3 times, so that reads sent during the fault were answered 4 s later.
const stlSessionTimeout = 500 * time.Millisecond

func statelessStack(set Settings) stacks.Topology {
	t := stacks.Topology{Name: "stateless", Nodes: []stacks.Node{
		{Name: "db", Role: stacks.Postgres()},
		{Name: "redis", Role: stacks.Redis()},
	}}
	lb := webTierLB(unpinnedBalance.Get(set))
	if sessionStore.Get(set) == "memory" {
		lb.Cookie = "SRV"
	}
	stacks.WebTier{
		Servers: stlServers,
		LB:      lb,
		Args: func(name string) []string {
			return []string{
				"-db", stacks.PostgresDSN("${db}"),
				"-db-timeout", lbMysiteDBTimeout.String(),
				"-sessions", sessionStore.Get(set),
				"-redis", "${redis}",
				// Below the load balancer's read timeout (1 s): when the store
				// hangs, mysite answers its clear 503 before HAProxy gives up
				// on it (504) and retries the read elsewhere.
				"-session-timeout", sessionTimeout.Arg(set),
				"-name", name,
			}
		},
		Uses: []string{"db", "redis"},
	}.Add(&t)
	return t
}
