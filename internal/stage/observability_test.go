package stage

import (
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// An alert heard, and heard resolved: in time holds, late or never
// breaks, a pager never read or a run too short to judge is not judged.
func TestAlertGuaranteesAreDecidedInsideTheRun(t *testing.T) {
	windows := check.FaultWindows{Inject: 2 * time.Second, Heal: 12 * time.Second,
		During: check.Window{From: 2 * time.Second, To: 12 * time.Second}, After: check.Window{From: 12 * time.Second, To: 25 * time.Second}}
	// run: the pager read every 250 ms to 25 s; firing from fired to
	// resolved (0: never).
	run := func(fired, resolved time.Duration) Evidence {
		ev := Evidence{Windows: windows}
		for at := time.Second; at < 25*time.Second; at += 250 * time.Millisecond {
			v := 0.0
			if fired > 0 && at >= fired && (resolved == 0 || at < resolved) {
				v = 1
			}
			ev.Counters = append(ev.Counters, check.CounterSample{At: at, Values: map[string]float64{
				`alertlog_firing{alertname="TargetDown",instance="web-1"}`: v,
				`alertlog_firing{alertname="TargetDown",instance="web-2"}`: 0,
			}})
		}
		return ev
	}
	fires, resolves := targetBound(nil), targetResolvesBound(nil)
	heard := func(ev Evidence, set Settings) verdict.Guarantee {
		return alertHeard(TargetAlerted, ev, set, alertTargetDown, "web-1", targetBound(set))
	}
	resolved := func(ev Evidence) verdict.Guarantee {
		return alertResolves(ev, nil, alertTargetDown, "web-1", resolves)
	}
	for _, c := range []struct {
		name                    string
		ev                      Evidence
		firedHolds, firedJudged bool
		resHolds, resJudged     bool
	}{
		{"paged in time, cleared in time", run(windows.Inject+3*time.Second, windows.Heal+3*time.Second), true, true, true, true},
		{"paged late", run(windows.Inject+fires+250*time.Millisecond, windows.Heal+time.Second), false, true, true, true},
		{"never paged", run(0, 0), false, true, false, false},
		{"never cleared", run(windows.Inject+time.Second, 0), true, true, false, true},
		{"cleared late", run(windows.Inject+time.Second, windows.Heal+resolves+500*time.Millisecond), true, true, false, true},
		{"pager never read", Evidence{Windows: windows}, false, false, false, false},
	} {
		f, r := heard(c.ev, nil), resolved(c.ev)
		if f.Holds != c.firedHolds || (f.NotJudged == "") != c.firedJudged {
			t.Errorf("%s: target-alerted %+v", c.name, f)
		}
		if r.Holds != c.resHolds || (r.NotJudged == "") != c.resJudged {
			t.Errorf("%s: alert-resolves %+v", c.name, r)
		}
	}
	short := run(windows.Inject+time.Second, 0)
	short.Windows.After.To = windows.Heal + resolves/2
	if r := resolved(short); r.NotJudged == "" {
		t.Errorf("still firing, the run ended before the bound: %+v", r)
	}
	long := Settings{alertFor.Name: "6s"}
	if f := heard(run(0, 0), long); f.Vacuous == "" {
		t.Errorf("alert_for 6s makes the bound longer than the window: not vacuous: %+v", f)
	}
	// no-false-page: the page heard during the fault breaks it, a ticket
	// does not.
	page := run(windows.Inject+time.Second, 0)
	if g := noFalsePage(page, nil); !g.Holds {
		t.Errorf("only TargetDown heard: %+v", g)
	}
	for i := range page.Counters {
		page.Counters[i].Values[`alertlog_firing{alertname="WebServerDown",instance="web-1"}`] = page.Counters[i].Values[`alertlog_firing{alertname="TargetDown",instance="web-1"}`]
	}
	if g := noFalsePage(page, nil); g.Holds || g.NotJudged != "" {
		t.Errorf("WebServerDown heard: %+v", g)
	}
	if g := noFalsePage(Evidence{Windows: windows}, nil); g.NotJudged == "" {
		t.Errorf("pager never read: %+v", g)
	}
}

// The stack's monitoring: every running web server a target through its
// own link, the standby none; the rule alert_on picks.
func TestObservabilityStackScrapesEveryRunningWebServer(t *testing.T) {
	topo := observabilityStack(Defaults(mustStage(t, "observability")))
	cfg := ""
	for _, n := range topo.Nodes {
		if n.Name == "prometheus" {
			cfg = n.Files[stacks.PrometheusConfigPath] + n.Files[stacks.PrometheusRulesPath]
		}
	}
	for _, want := range []string{`targets: ["${web-1}"]`, `targets: ["${web-2}"]`, `alert: TargetDown`, `scrape_timeout: 500ms`,
		`alert: WebServerDown`, `server=~\"web-1|web-2\"`, `targets: ["${lb}"]`, `target_label: instance`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("prometheus lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "web-3") {
		t.Errorf("the standby web-3 is scraped:\n%s", cfg)
	}
	if _, ok := topo.LinkPort("prometheus->web-2"); !ok {
		t.Error("no link prometheus->web-2")
	}
}

func mustStage(t *testing.T, id string) Stage {
	t.Helper()
	st, err := Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
