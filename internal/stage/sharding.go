package stage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 11.
const (
	BlastRadius   = "blast-radius"    // a dead shard fails its own users only, about 1/N of them
	ShardDownSeen = "shard-down-seen" // the dead shard's users do fail (the kill is not hidden)
	FewKeysMoved  = "few-keys-moved"  // adding a shard moves about 1/(N+1) of the keys, not most
	NoStaleReads  = "no-stale-reads"  // no read returns a value older than an acknowledged write
	HotShardFast  = "hot-shard-fast"  // the celebrity's shard serves its other users within a bound
	MovedServed   = "moved-served"    // the users whose data moves are served while it does
)

// celebrity is the user the hot-key fault floods with reads: one of the
// workload's own keys, so that its shard is known from the workload's
// answers (check.Shards.Last).
const celebrity = "u0"

// Settings of stage 11.
var (
	shardCount = Int("shards", "4",
		"how many PostgreSQL shards hold the users (1: one database, the stage before)").Checked(IntBetween(1, 8))
	shardStrategy = Choice("strategy", "ring",
		"how mysite maps a user id to a shard: ring (consistent hashing, vnodes points per shard) or modulo (hash(id) % shards)",
		"ring", "modulo")
	vnodes = Int("vnodes", "64",
		"with strategy=ring, how many points each shard has on the ring (more: shares closer to 1/shards)").Checked(IntBetween(1, 1024))
	shardPool = Int("pool", "2",
		"connections mysite keeps to each shard (at most)").Checked(IntBetween(1, 64))
	shardDistance = Duration("db_distance", "10ms",
		"round-trip latency of every link web->shard-i (the shards are other hosts): with pool, what one shard can serve, pool/db_distance requests a second")
	readCache = Duration("read_cache", "250ms",
		"how long mysite keeps a user it read in its own memory (its writes drop the entry); 0s: no read cache")
	// hot-key's
	hotRate = Int("hot_rate", "300",
		"reads a second of the celebrity ("+celebrity+") on top of the workload while the fault lasts").Checked(IntBetween(1, 2000))
	// reshard's
	moveProtocol = Choice("move", "online",
		"how the rows that change shard move: online (dual-write, copy, switch), naive (copy, then switch: writes made during the copy are left behind) "+
			"or offline (the moving users are refused until the switch: a maintenance window)",
		"online", "naive", "offline")
	// The move must end within the fault's landing wait (10 s,
	// faults.LandedWithin): the workload's 100 keys are at most 100 rows, and
	// a modulo reshard moves 80% of them: 80 rows at 10 rows/s is 8 s.
	moveRate = Int("move_rate", "20",
		"rows per second the reshard copies (a real move is paced so as not to starve the shards' own traffic)").Checked(IntBetween(10, 5000))
)

// shardName is the name of the i-th shard (from 1); the spare a reshard
// adds is shard-(N+1).
func shardName(i int) string { return fmt.Sprintf("shard-%d", i) }

// victimShard is the shard kill-shard kills: the first, which exists for
// every value of shards.
var victimShard = shardName(1)

