package stage

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 12.
const (
	ReadsFast      = "reads-fast"       // reading an order (orders alone) stays fast while payments is slow or down
	OrdersFailFast = "orders-fail-fast" // placing an order fails at once once the breaker is open
	PaymentsLoad   = "payments-load"    // a failing payments gets no more requests than a healthy one: no retry storm
	BreakerOpens   = "breaker-opens"    // orders' breaker for payments opens within its bound of the fault
	AbuserLimited  = "abuser-limited"   // the abusive client's requests over its rate limit are refused (429)
	ClientsServed  = "clients-served"   // every other client's requests are served while one abuses the API
	ClientsFast    = "clients-fast"     // and as fast as without it
)

// Settings of stage 12: the orders server's defences in its calls to its
// dependencies (users, payments), and its own capacity.
var (
	callTimeout = Duration("call_timeout", "500ms",
		"how long one call of orders to a dependency may take (0s: no timeout: until the gateway gives up on the request, 10 s)")
	callRetries = Int("retries", "1",
		"retries of a failed call, with exponential backoff and jitter (the first waits backoff, doubling)").Checked(IntBetween(0, 5))
	callBackoff = Duration("backoff", "50ms",
		"the first retry's wait, doubling for each retry after, +-50% jitter (0s: retries at once)")
	breaker = OnOff("breaker", "on",
		"a circuit breaker per dependency: 5 failed calls in a row open it, and it lets a trial call through after breaker_cool_off")
	breakerCoolOff = Duration("breaker_cool_off", "1s",
		"how long an open breaker refuses calls before it lets a trial through").Checked(DurationAtLeast(100*time.Millisecond, "1s"))
	bulkhead = Int("bulkhead", "8",
		"calls of orders in flight to one dependency at most; a call past it fails at once (0: no bound)").Checked(IntBetween(0, 256))
	orderWorkers = Int("workers", "32",
		"requests the orders server handles at once, as a thread pool does (the others wait for a worker)").Checked(IntBetween(1, 512))
	// A client of the workload sends about 6 requests a second (100 over
	// 16 clients); 20 leaves it room, and the abuser's first second lets
	// 20 of its orders through at once, fewer than orders absorbs.
	rateLimit = Int("rate_limit", "20",
		"requests a second the gateway lets one API key send (the next get 429 with Retry-After; the refused count too); 0: no limit").Checked(IntBetween(0, 100000))
	rateLimitBy = Choice("rate_limit_by", stacks.LimitPerKey,
		"what the rate limit counts per: "+stacks.LimitPerKey+" (each client's API key) or "+stacks.LimitPerAddress+
			" (the source address, which every client behind one proxy shares: here Toxiproxy's)",
		stacks.LimitPerKey, stacks.LimitPerAddress)
	// abusive-client's
	abuseRate = Int("abuse_rate", "1000",
		"abusive-client: orders a second the abusive client places, for users of its own (u900-u999)").Checked(IntBetween(1, maxAbuseRate))
	// slow-service's
	paymentsDelay = Duration("payments_delay", "2s",
		"slow-service: the round-trip latency added to orders->payments").Checked(DurationAtLeast(100*time.Millisecond, "2s"))
)

// slowServiceWindow is how long payments stays slow: long enough for the
// cascade of the control without a call timeout to show as failed reads,
// not only slow ones. There the orders waiting for payments take all 32
// workers within a second and a worker frees every 1/16 s, so a read's
// wait for one grows by about 3 s each second; a read fails when it waits
// past the client's 3 s, about 1.6 s after the injection, but a read sent
// in the last 3 s before the heal is served once Toxiproxy lets go what it
// held. With the default 5 s window the reads that fail are those of about
// half a second (reads-available 0.85-0.94 here, and in CI one run held
// it, 2026-12-05); with 10 s, those of about 5 s: half the window.
const slowServiceWindow = 10 * time.Second

// breakerTrip is how many failed calls in a row open a breaker (-breaker-trip).
const breakerTrip = 5

