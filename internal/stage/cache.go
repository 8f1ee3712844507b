package stage

import (
	"fmt"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Guarantee names of stage 5.
const (
	CacheNoStaleReads = "no-stale-reads"     // no read returns a value older than a write acknowledged before it began
	CacheHitRatioBack = "hit-ratio-recovers" // after the cache restarts empty, half the reads hit it again within a derived time
	CacheNoStampede   = "no-stampede"        // while fills are slow, each user is read from the database once per fill, not once per reader
)

// Stage 5's workload: a cache is for a read-heavy load of users that
// exist. 90% reads over 20 users: at the default 100 ops/s each user is
// read 4.5 times a second and written 0.5 times, so most users exist two
// seconds in (a read of a user never written is a 404, which is not
// cached) and a cached entry is read several times before a write
// invalidates it.
const (
	cacheReadRatio = 0.9
	cacheKeys      = 20
)

// cacheServers is the size of stage 5's web tier (stage 3's, web-1..web-3).
const cacheServers = 3

// Settings of stage 5.
var (
	cacheTTL = Duration("ttl", "30s",
		"how long mysite keeps a user in the cache after it read it from the database").Checked(DurationAtLeast(time.Millisecond, "30s"))
	cacheMaxMemory = Text("maxmemory", "64mb",
		"Redis's memory limit (its maxmemory, e.g. 64mb); past it Redis evicts the least recently used keys (maxmemory-policy allkeys-lru)").Checked(cacheIsMemory)
	cacheInvalidation = Choice("invalidation", "delete",
		"what a write does to the cached user after the database has it: delete (the next read fills it again), update (set the new value), none (the old value stays until its TTL)",
		"delete", "update", "none")
	cacheGuard = Choice("guard", "lease",
		"stampede guard: none, coalesce (concurrent misses of a key share one database read, per server), lease (one filler per key across servers, through a lease in Redis; a write voids the lease, so a read that raced a write cannot fill the old value)",
		"none", "coalesce", "lease")
	cacheTimeout = Duration("cache_timeout", "100ms",
		"mysite's bound on every cache call; past it the read goes to the database. 0: no bound (a slow cache holds requests)")
	// cache-latency's
	// Above the fail-fast bound (1.5 s), else the fault is vacuous.
	cacheLatency = Duration("latency", "2s", "round-trip latency added to every web-N->cache link")
	// slow-fills'
	cacheSlowFill = Duration("slow_fill", "200ms",
		"the pause mysite's slow-fill failpoint puts between a fill's database read and its store into the cache")
)

// Stage 5: a cache. A Redis between the web tier and the database holds the
// users mysite read (cache-aside: a miss reads the database and fills the
// cache, with a TTL; a write updates the database and then deletes the
// cached copy). Most reads no longer reach the database; the new ways to
// fail are a slow or dead cache, stale values, and the database's load when
// the cache is lost.
func init() {
	register(Stage{
		ID: "cache", Number: 5, Title: "Cache",
		Adds:  "a Redis cache between the web tier and the database: reads cache-aside with a TTL, writes invalidate",
		Fixes: "most reads no longer reach the database: lower read latency and database load",
		Weak:  "a slow or dead cache, stale values (invalidation, the read-miss/write race), the database's load when the cache is lost",
		Lab:   "labs/05-cache",
		Settings: []Setting{cacheTTL.Setting, cacheMaxMemory.Setting, cacheInvalidation.Setting,
			cacheGuard.Setting, cacheTimeout.Setting},
		Stack: cacheStack,
		Entry: "client->lb",
		// Above the load balancer's own timeouts (1 s for reads, 3 s for
		// writes), as in stage 3.
		ClientTimeout: 5 * time.Second,
		// Redis's and the database's own counters (hits, misses, evictions,
		// transactions), for the report's cache section; no guarantee
		// judges them.
		Counters: stacks.MysiteCache,
		Workload: func(w *workload.Config) {
			w.Keys, w.ReadRatio = cacheKeys, cacheReadRatio
		},
		Faults: []Fault{
			{
				ID:       "cache-latency",
				Help:     "add latency to every web-N->cache link: each cache call takes that long",
				Settings: []Setting{cacheLatency.Setting},
				Inject: func(set Settings) []faults.Fault {
					var out []faults.Fault
					for i := 1; i <= cacheServers; i++ {
						out = append(out, faults.Latency{Link: stacks.WebName(i) + "->cache", Latency: cacheLatency.Get(set)})
					}
					return out
				},
				// Not judged here: stale reads. A write's invalidation that
				// times out is given up, and the value cached before the
				// fault stays until its TTL: reads after the heal find it
				// (measured: 27 stale reads up to 5.8 s behind in one run).
				// The lab shows it; cache-flush judges invalidation on a
				// cache that answers.
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					g := cacheFailFast(ev, set)
					if lat := cacheLatency.Get(set); lat <= cacheFailFastBound(set) {
						g.Vacuous = fmt.Sprintf("latency=%v is within the bound %v (3 x cache_timeout + %v): even a cache call that waits it out is not slower", lat, cacheFailFastBound(set), cacheMargin)
					}
					return []verdict.Guarantee{g, cacheStaysAvailable(ev)}
				},
				Controls: []Control{
					// Every cache call then waits out the latency: a read
					// takes a lookup and a fill (2 x latency), past HAProxy's
					// 1 s read timeout, which retries it and gives up.
					{Name: "no cache timeout", Set: Values(cacheTimeout.Is(0)), Breaks: []string{FailFast, AvailableHigh}},
				},
			},
			{
				ID:     "kill-cache",
				Help:   "SIGKILL the cache's Redis under load; the heal starts it again, empty",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{faults.Kill{Node: "cache"}} },
				// Not judged here: stale reads. While the cache is gone a
				// write's invalidation fails, and for about a second after
				// it is back some calls still fail (go-redis re-dials a
				// dead server once a second) while others succeed: a fill
				// that read the database before a write can land after the
				// write's failed invalidation. Measured: 8 stale reads, up
				// to 1.6 s behind, in the second after the restart. The lab
				// shows it; cache-flush judges invalidation on a live cache.
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cacheFailFast(ev, set), cacheStaysAvailable(ev)}
				},
				Controls: []Control{
					// A killed container's address is gone: its links lead
					// to a blackhole (stacks.NoUpstream) and a lookup hangs;
					// without a timeout it waits
					// until mysite's database timeout gives up on the request.
					{Name: "no cache timeout", Set: Values(cacheTimeout.Is(0)), Breaks: []string{FailFast, AvailableHigh}},
				},
			},
			{
				ID:     "cache-flush",
				Help:   "empty the cache under load (redis-cli FLUSHALL): every read misses until the cache fills again",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{cacheFlush} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cacheNoStaleReads(ev)}
				},
				Controls: []Control{cacheNoInvalidationControl},
			},
			{
				ID:     "cache-loss",
				Help:   "the cache's Redis crashes and restarts at once (SIGKILL, then start), empty: it keeps nothing on disk",
				Inject: func(Settings) []faults.Fault { return []faults.Fault{&faults.Restart{Node: "cache"}} },
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cacheHitRatioRecovers(ev, set)}
				},
				Controls: []Control{
					// Per user 4.5 reads a second: an entry that lives
					// 20 ms has nearly always expired by the next read of
					// its user (hit ratio about 1 - e^(-0.09), 9%),
					// before the loss as after it.
					{Name: "entries expire before they are read again", Set: Values(cacheTTL.Is(20 * time.Millisecond)), Breaks: []string{CacheHitRatioBack}},
				},
			},
			{
				ID:       "slow-fills",
				Help:     "every cache fill pauses slow_fill between its database read and its store (mysite's slow-fill failpoint: a GC pause, a busy CPU), then the cache is emptied: reads of a user arrive while its fill is under way, and writes land during fills",
				Settings: []Setting{cacheSlowFill.Setting},
				Inject: func(set Settings) []faults.Fault {
					var out []faults.Fault
					d := cacheSlowFill.Get(set).String()
					for i := 1; i <= cacheServers; i++ {
						out = append(out, faults.Command{Node: stacks.WebName(i), What: "slow every cache fill by " + d,
							Cmd:   []string{"curl", "-fsS", "-X", "PUT", "--max-time", "2", "--data", d, cacheFailpointURL},
							Undo:  []string{"curl", "-fsS", "-X", "DELETE", "--max-time", "2", cacheFailpointURL},
							Probe: []string{"curl", "-fsS", "--max-time", "2", "http://127.0.0.1:8080/failpoints"}, Want: "slow-fill=" + d})
					}
					return append(out, cacheFlush)
				},
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					stampede, stale := cacheNoStampede(ev, set), cacheNoStaleReads(ev)
					if d := cacheSlowFill.Get(set); d < cacheSlowFillFloor {
						why := fmt.Sprintf("slow_fill=%v is below %v: a fill that short is rarely met by a second read or a write of its user, so neither the stampede nor the race would show without a guard", d, cacheSlowFillFloor)
						stampede.Vacuous, stale.Vacuous = why, why
					}
					return []verdict.Guarantee{stampede, stale}
				},
				Controls: []Control{
					// Every read of a user that arrives while its fill
					// pauses reads the database too: at 4.5 reads a second
					// per user and fills of 200 ms, about 0.9 more per
					// fill, some 3.5 fills per user in the 5 s (3.2 more
					// reads on average): two or more beyond its allowance
					// for four users in five.
					{Name: "no stampede guard", Set: Values(cacheGuard.Is("none")), Breaks: []string{CacheNoStampede}},
					// The read-miss/write race: a fill that read before a
					// write commits stores after the write deleted the
					// entry, and the old value stays until the next write
					// or the TTL. A write of the user lands in a 200 ms
					// fill with probability 0.5/s x 0.2 s = 10%; some 70
					// fills in the 5 s (one per user after the flush, one
					// after each of 50 writes) make 7 such races a run on
					// average, none in 0.1% of runs: a second attempt for
					// those. At 100 ms one run showed 14 stale reads.
					{Name: "per-server coalescing, no lease", Set: Values(cacheGuard.Is("coalesce")), Breaks: []string{CacheNoStaleReads}, Attempts: 2},
				},
			},
			{
				ID:   "cache-evict",
				Help: "squeeze the cache's memory under load (CONFIG SET maxmemory to what it holds less half its data): Redis evicts the least recently used users; the heal gives the memory back",
				Inject: func(set Settings) []faults.Fault {
					return []faults.Fault{faults.Command{Node: "cache", What: "squeeze the cache's memory",
						Cmd:   []string{"sh", "-c", cacheSqueezeScript},
						Undo:  []string{"redis-cli", "CONFIG", "SET", "maxmemory", cacheMaxMemory.Get(set)},
						Probe: []string{"sh", "-c", cacheEvictingProbe}, Want: "evicting"}}
				},
				// Eviction only drops entries: a read that misses goes to
				// the database. What must not happen is an entry that
				// survives the squeeze (the most recently used ones do)
				// holding a value older than a write.
				Guarantees: func(ev Evidence, set Settings) []verdict.Guarantee {
					return []verdict.Guarantee{cacheNoStaleReads(ev)}
				},
				Controls: []Control{cacheNoInvalidationControl},
			},
		},
	})
}

