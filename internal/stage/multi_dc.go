package stage

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 8.
const (
	SplitMatches      = "split-matches"       // normal operation: each region's share of the traffic is its clients' share
	MovesToHealthyDC  = "moves-to-healthy-dc" // a dark data center's clients are served by the other one within the bound
	CacheCarries      = "cache-carries"       // a DNS outage hurts no request whose client's answer is within its TTL
	DNSOutageShows    = "dns-outage-shows"    // and once the answers expire, requests fail: the outage is real
	NoDivergentWrites = "no-divergent-writes" // while the data centers cannot talk, only one side takes writes
	LocalWritesFast   = "local-writes-fast"   // a slow inter-DC link does not slow east's own writes
)

// Settings of stage 8.
var (
	dcSplit = Int("split", "50",
		"percent of the clients in the east region (the others are in the west)").Checked(lbIntIn(1, 99))
	dnsTTL = Duration("dns_ttl", "2s",
		"TTL of the site's DNS answer: how long a client may keep using it").Checked(wholeSeconds(1, 3600))
	dnsCheckInterval = Duration("dns_check_interval", "1s",
		"the DNS server's health check of each data center's entry (GET /readyz), every interval").Checked(wholeSeconds(1, 60))
	dnsHealth = OnOff("dns_health", "on",
		"on: the DNS server withdraws a data center whose health check fails; off: it answers by region only")
	geoRouting = OnOff("geo", "on",
		"on: the DNS server answers each client with its own region's data center; off: every client with east's")
	clientCache = OnOff("client_cache", "on",
		"on: a client keeps a DNS answer for its TTL; off: it asks for every connection")
	interDCLatency = Duration("inter_dc_latency", "30ms",
		"round trip between the data centers (the database's replication, and a web server's queries to the other DC's database, cross it)").Checked(DurationAtLeast(0, "30ms"))
	crossDC = Choice("cross_dc", "async",
		"replication from east-db to west-db: async (a commit is acknowledged once on east-db's disk) or sync (once also on west-db's: one inter-DC round trip more per commit)",
		"async", "sync")
	// failover and failover_after are stage 4's settings (replication.go),
	// read by the same controller here.
	witness = OnOff("witness", "on",
		"on: the failover controller sits in a third place and reaches both data centers; off: it sits in west, as a controller of one data center would")

	// primary-dc-outage's
	primaryOutageCrossDC = Choice("cross_dc", "sync",
		"the stage's setting, synchronous here by default: this fault judges what synchronous cross-DC replication keeps across the loss of the primary's DC",
		"async", "sync")
	primaryOutageRate = Int("rate", "0",
		"bandwidth cap in KB/s of the replication link west-db->east-db from the fault's start (0: none); the primary writes ~40 KB/s of WAL")
	primaryOutageAfter = Duration("after", "0s",
		"how long after the fault's start east's nodes die (with rate: the time west-db falls behind first)")

	// inter-dc-latency's
	interDCSlow = Duration("latency", "1s",
		"round trip added to every link between the data centers").Checked(DurationAtLeast(100*time.Millisecond, ""))
)

// The regions: the data centers' networks, and the subnets their clients
// are in (what the DNS server tells them apart by).
var dcRegions = []stacks.GeoRegion{
	{Net: "east", Subnet: netip.MustParsePrefix("10.10.0.0/16")},
	{Net: "west", Subnet: netip.MustParsePrefix("10.20.0.0/16")},
}

// dcSiteName is the site's name; the DNS server is authoritative for its zone.
const dcSiteName = "www.mysite.test"

// dcCheckTimeout is how long one health check of an entry may take: a dead
// data center's entry leads into a blackhole (nobody answers), so each of
// its checks fails when this runs out.
const dcCheckTimeout = time.Second