// API keys at the gateway. Each of the workload's clients has its own
// (clientAPIKey); servicesAPIKey is for the lab's requests of no client
// (the read-back after the run, 100 keys at once); servicesOpsKey the
// lab's own, which reads the services' counters; abuserAPIKey the abusive
// client's. The rate limit does not count the lab's two (Exempt): they are
// not the workload, and would be refused beside it.
const (
	servicesAPIKey = "lab-client"
	servicesOpsKey = "lab-ops"
	abuserAPIKey   = "abuser"
	// clientKeys is how many client keys the gateway knows: a workload
	// of more clients shares them (client n has key n mod clientKeys).
	clientKeys = 64
)

// clientAPIKey is the workload client n's API key.
func clientAPIKey(n int) string { return fmt.Sprintf("client-%d", n%clientKeys) }

// servicesKeys are every key the gateway accepts.
func servicesKeys() []string {
	keys := []string{servicesAPIKey, servicesOpsKey, abuserAPIKey}
	for n := range clientKeys {
		keys = append(keys, clientAPIKey(n))
	}
	return keys
}

// Stage 12: mysite split into services behind an API gateway. Placing an
// order needs users, payments and orders; reading one needs orders alone.
// The new way to fail is the cascade: a slow or dead payments service
// holding the orders server's workers until nothing it serves gets one.
func init() {
	register(Stage{
		ID: "services", Number: 12, Title: "Services behind an API gateway",
		Adds: "mysite split into services with their own databases (users, orders, payments) behind an API gateway, " +
			"and defences in their calls (timeout, retries, circuit breaker, bulkhead)",
		Fixes: "each service is deployed, scaled and failed on its own; a dead dependency fails only what needs it",
		Weak:  "the cascade: a slow dependency holds its callers' workers until everything they serve waits",
		Lab:   "labs/12-services",
		Settings: []Setting{callTimeout.Setting, callRetries.Setting, callBackoff.Setting, breaker.Setting, breakerCoolOff.Setting,
			bulkhead.Setting, orderWorkers.Setting, rateLimit.Setting, rateLimitBy.Setting},
		Stack: servicesStack,
		Entry: "client->gateway",
		Ready: "/gw-health",
		// Payments' own count of the requests it was asked, and orders'
		// breakers, through the gateway's operator routes.
		Counters: stacks.MergeCounters(
			stacks.GatewayMetrics(paymentsMetricsPath, servicesOpsKey, "payments:"),
			stacks.GatewayMetrics(ordersMetricsPath, servicesOpsKey, "orders:")),
		Service: newShopAPI,
		// A shopper waits 3 s. Above anything the defended shop takes
		// (a failing order: one callDuration, 1.1 s); well under
		// slow-service's window (slowServiceWindow), so that a cascade
		// shows as reads failing, not only slow.
		ClientTimeout: 3 * time.Second,
		Faults: []Fault{
			{
				ID:       "slow-service",
				Help:     "payments answers payments_delay late for " + slowServiceWindow.String() + " (latency on orders->payments)",
				Settings: []Setting{paymentsDelay.Setting},
				Window:   slowServiceWindow,
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Latency{Link: "orders->payments", Latency: paymentsDelay.Get(set)}}
				},
				Guarantees: servicesGuarantees(slowServiceRecovery),
				Controls:   servicesControls(slowServiceRecovery),
			},
			{
				ID:   "kill-service",
				Help: "SIGKILL payments, then start it again",
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Kill{Node: "payments"}}
				},
				Guarantees: servicesGuarantees(killServiceRecovery),
				Controls:   servicesControls(killServiceRecovery),
			},
			{
				ID: "retry-storm",
				Help: "payments loses its database (the link goes down): it answers 503 at once to every charge until the heal; " +
					"judged: the load the orders' retries put on it",
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Down{Link: "payments->payments-db"}}
				},
				Guarantees: func(ev Evidence, _ Settings) []verdict.Guarantee {
					return []verdict.Guarantee{paymentsLoad(ev)}
				},
				Controls: []Control{{
					// Six attempts an order, back to back, each answered
					// in milliseconds: about 6 x the load of a healthy
					// payments, for as long as it fails.
					Name:   "immediate retries (5), no breaker",
					Set:    Values(callRetries.Is(5), callBackoff.Is(0), breaker.Is(false), bulkhead.Is(0)),
					Breaks: []string{PaymentsLoad},
				}},
			},
			{
				ID: "abusive-client",
				Help: "one more client, with a key of its own, places abuse_rate orders a second on top of the workload " +
					"(far above its rate limit) for " + abuseWindow.String(),
				Settings: []Setting{abuseRate.Setting},
				Window:   abuseWindow,
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{&faults.Flood{Link: "client->gateway", Rate: float64(abuseRate.Get(set)),
						Client: abuserAPIKey, Header: map[string]string{stacks.GatewayKeyHeader: abuserAPIKey},
						// It does not wait for its answers: up to 5 s of its
						// requests may be out at once.
						MaxInFlight: 5 * abuseRate.Get(set),
						Request: func(n int) (string, string, string) {
							return http.MethodPut, fmt.Sprintf("/api/orders/u%d", 900+n%100), fmt.Sprintf("abuse-%d", n)
						}}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{abuserLimited(ev, set), clientsServed(ev), clientsFast(ev)}
				},
				Controls: []Control{
					{
						// Every order of the abuser reaches orders: its calls
						// fill the bulkhead, which sheds the abuser's orders
						// and the other clients' alike (clients-served
						// 0.77-0.91 in runs here, not named: how many it sheds
						// depends on the machine's speed).
						Name:   "rate limiting off",
						Set:    Values(rateLimit.Is(0)),
						Breaks: []string{AbuserLimited},
					},
					{
						// Every order of the abuser reaches orders, 20 times
						// the shop's own, and nothing sheds them: they queue
						// for its workers, and every client's requests behind
						// them. With 32 workers orders here places about 1000
						// orders a second, as many as the abuser sends: the
						// queue grew in some runs and not in others (p99
						// 0.4-2.8 s). With 16 it places about half: the
						// queue grows by some 500 orders a second.
						Name:   "rate limiting off, no bulkhead, 16 workers",
						Set:    Values(rateLimit.Is(0), bulkhead.Is(0), orderWorkers.Is(16)),
						Breaks: []string{ClientsFast},
					},
					{
						// Every client comes through one address (here
						// Toxiproxy's, as behind a proxy or a NAT), so one
						// limit counts them all: 200 a second, twice what
						// they send together (at 20, as per key, it would
						// refuse them with no abuser at all). The abuser's
						// requests count against every one of them.
						Name:   "one limit per address, which every client shares",
						Set:    Values(rateLimitBy.Is(stacks.LimitPerAddress), rateLimit.Is(addressRateLimit)),
						Breaks: []string{ClientsServed},
					},
				},
			},
		},
	})
}

