package stage

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 3.
const (
	RoutesAround      = "routes-around"       // steady service returns while the fault is still in place
	ReadsSurvive      = "reads-survive"       // reads see (almost) no failures: retried elsewhere
	NoFailedRequests  = "no-failed-requests"  // not one request fails (graceful scale-in)
	SlowServerShunned = "slow-server-shunned" // a slow server gets few requests: p90 stays fast
	NewServerJoins    = "new-server-joins"    // an added server answers its first request within a bound
	NewServerShare    = "new-server-share"    // then takes its share of the requests
)

// Settings of stage 3.
var (
	webServers = Int("servers", "3",
		"web servers behind the load balancer (web-1..web-N); one more, web-N+1, is a standby for add-web").Checked(lbIntIn(1, 8))
	balance = Choice("balance", "leastconn",
		"HAProxy's algorithm: leastconn (fewest requests in flight), roundrobin, source (hash of the client address)",
		"leastconn", "roundrobin", "source")
	serverWeights = Text("weights", "",
		"comma-separated weights of web-1, web-2, ... (0..256; missing ones are 1), e.g. 1,1,2").Checked(lbIsWeights)
	checkInterval = Duration("check_interval", "500ms",
		"HTTP health check (GET /healthz) every interval; a check unanswered within it fails").Checked(DurationAtLeast(10*time.Millisecond, "500ms"))
	checkFall = Int("fall", "2", "failed checks in a row that mark a server down").Checked(lbIntIn(1, 10))
	checkRise = Int("rise", "2", "passed checks in a row that mark a server up again").Checked(lbIntIn(1, 10))
	retries   = OnOff("retries", "on",
		"on: retry up to 3 times on another server (every request when it got no answer, reads also on a timeout); off: none")
	// slow-web's
	slowWebLatency = Duration("latency", "300ms", "round-trip latency added to lb->web-1")
	// remove-web's
	drainFirst = OnOff("drain", "on",
		"on: take web-N out of the load balancer's rotation and wait for its requests in flight before stopping it; off: just stop it")
	stopGrace = Duration("grace", "10s",
		"how long web-N may take to finish its requests after SIGTERM before it is killed")
)

// Stage 3: a load balancer (HAProxy) in front of N web servers. The web tier
// is no longer a single point of failure, and capacity grows by adding
// servers. The new way to fail: a dead, frozen or slow web server, and the
// window in which the load balancer has not noticed yet.
func init() {
	register(Stage{
		ID: "load-balancer", Number: 3, Title: "Load balancer",
		Adds:  "HAProxy in front of N web servers on a private network; clients see only the load balancer",
		Fixes: "the web tier is no longer a single point of failure; capacity grows by adding servers",
		Weak:  "a dead, frozen or slow web server, and the health-check window before the load balancer notices",
		Lab:   "labs/03-load-balancer",
		Settings: []Setting{webServers.Setting, balance.Setting, serverWeights.Setting, checkInterval.Setting,
			checkFall.Setting, checkRise.Setting, retries.Setting},
		Stack: loadBalancerStack,
		Entry: "client->lb",
		// Above the load balancer's own server timeouts (1 s for reads, 3 s
		// for writes), so that what a client records is the load balancer's
		// answer (a retried success, or its 502/503/504), not its own give-up.
		ClientTimeout: 5 * time.Second,
		Counters:      stacks.HAProxyResponses,
		Faults: []Fault{
			{
				ID:         "kill-web",
				Help:       "SIGKILL web-1 under load, then start it again",
				Inject:     func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "web-1"}} },
				Guarantees: webServerLost,
				Controls:   []Control{singleWebControl, naiveLBControl},
			},
			{
				ID:         "pause-web",
				Help:       "freeze web-1 (docker pause): it accepts connections and never answers; then thaw it",
				Inject:     func(Settings) []faults.Fault { return []faults.Fault{faults.Pause{Node: "web-1"}} },
				Guarantees: webServerLost,
				Controls:   []Control{singleWebControl, naiveLBControl},
			},
			{
				ID:       "slow-web",
				Help:     "add latency on lb->web-1, below the health check's timeout: web-1 passes its checks but answers slowly",
				Settings: []Setting{slowWebLatency.Setting},
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Latency{Link: "lb->web-1", Latency: slowWebLatency.Get(set)}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{slowServerShunned(ev, set)}
				},
				Controls: []Control{
					{Name: "round robin", Set: Values(balance.Is("roundrobin")), Breaks: []string{SlowServerShunned}},
				},
			},
			{
				ID:   "add-web",
				Help: "start the standby web-N+1 under load (scale out); the load balancer knows it from the start",
				Inject: func(set Settings) []faults.Fault {
					web := lbWebName(webServers.Get(set) + 1)
					// Enable changes nothing at the injection (the server is
					// in the rotation, down until its checks pass); it is
					// there for the heal, which runs in reverse order: drain
					// web-N+1 at the load balancer, then stop it.
					return []faults.Fault{faults.AddNode{Node: web, Grace: 10}, faults.Enable{LB: "lb", Server: web}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{newServerJoins(ev, set), newServerShare(ev, set)}
				},
				Controls: []Control{
					{Name: "no-op in place of the new server", NoOp: true, Breaks: []string{NewServerJoins, NewServerShare}},
				},
			},
			{
				ID:       "remove-web",
				Help:     "scale in under load: drain web-N at the load balancer, then stop it (SIGTERM); start it again at the heal",
				Settings: []Setting{drainFirst.Setting, stopGrace.Setting},
				Inject: func(set Settings) []faults.Fault {
					web := lbWebName(webServers.Get(set))
					stop := faults.Stop{Node: web, Grace: int(stopGrace.Get(set).Seconds())}
					if !drainFirst.Get(set) {
						return []faults.Fault{stop}
					}
					return []faults.Fault{faults.Drain{LB: "lb", Server: web}, stop}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{noFailedRequests(ev)}
				},
				Controls: []Control{
					{Name: "stop without draining, no retries", Set: Values(drainFirst.Is(false), retries.Is(false)), Breaks: []string{NoFailedRequests}},
				},
			},
		},
	})
}