// cacheFlush empties the cache with Redis's own FLUSHALL; landed once
// Redis counts the command.
var cacheFlush = faults.Command{Node: "cache", What: "flush the cache",
	Cmd:   []string{"redis-cli", "FLUSHALL"},
	Probe: []string{"redis-cli", "INFO", "commandstats"}, Want: "cmdstat_flushall:calls="}

// cacheFailpointURL is mysite's slow-fill failpoint, on each web server's
// own loopback (its -failpoints endpoint).
const cacheFailpointURL = "http://127.0.0.1:8080/failpoints/slow-fill"

// cacheSlowFillFloor: below it a fill is too seldom met by another read
// or a write of its user (4.5 reads and 0.5 writes a second per user) for
// the controls of slow-fills to break their guarantees in every run: such a
// value is refused as vacuous. At 100 ms the control without a guard put 3
// users of 20 over their allowance, by one read (one run): too close.
const cacheSlowFillFloor = 150 * time.Millisecond

// cacheNoStampede: each user is read from the database at most once per
// fill while fills are slow, counted per request from mysite's answers
// ("miss" and "error" read the database; "hit" and "shared" did not), over
// the fault's window. A user's fills in the window: one after the flush,
// one after each write of it that overlaps the window (the write deletes
// the entry, and with the lease voids a fill under way), and one for an
// entry already missing as the window opened (a write just before it).
// The lease makes that one read for the whole web tier; coalescing one per
// server (x cacheServers). Without a guard there is no such promise: the
// lease's is judged, and every reader that arrives during a fill breaks it.
func cacheNoStampede(ev Evidence, set Settings) verdict.Guarantee {
	per := 1
	if cacheGuard.Get(set) == "coalesce" {
		per = cacheServers
	}
	allowed := func(k check.KeyDBReads) int { return per * (2 + k.Writes) }
	g := verdict.Guarantee{Name: CacheNoStampede,
		Threshold: fmt.Sprintf("no user read from the database more than %d x (2 + its writes) times during the fault", per)}
	d := check.DBReadsIn(ev.History, ev.Windows.During)
	if d.Reads == 0 {
		return verdict.NotJudgedBecause(g, "no read during the fault said how the cache answered (mysite's Mysite-Cache header)")
	}
	over := d.Over(allowed)
	g.Measured = d.String()
	g.Value = float64(len(over))
	g.Holds = len(over) == 0
	if len(over) > 0 {
		g.Measured += fmt.Sprintf("; %d of %d users over, the worst %s", len(over), len(d.ByKey), over[0])
	}
	return g
}

