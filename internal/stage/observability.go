package stage

import (
	"fmt"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 10.
const (
	FaultPaged    = "fault-paged"    // the page naming the broken server reaches the pager within its bound
	TargetAlerted = "target-alerted" // a target Prometheus cannot scrape is reported (a ticket) within its bound
	NoFalsePage   = "no-false-page"  // the monitoring's own loss pages nobody: the site is fine
	AlertResolves = "alert-resolves" // and every alert of the fault is heard resolved within its bound of the heal
)

// Settings of stage 10: the monitoring's intervals and its alert rules.
var (
	obsServers = Int("servers", "2",
		"web servers behind the load balancer (web-1..web-N), each scraped by Prometheus").Checked(IntBetween(1, 6))
	scrapeInterval = Duration("scrape_interval", "1s",
		"Prometheus scrapes every target this often; a scrape unanswered in half of it fails (up is 0)").Checked(DurationAtLeast(200*time.Millisecond, "1s"))
	evalInterval = Duration("eval_interval", "1s",
		"Prometheus evaluates the alert rules this often").Checked(DurationAtLeast(200*time.Millisecond, "1s"))
	alertFor = Duration("alert_for", "0s",
		"how long a rule's condition must hold before its alert fires (Prometheus's for:)")
	pageOn = Choice("page_on", "lb",
		"what the page (WebServerDown) watches: lb (the load balancer's health checks of each web server, from its exporter), "+
			"scrape (a web server Prometheus cannot scrape: absent data pages as an outage), "+
			"errors (the page is SiteErrors instead: the web servers' 5xx answers a second, summed)",
		"lb", "scrape", "errors")
	sendResolved = OnOff("send_resolved", "on",
		"Alertmanager notifies the pager when an alert resolves, not only when it fires")
)

// The alerts of stage 10. TargetDown, a ticket, says Prometheus cannot
// scrape a web server; WebServerDown, the page, says a web server is out
// of service (SiteErrors in its place with page_on=errors).
const (
	alertTargetDown    = "TargetDown"
	alertWebServerDown = "WebServerDown"
	alertSiteErrors    = "SiteErrors"
)

// pageAlert is the name of the page rule the settings give.
func pageAlert(set Settings) string {
	if pageOn.Get(set) == "errors" {
		return alertSiteErrors
	}
	return alertWebServerDown
}

// Alertmanager's timing in this stage: a new alert's group is notified
// after groupWait, a changed group (a resolved alert) after groupInterval.
const (
	groupWait     = 100 * time.Millisecond
	groupInterval = time.Second
)

// obsWindow is how long stage 10's faults last: the page's bound (6.1 s
// with the defaults) must fall inside it.
const obsWindow = 10 * time.Second

// Stage 10: the web tier of stage 3, watched. Prometheus scrapes every web
// server's /metrics and the load balancer's own exporter and evaluates
// alert rules; Alertmanager sends the alerts to the pager (the lab's alert
// log). A fault must not only be survived but seen: the right alert, in
// time, cleared after; and the monitoring's own failures must not page.
func init() {
	register(Stage{
		ID: "observability", Number: 10, Title: "Metrics and alerts",
		Adds: "Prometheus scraping every web server and the load balancer, alert rules, and Alertmanager paging a webhook " +
			"(the lab's alert log) on top of stage 3's load-balanced web tier",
		Fixes: "a fault is seen, by what it broke, without anyone watching a screen; the page clears when it is over",
		Weak: "the monitoring is a system too: its intervals decide how late a page comes, a rule on the wrong signal never pages, " +
			"and one on missing data pages when only the monitoring broke",
		Lab: "labs/10-observability",
		Settings: []Setting{obsServers.Setting, scrapeInterval.Setting, evalInterval.Setting, alertFor.Setting,
			pageOn.Setting, sendResolved.Setting},
		Stack: observabilityStack,
		Entry: "client->lb",
		// The pager's state, every 250 ms.
		Counters:    stacks.AlertLogMetrics,
		CountersVia: "client->alertlog",
		// As stage 3: above the load balancer's own timeouts.
		ClientTimeout: 5 * time.Second,
		Faults: []Fault{
			{
				ID:     "kill-web",
				Help:   "SIGKILL web-1 under load for " + obsWindow.String() + ", then start it again: the load balancer routes around it, the pager must hear of it",
				Window: obsWindow,
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Kill{Node: "web-1"}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					page := pageAlert(set)
					return []verdict.Guarantee{
						alertHeard(FaultPaged, ev, set, page, "web-1", pageBound(set)),
						alertResolves(ev, set, page, "web-1", pageResolvesBound(set)),
					}
				},
				Controls: []Control{
					{
						// The load balancer retries a dead server's requests
						// elsewhere: the site answers no 5xx, and a page on
						// its errors never fires (nor would it name web-1).
						Name:   "a page on the site's errors",
						Set:    Values(pageOn.Is("errors")),
						Breaks: []string{FaultPaged},
					},
					noResolvedControl,
				},
			},
			{
				ID:     "scrape-loss",
				Help:   "the link prometheus->web-1 goes down for " + obsWindow.String() + ": the monitoring loses web-1, which serves on",
				Window: obsWindow,
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Down{Link: "prometheus->web-1"}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{
						alertHeard(TargetAlerted, ev, set, alertTargetDown, "web-1", targetBound(set)),
						noFalsePage(ev, set),
						alertResolves(ev, set, alertTargetDown, "web-1", targetResolvesBound(set)),
					}
				},
				Controls: []Control{
					{
						// WebServerDown on up == 0: a server Prometheus
						// cannot reach is taken for a server that is down.
						Name:   "a page on what Prometheus cannot scrape",
						Set:    Values(pageOn.Is("scrape")),
						Breaks: []string{NoFalsePage},
					},
					{Name: "no-op in place of the link's loss", NoOp: true, Breaks: []string{TargetAlerted}},
					noResolvedControl,
				},
			},
		},
	})
}