// addressRateLimit is the control's limit per address: twice what the
// workload's clients send together (100 a second).
const addressRateLimit = 200

// maxAbuseRate is abuse_rate's largest value.
const maxAbuseRate = 5000

// abuseWindow is how long the abusive client floods: the default 5 s.
const abuseWindow = 5 * time.Second

// abuserLimited: the gateway refuses the abusive client's requests over
// its rate limit. Its limit lets rate_limit requests through in any
// second, so over the fault's window W at most rate_limit x (W + 1 s)
// (the sliding second may straddle the injection); every other request
// must be answered 429. Without a limit (0) none may pass the limit's
// promise: the bound is 0. The abuser's requests are the flood's own
// (history.Tally), not the workload's ops.
func abuserLimited(ev Evidence, set Settings) verdict.Guarantee {
	limit := rateLimit.Get(set)
	window := ev.Windows.Heal - ev.Windows.Inject
	bound := int64(float64(limit) * (window + time.Second).Seconds())
	g := verdict.Guarantee{Name: AbuserLimited,
		Threshold: fmt.Sprintf("the abuser's requests let through (not 429) <= %d (rate_limit %d/s over the fault's %v + 1 s)", bound, limit, window.Round(time.Millisecond))}
	if limit > 0 && abuseRate.Get(set) <= limit {
		g.Vacuous = fmt.Sprintf("the abuser's %d requests a second stay within the rate limit of %d: nothing to refuse", abuseRate.Get(set), limit)
	}
	var t *history.Tally
	for i := range ev.History.Tallies {
		if ev.History.Tallies[i].Client == abuserAPIKey {
			t = &ev.History.Tallies[i]
		}
	}
	if t == nil || t.Sent == 0 {
		return verdict.NotJudgedBecause(g, "the abusive client sent no request")
	}
	limited := t.ByStatus[http.StatusTooManyRequests]
	through := t.Sent - limited
	g.Value = float64(through)
	g.Measured = fmt.Sprintf("%d of %d let through, %d refused with 429", through, t.Sent, limited)
	if t.Skipped > 0 {
		g.Measured += fmt.Sprintf(" (%d more not sent: too many waited for an answer)", t.Skipped)
	}
	g.Holds = through <= bound
	return g
}