// cacheSqueezeScript sets Redis's maxmemory to its memory in use less half
// of its data (used_memory - used_memory_dataset/2): allkeys-lru evicts
// about half the users at once, and keeps evicting as reads fill the
// cache again.
const cacheSqueezeScript = `info=$(redis-cli INFO memory | tr -d '\r')
used=$(printf '%s\n' "$info" | sed -n 's/^used_memory:\([0-9]*\)$/\1/p')
data=$(printf '%s\n' "$info" | sed -n 's/^used_memory_dataset:\([0-9]*\)$/\1/p')
test -n "$used" && test -n "$data" || { echo "INFO memory has no used_memory/used_memory_dataset: $info"; exit 1; }
redis-cli CONFIG SET maxmemory $((used - data / 2))`

// cacheEvictingProbe: Redis's own count of evicted keys has grown past 0
// (it starts at 0 and the stage's memory limit is far above its data until
// the squeeze).
const cacheEvictingProbe = `n=$(redis-cli INFO stats | tr -d '\r' | sed -n 's/^evicted_keys:\([0-9]*\)$/\1/p'); test "${n:-0}" -gt 0 && echo evicting || echo "evicted_keys=${n:-?}"`

// cacheHitTarget is the hit ratio a recovered cache is back to: half the
// reads served by the cache (as each answer says, mysite's Mysite-Cache
// header). With the stage's workload a warm cache serves about 9 reads in
// 10 (a write's invalidation costs the next read of its user a miss: 0.5
// writes against 4.5 reads per user and second); below one in two the
// cache costs most reads a round trip and saves little.
const cacheHitTarget = 0.5

