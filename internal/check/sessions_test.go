package check

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

// Session ops for test histories (times in ms).

// login is an OK login of client as user "c<client>" answered by server.
func login(client int, session string, inv, comp int, server string) history.Op {
	o := op(client, history.Login, "c", session, inv, comp, history.OK)
	o.Status, o.Server = 200, server
	return o
}

// check is a session check answered with status by server (OK for 200,
// Failed otherwise: a logged-out user's 401 is a failure, as the workload
// records it).
func check(client int, session string, inv, comp, status int, server string) history.Op {
	out := history.OK
	if status != 200 {
		out = history.Failed
	}
	o := op(client, history.SessionCheck, "c", session, inv, comp, out)
	o.Status, o.Server = status, server
	return o
}

// answered sets a read's or write's status and server; 401 and 5xx make
// it failed, as the workload records them.
func answered(o history.Op, status int, server string) history.Op {
	o.Status, o.Server = status, server
	if status == 401 || status >= 500 {
		o.Outcome = history.Failed
	}
	return o
}

func TestSessionsLost(t *testing.T) {
	tests := []struct {
		name                      string
		ops                       []history.Op
		logins, total, checked    int
		lost                      []string // sessions, in order of loss
		clients                   []int
		byServer, heldBy          map[string]int
		first, last, unattributed int // first/last in ms
	}{
		{
			name: "no sessions at all: plain reads and writes",
			ops:  []history.Op{wr(1, "a", "a1", 0, 10), rd(2, "a", "a1", 20, 25), answered(rd(3, "b", "", 30, 35), 503, "web1")},
		},
		{
			name: "sessions in a shared store survive: none lost",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"), check(1, "s1", 10, 12, 200, "web1"), check(1, "s1", 20, 22, 200, "web2"),
				answered(rd(1, "a", "", 30, 32), 404, "web3"),
				login(2, "s2", 1, 6, "web2"), check(2, "s2", 40, 41, 200, "web3"),
			},
			logins: 2, total: 2, checked: 4,
		},
		{
			name: "memory sessions, sticky routing, web1 dies: its user is logged out and logs in again",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"), check(1, "s1", 10, 12, 200, "web1"),
				answered(wr(1, "a", "a1", 20, 22), 200, "web1"),
				// web1 is gone: the LB sends client 1 to web2, which has never heard of s1.
				check(1, "s1", 50, 52, 401, "web2"),
				login(1, "s3", 60, 62, "web2"), check(1, "s3", 70, 72, 200, "web2"),
				// client 2 lived on web2 all along.
				login(2, "s2", 1, 6, "web2"), check(2, "s2", 55, 56, 200, "web2"),
			},
			logins: 3, total: 3, checked: 5,
			lost: []string{"s1"}, clients: []int{1},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"web1": 1},
			first: 52, last: 52,
		},
		{
			name: "a 401 on a read loses the session of the client's latest login",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"),
				answered(rd(1, "a", "", 10, 15), 401, "web2"),
				login(1, "s2", 20, 25, "web2"),
				answered(rd(1, "a", "", 30, 35), 404, "web2"),
			},
			logins: 2, total: 2, checked: 2,
			lost: []string{"s1"}, clients: []int{1},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"": 1},
			first: 15, last: 15,
		},
		{
			name: "a 401 on a write counts too",
			ops: []history.Op{
				login(4, "s1", 0, 5, "web1"),
				answered(wr(4, "a", "a1", 10, 15), 401, "web2"),
			},
			logins: 1, total: 1, checked: 1,
			lost: []string{"s1"}, clients: []int{4},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"": 1},
			first: 15, last: 15,
		},
		{
			name: "several 401s on one session: one loss, at the earliest answer",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"),
				check(1, "s1", 10, 40, 401, "web3"), // slow, invoked first
				check(1, "s1", 20, 25, 401, "web2"), // answered first
				check(1, "s1", 30, 35, 401, "web2"),
			},
			logins: 1, total: 1, checked: 3,
			lost: []string{"s1"}, clients: []int{1},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"": 1},
			first: 25, last: 25,
		},
		{
			name: "an old session's late 401 is not blamed on the new session",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"), check(1, "s1", 8, 9, 200, "web1"),
				check(1, "s1", 10, 12, 401, "web2"),
				answered(rd(1, "a", "", 11, 40), 401, "web2"), // carried s1, answered after the re-login
				check(1, "s1", 13, 41, 401, "web2"),           // likewise, named by its Value
				login(1, "s2", 20, 25, "web2"),
				check(1, "s2", 30, 31, 200, "web2"),
			},
			logins: 2, total: 2, checked: 5,
			lost: []string{"s1"}, clients: []int{1},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"web1": 1},
			first: 12, last: 12,
		},
		{
			name: "5xx and timeouts are not losses",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"),
				check(1, "s1", 10, 12, 503, "web1"),
				check(1, "s1", 20, 1020, 0, ""),
				answered(wr(1, "a", "a1", 30, 35), 503, "web1"),
				check(1, "s1", 40, 42, 200, "web1"),
			},
			logins: 1, total: 1, checked: 1,
		},
		{
			name: "a failed login establishes nothing; a later 401 is unattributed",
			ops: []history.Op{
				with(login(1, "", 0, 5, "web1"), history.Failed),
				answered(rd(1, "a", "", 10, 15), 401, "web1"),
				check(2, "never-made", 10, 15, 401, "web1"),
				with(login(3, "s3", 0, 5, ""), history.Unknown), // no answer: no session
			},
			logins: 2, unattributed: 2,
		},
		{
			name: "a session check with the wrong value cannot lose another session",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"),
				check(1, "other", 10, 15, 401, "web1"),
				check(1, "s1", 20, 25, 200, "web1"),
			},
			logins: 1, total: 1, checked: 1, unattributed: 1,
		},
		{
			name: "a 200 after the loss does not change where it was held",
			ops: []history.Op{
				login(1, "s1", 0, 5, "web1"),
				check(1, "s1", 10, 12, 200, "web1"),
				check(1, "s1", 20, 22, 401, "web2"),
				check(1, "s1", 30, 32, 200, "web3"), // web1 back? still lost once
			},
			logins: 1, total: 1, checked: 3,
			lost: []string{"s1"}, clients: []int{1},
			byServer: map[string]int{"web2": 1}, heldBy: map[string]int{"web1": 1},
			first: 22, last: 22,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := history.History{Ops: tt.ops, End: time.Second}
			s := SessionsLost(h)
			var lost []string
			for _, l := range s.Lost {
				lost = append(lost, l.Session)
			}
			switch {
			case s.Logins != tt.logins || s.Total != tt.total || s.Checked != tt.checked || s.Unattributed != tt.unattributed:
				t.Fatalf("logins %d total %d checked %d unattributed %d, want %d %d %d %d",
					s.Logins, s.Total, s.Checked, s.Unattributed, tt.logins, tt.total, tt.checked, tt.unattributed)
			case !slices.Equal(lost, tt.lost) || !slices.Equal(s.Clients, tt.clients):
				t.Fatalf("lost %q by clients %v, want %q by %v", lost, s.Clients, tt.lost, tt.clients)
			case !maps.Equal(s.ByServer, tt.byServer) || !maps.Equal(s.HeldBy, tt.heldBy):
				t.Fatalf("by server %v held by %v, want %v %v", s.ByServer, s.HeldBy, tt.byServer, tt.heldBy)
			case s.First != time.Duration(tt.first)*ms || s.Last != time.Duration(tt.last)*ms:
				t.Fatalf("first %v last %v", s.First, s.Last)
			}
			// Pure: the result does not depend on the order of h.Ops, and h
			// is not modified.
			orig := slices.Clone(tt.ops)
			for seed := range uint64(5) {
				shuffled := slices.Clone(tt.ops)
				rand.New(rand.NewPCG(seed, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := SessionsLost(history.History{Ops: shuffled}); !reflect.DeepEqual(again, s) {
					t.Fatalf("shuffled history gave %+v, want %+v", again, s)
				}
			}
			if !reflect.DeepEqual(orig, tt.ops) {
				t.Fatal("SessionsLost modified the history")
			}
		})
	}
}