// Stage 8: two data centers. Each has its load balancer, two web servers
// and a database node: the primary in east, its streaming replica in west,
// and stage 4's failover controller in a third place; west's web servers
// write to east-db across the inter-DC link. Clients find the site by name:
// a real DNS server (PowerDNS) answers each client with its own region's
// data center, and withdraws a data center whose health check fails.
func init() {
	register(Stage{
		ID: "multi-dc", Number: 8, Title: "Multiple data centers",
		Adds:  "a second data center, and geo routing by DNS: each client is sent to its region's data center, and away from a dead one",
		Fixes: "a data center can go dark (power, network, a region's outage) and the site stays up; users are served nearby",
		Weak: "DNS answers live as long as their TTL: clients keep going to a dead data center until theirs ends; " +
			"losing the primary's data center (writes the replica never got); a partition between them (split brain); the DNS server itself",
		Lab: "labs/08-multi-dc",
		Settings: []Setting{dcSplit.Setting, dnsTTL.Setting, dnsCheckInterval.Setting, dnsHealth.Setting, geoRouting.Setting,
			clientCache.Setting, interDCLatency.Setting, crossDC.Setting, autoFailover.Setting, failoverAfter.Setting, witness.Setting},
		Stack: multiDCStack,
		Entry: "client->dns",
		Site: func(set Settings) Site {
			return Site{Name: dcSiteName, Subnet: func(c int) netip.Prefix { return dcClientSubnet(set, c) }, NoCache: !clientCache.Get(set)}
		},
		// Above the load balancers' server timeouts (1 s reads, 3 s writes)
		// and a lookup's (1 s), as in stage 3.
		ClientTimeout: 5 * time.Second,
		Faults: []Fault{
			{
				ID:   "dc-outage",
				Help: "every node of the west data center (its load balancer, web servers and database replica) dies at once; they start again at the heal",
				Inject: func(Settings) []faults.Fault {
					var out []faults.Fault
					for _, n := range dcOutageNodes("west") {
						out = append(out, faults.Kill{Node: n})
					}
					return out
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{splitMatches(ev, set), movesToHealthyDC(ev, set, dcMoveBound(set))}
				},
				Window: dcOutageWindow,
				Controls: []Control{
					{Name: "no geo routing", Set: Values(geoRouting.Is(false)), Breaks: []string{SplitMatches}},
					{Name: "DNS without health checks", Set: Values(dnsHealth.Is(false)), Breaks: []string{MovesToHealthyDC}},
				},
			},
			{
				ID: "primary-dc-outage",
				Help: "every node of the east data center, the database's primary among them, dies at once: the controller promotes west-db; " +
					"at the heal east's nodes start again and east-db rejoins as west-db's replica",
				Settings: []Setting{primaryOutageCrossDC.Setting, primaryOutageRate.Setting, primaryOutageAfter.Setting},
				Window:   primaryOutageWindow,
				Inject: func(set Settings) []faults.Fault {
					var out []faults.Fault
					if r := primaryOutageRate.Get(set); r > 0 {
						out = append(out, faults.Bandwidth{Link: westDB + "->" + eastDB, KBps: int64(r)})
					}
					after := primaryOutageAfter.Get(set)
					for _, n := range dcOutageNodes("east") {
						out = append(out, faults.Delayed{After: after, Fault: faults.Kill{Node: n}})
						after = 0 // the others die with the first
					}
					return out
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{movesToHealthyDC(ev, set, primaryMoveBound(set)), noLostWrites(ev)}
				},
				Controls: []Control{
					{Name: "no automatic failover", Set: Values(autoFailover.Is(false)), Breaks: []string{MovesToHealthyDC}},
					// As stage 4's: west-db's link carries 8 KB/s while
					// east-db writes about 40 KB/s of WAL, so what west-db
					// has not received piles up on east-db; 2 s later east
					// dies, and the promotion keeps only what west-db got.
					{Name: "asynchronous cross-DC replication, east dies while west-db lags behind",
						Set:    Values(primaryOutageCrossDC.Is("async"), primaryOutageRate.Is(8), primaryOutageAfter.Is(2*time.Second)),
						Breaks: []string{NoLostWrites}},
				},
			},
			{
				ID: "dc-partition",
				Help: "the west data center is cut off from its clients and from east (its entry and every link between the data centers go down); " +
					"its nodes keep running",
				Inject: func(set Settings) []faults.Fault {
					return append([]faults.Fault{faults.Down{Link: stacks.Client + "->west-lb"}}, interDCLinksDown(set)...)
				},
				Window: dcOutageWindow,
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{movesToHealthyDC(ev, set, dcMoveBound(set)), noLostWrites(ev)}
				},
				Controls: []Control{
					{Name: "DNS without health checks", Set: Values(dnsHealth.Is(false)), Breaks: []string{MovesToHealthyDC}},
					// The controller, cut off with west, promotes west-db;
					// at the heal it fences east-db, the primary that took
					// every write of the partition: they are lost.
					{Name: "the failover controller in west, not in a third place", Set: Values(witness.Is(false)),
						Breaks: []string{NoLostWrites}},
				},
			},
			{
				ID: "inter-dc-partition",
				Help: "the data centers cannot talk (every link between them goes down); both still reach their clients and the third place: " +
					"the split-brain risk",
				Inject: interDCLinksDown,
				Window: interDCPartitionWindow,
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{noDivergentWrites(ev), noLostWrites(ev)}
				},
				Controls: []Control{
					// The controller in west loses east-db with the
					// partition and promotes west-db: both sides take writes.
					{Name: "the failover controller in west, not in a third place", Set: Values(witness.Is(false)),
						Breaks: []string{NoDivergentWrites, NoLostWrites}},
				},
			},
			{
				ID: "inter-dc-latency",
				Help: "every link between the data centers gets slower by a round trip of `latency` (the replication, " +
					"and each web server's queries to the other data center's database)",
				Settings: []Setting{interDCSlow.Setting},
				Inject: func(set Settings) []faults.Fault {
					var out []faults.Fault
					for _, l := range multiDCStack(set).Links {
						if crossesDCs(set, l.From, l.To) {
							out = append(out, faults.Latency{Link: l.Name(), Latency: interDCSlow.Get(set)})
						}
					}
					return out
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{localWritesFast(ev, set)}
				},
				Controls: []Control{
					{Name: "synchronous cross-DC replication", Set: Values(crossDC.Is("sync")), Breaks: []string{LocalWritesFast}},
				},
			},
			{
				ID:   "dns-outage",
				Help: "the DNS server dies; clients keep the answers they have until their TTL ends; it starts again at the heal",
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Kill{Node: "dns"}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cacheCarries(ev), dnsOutageShows(ev, set)}
				},
				Controls: []Control{
					{Name: "clients without a DNS cache", Set: Values(clientCache.Is(false)), Breaks: []string{CacheCarries}},
					{Name: "no-op in place of the DNS outage", NoOp: true, Breaks: []string{DNSOutageShows}},
				},
			},
		},
	})
}