// cacheHitWindow is the span the hit ratio is measured over (about 90
// reads), moved by cacheHitStep.
const (
	cacheHitWindow = time.Second
	cacheHitStep   = 100 * time.Millisecond
)

// cacheRestartBudget is how long the cache may take from the injection to
// answering mysite again: docker restart of a SIGKILLed container and
// Redis's start (no data to load), then go-redis's next dial (once its
// pool's dials have failed it tries again once a second). Measured: Redis
// ready 1.7 s after the injection and mysite's first cache call that
// succeeded 1.6 s later (3.3 s); 2.2 s + 1.4 s on a machine busy
// compiling. 5 s.
const cacheRestartBudget = 5 * time.Second

// cacheRecoveryBound: an empty cache is filled by reads, one miss per user.
// With reads spread evenly over K users at R reads/s, the share of reads
// that find their user filled t seconds after the restart is about
// 1 - e^(-R t / K): it passes 0.56 (0.9 x 0.56 = the target) after
// 0.8 K/R. The bound allows twice K/R, plus the restart budget and one
// measuring window: 5 + 2 x 20/90 + 1 = 6.4 s with the stage's workload
// at 100 ops/s. R is measured: the reads sent in the window before the
// fault; ok is false when there were none.
func cacheRecoveryBound(ev Evidence) (bound time.Duration, ok bool) {
	reads := check.AvailabilityIn(ev.History, ev.Windows.Before, history.Read).Total()
	span := ev.Windows.Before.Duration().Seconds()
	if reads == 0 || span <= 0 {
		return 0, false
	}
	return cacheRecoveryBoundAt(float64(reads) / span), true
}