// webServerLost: what the load balancer promises when one web server stops
// answering, whether it died (kill-web) or froze (pause-web).
func webServerLost(ev Evidence, set Settings) []verdict.Guarantee {
	return []verdict.Guarantee{
		staysAvailable(ev, set),
		routesAround(ev, set),
		readsSurvive(ev),
	}
}

// The controls of the faults that take web-1 away.
var (
	// Stage 2's web tier: one web server. The same fault is then an outage
	// for as long as the server is gone, load balancer or not.
	singleWebControl = Control{Name: "a single web server", Set: Values(webServers.Is(1)),
		Breaks: []string{AvailableHigh, RoutesAround}}
	// The naive load balancer: round robin, no retries, a health check
	// every 2 s. A third of the requests go to the broken server until its
	// checks fail (4-8 s: most of the fault), and they fail. With the
	// default checks the window is too short to break reads-survive every
	// time after a kill: a killed server's requests often fail on a reused
	// connection, HAProxy then closes the client's connection without an
	// answer, and the client (Go's HTTP client, like a browser) resends a
	// GET by itself. Measured with 500 ms checks: 0-27 failed reads of
	// ~250 (reads-survive held in 2 of 7 runs); with 2 s checks: 76 of 233.
	// (Without retries but with leastconn even fewer fail: the broken
	// server's stuck requests count against it; see the lab.)
	naiveLBControl = Control{Name: "round robin, no retries, checks every 2s",
		Set:    Values(retries.Is(false), balance.Is("roundrobin"), checkInterval.Is(2*time.Second)),
		Breaks: []string{ReadsSurvive}}
)

// mysite's database timeout in this stage (its default), and in the later
// stages that put stage 3's web tier in front of their database.
const lbMysiteDBTimeout = 2 * time.Second

// webTierLB is stage 3's load balancer at its default settings (checks every
// 500 ms, down after 2 failed, up after 2 passed, retries on), with the
// given algorithm: what the later stages put in front of their web tier.
// Reads that have not answered in 1 s are stuck (see loadBalancerStack);
// writes wait for mysite's own answer, within its database timeout.
func webTierLB(balance string) stacks.HAProxyConfig {
	return stacks.HAProxyConfig{
		Balance:       balance,
		CheckInterval: 500 * time.Millisecond,
		Fall:          2,
		Rise:          2,
		CheckPath:     "/healthz",
		Retries:       true,
		ReadTimeout:   time.Second,
		WriteTimeout:  lbMysiteDBTimeout + time.Second,
	}
}