// dcNodes are the web nodes of a data center, its load balancer first.
func dcNodes(dc string) []string {
	return []string{dc + "-lb", dc + "-web-1", dc + "-web-2"}
}

// dcOutageNodes are every node of a data center: its web nodes and its
// database node.
func dcOutageNodes(dc string) []string {
	return append(dcNodes(dc), dc+"-db")
}

// dcClientSubnet is client c's network: a /24 of its region's subnet. The
// first split% of the clients are in east.
func dcClientSubnet(set Settings, c int) netip.Prefix {
	r := dcRegions[dcClientRegion(set, c)]
	a := r.Subnet.Addr().As4()
	a[2] = byte(c)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

// dcClients is the workload's client count.
const dcClients = workload.DefaultClients

// dcClientRegion is the index in dcRegions of client c's region.
func dcClientRegion(set Settings, c int) int {
	if c < dcEastClients(set) {
		return 0
	}
	return 1
}

// dcEastClients is how many of the clients are in east: split% of them,
// at least one in each region.
func dcEastClients(set Settings) int {
	n := int(math.Round(float64(dcSplit.Get(set)) * dcClients / 100))
	return min(max(n, 1), dcClients-1)
}

// The database nodes of stage 8: the primary in east at boot, its replica
// in west; what each is after a failover follows from the data, and the
// names stay (as a host's does).
const (
	eastDB = "east-db"
	westDB = "west-db"
)

var dcDBNodes = []string{eastDB, westDB}

// otherDC is the other data center.
func otherDC(dc string) string {
	if dc == "east" {
		return "west"
	}
	return "east"
}

// interDCLinksDown takes down every link between the data centers.
func interDCLinksDown(set Settings) []faults.Fault {
	var out []faults.Fault
	for _, l := range multiDCStack(set).Links {
		if crossesDCs(set, l.From, l.To) {
			out = append(out, faults.Down{Link: l.Name()})
		}
	}
	return out
}

// nodeDC is the data center a node is in: its name's prefix ("west-db":
// west), and for the failover controller "" (the third place) or, with
// witness=off, west.
func nodeDC(set Settings, node string) string {
	if node == failoverNode {
		if witness.Get(set) {
			return ""
		}
		return "west"
	}
	if dc := dcOf(node); dc == "east" || dc == "west" {
		return dc
	}
	return ""
}

// crossesDCs: a link between nodes of the two data centers (not to or from
// the third place, nor the clients').
func crossesDCs(set Settings, from, to string) bool {
	a, b := nodeDC(set, from), nodeDC(set, to)
	return a != "" && b != "" && a != b
}

// dcOf is the data center a node is in ("west-db": west).
func dcOf(node string) string {
	dc, _, _ := strings.Cut(node, "-")
	return dc
}

func multiDCStack(set Settings) stacks.Topology {
	t := stacks.Topology{Name: "multi-dc"}
	zone := stacks.GeoZone{
		Name: dcSiteName, Regions: dcRegions, TTL: dnsTTL.Get(set),
		CheckInterval: dnsCheckInterval.Get(set), CheckTimeout: dcCheckTimeout, Path: "/readyz",
		Geo: geoRouting.Get(set), Health: dnsHealth.Get(set),
	}
	t.Nodes = append(t.Nodes, stacks.GeoDNS("dns", zone))
	t.Links = append(t.Links, stacks.Link{From: stacks.Client, To: "dns"})
	// A link between two nodes is as long as the distance between their
	// data centers: none inside one, inter_dc_latency across, and none to
	// or from the third place (the DNS server's and the controller's
	// network, as a witness would be placed close to both).
	link := func(from, to string) stacks.Link {
		l := stacks.Link{From: from, To: to}
		if crossesDCs(set, from, to) {
			l.Distance = interDCLatency.Get(set)
		}
		return l
	}
	t.Links = append(t.Links, dcDatabaseLinks(link)...)
	t.Nodes = append(t.Nodes, dcDatabase(set, t)...)
	for _, r := range dcRegions {
		dc := r.Net
		lb := webTierLB("leastconn")
		for _, web := range dcNodes(dc)[1:] {
			// Writes and reads go to whichever database node accepts
			// writes: pgx tries the hosts in order and keeps the first that
			// is read-write (as in stage 4), its own data center's first,
			// so that after a failover a web server finds the promoted
			// replica without first waiting on a dead node. A dead node
			// behind Toxiproxy accepts and never answers: connect_timeout
			// (1 s, per host, stage 4's) lets a connection go on to the
			// next host within the database timeout (2 s); mysite keeps a
			// DSN's connect_timeout (before 2026-12-04 it put its database
			// timeout in its place, so this one was not in effect). (Stage 4's
			// monitor of the nodes, -replica, is not used here: 4 web
			// servers probing both nodes every 100 ms while they boot
			// overloaded these 2-core machines, and no web server reads
			// from a replica.)
			hosts := "${" + dc + "-db},${" + otherDC(dc) + "-db}"
			args := []string{"-name", web, "-db", stacks.PostgresDSN(hosts, "target_session_attrs=read-write", "connect_timeout=1"),
				"-db-timeout", lbMysiteDBTimeout.String(), "-max-conns", fmt.Sprint(dcPool), "-db-connect-rate", fmt.Sprint(dcConnectRate)}
			t.Nodes = append(t.Nodes, stacks.Node{Name: web, Role: stacks.Mysite(), Networks: []string{dc}, Args: args})
			t.Links = append(t.Links, stacks.Link{From: dc + "-lb", To: web})
			for _, db := range dcDBNodes {
				t.Links = append(t.Links, link(web, db))
			}
			lb.Servers = append(lb.Servers, stacks.HAProxyServer{Name: web, Addr: "${" + web + "}", Weight: 1})
		}
		t.Nodes = append(t.Nodes, stacks.Node{Name: dc + "-lb", Role: stacks.HAProxy(lb), Networks: []string{dc},
			Files: map[string]string{stacks.HAProxyConfigPath: lb.Render()}})
		// The site's entry in this data center: where the DNS server's
		// answers send a client, on Toxiproxy's address in the DC's network.
		t.Links = append(t.Links, stacks.Link{From: stacks.Client, To: dc + "-lb", ListenOn: dc, ListenPort: stacks.GeoPort})
	}
	return t
}

// dcPool and dcConnectRate bound each web server's database connections:
// its pool (mysite's -max-conns, default 16) and the new connections it
// opens a second (-db-connect-rate, default 20, for a stage with one
// database). PostgreSQL forks a process for every connection, a cancel
// request included, and the two databases share the machine's 2 cores: on
// a quiet machine they fork about 45 a second in all (mysite's
// DefaultDBConnectRate), on a loaded one fewer. A connect that outlives its
// connect_timeout (1 s) is abandoned, but the postmaster still forks for it
// when it reaches the front of its queue; a call that times out costs a
// cancel request and a new connection (which, from a west web server,
// first dials west-db and leaves it: a replica). With the defaults, the
// four web servers asked for up to 160 forks a second whenever calls
// timed out (a boot's first seconds, inter-dc-latency): the queues grew
// faster than the postmasters drained them, connects kept timing out with
// no fault left, and the stack stayed so (load average 30-35, a psql on
// the database's own host not connected within 5 s, the Docker engine's
// calls timing out; measured 2026-12-05, stage 8 alone, as on CI). A pool
// of 8 is 3 times what a server needs (25 requests a second, at most 3
// round trips of 30 ms each: under 1 in use on average); 4 new connections
// a second each is 16 in all, a third of what the machine forks; the burst
// is the pool (8 dials: 4 connections of a west web server at once).
const (
	dcPool        = 8
	dcConnectRate = 4
)

// dcDatabaseLinks: each database node reaches the other across the data
// centers (west-db streams from east-db; after a failover east-db rebuilds
// from west-db), the controller reaches both and both reach it (a restarted
// node asks it who is primary).
func dcDatabaseLinks(link func(from, to string) stacks.Link) []stacks.Link {
	return []stacks.Link{
		link(westDB, eastDB), link(eastDB, westDB),
		link(failoverNode, eastDB), link(failoverNode, westDB),
		link(eastDB, failoverNode), link(westDB, failoverNode),
	}
}

// dcDatabase is the replicated database: east-db the primary at boot,
// west-db its streaming replica across the inter-DC link (asynchronous, or
// with cross_dc=sync a commit waits for west-db's flush: one inter-DC round
// trip more), and stage 4's failover controller in the third place, which
// promotes west-db when east-db is gone and fences east-db when it returns
// (it rebuilds itself as west-db's replica).
func dcDatabase(set Settings, t stacks.Topology) []stacks.Node {
	pgArgs := []string{"-c", "synchronous_commit=on"}
	var nodes []stacks.Node
	ctl := []string{"-primary", eastDB, "-fail-after", failoverAfter.Arg(set), "-promote=" + fmt.Sprint(autoFailover.Get(set)), "-fence=true"}
	if crossDC.Get(set) == "sync" {
		// The controller sets it on the primary while the other node
		// streams, and empties it while it does not: with one replica, a
		// strict setting would stop every commit while the other data
		// center is dark (and on west-db once promoted, with east gone).
		ctl = append(ctl, "-sync-standbys", fmt.Sprintf(`ANY 1 ("%s", "%s")`, eastDB, westDB))
	}
	for _, db := range dcDBNodes {
		peer := otherDC(dcOf(db)) + "-db"
		nodes = append(nodes, stacks.Node{
			Name: db, Role: stacks.PostgresReplicated(), Args: pgArgs, Networks: []string{dcOf(db)},
			Env: stacks.PGNode{Name: db, BootPrimary: eastDB, Peers: []string{peer}, Controller: failoverNode}.Env(),
		})
		// The controller points a replica at its new primary by the
		// replica's own link to it (Toxiproxy's name, which every network
		// resolves, and the link's port).
		port, _ := t.LinkPort(db + "->" + peer)
		ctl = append(ctl, "-node", db+"="+stacks.PostgresDSN("${"+db+"}"),
			"-follow", fmt.Sprintf("%s->%s=%s:%d", db, peer, stacks.ProxyNode, port))
	}
	ctlNode := stacks.Node{Name: failoverNode, Role: stacks.Failover(), Args: ctl}
	if dc := nodeDC(set, failoverNode); dc != "" {
		ctlNode.Networks = []string{dc}
	}
	return append(nodes, ctlNode)
}

// splitMatches: in normal operation (before the fault) each region's share
// of the requests is its share of the clients (every client sends at the
// same rate: each op's client is drawn uniformly), within 4 standard
// deviations of the share a count of n requests can show by chance,
// sqrt(x(1-x)/n), plus 2 points for requests of one region that another
// served while a data center's health checks settled. At 100 ops/s the
// 2 s warm-up holds about 200 requests: x = 0.5 gives +-16 points.
// Measured (2026-12-04): 0.46-0.55 of 197-201; without geo routing 1.000.
func splitMatches(ev Evidence, set Settings) verdict.Guarantee {
	x := float64(dcEastClients(set)) / dcClients
	r := check.RegionsIn(ev.History, ev.Windows.Before, "east", dcOf)
	g := verdict.Guarantee{Name: SplitMatches}
	if r.Total < 50 {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("%d requests served before the fault: too few to measure a split", r.Total))
	}
	tol := 4*math.Sqrt(x*(1-x)/float64(r.Total)) + 0.02
	g.Threshold = fmt.Sprintf("east's share within %.2f +- %.2f", x, tol)
	g.Value = r.Share
	g.Measured = fmt.Sprintf("%.3f of %d requests served by east (east %d, west %d)", r.Share, r.Total, r.Served["east"], r.Served["west"])
	g.Holds = math.Abs(r.Share-x) <= tol
	return g
}