func TestLostSessionDetail(t *testing.T) {
	h := history.History{Ops: []history.Op{
		login(7, "s1", 0, 5, "web1"),
		check(7, "s1", 10, 12, 200, "web1"),
		check(7, "s1", 20, 22, 200, "web1"),
		check(7, "s1", 30, 33, 401, "web2"),
	}}
	s := SessionsLost(h)
	if len(s.Lost) != 1 {
		t.Fatalf("%+v", s)
	}
	l := s.Lost[0]
	want := LostSession{Session: "s1", Client: 7, User: "c", Established: 5 * ms, LoginServer: "web1",
		LastServer: "web1", LastOK: 22 * ms, At: 33 * ms, Server: "web2", Op: h.Ops[3]}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got %+v\nwant %+v", l, want)
	}
	if f, ok := s.Fraction(); !ok || f != 1 {
		t.Errorf("fraction %v %v", f, ok)
	}
	if got := s.String(); got != "1 of 1 sessions lost (100.0%; 3 requests tested a session), 1 clients logged out between 33ms and 33ms" {
		t.Errorf("String: %q", got)
	}
	if got := (Sessions{Logins: 3}).String(); got != "no session established (3 logins)" {
		t.Errorf("String: %q", got)
	}
	if _, ok := (Sessions{}).Fraction(); ok {
		t.Error("fraction of nothing")
	}
}