func loadBalancerStack(set Settings) stacks.Topology {
	weights := lbWeights(serverWeights.Get(set))
	t := stacks.Topology{Name: "load-balancer", Nodes: []stacks.Node{{Name: "db", Role: stacks.Postgres()}}}
	stacks.WebTier{
		Servers: webServers.Get(set),
		LB: stacks.HAProxyConfig{
			Balance:       balance.Get(set),
			CheckInterval: checkInterval.Get(set),
			Fall:          checkFall.Get(set),
			Rise:          checkRise.Get(set),
			CheckPath:     "/healthz",
			Retries:       retries.Get(set),
			// A read takes a few milliseconds through the whole stack (measured
			// before the fault, at 100 ops/s: p50 2.5-2.7 ms, p99 4.5-12 ms, max
			// 22 ms): one that has not answered in 1 s is stuck, and retrying it
			// elsewhere is safe.
			ReadTimeout: time.Second,
			// A write is never retried on a timeout; wait for mysite's own
			// answer, which comes within its database timeout.
			WriteTimeout: lbMysiteDBTimeout + time.Second,
		},
		Weight: func(i int) int { return lbWeightOf(weights, i) },
		Args: func(string) []string {
			return []string{"-db", stacks.PostgresDSN("${db}"), "-db-timeout", lbMysiteDBTimeout.String()}
		},
		Uses: []string{"db"},
	}.Add(&t)
	return t
}

func lbWebName(i int) string { return stacks.WebName(i) }

func lbInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func lbWeights(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, lbInt(f))
		}
	}
	return out
}

// lbWeightOf is web-i's weight (i from 1); unlisted servers weigh 1.
func lbWeightOf(w []int, i int) int {
	if i <= len(w) {
		return w[i-1]
	}
	return 1
}

func lbIntIn(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		return nil
	}
}

func lbIsWeights(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > 9 {
		return fmt.Errorf("at most 9 weights")
	}
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 256 {
			return fmt.Errorf("want comma-separated whole numbers from 0 to 256, like 1,1,2")
		}
	}
	return nil
}

// detection is the detection window: how long the load balancer may keep
// sending requests to a broken server, from the fault until the server's
// health checks have failed `fall` times in a row.
//
// A frozen server fails a check when the check's timeout (one interval)
// passes without an answer, and the next check starts one interval after
// that. The first check after the fault starts within one interval: at
// most interval + fall x timeout + (fall-1) x interval = 2 x fall x
// interval (2 s with the defaults). Measured (HAProxy's log against the
// injection, 2 cores): web-1 marked down 1.58-1.60 s after a pause.
//
// A killed server is no faster to detect: its address is gone, and a
// connection to it hangs like one to a frozen server (the links of a node
// that is gone lead to a blackhole, stacks.NoUpstream), so kill-web uses
// the same bound. (When a dead container's connections were refused at
// once, the check failed within one interval: down after fall x interval,
// measured 0.55-0.92 s.)
func lbDetection(set Settings) time.Duration {
	return time.Duration(2*checkFall.Get(set)) * checkInterval.Get(set)
}

// share is the part of the traffic web-1 gets while it is up: its weight
// over the weights of the running servers.
func lbShare(set Settings) float64 {
	w := lbWeights(serverWeights.Get(set))
	total := 0
	for i := 1; i <= webServers.Get(set); i++ {
		total += lbWeightOf(w, i)
	}
	if total == 0 {
		return 1
	}
	return float64(lbWeightOf(w, 1)) / float64(total)
}

// lbDetectionMargin covers what the formulas above leave out: requests
// already on their way when the server is marked down, and the machine's
// scheduling (2 cores shared by the whole stack and the workload).
const lbDetectionMargin = 500 * time.Millisecond

// staysAvailable: only requests sent to the broken server inside the
// detection window may fail, so availability during the fault is at least
// 1 - share x (detection + margin) / fault window. With retries, even those
// are retried elsewhere and availability stays near 1; with one server
// (share 1) the bound is well above what a dead server gives (0).
func staysAvailable(ev Evidence, set Settings) verdict.Guarantee {
	min := 0.0
	if d := ev.Windows.During.Duration(); d > 0 {
		min = 1 - lbShare(set)*float64(lbDetection(set)+lbDetectionMargin)/float64(d)
	}
	g := StaysAvailable(ev, lbRoundDown(min))
	if ev.Windows.During.Duration() > 0 && min <= 0 {
		// Detection alone outlasts the fault window: any availability,
		// even 0, would pass.
		g.Vacuous = fmt.Sprintf("the availability floor 1 - share %.2f x (detection %v + %v) / fault window %v is %.2f: any availability passes (fewer servers' share or a shorter check_interval x fall)",
			lbShare(set), lbDetection(set), lbDetectionMargin, ev.Windows.During.Duration(), min)
	}
	return g
}

// routesAround: requests succeed steadily again (>= 99% per 250 ms bucket)
// within the detection window (plus margin) of the fault, while the fault is
// still in place: the load balancer stopped sending to the broken server.
func routesAround(ev Evidence, set Settings) verdict.Guarantee {
	return named(RoutesAround, verdict.RecoveredWithin(ev.Recovery, lbDetection(set)+lbDetectionMargin, true))
}