// dcMoveBound is how long a dead data center's clients may still be sent
// to it: the DNS server's next health check starts within one interval,
// and fails when its timeout runs out; the answers given until then live
// one TTL more. Plus 1 s for the machine (the kills of three nodes, one
// after another, take up to ~0.5 s). 1 + 1 + 2 + 1 = 5 s by default.
// Measured (2026-12-04): the last failed request was sent 2.6-3.2 s after
// the outage began; PowerDNS declared west DOWN 1.0-1.5 s after it.
func dcMoveBound(set Settings) time.Duration {
	return dnsCheckInterval.Get(set) + dcCheckTimeout + dnsTTL.Get(set) + time.Second
}

// dcOutageWindow is the outage's length: the default bound (5 s) plus 3 s
// in which every request must be served by the other data center.
const dcOutageWindow = 8 * time.Second

// primaryMoveBound is how long after the primary's data center goes dark
// its clients may still fail: east-db dies after `after`; the controller
// promotes west-db once east-db has been unreachable for failover_after,
// and rtoMargin (stage 4's: 5 s on these machines) covers the promotion
// and mysite's pool finding the new primary. Until then west's own
// /readyz fails too (no database takes writes), so the DNS server may
// answer either data center; west's next health check passes within one
// interval of that, and the answers given until then live one TTL more.
// 0 + 1 + 5 + 1 + 2 = 9 s by default.
func primaryMoveBound(set Settings) time.Duration {
	return primaryOutageAfter.Get(set) + failoverAfter.Get(set) + rtoMargin + dnsCheckInterval.Get(set) + dnsTTL.Get(set)
}