// Stage 11: the users are split over N databases by their id. A shard
// down now fails only its own users; the new problems are moving keys
// when shards are added, and keys hotter than their shard.
func init() {
	register(Stage{
		ID: "sharding", Number: 11, Title: "Sharding",
		Adds:  "the users split over N PostgreSQL shards by user id (consistent hashing or modulo); a spare shard for resharding",
		Fixes: "a database's size and write load no longer bound the site: each shard holds and serves 1/N of the users",
		Weak:  "resharding (which keys move, and what happens to writes while they do), hot keys, joins across shards",
		Lab:   "labs/11-sharding",
		Settings: []Setting{shardCount.Setting, shardStrategy.Setting, vnodes.Setting, dbTimeout.Setting,
			shardPool.Setting, shardDistance.Setting, readCache.Setting},
		Stack: shardingStack,
		Entry: "client->web",
		// Above mysite's database timeout (2 s): a request of a dead
		// shard's user is seen failing, not hanging.
		ClientTimeout: 5 * time.Second,
		Faults: []Fault{
			{
				ID:   "kill-shard",
				Help: "SIGKILL " + victimShard + "'s database, then start it again",
				Inject: func(Settings) []faults.Fault {
					return []faults.Fault{faults.Kill{Node: victimShard}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{blastRadius(ev, set), shardDownSeen(ev)}
				},
				Controls: []Control{
					{Name: "one database for every user", Set: Values(shardCount.Is(1)), Breaks: []string{BlastRadius}},
					{Name: "no-op in place of the kill", NoOp: true, Breaks: []string{ShardDownSeen}},
				},
			},
			{
				ID: "hot-key",
				Help: "a celebrity: " + celebrity + " is read hot_rate times a second on top of the workload " +
					"(mysite's read cache must absorb it, or the celebrity's shard queues everyone on it)",
				Settings: []Setting{hotRate.Setting},
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{&faults.Flood{Link: "client->web", Rate: float64(hotRate.Get(set)),
						Request: func(int) (string, string, string) { return "GET", "/users/" + celebrity, "" }}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{hotShardFast(ev, set)}
				},
				Controls: []Control{
					{Name: "no read cache", Set: Values(readCache.Is(0)), Breaks: []string{HotShardFast}},
				},
			},
			{
				ID: "reshard",
				Help: "add the spare shard under load: mysite moves the rows whose shard changes " +
					"(the fault has landed when the move is done)",
				Settings: []Setting{moveProtocol.Setting, moveRate.Setting},
				Inject: func(set Settings) []faults.Fault {
					status := "http://127.0.0.1:8080/admin/reshard"
					return []faults.Fault{faults.Command{
						Node: "web", What: "reshard (" + moveProtocol.Get(set) + ")",
						Cmd:   []string{"curl", "-fsS", "-X", "POST", "--max-time", "2", status + "?protocol=" + moveProtocol.Get(set)},
						Probe: []string{"curl", "-fsS", "--max-time", "2", status},
						Want:  `"state":"done"`,
					}}
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{fewKeysMoved(ev, set), movedServed(ev), noStaleReads(ev), noLostWrites(ev)}
				},
				Controls: []Control{
					{Name: "modulo placement", Set: Values(shardStrategy.Is("modulo")), Breaks: []string{FewKeysMoved}},
					{Name: "offline move: the moving users wait", Set: Values(moveProtocol.Is("offline")), Breaks: []string{MovedServed}},
					{
						Name: "naive move: copy, then switch", Set: Values(moveProtocol.Is("naive")),
						Breaks: []string{NoStaleReads, NoLostWrites},
						// Ten times the keys: most writes during the copy
						// create users the copy's list did not have, and a
						// lost write is rarely overwritten before the
						// read-back (each key is written every 20 s).
						Workload: func(c *workload.Config) { c.Keys = 1000 },
					},
				},
			},
		},
	})
}

// shardingStack: one mysite in front of N shards and the spare, each a
// PostgreSQL of its own behind the link web->shard-i.
func shardingStack(set Settings) stacks.Topology {
	n := shardCount.Get(set)
	args := []string{
		"-db-timeout", dbTimeout.Arg(set),
		"-shard-strategy", shardStrategy.Get(set),
		"-vnodes", vnodes.Arg(set),
		"-move-rate", moveRate.Arg(set),
		"-max-conns", shardPool.Arg(set),
		"-read-cache-ttl", readCache.Arg(set),
	}
	var nodes []stacks.Node
	links := []stacks.Link{{From: stacks.Client, To: "web"}}
	for i := 1; i <= n+1; i++ {
		name := shardName(i)
		nodes = append(nodes, stacks.Node{Name: name, Role: stacks.Postgres()})
		links = append(links, stacks.Link{From: "web", To: name, Distance: shardDistance.Get(set)})
		flag := "-shard"
		if i == n+1 {
			flag = "-spare"
		}
		args = append(args, flag, name+"="+stacks.PostgresDSN("${"+name+"}"))
	}
	nodes = append(nodes, stacks.Node{Name: "web", Role: stacks.Mysite(), Args: args})
	return stacks.Topology{Name: "sharding", Nodes: nodes, Links: links}
}

// blastRadius: a dead shard fails its own users and nobody else's.
//
//   - The share of the users active during the fault that saw a request
//     fail is at most 1.5/N. Each shard owns about 1/N of the ids; ring
//     placement with 64 points per shard deviates from that by about
//     1/sqrt(64) = 12.5% (relative, one standard deviation), and the
//     workload's 100 keys add a binomial spread (1/4 of 100: 4.3 keys, 17%
//     relative); half of 1/N above it covers two of those deviations at
//     the default N = 4 (with more shards each holds fewer of the 100
//     keys and the margin covers less: 1.7 deviations at N = 8).
//     With one database (shards=1, the stage before) the bound stays the
//     default's (1.5/4): the control must exceed it.
//   - The other shards' requests during the fault succeed (>= 99%): they
//     never touch the dead database; 1% is the machine's margin.
func blastRadius(ev Evidence, set Settings) verdict.Guarantee {
	n := shardCount.Get(set)
	if n < 2 {
		n = 4
	}
	bound := 1.5 / float64(n)
	sh := ev.Shards
	share, ok := sh.HurtShare()
	g := verdict.Guarantee{
		Name:      BlastRadius,
		Threshold: fmt.Sprintf("users hurt <= %.1f%% (1.5/%d); other shards' requests >= 99%% ok", bound*100, n),
	}
	if !ok {
		return verdict.NotJudgedBecause(g, "no user with a known shard sent a request during the fault")
	}
	others := sh.Others(victimShard)
	hurt := sh.HurtUsers()
	g.Value = share
	g.Measured = fmt.Sprintf("%d of %d users hurt (%.1f%%); other shards %s", hurt, sh.Users, share*100, othersText(others))
	g.Holds = share <= bound && (others.NoData || others.Value >= 0.99)
	g.Detail = perShard(sh)
	return g
}

func othersText(a check.Availability) string {
	if a.NoData {
		return "none"
	}
	return fmt.Sprintf("%.4f (%d/%d ok)", a.Value, a.OK, a.Total())
}

// perShard is each shard's availability during the fault and its users hurt.
func perShard(sh check.Shards) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(sh.During)) {
		a := sh.During[name]
		parts = append(parts, fmt.Sprintf("%s %.4f (%d/%d ok, %d of its %d users hurt)", name, a.Value, a.OK, a.Total(), sh.Hurt[name], sh.Keys[name]))
	}
	return strings.Join(parts, "; ")
}