// clientsServed: while one client abuses the API, every other client
// (the workload's, each with its own key, about 6 requests a second)
// keeps 99% of its requests served, as in the other faults.
func clientsServed(ev Evidence) verdict.Guarantee {
	return named(ClientsServed, verdict.AvailabilityAtLeast("availability of the other clients during", ev.During, 0.99))
}

// clientsFastBound: the other clients' p99 during the abuse. A read takes
// milliseconds, an order tens (three services, two databases); an order
// that waited a call timeout (500 ms) for a dependency, or a worker of
// orders, was harmed: 500 ms is that wait.
const clientsFastBound = 500 * time.Millisecond

// clientsFast: the other clients' p99 during the abuse stays under
// clientsFastBound.
func clientsFast(ev Evidence) verdict.Guarantee {
	return named(ClientsFast, verdict.LatencyP99Below(ev.LatencyDuring, clientsFastBound))
}

// servicesControls: each guarantee of a payments fault, broken.
func servicesControls(recovery func(Settings) time.Duration) []Control {
	return []Control{
		{
			// Every call to payments waits as long as payments takes (or,
			// dead, until the gateway gives up, 10 s), holding an orders worker:
			// 50 orders a second at 2 s each need 100 workers, there are
			// 32, and the reads queue behind them.
			Name:   "no call timeout and no bulkhead",
			Set:    Values(callTimeout.Is(0), bulkhead.Is(0)),
			Breaks: []string{ReadsAvailable, ReadsFast},
		},
		{
			// Every order waits out its attempts' timeouts.
			Name:   "no breaker and no bulkhead",
			Set:    Values(breaker.Is(false), bulkhead.Is(0)),
			Breaks: []string{OrdersFailFast, BreakerOpens},
		},
		lateRecovery(recovery(nil)),
	}
}

// servicesGuarantees: reads do not need payments and must not notice it
// is gone (readsAvailable: 99% of the reads during the fault, as in stage
// 4); orders, which do, fail at once while the breaker is open; after
// the heal, the breaker's trial call lets orders through again.
// recovery is the fault's recovery bound.
func servicesGuarantees(recovery func(Settings) time.Duration) func(Evidence, Settings) []verdict.Guarantee {
	return func(ev Evidence, set Settings) []verdict.Guarantee {
		return []verdict.Guarantee{readsAvailable(ev), readsFast(ev), breakerOpens(ev, set), ordersFailFast(ev, set), recovers(ev, recovery(set))}
	}
}

// readsFastBound: a read takes a few milliseconds (gateway, orders, its
// database); 250 ms is far above that and below one call timeout (500 ms):
// a read that waited behind orders holding workers for payments shows.
const readsFastBound = 250 * time.Millisecond