// primaryOutageWindow: the default bound (9 s) plus 3 s in which every
// request must succeed, as dc-outage's.
const primaryOutageWindow = 12 * time.Second

// interDCPartitionWindow is how long the data centers cannot talk: long
// enough that a controller cut off with west (witness=off, the control)
// has promoted west-db and west's web servers write to it while east-db
// still takes east's writes: failover_after (1 s) and rtoMargin (5 s, the
// promotion and the pools finding the new primary) plus 2 s in which both
// sides take writes. Measured (2026-12-05): west's first write 1.4 s after
// the partition on an idle machine; in a loaded CI run (load 29) the 5 s
// of before then held only 4 of west's writes, none to a key east wrote.
const interDCPartitionWindow = 8 * time.Second

// movesToHealthyDC: every request sent from bound after the outage until
// the heal succeeds (a client of the dark data center has been sent to the
// other one, and the other one serves it).
func movesToHealthyDC(ev Evidence, set Settings, bound time.Duration) verdict.Guarantee {
	g := verdict.Guarantee{Name: MovesToHealthyDC, Threshold: fmt.Sprintf("every request sent %v after the outage began succeeds", bound),
		Bound: &verdict.Bound{Since: verdict.SinceInject, D: bound, WhileFaulted: true}}
	w := ev.Windows.During
	if w.Duration() > 0 && bound >= w.Duration() {
		g.Vacuous = fmt.Sprintf("the bound %v (the settings' sum, see the stage) leaves nothing of the %v outage to judge", bound, w.Duration())
	}
	if w.Duration() == 0 {
		return verdict.NotJudgedBecause(g, "no fault window")
	}
	m := check.MovedAfter(ev.History, w.From, w.To, bound)
	if m.Sent == 0 {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("no request sent between %v after the outage and the heal", bound))
	}
	g.Value = float64(m.Failed)
	g.Measured = fmt.Sprintf("%d of %d failed; the last failed request was sent %v after the outage began", m.Failed, m.Sent, m.LastFailed.Round(time.Millisecond))
	g.Holds = m.Failed == 0
	if !g.Holds {
		g.Detail = "first: " + opsBrief(m.FirstFailed)
	}
	return g
}