// noResolvedControl: the page fires and is never cleared.
var noResolvedControl = Control{Name: "no resolved notifications", Set: Values(sendResolved.Is(false)), Breaks: []string{AlertResolves}}

// alertSampling is what reading the pager adds to when an alert is seen:
// one sampling interval (250 ms) and the sample's own read.
const alertSampling = 500 * time.Millisecond

// alertMargin is a loaded machine's share of the bounds below: Prometheus,
// Alertmanager and the web tier share two cores with the workload, and in
// CI with another stack (a CI machine was seen stalling the lab's reads
// for about a second, stage 12, 2026-12-05).
const alertMargin = 1500 * time.Millisecond

// pagePath is what follows a condition's start on its way to the pager:
// the next rule evaluation (eval_interval), alert_for, Alertmanager's
// group_wait for a new alert, the sampling and the margin.
func pagePath(set Settings) time.Duration {
	return evalInterval.Get(set) + alertFor.Get(set) + groupWait + alertSampling + alertMargin
}

// targetBound: a target Prometheus cannot reach is seen at its next scrape
// (within scrape_interval), which fails after its timeout (half the
// interval: a link that is down, or leads to a dead node, hangs); then the
// page's path. With the defaults: 1 + 0.5 + 1 + 0 + 0.1 + 0.5 + 1.5 = 4.6 s.
func targetBound(set Settings) time.Duration {
	si := scrapeInterval.Get(set)
	return si + si/2 + pagePath(set)
}

// pageBound: the load balancer sees a dead web server down within its
// detection window (stage 3's: 2 x fall x check interval = 2 s), the next
// scrape of its exporter reads that within scrape_interval; then the
// page's path: 2 + 1 + 3.1 = 6.1 s. (With page_on=scrape the page comes
// as a target's, sooner; the bound is the longer of the two.)
func pageBound(set Settings) time.Duration {
	return max(lbDetectionOf(webTierLB("leastconn"))+scrapeInterval.Get(set)+pagePath(set), targetBound(set))
}

// lbDetectionOf is stage 3's detection window for a load balancer config.
func lbDetectionOf(c stacks.HAProxyConfig) time.Duration {
	return time.Duration(2*c.Fall) * c.CheckInterval
}

// resolvePath is what follows a condition's end on its way to the pager:
// the next scrape that sees it (scrape_interval), the next evaluation
// (Prometheus sends a resolved alert at once), Alertmanager's next flush
// of the group (groupInterval), the sampling and the margin.
func resolvePath(set Settings) time.Duration {
	return scrapeInterval.Get(set) + evalInterval.Get(set) + groupInterval + alertSampling + alertMargin
}

// targetResolvesBound: the link is back at the heal; then the resolve
// path: 1 + 1 + 1 + 0.5 + 1.5 = 5 s.
func targetResolvesBound(set Settings) time.Duration { return resolvePath(set) }

// pageResolvesBound: the killed server starts again (about 1 s, 2 s on a
// loaded machine), the load balancer sees it up after rise checks one
// interval apart, plus one interval for where the first falls (stage 3:
// 1.5 s); then the resolve path: 2 + 1.5 + 5 = 8.5 s.
func pageResolvesBound(set Settings) time.Duration {
	lb := webTierLB("leastconn")
	return 2*time.Second + time.Duration(lb.Rise+1)*lb.CheckInterval + resolvePath(set)
}