// cachePlannedReads is the stage's read rate at the engine's default 100
// ops/s, per second: what the plan's cool-down is derived from.
const cachePlannedReads = 100 * cacheReadRatio

// cacheRecoveryBoundAt is cacheRecoveryBound's formula at readsPerS.
func cacheRecoveryBoundAt(readsPerS float64) time.Duration {
	perKey := time.Duration(float64(time.Second) * cacheKeys / readsPerS).Round(time.Millisecond)
	return cacheRestartBudget + 2*perKey + cacheHitWindow
}

// cacheHitRatioRecovers: after the restart, the first window of
// cacheHitWindow in which the cache served cacheHitTarget of the reads ends
// within cacheRecoveryBound of the injection.
func cacheHitRatioRecovers(ev Evidence, set Settings) verdict.Guarantee {
	bound, ok := cacheRecoveryBound(ev)
	if !ok {
		// The plan's cool-down still has to cover a bound: the one of the
		// stage's workload at 100 ops/s.
		bound = cacheRecoveryBoundAt(cachePlannedReads)
	}
	g := verdict.Guarantee{Name: CacheHitRatioBack,
		Threshold: fmt.Sprintf("the cache serves >= %g of the reads over %v, by %v after the restart", cacheHitTarget, cacheHitWindow, bound),
		Bound:     &verdict.Bound{Since: verdict.SinceInject, D: bound}}
	if !ok {
		return verdict.NotJudgedBecause(g, "no read was sent before the fault: the read rate the bound is derived from is unknown")
	}
	hits, found := check.FirstCacheHitRatio(ev.History, ev.Windows.Inject, cacheHitWindow, cacheHitStep, cacheHitTarget)
	if hits.NoData {
		return verdict.NotJudgedBecause(g, "no read after the restart said how the cache answered (mysite's Mysite-Cache header)")
	}
	if !found {
		g.Measured = "never: at best " + hits.String()
		if end := ev.Windows.Inject + bound; end > ev.History.End {
			// The run was planned for the stage's workload at 100 ops/s;
			// a slower one has a later bound that the run did not reach.
			return verdict.NotJudgedBecause(g, fmt.Sprintf("the bound ends %v after the run", (end-ev.History.End).Round(time.Millisecond)))
		}
		return g
	}
	took := hits.Window.To - ev.Windows.Inject
	g.Measured = fmt.Sprintf("%s in the window ending %v after the restart", hits, took.Round(time.Millisecond))
	g.Value = took.Seconds()
	g.Holds = took <= bound
	return g
}

// cacheNoInvalidationControl: writes leave the cached value alone, so a
// read after a write returns the old value until its TTL (30 s: longer
// than the run) wherever the user was cached. At 10 writes/s over 20 users
// every user is written while cached, about every two seconds.
var cacheNoInvalidationControl = Control{Name: "writes do not invalidate",
	Set: Values(cacheInvalidation.Is("none")), Breaks: []string{CacheNoStaleReads}}

