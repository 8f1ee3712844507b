package stage

import (
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
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