// firstAlertOn is the first span of the alert named alertname on instance
// that fired at or after from.
func firstAlertOn(ev Evidence, alertname, instance string, from time.Duration) (check.AlertSpan, bool) {
	for _, a := range check.AlertSpans(ev.Counters, stacks.GaugeAlertFiring) {
		if a.AlertName == alertname && a.Instance == instance && a.FiredAt >= from {
			return a, true
		}
	}
	return check.AlertSpan{}, false
}

// alertHeard: the alert alertname naming instance (its instance label) is
// heard firing within bound of the injection, before the heal. Not heard
// by the heal, when the bound had passed: broken; a fault shorter than
// the bound: not judged (vacuous when planned so); the pager never read:
// not judged.
func alertHeard(name string, ev Evidence, set Settings, alertname, instance string, bound time.Duration) verdict.Guarantee {
	g := verdict.Guarantee{Name: name,
		Threshold: fmt.Sprintf("%s on %s heard by the pager within %v of the injection", alertname, instance, bound),
		Bound:     &verdict.Bound{Since: verdict.SinceInject, D: bound, WhileFaulted: true}}
	if d := ev.Windows.During.Duration(); d > 0 && d < bound {
		g.Vacuous = fmt.Sprintf("the fault's window (%v) is shorter than the alert's bound (%v): a page could not be judged late", d, bound)
	}
	inject, heal := ev.Windows.Inject, ev.Windows.Heal
	seen := sighting{What: "heard", Read: sampledBetween(ev.Counters, inject, heal), Unread: "the pager was not read during the fault"}
	if a, ok := firstAlertOn(ev, alertname, instance, inject); ok && a.FiredAt < heal {
		seen.At, seen.Seen = a.FiredAt, true
	} else {
		seen.Never = fmt.Sprintf("not heard during the fault (%s)", heardDuring(ev))
	}
	return seenInTime(g, ev.Windows, bound, seen)
}

// heardDuring names the alerts the pager heard firing during the fault.
func heardDuring(ev Evidence) string {
	var names []string
	for _, a := range check.AlertSpans(ev.Counters, stacks.GaugeAlertFiring) {
		if a.FiredAt >= ev.Windows.Inject && a.FiredAt < ev.Windows.Heal {
			names = append(names, a.AlertName+" on "+a.Instance)
		}
	}
	if len(names) == 0 {
		return "no alert at all"
	}
	return "heard: " + strings.Join(names, ", ")
}

// noFalsePage: while only the monitoring failed, the page rule pages
// nobody: no page alert heard firing during the fault. The pager not read
// during it: not judged.
func noFalsePage(ev Evidence, set Settings) verdict.Guarantee {
	page := pageAlert(set)
	g := verdict.Guarantee{Name: NoFalsePage,
		Threshold: fmt.Sprintf("no %s heard during the fault (the site served on)", page)}
	inject, heal := ev.Windows.Inject, ev.Windows.Heal
	if !sampledBetween(ev.Counters, inject, heal) {
		return verdict.NotJudgedBecause(g, "the pager was not read during the fault")
	}
	for _, a := range check.AlertSpans(ev.Counters, stacks.GaugeAlertFiring) {
		if a.AlertName == page && a.FiredAt >= inject && a.FiredAt < heal {
			g.Value = (a.FiredAt - inject).Seconds()
			g.Measured = fmt.Sprintf("%s on %s heard %v after the injection", page, a.Instance, (a.FiredAt - inject).Round(time.Millisecond))
			return g
		}
	}
	g.Measured = "no page (" + heardDuring(ev) + ")"
	g.Holds = true
	return g
}

// alertResolves: the alert that fired for the fault is heard resolved
// within bound of the heal. Still firing when the run ended past the
// bound: broken; it never fired: not judged (the guarantee that it fires
// says why).
func alertResolves(ev Evidence, set Settings, alertname, instance string, bound time.Duration) verdict.Guarantee {
	g := verdict.Guarantee{Name: AlertResolves,
		Threshold: fmt.Sprintf("%s on %s heard resolved within %v of the heal", alertname, instance, bound),
		Bound:     &verdict.Bound{Since: verdict.SinceHeal, D: bound}}
	heal, end := ev.Windows.Heal, ev.Windows.After.To
	a, ok := firstAlertOn(ev, alertname, instance, ev.Windows.Inject)
	if !ok || a.FiredAt >= heal {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("%s on %s did not fire during the fault", alertname, instance))
	}
	if a.Resolved {
		after := max(a.ResolvedAt-heal, 0)
		g.Value = after.Seconds()
		g.Measured = fmt.Sprintf("heard resolved %v after the heal", after.Round(time.Millisecond))
		g.Holds = a.ResolvedAt-heal <= bound
		return g
	}
	if end-heal < bound {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("the run ended %v after the heal, before the bound, with %s still firing", end-heal, alertname))
	}
	g.Value = (end - heal).Seconds()
	g.Measured = fmt.Sprintf("still firing when the run ended, %v after the heal", (end - heal).Round(time.Millisecond))
	return g
}