// readsFast: the reads' p99 during the fault stays under readsFastBound.
func readsFast(ev Evidence) verdict.Guarantee {
	l := check.LatencyIn(ev.History, ev.Windows.During, history.Read)
	return named(ReadsFast, verdict.LatencyP99Below(l, readsFastBound))
}

// callDuration is the longest a failing call of orders to a dependency
// takes: each attempt its timeout, and between attempts the backoff
// (callBackoff doubling, at most +50% jitter). Without a call timeout a
// call does not fail, it waits (until the gateway gives up, 10 s): the
// bounds below are then those of a call that failed at once, and what they
// judge is that wait (orders-fail-fast breaks; so does recovers after a
// kill).
func callDuration(set Settings) time.Duration {
	t, n := callTimeout.Get(set), callRetries.Get(set)
	d := time.Duration(n+1) * t
	for i := range n {
		d += time.Duration(float64(callBackoff.Get(set)<<i) * 1.5)
	}
	return d
}

// breakerOpenBound is when, after the injection, the breaker must be open:
// the calls that started at the injection fail after callDuration, and the
// bulkhead lets 8 run at once, so 5 failures in a row come within one
// callDuration (with a bulkhead under 5, within ceil(5/bulkhead) of them);
// plus 1 s for a loaded machine.
func breakerOpenBound(set Settings) time.Duration {
	rounds := 1
	if b := bulkhead.Get(set); b > 0 && b < breakerTrip {
		rounds = (breakerTrip + b - 1) / b
	}
	return time.Duration(rounds)*callDuration(set) + time.Second
}

// breakerOpens: orders' breaker for payments is seen open (its state read
// every 250 ms from orders' /metrics) within breakerOpenBound of the
// injection, plus one sampling interval and the sample's own span (a
// sample is timed at the middle of its reads, which wait up to 500 ms for
// a dead payments' counter: stacks.GatewayMetrics). Not seen open by the
// heal, when the bound had passed within the fault: broken (without a
// breaker, its state is "none"); no sample of it: not judged.
func breakerOpens(ev Evidence, set Settings) verdict.Guarantee {
	bound := breakerOpenBound(set) + 250*time.Millisecond + 250*time.Millisecond
	g := verdict.Guarantee{Name: BreakerOpens, Threshold: fmt.Sprintf("payments' breaker open within %v of the injection", bound)}
	seen := sighting{What: "open", Never: "never open during the fault", Unread: "orders' breaker states were not sampled during the fault"}
	for _, s := range check.BreakerStates(ev.Counters, stacks.GaugeBreakerState) {
		if s.At < ev.Windows.Inject || s.At >= ev.Windows.Heal {
			continue
		}
		seen.Read = true
		if s.Dependency == "payments" && s.State == "open" {
			seen.At, seen.Seen = s.At, true
			break
		}
	}
	return seenInTime(g, ev.Windows, bound, seen)
}

// orderFailFastBound: an order refused by an open breaker (or a full bulkhead)
// is answered in milliseconds; one that waited for payments at all took a
// call timeout (500 ms) or more.
const orderFailFastBound = 100 * time.Millisecond

// ordersFailFast: once the breaker must be open (breakerOpenBound after
// the injection) until the heal, 90% of the orders are answered within
// orderFailFastBound. The p90, not the p99: an open breaker lets one trial call
// through every breaker_cool_off, and that order waits its call out (about
// two in the 150 orders judged).
func ordersFailFast(ev Evidence, set Settings) verdict.Guarantee {
	from := ev.Windows.Inject + breakerOpenBound(set)
	w := check.Window{From: from, To: ev.Windows.Heal, Name: "while the breaker is open"}
	g := named(OrdersFailFast, verdict.LatencyP90Below(check.LatencyIn(ev.History, w, history.Write), orderFailFastBound))
	if callTimeout.Get(set) > 0 && callDuration(set) <= orderFailFastBound {
		g.Vacuous = fmt.Sprintf("a failing call takes at most %v, under the %v bound: every order fails fast, breaker or not", callDuration(set), orderFailFastBound)
	}
	if w.To <= w.From {
		g.Vacuous = fmt.Sprintf("the breaker's bound (%v after the injection) leaves none of the fault's window to judge", breakerOpenBound(set))
	}
	return g
}