// shardDownSeen: the dead shard's own requests fail (below 50% ok during
// the fault): the kill is in effect, and not hidden. Its control (a no-op
// in place of the kill) must break it.
func shardDownSeen(ev Evidence) verdict.Guarantee {
	a, ok := ev.Shards.During[victimShard]
	if !ok {
		a = check.Availability{Window: ev.Windows.During, NoData: true}
	}
	return named(ShardDownSeen, verdict.AvailabilityAtMost("", a, 0.5))
}

// minCompared is how many keys must be placed both before and after a
// reshard for its share of moved keys to be judged: at 100 ops/s the
// workload touches nearly all its 100 keys in each window.
const minCompared = 20

// fewKeysMoved: adding one shard to N moves about 1/(N+1) of the keys with
// consistent hashing (the new shard's points take their share of the ring
// from every shard) and N/(N+1) with modulo (a key stays only where
// h % N == h % (N+1)). The bound is 2/(N+1): the new shard's share varies
// by about 12.5% with 64 points and the ~100 keys compared add a binomial
// spread of 4 keys (20% relative at 1/5): twice 1/(N+1) is over three
// combined deviations. With N = 4: 40%, against modulo's 80%. Below three
// shards the two shares are not apart (2/3 is both bound and modulo's
// share at N = 2): refused as vacuous.
func fewKeysMoved(ev Evidence, set Settings) verdict.Guarantee {
	n := shardCount.Get(set)
	bound := 2 / float64(n+1)
	sh := ev.Shards
	g := verdict.Guarantee{
		Name:      FewKeysMoved,
		Threshold: fmt.Sprintf("<= %.1f%% of the keys change shard (2/%d)", bound*100, n+1),
		Value:     sh.MovedShare,
		Measured:  fmt.Sprintf("%d of %d keys moved (%.1f%%)", sh.Moved, sh.Compared, sh.MovedShare*100),
		Holds:     sh.Compared >= minCompared && sh.MovedShare <= bound,
	}
	if len(sh.MovedTo) > 0 {
		g.Detail = fmt.Sprintf("moved to: %v", sh.MovedTo)
	}
	if n < 3 {
		g.Vacuous = fmt.Sprintf("shards=%d: with fewer than 3 shards modulo moves 2/(N+1) too, the bound cannot tell them apart", n)
	}
	if sh.Compared < minCompared {
		return verdict.NotJudgedBecause(g, fmt.Sprintf("only %d keys answered both before the move and after it (want %d)", sh.Compared, minCompared))
	}
	return g
}