// noDivergentWrites: while the data centers cannot talk, no key gets
// acknowledged writes from both sides. With the controller in a third
// place, east-db stays the only primary (the controller still reaches it)
// and west's writes fail until the DNS server, whose health checks of west
// fail with its database, sends west's clients to east. A controller that
// loses east-db with the partition promotes west-db: then both sides take
// writes to the same keys (16 clients, 100 keys).
func noDivergentWrites(ev Evidence) verdict.Guarantee {
	w := ev.Windows.During
	g := verdict.Guarantee{Name: NoDivergentWrites, Threshold: "0 keys written on both sides while the data centers could not talk"}
	if w.Duration() <= check.DivergenceSettle {
		return verdict.NotJudgedBecause(g, "no partition window")
	}
	// Until the first heal: the partition's links come back one after
	// another, each once its probe passes (seen 2026-12-04: west's links
	// to east-db back at 13.1 s, the last link at 20.75 s), and a west web
	// server that reaches east-db again writes to the one primary: not a
	// split brain, though the fault's window still runs.
	to := w.To
	for _, e := range ev.History.Events {
		if e.Kind == history.FaultHealed && e.At > w.From && e.At < to {
			to = e.At
		}
	}
	if to-w.From <= check.DivergenceSettle {
		return verdict.NotJudgedBecause(g, "the partition's first link came back within a second")
	}
	d := check.DivergentKeys(ev.History, w.From+check.DivergenceSettle, to, dcOf)
	total := 0
	for _, n := range d.Written {
		total += n
	}
	if total == 0 {
		return verdict.NotJudgedBecause(g, "no write acknowledged while the data centers could not talk")
	}
	g.Value = float64(len(d.Keys))
	g.Measured = d.String()
	g.Holds = len(d.Keys) == 0
	if !g.Holds {
		var parts []string
		for _, op := range d.Examples {
			parts = append(parts, fmt.Sprintf("%s=%q by %s at %v", op.Key, op.Value, op.Server, op.Invoke.Round(time.Millisecond)))
		}
		g.Detail = "first: " + strings.Join(parts, "; ")
	}
	return g
}