// paymentsMetricsPath is the gateway's operator route to payments'
// /metrics (health-checked on /healthz: its count is wanted most while
// its database is gone).
const paymentsMetricsPath = "/ops/payments/metrics"

// ordersMetricsPath is the operator route to orders' /metrics (its
// breakers' states, for the report's timeline).
const ordersMetricsPath = "/ops/orders/metrics"

// paymentsRequests is payments' own count of the requests it was asked.
const paymentsRequests = "payments:shop_requests_total"

// paymentsLoadFactor bounds the load on a failing payments against a
// healthy one's: payments' request rate during the fault, over its rate
// before it. The defended orders retry a failed call once after 25-75 ms,
// and 5 failed calls in a row open the breaker, within the fault's first
// ~200 ms at 50 orders a second; from then on one trial a second
// (breaker_cool_off): about 3 requests a second over a 5 s window against
// 50 before, 0.06. The storm (5 immediate retries, no breaker) asks six
// times for every order: about 6. 1: the retries may not add load to a
// service that is failing, whatever else they do.
const paymentsLoadFactor = 1.0

// paymentsLoad: payments' request rate during the fault over its rate
// before it (its own counter, sampled every 250 ms) stays <=
// paymentsLoadFactor.
func paymentsLoad(ev Evidence) verdict.Guarantee {
	g := verdict.Guarantee{Name: PaymentsLoad,
		Threshold: fmt.Sprintf("payments' requests a second during the fault <= %.1f x before it", paymentsLoadFactor)}
	before := check.IncreaseIn(ev.Counters, ev.Windows.Before, paymentsRequests)
	during := check.IncreaseIn(ev.Counters, ev.Windows.During, paymentsRequests)
	rb, okBefore := before.PerSecond()
	rd, okDuring := during.PerSecond()
	if !okBefore || !okDuring || rb <= 0 {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("payments' request counter: %v; %v", before, during))
	}
	g.Value = rd / rb
	g.Measured = fmt.Sprintf("%.2f x: %.1f requests/s during the fault, %.1f before (payments' own count)", g.Value, rd, rb)
	g.Holds = g.Value <= paymentsLoadFactor
	return g
}

// slowServiceRecovery: at the heal the breaker may have just opened again
// (a trial that was in flight failed): it lets the next trial through after
// breaker_cool_off, which succeeds; plus the machine's margin.
func slowServiceRecovery(set Settings) time.Duration {
	return callDuration(set) + breakerCoolOff.Get(set) + loadedMachineMargin
}

// killServiceRecovery: the heal starts payments again (Docker's start and
// its readiness, about 1 s), then as slow-service.
func killServiceRecovery(set Settings) time.Duration {
	return time.Second + slowServiceRecovery(set)
}

