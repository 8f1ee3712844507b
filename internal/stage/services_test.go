package stage

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// breaker-opens: open within the bound holds, later or never breaks, no
// sample of the breaker or a window shorter than the bound is not judged.
func TestBreakerOpensIsDecidedInsideTheFault(t *testing.T) {
	state := func(at time.Duration, payments string) check.CounterSample {
		return check.CounterSample{At: at, Values: map[string]float64{
			`orders:shop_breaker_state{dependency="payments",state="` + payments + `"}`: 1,
			`orders:shop_breaker_state{dependency="users",state="closed"}`:              1,
		}}
	}
	windows := check.FaultWindows{Inject: 2 * time.Second, Heal: 12 * time.Second}
	run := func(openAt time.Duration) Evidence {
		ev := Evidence{Windows: windows}
		for at := time.Second; at < 14*time.Second; at += 250 * time.Millisecond {
			st := "closed"
			if openAt > 0 && at >= openAt && at < windows.Heal {
				st = "open"
			}
			ev.Counters = append(ev.Counters, state(at, st))
		}
		return ev
	}
	bound := breakerOpenBound(nil) + 500*time.Millisecond
	if g := breakerOpens(run(windows.Inject+1250*time.Millisecond), nil); !g.Holds || g.NotJudged != "" {
		t.Errorf("open after 1.25 s: %+v", g)
	}
	if g := breakerOpens(run(windows.Inject+bound+250*time.Millisecond), nil); g.Holds || g.NotJudged != "" {
		t.Errorf("open past the bound: %+v", g)
	}
	if g := breakerOpens(run(0), nil); g.Holds || g.NotJudged != "" {
		t.Errorf("never open: %+v", g)
	}
	if g := breakerOpens(Evidence{Windows: windows}, nil); g.NotJudged == "" {
		t.Errorf("no samples: %+v", g)
	}
	short := run(0)
	short.Windows.Heal = windows.Inject + bound/2
	if g := breakerOpens(short, nil); g.NotJudged == "" {
		t.Errorf("a window shorter than the bound, never open: %+v", g)
	}
}

// abuser-limited: at most rate_limit x (window + 1 s) of the abuser's
// requests let through; with no limit, none; no tally is not judged; an
// abuser within its limit makes it vacuous.
func TestAbuserLimitedCountsWhatTheLimitLetThrough(t *testing.T) {
	windows := check.FaultWindows{Inject: 2 * time.Second, Heal: 7 * time.Second}
	run := func(sent, limited int64) Evidence {
		return Evidence{Windows: windows, History: history.History{Tallies: []history.Tally{
			{Fault: "a flood", Client: abuserAPIKey, Sent: sent, ByStatus: map[int]int64{429: limited, 204: sent - limited}},
		}}}
	}
	limit20 := Settings{rateLimit.Name: "20"}
	for _, c := range []struct {
		name          string
		ev            Evidence
		set           Settings
		holds, judged bool
	}{
		{"20 a second let through", run(5000, 4880), limit20, true, true},
		{"one more", run(5000, 4879), limit20, false, true},
		{"no limit: everything through", run(5000, 0), Settings{rateLimit.Name: "0"}, false, true},
		{"no request sent", run(0, 0), limit20, false, false},
		{"another client's tally only", Evidence{Windows: windows, History: history.History{Tallies: []history.Tally{{Client: "other", Sent: 9}}}}, limit20, false, false},
	} {
		g := abuserLimited(c.ev, c.set)
		if g.Holds != c.holds || (g.NotJudged == "") != c.judged || g.Vacuous != "" {
			t.Errorf("%s: %+v", c.name, g)
		}
	}
	if g := abuserLimited(run(5000, 0), Settings{rateLimit.Name: "2000", abuseRate.Name: "1000"}); g.Vacuous == "" {
		t.Errorf("an abuser within its limit: not vacuous: %+v", g)
	}
}