// sampledBetween: some sample of the pager was read in [from, to).
func sampledBetween(samples []check.CounterSample, from, to time.Duration) bool {
	for _, s := range samples {
		if s.At >= from && s.At < to {
			return true
		}
	}
	return false
}

// observabilityStack: stage 3's web tier and database; Prometheus
// scraping each web server through its own link (prometheus->web-i: a
// link that can fail, as monitoring does) and the load balancer's
// exporter; Alertmanager; and the alert log, the pager.
func observabilityStack(set Settings) stacks.Topology {
	n := obsServers.Get(set)
	t := stacks.Topology{Name: "observability", Nodes: []stacks.Node{{Name: "db", Role: stacks.Postgres()}}}
	stacks.WebTier{
		Servers: n,
		LB:      webTierLB("leastconn"),
		Args: func(string) []string {
			return []string{"-db", stacks.PostgresDSN("${db}"), "-db-timeout", lbMysiteDBTimeout.String()}
		},
		Uses: []string{"db"},
	}.Add(&t)
	mon := stacks.MonitoringConfig{
		ScrapeInterval: scrapeInterval.Get(set),
		ScrapeTimeout:  scrapeInterval.Get(set) / 2,
		EvalInterval:   evalInterval.Get(set),
		GroupWait:      groupWait,
		GroupInterval:  groupInterval,
		SendResolved:   sendResolved.Get(set),
	}
	// The standby web server (the web tier's web-N+1) is not running:
	// it is not a target.
	var running []string
	for i := 1; i <= n; i++ {
		web := stacks.WebName(i)
		running = append(running, web)
		mon.Targets = append(mon.Targets, stacks.ScrapeTarget{Job: "web", Node: web})
		t.Links = append(t.Links, stacks.Link{From: "prometheus", To: web})
	}
	// The load balancer's series name each server: that is their instance.
	mon.Targets = append(mon.Targets, stacks.ScrapeTarget{Job: "lb", Node: "lb", Path: stacks.HAProxyMetricsPath, InstanceFrom: "server"})
	t.Links = append(t.Links, stacks.Link{From: "prometheus", To: "lb"})
	f := alertFor.Get(set)
	mon.Rules = []stacks.AlertRule{{Name: alertTargetDown, For: f, Severity: "ticket",
		Expr: `up{job="web"} == 0`, Summary: "Prometheus cannot scrape a web server"}}
	switch pageOn.Get(set) {
	case "scrape":
		mon.Rules = append(mon.Rules, stacks.AlertRule{Name: alertWebServerDown, For: f, Severity: "page",
			Expr: `up{job="web"} == 0`, Summary: "a web server is down (as Prometheus cannot scrape it)"})
	case "errors":
		mon.Rules = append(mon.Rules, stacks.AlertRule{Name: alertSiteErrors, For: f, Severity: "page",
			Expr: `sum(rate(mysite_http_requests_total{code=~"5.."}[5s])) > 0`, Summary: "the web servers answer with errors"})
	default:
		// The load balancer's health checks of the servers that run (the
		// standby is down until it is started): its exporter's status
		// line of a server in state DOWN is 1.
		mon.Rules = append(mon.Rules, stacks.AlertRule{Name: alertWebServerDown, For: f, Severity: "page",
			Expr:    fmt.Sprintf(`haproxy_server_status{proxy="reads",state="DOWN",server=~"%s"} == 1`, strings.Join(running, "|")),
			Summary: "the load balancer took a web server out"})
	}
	t.Nodes = append(t.Nodes,
		stacks.Node{Name: "prometheus", Role: stacks.Prometheus(len(mon.Targets)), Files: mon.PrometheusFiles(), RecheckReady: true},
		stacks.Node{Name: "alertmanager", Role: stacks.Alertmanager(), Files: mon.AlertmanagerFiles()},
		stacks.Node{Name: "alertlog", Role: stacks.AlertLog()},
	)
	t.Links = append(t.Links,
		stacks.Link{From: "prometheus", To: "alertmanager"},
		stacks.Link{From: "alertmanager", To: "alertlog"},
		stacks.Link{From: stacks.Client, To: "alertlog"},
	)
	return t
}