// localWritesFast: with asynchronous replication a commit in east waits
// for east-db's disk only, so east's clients' writes (served by east)
// do not pay the slower distance: their p90 during the fault stays under
// half the inter-DC round trip (inter_dc_latency + latency: 1.03 s by
// default, so 515 ms), far above what a local write takes and far below
// what a commit that waits for west-db takes (the whole round trip, at
// least: every such write is above the bound, p90 as p50). The p90, not
// the p99: on a loaded 2-core machine a few writes of any run stall for
// most of a second (CI, 2026-12-05, load 13: p50 5 ms, p90 24 ms, p99
// 894 ms of 162 writes; the p99 of ~100 writes is its second-slowest).
// Every write of an east client counts, failed or not.
func localWritesFast(ev Evidence, set Settings) verdict.Guarantee {
	bound := (interDCLatency.Get(set) + interDCSlow.Get(set)) / 2
	east := history.History{}
	for _, op := range ev.History.Ops {
		if op.Kind == history.Write && dcClientRegion(set, op.Client) == 0 {
			east.Ops = append(east.Ops, op)
		}
	}
	l := check.LatencyIn(east, ev.Windows.During)
	g := verdict.Guarantee{Name: LocalWritesFast, Threshold: fmt.Sprintf("p90 of east's clients' writes during < %v (half the inter-DC round trip)", bound)}
	if l.Count < 20 {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("%d writes of east's clients during the fault: too few for a p90", l.Count))
	}
	g.Value = l.P90.Seconds()
	g.Measured = l.String()
	g.Holds = l.P90 < bound
	return g
}