// One of N sticky servers dies: about 1/N of the sessions alive then are
// lost, and only those.
func TestSessionsLostOneOfN(t *testing.T) {
	const clients, servers, dead = 30, 3, "web2"
	var ops []history.Op
	lostWant := 0
	for c := range clients {
		server := []string{"web1", "web2", "web3"}[c%servers]
		s1 := "s" + string(rune('A'+c))
		ops = append(ops, login(c, s1, c, c+2, server))
		for i := range 5 { // served by its sticky server until the kill at 500ms
			ops = append(ops, check(c, s1, 100+i*50+c, 100+i*50+c+1, 200, server))
		}
		if server == dead {
			lostWant++
			ops = append(ops, check(c, s1, 600+c, 601+c, 401, "web1"))
			ops = append(ops, login(c, s1+"2", 700+c, 702+c, "web1"), check(c, s1+"2", 800+c, 801+c, 200, "web1"))
		} else {
			ops = append(ops, check(c, s1, 600+c, 601+c, 200, server))
		}
	}
	s := SessionsLost(history.History{Ops: ops})
	if s.Total != clients+lostWant || len(s.Lost) != lostWant || len(s.Clients) != lostWant {
		t.Fatalf("%v", s)
	}
	if s.HeldBy[dead] != lostWant || len(s.HeldBy) != 1 || s.ByServer["web1"] != lostWant {
		t.Fatalf("held by %v, by server %v", s.HeldBy, s.ByServer)
	}
}

func BenchmarkSessionsLost(b *testing.B) {
	var ops []history.Op
	for c := range 100 {
		ops = append(ops, login(c, "s"+string(rune(c)), 0, 1, "web1"))
		for i := range 1000 {
			ops = append(ops, check(c, "s"+string(rune(c)), 10+i, 11+i, 200, "web1"))
		}
	}
	h := history.History{Ops: ops}
	b.ResetTimer()
	for range b.N {
		SessionsLost(h)
	}
}

// A 401 for a session valid a moment before is a failure for the user: it
// counts against availability, and the session is still counted lost.
func TestLoggedOutIsAFailure(t *testing.T) {
	h := history.History{Ops: []history.Op{
		login(1, "s1", 0, 5, "web1"),
		check(1, "s1", 10, 12, 200, "web1"),
		check(1, "s1", 50, 52, 401, "web2"),
	}, End: 100 * time.Millisecond}
	if s := SessionsLost(h); s.Count() != 1 {
		t.Errorf("sessions lost: %+v", s)
	}
	a := AvailabilityIn(h, WholeRun(h))
	if a.OK != 2 || a.Failed != 1 {
		t.Errorf("availability counts the 401 as ok: %+v", a)
	}
}