// servicesStack: the gateway in front of users and orders; orders calls
// users and payments; each service has its own PostgreSQL.
func servicesStack(set Settings) stacks.Topology {
	gw := stacks.GatewayConfig{
		Routes: []stacks.GatewayRoute{
			{Prefix: "/api/orders/", Service: "orders", Rewrite: "/orders/"},
			{Prefix: "/api/users/", Service: "users", Rewrite: "/users/"},
			{Prefix: strings.TrimSuffix(paymentsMetricsPath, "metrics"), Service: "payments", Rewrite: "/", Check: "/healthz"},
			{Prefix: strings.TrimSuffix(ordersMetricsPath, "metrics"), Service: "orders", Backend: "orders-ops", Rewrite: "/", Check: "/healthz"},
		},
		Keys:        servicesKeys(),
		Exempt:      []string{servicesAPIKey, servicesOpsKey},
		RateLimit:   rateLimit.Get(set),
		RateLimitBy: rateLimitBy.Get(set),
		// Above the client's 3 s: the gateway never answers for a service
		// that is merely slow; the client gives up first. HAProxy keeps a
		// request it has forwarded until this timeout even when its client
		// is gone, so orders learns of a client that gave up only then.
		Timeout:       10 * time.Second,
		CheckInterval: time.Second,
		Fall:          3,
	}
	db := func(service string) []string {
		return []string{"-db", stacks.PostgresDSN("${" + service + "-db}")}
	}
	return stacks.Topology{
		Name: "services",
		Nodes: []stacks.Node{
			{Name: "gateway", Role: stacks.Gateway(gw), Files: gw.Files()},
			{Name: "users", Role: stacks.Shop("users"), Args: db("users")},
			{Name: "orders", Role: stacks.Shop("orders"), Args: append(db("orders"),
				"-users", "http://${users}", "-payments", "http://${payments}",
				"-workers", orderWorkers.Arg(set),
				"-call-timeout", callTimeout.Arg(set),
				"-retries", callRetries.Arg(set),
				"-backoff", callBackoff.Arg(set),
				fmt.Sprintf("-breaker=%t", breaker.Get(set)),
				"-breaker-trip", fmt.Sprint(breakerTrip),
				"-breaker-cool-off", breakerCoolOff.Arg(set),
				"-bulkhead", bulkhead.Arg(set))},
			{Name: "payments", Role: stacks.Shop("payments"), Args: db("payments")},
			{Name: "users-db", Role: stacks.Postgres()},
			{Name: "orders-db", Role: stacks.Postgres()},
			{Name: "payments-db", Role: stacks.Postgres()},
		},
		Links: []stacks.Link{
			{From: stacks.Client, To: "gateway"},
			{From: "gateway", To: "orders"},
			{From: "gateway", To: "users"},
			{From: "gateway", To: "payments"},
			{From: "orders", To: "users"},
			{From: "orders", To: "payments"},
			{From: "users", To: "users-db"},
			{From: "orders", To: "orders-db"},
			{From: "payments", To: "payments-db"},
		},
	}
}

// shopAPI is the workload's adapter to the shop through the gateway: a
// write places an order (PUT /api/orders/{user}, the value its id), a read
// reads the user's last order (GET /api/orders/{user}).
type shopAPI struct {
	base   string
	client *http.Client
}

func newShopAPI(base string, client *http.Client) (workload.Service, error) {
	return shopAPI{base: base, client: client}, nil
}

func (s shopAPI) request(ctx context.Context, method, key, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+"/api/orders/"+url.PathEscape(key), strings.NewReader(body))
	if err == nil {
		apiKey := servicesAPIKey
		if n, ok := workload.ClientOf(ctx); ok {
			apiKey = clientAPIKey(n)
		}
		req.Header.Set(stacks.GatewayKeyHeader, apiKey)
	}
	return req, err
}

func (s shopAPI) Write(ctx context.Context, key, value string) workload.Reply {
	req, err := s.request(ctx, http.MethodPut, key, value)
	if err != nil {
		return workload.Reply{Outcome: history.Failed, Err: err.Error()}
	}
	r, _ := workload.SendHTTP(s.client, req, history.Write, notPlaced)
	return r
}

func (s shopAPI) Read(ctx context.Context, key string) workload.Reply {
	req, err := s.request(ctx, http.MethodGet, key, "")
	if err != nil {
		return workload.Reply{Outcome: history.Failed, Err: err.Error()}
	}
	r, body := workload.SendHTTP(s.client, req, history.Read, nil)
	r.Value = string(body)
	return r
}

// notPlaced: orders says an order it refused was not stored (it failed
// before its database write: a dependency's call, the bulkhead, the
// breaker).
func notPlaced(r *http.Response) bool { return r.Header.Get("Shop-Write-Outcome") == "not-applied" }