// cacheMargin is what a request may take beyond its cache timeouts on a
// loaded 2-core machine: the database read (p99 4.5-12 ms through the
// stack in stage 3), the load balancer and Toxiproxy hops, the scheduling
// of a stack of eight containers plus the workload, and one retry of the
// load balancer: a read stalled past its read timeout (1 s) is sent to
// another server. 400 ms until 2026-12-05, when CI (two stacks side by
// side on 2 cores, each capped at one, load average 6) saw kill-cache's
// p99 at 1.16 s, max 1.69 s, its median one cache timeout (108 ms): a few
// requests stalled past the read timeout and were retried. So: the read
// timeout and 200 ms for the retried attempt. The control without a cache
// timeout stays far above (p99 3.25-4.06 s: a read waits out the read
// timeout on each of its tries).
const cacheMargin = time.Second + 200*time.Millisecond

// cacheInvalidateAttempts is how many times mysite tries a write's
// invalidation, each bounded by the cache timeout (internal/mysite's
// invalidateAttempts): a stall of a few hundred milliseconds must not leave
// a stale value.
const cacheInvalidateAttempts = 3

// cacheFailFast: a slow or dead cache costs a read one cache timeout (a
// lookup that times out goes to the database and skips the fill) and a
// write at most cacheInvalidateAttempts of them (its invalidation, tried
// again, then given up). So the p99 latency during the fault stays below
// 3 x cache_timeout + cacheMargin (1.5 s with the defaults).
func cacheFailFast(ev Evidence, set Settings) verdict.Guarantee {
	return failFast(ev, cacheFailFastBound(set))
}

func cacheFailFastBound(set Settings) time.Duration {
	return cacheInvalidateAttempts*cacheTimeout.Get(set) + cacheMargin
}

// cacheStaysAvailable: the cache is an optimisation, never a dependency:
// with it slow or gone, reads go to the database. 99% leaves room for a
// request caught in the instant of a kill.
func cacheStaysAvailable(ev Evidence) verdict.Guarantee {
	return StaysAvailable(ev, 0.99)
}

// cacheNoStaleReads: a write deletes the cached copy after the database has
// it, and a lease keeps a read that raced the write from putting the old
// value back: no read returns a value older than a write acknowledged
// before it began.
func cacheNoStaleReads(ev Evidence) verdict.Guarantee {
	return named(CacheNoStaleReads, verdict.NoStaleReads(ev.Stale))
}

func cacheStack(set Settings) stacks.Topology {
	t := stacks.Topology{Name: "cache", Nodes: []stacks.Node{
		{Name: "db", Role: stacks.Postgres()},
		// A cache keeps nothing on disk: a restart starts it empty.
		{Name: "cache", Role: stacks.Redis(), Args: []string{
			"--maxmemory", cacheMaxMemory.Get(set), "--maxmemory-policy", "allkeys-lru",
			"--save", "", "--appendonly", "no"}},
	}}
	stacks.WebTier{
		Servers: cacheServers,
		LB:      webTierLB("leastconn"),
		Args: func(name string) []string {
			return []string{
				"-db", stacks.PostgresDSN("${db}"),
				"-db-timeout", lbMysiteDBTimeout.String(),
				"-cache", "${cache}",
				"-cache-ttl", cacheTTL.Arg(set),
				"-cache-timeout", cacheTimeout.Arg(set),
				"-cache-invalidation", cacheInvalidation.Get(set),
				"-cache-guard", cacheGuard.Get(set),
				// slow-fills turns a failpoint on through it.
				"-failpoints",
				"-name", name,
			}
		},
		Uses: []string{"db", "cache"},
	}.Add(&t)
	return t
}

// cacheIsMemory accepts what Redis's maxmemory takes: a number of bytes with
// an optional unit (kb, mb, gb), 0 for no limit.
func cacheIsMemory(v string) error {
	var n int
	var unit string
	if c, _ := fmt.Sscanf(v, "%d%s", &n, &unit); c >= 1 && n >= 0 {
		switch unit {
		case "", "kb", "mb", "gb":
			return nil
		}
	}
	return fmt.Errorf("want a size such as 64mb, 512kb or 0 (no limit)")
}