// readsSurvive: with retries, a read that hits the broken server is retried
// on another one; a failed read is one whose every attempt failed.
func readsSurvive(ev Evidence) verdict.Guarantee {
	return named(ReadsSurvive, verdict.AvailabilityAtLeast("availability of reads during", ev.ReadsDuring, 0.99))
}

// noFailedRequests: a graceful scale-in loses nothing.
func noFailedRequests(ev Evidence) verdict.Guarantee {
	return named(NoFailedRequests, verdict.AvailabilityAtLeast("", ev.During, 1))
}

// slowServerShunned: under leastconn the slow server holds its requests
// longer, so it is picked less often; few requests are slow, and the p90
// latency stays below half the added latency.
func slowServerShunned(ev Evidence, set Settings) verdict.Guarantee {
	g := named(SlowServerShunned, verdict.LatencyP90Below(ev.LatencyDuring, slowWebLatency.Get(set)/2))
	if slowWebLatency.Get(set) <= 0 {
		g.Vacuous = "slow-web with latency=0s: no server is slow, so there is nothing to shun"
	}
	return g
}

// joinBound is how long a new server may take from its start to its first
// answer: the container's start and readiness (measured 0.40-0.76 s on a
// quiet machine; 2.5 s budgeted, because with three spec suites sharing the
// 2 cores the whole join took 3.27 s once), then rise passed checks one
// interval apart, plus one interval for where the first check falls. 4 s with
// the defaults; measured: HAProxy marks web-4 up 0.84-0.99 s after the start,
// and the counters (sampled every 250 ms) see its first answer 1.00-1.25 s after it.
func lbJoinBound(set Settings) time.Duration {
	return 2500*time.Millisecond + time.Duration(checkRise.Get(set)+1)*checkInterval.Get(set)
}

func newServerJoins(ev Evidence, set Settings) verdict.Guarantee {
	name := lbWebName(webServers.Get(set) + 1)
	bound := lbJoinBound(set)
	g := verdict.Guarantee{Name: NewServerJoins, Threshold: fmt.Sprintf("first request answered <= %v after the start", bound),
		Bound: &verdict.Bound{Since: verdict.SinceInject, D: bound, WhileFaulted: true}}
	at, ok := check.FirstGrowth(ev.Counters, name, ev.Windows.Inject)
	if !ok {
		g.Measured = name + " answered no request"
		return g
	}
	took := at - ev.Windows.Inject
	g.Measured = fmt.Sprintf("%v after the start", took.Round(time.Millisecond))
	g.Value = took.Seconds()
	g.Holds = took <= bound
	return g
}

// newServerShare: from its first answer to the heal, the new server answers
// at least 3/4 of its fair share: 1/(N+1) with equal weights (measured
// 0.242-0.251 of 1/4 under leastconn and roundrobin). Under balance=source
// every request comes from one address (Toxiproxy's) and hashes to one
// server, so the new one gets all or nothing.
func newServerShare(ev Evidence, set Settings) verdict.Guarantee {
	n := webServers.Get(set)
	name := lbWebName(n + 1)
	weights := lbWeights(serverWeights.Get(set))
	total := 0
	for i := 1; i <= n+1; i++ {
		total += lbWeightOf(weights, i)
	}
	fair := 0.0
	if total > 0 {
		fair = float64(lbWeightOf(weights, n+1)) / float64(total)
	}
	// From its first answer (or the join bound, if it answered later) to
	// the heal.
	from := ev.Windows.Inject + lbJoinBound(set)
	if at, ok := check.FirstGrowth(ev.Counters, name, ev.Windows.Inject); ok && at < from {
		from = at
	}
	w := check.Window{From: from, To: ev.Windows.Heal, Name: "after-join"}
	s := check.ShareIn(ev.Counters, w, name)
	g := verdict.Guarantee{Name: NewServerShare, Threshold: fmt.Sprintf(">= %.3f (3/4 of its fair share, %.3f)", 0.75*fair, fair),
		Measured: s.String(), Value: s.Value, Holds: !s.NoData && s.Value >= 0.75*fair}
	if s.NoData {
		g.Detail = "no requests counted between the new server's start (or the join bound) and the heal"
	}
	if d := ev.Windows.During.Duration(); d > 0 && lbJoinBound(set) >= d {
		// The share is measured from the join bound to the heal: a bound
		// as long as the fault window leaves nothing to measure.
		g.Vacuous = fmt.Sprintf("the join bound %v (2.5 s + (rise + 1) x check_interval) is not inside the fault window %v: no time is left to measure the new server's share",
			lbJoinBound(set), d)
	}
	return g
}

func lbRoundDown(x float64) float64 { return float64(int(x*1000)) / 1000 }
