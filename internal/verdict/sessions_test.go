package verdict

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

func sessionOp(client int, kind history.Kind, value string, inv, comp, status int, server string) history.Op {
	out := history.OK
	if status != 200 && status != 401 {
		out = history.Failed
	}
	return history.Op{Client: client, Kind: kind, Key: "c1", Value: value, Status: status, Server: server,
		Invoke: time.Duration(inv) * ms, Complete: time.Duration(comp) * ms, Outcome: out}
}

func TestSessionGuarantees(t *testing.T) {
	survived := check.SessionsLost(history.History{Ops: []history.Op{
		sessionOp(1, history.Login, "s1", 0, 5, 200, "web1"),
		sessionOp(1, history.SessionCheck, "s1", 10, 12, 200, "web2"),
		sessionOp(2, history.Login, "s2", 0, 5, 200, "web2"),
		sessionOp(2, history.SessionCheck, "s2", 10, 12, 200, "web1"),
	}})
	// Memory sessions, web1 killed: client 1 (held by web1) logged out.
	lostOne := check.SessionsLost(history.History{Ops: []history.Op{
		sessionOp(1, history.Login, "s1", 0, 5, 200, "web1"),
		sessionOp(1, history.SessionCheck, "s1", 10, 12, 200, "web1"),
		sessionOp(1, history.SessionCheck, "s1", 50, 52, 401, "web2"),
		sessionOp(1, history.Login, "s3", 60, 62, 200, "web2"),
		sessionOp(2, history.Login, "s2", 0, 5, 200, "web2"),
		sessionOp(2, history.SessionCheck, "s2", 10, 12, 200, "web2"),
		sessionOp(2, history.SessionCheck, "s2", 55, 57, 200, "web2"),
	}})
	neverChecked := check.SessionsLost(history.History{Ops: []history.Op{
		sessionOp(1, history.Login, "s1", 0, 5, 200, "web1"),
		sessionOp(1, history.SessionCheck, "s1", 10, 12, 503, "web1"),
	}})
	noLogin := check.SessionsLost(history.History{Ops: []history.Op{
		sessionOp(1, history.Login, "", 0, 5, 503, "web1"),
	}})

	tests := []struct {
		name   string
		g      Guarantee
		holds  bool
		value  float64
		detail []string
	}{
		{"stateless: none lost", NoSessionsLost(survived), true, 0, nil},
		{"stateless breached", NoSessionsLost(lostOne), false, 1, []string{
			"401s answered by web2 (1); sessions last served by web1 (1)",
			"client 1 session s1 (user c1, login at 5ms on web1, last served by web1 at 12ms) got 401 from web2 at 52ms on session",
		}},
		{"never tested: no evidence", NoSessionsLost(neverChecked), false, 0, []string{"no request tested an established session"}},
		{"no login: no evidence", NoSessionsLost(noLogin), false, 0, []string{"no login succeeded (1 attempts)"}},
		{"control: 1 of 3 lost >= 0.2", SessionsLostAtLeast(lostOne, 0.2), true, 1.0 / 3, nil},
		{"control: 1 of 3 lost < 0.5", SessionsLostAtLeast(lostOne, 0.5), false, 1.0 / 3, nil},
		{"control: nothing lost does not hold", SessionsLostAtLeast(survived, 0), false, 0, nil},
		{"control: no data does not hold", SessionsLostAtLeast(noLogin, 0), false, 0, []string{"no login succeeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.g.Holds != tt.holds || tt.g.Value != tt.value {
				t.Fatalf("holds %v value %v, want %v %v: %+v", tt.g.Holds, tt.g.Value, tt.holds, tt.value, tt.g)
			}
			for _, d := range tt.detail {
				if !strings.Contains(tt.g.Detail, d) {
					t.Errorf("detail %q lacks %q", tt.g.Detail, d)
				}
			}
		})
	}
	if g := NoSessionsLost(lostOne); g.Name != "no sessions lost" || g.Threshold != "0 lost" ||
		g.Measured != "1 of 3 sessions lost (33.3%; 4 requests tested a session), 1 clients logged out between 52ms and 52ms" {
		t.Errorf("%+v", g)
	}
	if g := SessionsLostAtLeast(lostOne, 0.15); g.Threshold != ">= 0.15 of sessions" {
		t.Errorf("threshold %q", g.Threshold)
	}
}

func TestServerCounts(t *testing.T) {
	if got := serverCounts(map[string]int{"web1": 1, "web3": 4, "": 2, "web2": 4}); got != "web2 (4), web3 (4), an unnamed server (2), web1 (1)" {
		t.Errorf("%q", got)
	}
}