// cacheCarries: during a DNS outage, no request fails whose client's last
// answer was still within its TTL: a client that honours the TTL needs no
// DNS server until then.
func cacheCarries(ev Evidence) verdict.Guarantee {
	c := check.CachedAnswersIn(ev.History, ev.Windows.During)
	g := verdict.Guarantee{Name: CacheCarries, Threshold: "0 failed requests within their client's DNS TTL"}
	if c.Covered == 0 {
		return verdict.NotJudgedBecause(g, "no request during the outage was sent within its client's DNS TTL")
	}
	g.Value = float64(c.CoveredFailed)
	g.Measured = c.String()
	g.Holds = c.CoveredFailed == 0
	if !g.Holds {
		g.Detail = "first: " + opsBrief(c.FirstFailed)
	}
	return g
}

// dnsOutageShows: once the clients' answers expire, a DNS outage is an
// outage: most requests after the TTL fail. The outage lasts 5 s and a TTL
// of 2 s leaves 3 s in which every client's answer has expired; "most":
// at least half of the requests sent after every answer could have
// expired (inject + TTL) until the heal.
func dnsOutageShows(ev Evidence, set Settings) verdict.Guarantee {
	ttl := dnsTTL.Get(set)
	g := verdict.Guarantee{Name: DNSOutageShows, Threshold: fmt.Sprintf(">= 0.5 of the requests sent %v (the TTL) after the outage began fail", ttl)}
	w := ev.Windows.During
	if ttl >= w.Duration() {
		g.Vacuous = fmt.Sprintf("the TTL %v outlasts the outage (%v): the answers never expire during it", ttl, w.Duration())
		return verdict.NotJudgedBecause(g, g.Vacuous)
	}
	m := check.MovedAfter(ev.History, w.From, w.To, ttl)
	if m.Sent == 0 {
		return verdict.NotJudgedBecause(g, "no request sent after the answers expired")
	}
	share := float64(m.Failed) / float64(m.Sent)
	g.Value = share
	g.Measured = fmt.Sprintf("%.3f (%d of %d failed)", share, m.Failed, m.Sent)
	g.Holds = share >= 0.5
	return g
}

// opsBrief names a few ops: client, kind, when sent, error.
func opsBrief(ops []history.Op) string {
	var parts []string
	for _, op := range ops {
		parts = append(parts, fmt.Sprintf("client %d %s sent at %v: %s", op.Client, op.Kind, op.Invoke.Round(time.Millisecond), op.Error))
	}
	return strings.Join(parts, "; ")
}

// wholeSeconds checks a duration of whole seconds from lo to hi (what
// PowerDNS's settings and a DNS TTL can say).
func wholeSeconds(lo, hi int) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d%time.Second != 0 || d < time.Duration(lo)*time.Second || d > time.Duration(hi)*time.Second {
			return fmt.Errorf("want whole seconds from %ds to %ds, like 2s", lo, hi)
		}
		return nil
	}
}