// noStaleReads: a read after the move returns the newest acknowledged
// write, not the copy's older value. Any stale read breaks it (the online
// move keeps the old shard authoritative until the switch).
func noStaleReads(ev Evidence) verdict.Guarantee {
	return named(NoStaleReads, verdict.NoStaleReads(ev.Stale))
}

// hotShardFast: while the celebrity is read hot_rate times a second, the
// other users of its shard are served as fast as anyone's: the p99 of the
// workload's requests to the celebrity's shard during the fault stays
// within 250 ms. Derivation: a request makes one round trip to its shard
// (db_distance, 10 ms) and a few through Toxiproxy and mysite; the flood's
// reads take a share of the machine's 2 cores (300 requests a second
// through the published port, Toxiproxy and mysite), which is what the
// margin is for: 25 round trips. Without the read cache every flood read
// holds one of the shard's pool connections for a round trip: the shard
// serves at most pool/db_distance (200) a second, below hot_rate + its
// share of the workload, so its queue grows and its requests wait until
// mysite's timeout (2 s): the control.
func hotShardFast(ev Evidence, set Settings) verdict.Guarantee {
	const bound = 250 * time.Millisecond
	g := verdict.Guarantee{Name: HotShardFast, Threshold: fmt.Sprintf("p99 of the celebrity's shard <= %v", bound)}
	if shardDistance.Get(set) == 0 {
		g.Vacuous = "db_distance=0s: a shard's capacity is then the machine's, which the flood takes from every shard alike"
	} else if capacity := float64(shardPool.Get(set)) / shardDistance.Get(set).Seconds(); float64(hotRate.Get(set)) <= capacity {
		g.Vacuous = fmt.Sprintf("hot_rate=%d is within what one shard serves (pool/db_distance = %.0f a second): the celebrity is not hot enough to queue its shard",
			hotRate.Get(set), capacity)
	}
	// Any answer of the run names the celebrity's shard (nothing moves in
	// this fault): the workload may not ask for it before the fault.
	hot, ok := ev.Shards.Last[celebrity]
	if !ok {
		return verdict.NotJudgedBecause(g, "no answer of the run named the celebrity "+celebrity+"'s shard")
	}
	p99, ok := ev.Shards.P99[hot]
	if !ok {
		return verdict.NotJudgedBecause(g, "no request of "+hot+"'s users during the fault")
	}
	g.Value = p99.Seconds() * 1000
	g.Measured = fmt.Sprintf("%s (the celebrity's) p99 %v", hot, p99.Round(time.Millisecond))
	g.Holds = p99 <= bound
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(ev.Shards.P99)) {
		parts = append(parts, fmt.Sprintf("%s %v", name, ev.Shards.P99[name].Round(time.Millisecond)))
	}
	g.Detail = "p99 by shard: " + strings.Join(parts, ", ")
	return g
}

// movedServed: the requests of the users whose shard changed, sent during
// the fault, succeed (>= 99%): the online move never refuses them (a write
// may wait at the switch's gate while the dual writes in flight end,
// milliseconds; mysite would answer 503 only after its 2 s timeout). 1% is
// the machine's margin. The offline move, its control, refuses them for
// the whole copy: about a second of the window (at least 5 s) with ring
// placement, so about 20% of their requests. The window is longer than
// the move: 99% over it still allows about 5% failed during a 1 s move.
func movedServed(ev Evidence) verdict.Guarantee {
	return named(MovedServed, verdict.AvailabilityAtLeast("", ev.Shards.MovedOps, 0.99))
}
