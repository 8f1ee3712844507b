// Package report turns a finished run (*engine.Result) into what a person
// reads: report.json (a stable contract for tools and the matrix) and
// report.html (one self-contained page: the stack, a timeline chart, the
// guarantees and the command to rerun), plus the stage x fault matrix of many
// runs (index.html and matrix.md).
//
// A report renders what the engine measured (Result.Evidence): the same
// numbers the verdict judged, never measured a second time. Only the chart's
// buckets and the asset loads per window are drawn from the history itself.
package report

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/engine"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/stacks"
)

// Report is one run as a person (and the matrix) reads it. Its JSON field
// names are a contract: fields may be added, none renamed or removed.
//
// Numbers that may have no data are pointers, so that "no data" is null in
// JSON and never a 0 that would read as an outage (or a 1 that would hide
// that the workload did not run).
type Report struct {
	Stage       string `json:"stage"`
	StageNumber int    `json:"stage_number,omitempty"` // 0 when the stage is not registered
	StageTitle  string `json:"stage_title,omitempty"`
	Fault       string `json:"fault"`
	// With are the faults injected together with Fault (scalelab run
	// --fault a --fault b); empty for a run of one fault.
	With    []string `json:"with"`
	Control string   `json:"control"` // "" for the fault run
	// ExpectBreak lists the guarantees a control run must break (from the
	// stage's data); empty for a fault run.
	ExpectBreak []string          `json:"expect_break"`
	Settings    map[string]string `json:"settings"` // resolved: defaults and --set values
	Seed        int64             `json:"seed"`
	RunID       string            `json:"run_id"`
	Started     string            `json:"started,omitempty"` // RFC 3339

	Timeline        Timeline     `json:"timeline"`
	Requests        Requests     `json:"requests"`
	Availability    Availability `json:"availability"`
	RecoveryS       *float64     `json:"recovery_s"` // inject -> steady; null: never recovered
	LatencyMS       Latency      `json:"latency_ms"` // whole run
	LatencyDuringMS Latency      `json:"latency_during_ms"`
	// DuringByKind is the fault window's availability and latency for each
	// kind of request in it ("read", "write", ...): what a fault did to the
	// requests that need the broken part and to those that do not (stage
	// 12: a read of an order needs orders alone, placing one needs all
	// three services). Empty for a run without a fault window.
	DuringByKind map[history.Kind]KindDuring `json:"during_by_kind,omitempty"`
	Writes       Writes                      `json:"writes"`
	Reads        Reads                       `json:"reads"`
	Sessions     Sessions                    `json:"sessions"`
	// Attempts is how many runs a control took to show its breach (this
	// report is of the last one), of AttemptsAllowed; 1 of 1 for a fault run.
	// PhasesS is where the run's wall time went, in seconds (boot, warm-up,
	// fault, cool-down, read-back, judge, teardown).
	PhasesS           map[string]float64 `json:"phases_s"`
	Attempts          int                `json:"attempts"`
	AttemptsAllowed   int                `json:"attempts_allowed"`
	Guarantees        []Guarantee        `json:"guarantees"`
	AssumptionsFailed []string           `json:"assumptions_failed"`
	Passed            bool               `json:"passed"`
	// Outcome is whether the run went as it should (a fault's run held every
	// guarantee; a control's broke those it names), with a label and why.
	Outcome   verdict.Outcome `json:"outcome"`
	Rerun     string          `json:"rerun"`
	Artifacts string          `json:"artifacts,omitempty"` // the kept history, verdict and logs
	Buckets   []Bucket        `json:"buckets"`
	Topology  Topology        `json:"topology"`
	// Sampled is what the stack itself reported while the workload ran
	// (e.g. PostgreSQL's replication lag, HAProxy's per-server counts),
	// for stages that sample it; empty otherwise.
	Sampled []Sampled `json:"sampled"`
	// Cache is the cache tier's work in each window, for runs that sampled
	// the cache's counters (stage 5); absent otherwise.
	Cache *Cache `json:"cache,omitempty"`
	// Assets is what the browser-like clients' asset loads got in each
	// window, for runs whose workload loads pages (stage 6, the CDN);
	// absent when the history has no asset load.
	Assets *Assets `json:"assets,omitempty"`
	// DC is where the traffic went, by data center, for runs whose clients
	// reach the site by name (stage 8); absent otherwise.
	DC *DC `json:"dc,omitempty"`
	// Jobs reconciles the jobs submitted with their effects, for runs whose
	// writes submit jobs (stage 9); absent otherwise.
	Jobs *Jobs `json:"jobs,omitempty"`
	// Shards is where the keys lived and how each shard's users fared,
	// for runs of a sharded system (stage 11); absent otherwise.
	Shards *Shards `json:"shards,omitempty"`
	// Breakers are the circuit breakers' states as sampled: each one's
	// first state and every change (stage 12); absent otherwise.
	Breakers []BreakerChange `json:"breakers,omitempty"`
	// Clients are each client's requests and how many were refused with
	// 429 (a rate limit), the abusive client's too (stage 12); absent
	// when no request was refused and no fault sent requests of its own.
	Clients []ClientAnswers `json:"clients,omitempty"`
	// Alerts are the alerts the pager heard, each with when it fired
	// (after the injection) and resolved (after the heal) (stage 10);
	// absent when none was heard.
	Alerts []AlertSeen `json:"alerts,omitempty"`
}

// Shards is a sharded run's keys and users by shard (check.Shards), as
// mysite's answers named each key's shard.
type Shards struct {
	// Availability is each shard's availability during the fault, by the
	// shard its keys lived on before it (null: no op of it).
	Availability map[string]*float64 `json:"availability"`
	// Keys counts the keys each shard held before the fault; UsersHurt
	// those of them that saw a request fail during it.
	Keys      map[string]int `json:"keys"`
	UsersHurt map[string]int `json:"users_hurt"`
	// KeysMovedShare is the share of the keys answered both before the
	// fault and after the heal whose shard changed; null when none was
	// compared. KeysMoved and KeysCompared are its counts.
	KeysMovedShare *float64 `json:"keys_moved_share"`
	KeysMoved      int      `json:"keys_moved"`
	KeysCompared   int      `json:"keys_compared"`
	// MovedAvailability is the availability of the requests of the keys
	// that moved, sent during the fault (null: none).
	MovedAvailability *float64 `json:"moved_availability"`
	// P99MS is each shard's p99 latency during the fault (ms; absent:
	// no request of it), and HotShardP99MS the slowest shard's: the
	// celebrity's, when one is read far more than the others (null: none).
	P99MS         map[string]float64 `json:"p99_ms"`
	HotShardP99MS *float64           `json:"hot_shard_p99_ms"`
}

// shardsWork is the shards section, nil unless some answer named a shard.
func shardsWork(s check.Shards) *Shards {
	if len(s.Keys) == 0 {
		return nil
	}
	out := &Shards{Availability: map[string]*float64{}, Keys: s.Keys, UsersHurt: map[string]int{},
		KeysMoved: s.Moved, KeysCompared: s.Compared, P99MS: map[string]float64{}}
	for name, p99 := range s.P99 {
		out.P99MS[name] = millis(p99)
		if out.HotShardP99MS == nil || millis(p99) > *out.HotShardP99MS {
			out.HotShardP99MS = ptr(millis(p99))
		}
	}
	for name := range s.Keys {
		out.UsersHurt[name] = s.Hurt[name]
		if a, ok := s.During[name]; ok {
			out.Availability[name] = availability(a)
		} else {
			out.Availability[name] = nil
		}
	}
	if s.Compared > 0 {
		out.KeysMovedShare = ptr(round(s.MovedShare, 4))
	}
	if s.Moved > 0 {
		out.MovedAvailability = availability(s.MovedOps)
	}
	return out
}

// Jobs is a queue run's jobs (check.Jobs): what the clients were told and
// what the system did.
type Jobs struct {
	Submitted int `json:"submitted"`
	Confirmed int `json:"confirmed"` // answered 202 (or 200 in sync mode)
	Unknown   int `json:"unknown"`
	Refused   int `json:"refused"`
	Processed int `json:"processed"` // submitted jobs with an effect
	Lost      int `json:"lost"`      // confirmed jobs without an effect
	// Duplicated is how many jobs have more than one effect.
	Duplicated int `json:"duplicated"`
	// LostJobs and DuplicatedJobs name the first ones (at most 10).
	LostJobs       []string `json:"lost_jobs,omitempty"`
	DuplicatedJobs []string `json:"duplicated_jobs,omitempty"`
	// MaxBacklog is the most jobs the queue held at once (sampled every
	// 250 ms through GET /queue); null when the queue was not sampled.
	MaxBacklog *float64 `json:"max_backlog"`
	// DrainS is how long after the heal the queue was first seen empty;
	// null when it was not before the run ended (or not sampled).
	DrainS *float64 `json:"drain_s"`
	// Backlog is the queue's depth as sampled: [seconds since the run
	// started, jobs queued], in time order.
	Backlog [][2]float64 `json:"backlog"`
}

// jobsWork is the Jobs section, nil when the run read no effects back;
// the backlog from the queue's samples (stacks.MysiteQueue).
func jobsWork(j check.Jobs, samples []check.CounterSample, w check.FaultWindows) *Jobs {
	if !j.Checked {
		return nil
	}
	out := &Jobs{Submitted: j.Submitted, Confirmed: j.Confirmed, Unknown: j.Unknown, Refused: j.Refused,
		Processed: j.Processed, Lost: j.LostCount(), Duplicated: j.DuplicatedCount()}
	if b := check.BacklogOf(samples, stacks.GaugeQueueMessages, check.Window{From: 0, To: math.MaxInt64}, w.Heal); b.Sampled {
		out.MaxBacklog = &b.Peak
		for _, s := range samples {
			if v, ok := s.Values[stacks.GaugeQueueMessages]; ok {
				out.Backlog = append(out.Backlog, [2]float64{round(s.At.Seconds(), 3), v})
			}
		}
		if b.Drained && w.Heal > 0 {
			s := b.DrainedAfter.Seconds()
			out.DrainS = &s
		}
	}
	for _, op := range j.Lost[:min(len(j.Lost), 10)] {
		out.LostJobs = append(out.LostJobs, op.Value)
	}
	for _, d := range j.Duplicated[:min(len(j.Duplicated), 10)] {
		out.DuplicatedJobs = append(out.DuplicatedJobs, d.Job)
	}
	return out
}

// DC is a multi-data-center run's traffic and DNS answers. A server's data
// center is its node's home network (stacks.Node.Home).
type DC struct {
	// Split is the share of the requests served before the fault that the
	// first data center (east) served; null when none was.
	Split *float64 `json:"split"`
	// Served counts the requests that succeeded, by data center, in each
	// window.
	Served map[string]DCServed `json:"served"`
	// DNSAnswers counts the clients' lookups in the whole run by the data
	// center their answer named ("failed": no answer).
	DNSAnswers map[string]int `json:"dns_answers"`
	// FailoverS is how long after the injection the last request that did
	// not succeed was sent, within the fault window: how long clients were
	// hurt; null for a run without a fault window, 0 when none failed.
	FailoverS *float64 `json:"failover_s"`
	// WritesLost is the acknowledged writes the final read-back did not
	// find (the RPO, in writes); null without a read-back.
	WritesLost *int `json:"writes_lost"`
	// DivergentKeys counts the keys that both data centers acknowledged
	// writes to while they could not talk (split brain), as the stage's
	// no-divergent-writes guarantee counted them; null for a fault that
	// does not judge it (only a partition can split the writes).
	DivergentKeys *int `json:"divergent_keys"`
}

// DCServed is one data center's successful requests in each window.
type DCServed struct {
	Before int `json:"before"`
	During int `json:"during"`
	After  int `json:"after"`
}

// Assets is the asset loads before, during and after the fault.
type Assets struct {
	Before AssetsWindow `json:"before"`
	During AssetsWindow `json:"during"`
	After  AssetsWindow `json:"after"`
}

// AssetsWindow is one window's asset loads, counted from the history
// (check.Assets over the loads invoked in it): Total, of which Failed, and
// the successful ones split by who served them (FromEdge, FromOrigin: the
// client's fallback).
type AssetsWindow struct {
	Total      int `json:"total"`
	Failed     int `json:"failed"`
	FromEdge   int `json:"from_edge"`
	FromOrigin int `json:"from_origin"`
	// Offload is the share of the loads the origin never saw: 1 - what
	// the origin's own counter (stacks.CounterOriginServed) grew by in the
	// window / the loads that succeeded (Total - Failed), the measure the
	// origin-offload guarantee judges (check.OffloadIn). An edge's misses
	// reach the origin too, which FromOrigin does not show. Omitted when the
	// counter was not sampled in the window or no load succeeded; below 0 when the origin served
	// more than the loads (a miss and a fallback for one load).
	Offload *float64 `json:"offload,omitempty"`
}

// Cache is what the cache tier did before, during and after the fault,
// from the cache Redis's and the database's own statistics (sampled through
// mysite's GET /cache: stacks.MysiteCache), whichever web server answered.
type Cache struct {
	Before CacheWindow `json:"before"`
	During CacheWindow `json:"during"`
	After  CacheWindow `json:"after"`
}

// CacheWindow is one window's cache work. Each number is what the window's
// samples saw grow (check.IncreaseIn: the growth from the window's first
// sample to its last, a restarted Redis's counters counted from 0), and null
// when fewer than two samples in the window carried it (e.g. Redis did not
// answer).
type CacheWindow struct {
	// Hits and Misses are Redis's keyspace hits and misses: every read of a
	// key, the lease guard's reads of its leases included, so HitRatio is
	// Redis's, not exactly the share of users found in the cache.
	Hits   *float64 `json:"hits"`
	Misses *float64 `json:"misses"`
	// HitRatio is Hits/(Hits+Misses); null when either is null or both are 0.
	HitRatio *float64 `json:"hit_ratio"`
	// DBQueriesPerS is the database's transactions per second (committed
	// and rolled back, of every client: the sampler's own read of them
	// counts one per sample) over the span between the window's first and
	// last samples. PostgreSQL publishes a connection's counts at most once
	// a second, so the rate trails the load by about that.
	DBQueriesPerS *float64 `json:"db_queries_per_s"`
}

// Sampled is one of the stack's own numbers, sampled every 250 ms: its
// highest value in each window (null: no sample there). For a gauge (a
// lag) that is its peak; for a counter that only grows, its value at the
// window's end.
type Sampled struct {
	Name      string   `json:"name"`
	MaxBefore *float64 `json:"max_before"`
	MaxDuring *float64 `json:"max_during"`
	MaxAfter  *float64 `json:"max_after"`
}

// Timeline places the fault on the run's clock, in seconds since the start.
type Timeline struct {
	FaultAtS *float64 `json:"fault_at_s"` // first injection; null without a complete fault lifecycle
	HealAtS  *float64 `json:"heal_at_s"`  // last heal
	EndS     float64  `json:"end_s"`      // when the workload stopped
	BucketS  float64  `json:"bucket_s"`   // width of Report.Buckets
	Events   []Event  `json:"events"`
}

// Event is one fault event of the history.
type Event struct {
	AtS   float64 `json:"at_s"`
	Kind  string  `json:"kind"`  // fault-injected, fault-healed
	Fault string  `json:"fault"` // e.g. "latency 3s±0s on web->db"
}

// Requests counts every op invoked during the run by outcome.
type Requests struct {
	Total   int `json:"total"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
}

// Availability is OK/total per window; null when no op was invoked in it.
type Availability struct {
	Overall *float64 `json:"overall"`
	Before  *float64 `json:"before"`
	During  *float64 `json:"during"`
	After   *float64 `json:"after"`
}

// KindDuring is one kind of request's availability and latency during
// the fault.
type KindDuring struct {
	Availability *float64 `json:"availability"`
	LatencyMS    Latency  `json:"latency_ms"`
}

// duringByKind measures each kind of op invoked in the fault window.
func duringByKind(h history.History, during check.Window) map[history.Kind]KindDuring {
	out := map[history.Kind]KindDuring{}
	for _, op := range h.Ops {
		if _, done := out[op.Kind]; done || !during.Contains(op.Invoke) {
			continue
		}
		out[op.Kind] = KindDuring{Availability: availability(check.AvailabilityIn(h, during, op.Kind)),
			LatencyMS: latency(check.LatencyIn(h, during, op.Kind))}
	}
	return out
}

// Latency quantiles in milliseconds over every op of a window, whatever its
// outcome (check.LatencyIn); all null when the window had no op.
type Latency struct {
	Count int      `json:"count"`
	P50   *float64 `json:"p50"`
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
	Max   *float64 `json:"max"`
}

// Writes: acknowledged (OK) writes and those missing after the heal.
type Writes struct {
	Acknowledged int `json:"acknowledged"`
	Lost         int `json:"lost"`
	// Checked is false when the run has no final read-back: Lost is then 0
	// because nothing could be compared, not because nothing was lost.
	Checked bool `json:"checked"`
	// Late are writes of unknown outcome (timed out, 504) seen taking effect
	// after a later acknowledged write to the same key: allowed (the client
	// never learnt the outcome), not lost writes, but worth knowing.
	Late LateWrites `json:"late"`
}

// LateWrites counts the late writes and names their keys.
type LateWrites struct {
	Count int      `json:"count"`
	Keys  []string `json:"keys"`
}

// Reads: Total is the successful reads examined by the stale-read check,
// the denominator of Stale. How stale the stalest read was, two ways: in
// time (how long its value had already been superseded by an acknowledged
// write) and in versions (how many acknowledged writes it missed).
type Reads struct {
	Total             int     `json:"total"`
	Stale             int     `json:"stale"`
	MaxStalenessMS    float64 `json:"max_staleness_ms"`
	MaxVersionsBehind int64   `json:"max_versions_behind"`
	RYWViolations     int     `json:"ryw_violations"`
	Phantoms          int     `json:"phantoms"`
}

// Sessions are what happened to the login sessions, for the stages whose
// users log in (stage 7): Total established, Lost (a request carrying one
// was answered 401). Both 0 where a stage has none.
type Sessions struct {
	Total int `json:"total"`
	Lost  int `json:"lost"`
}

// Guarantee is one judged promise of the run.
type Guarantee struct {
	Name      string `json:"name"`
	Threshold string `json:"threshold"`
	Measured  string `json:"measured"`
	// Value is the number the threshold applies to (its unit the
	// guarantee's: a ratio, milliseconds, a count).
	Value  float64 `json:"value"`
	Holds  bool    `json:"holds"`
	Detail string  `json:"detail"`
	// NotJudged says why the run could not judge it (empty evidence, a
	// bound past the end of the run); the run then does not count.
	NotJudged string `json:"not_judged,omitempty"`
	// ExpectBreak is set on a control run for the guarantees it must break.
	ExpectBreak bool `json:"expect_break,omitempty"`
}

// Bucket is one slice of the run (Timeline.BucketS wide), over the ops
// invoked in it. The latencies are null when it has no op.
type Bucket struct {
	TS      float64  `json:"t_s"`
	OK      int      `json:"ok"`
	Failed  int      `json:"failed"`
	Unknown int      `json:"unknown"`
	P50MS   *float64 `json:"p50_ms"`
	P99MS   *float64 `json:"p99_ms"`
}

// Topology is the stack's shape: its nodes and its links "from->to". The
// pseudo-node "client" (the lab's machine) is not a node; every link passes
// through Proxy.
type Topology struct {
	Nodes []Node   `json:"nodes"`
	Links []string `json:"links"`
	Proxy string   `json:"proxy"`
}

// Node is one server of the stack and what runs on it.
type Node struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Network is the named network the node lives on (a data center's,
	// stage 8), "" for the stack's own or for a node on several.
	Network string `json:"network,omitempty"`
}

// defaultBucket is the chart's bucket width when the run's evidence does
// not carry one (the engine's 250 ms).
const defaultBucket = 250 * time.Millisecond

// FromResult computes the report of a run. It is pure: no I/O, no clock.
func FromResult(r *engine.Result) Report {
	h := r.History
	rep := Report{
		Stage:             r.Spec.Stage,
		Fault:             r.Spec.Fault,
		With:              append([]string{}, r.Spec.With...),
		Control:           r.Spec.Control,
		ExpectBreak:       []string{},
		Settings:          map[string]string{},
		Seed:              r.Seed,
		RunID:             r.RunID,
		Guarantees:        []Guarantee{},
		AssumptionsFailed: append([]string{}, r.Verdict.Assumptions...),
		Passed:            r.Passed(),
		Rerun:             RerunCommand(r.Spec, r.Seed),
		Topology:          topologyOf(r.Topology),
		Artifacts:         r.Artifacts,
	}
	for k, v := range r.Settings {
		rep.Settings[k] = v
	}
	if !r.Started.IsZero() {
		rep.Started = r.Started.UTC().Format(time.RFC3339)
	}
	if st, err := stage.Get(r.Spec.Stage); err == nil {
		rep.StageNumber, rep.StageTitle = st.Number, st.Title
	}
	if r.Control != nil {
		rep.ExpectBreak = append([]string{}, r.Control.Breaks...)
	}
	for _, g := range r.Verdict.Guarantees {
		rep.Guarantees = append(rep.Guarantees, Guarantee{Name: g.Name, Threshold: g.Threshold, Measured: g.Measured,
			Value: g.Value, Holds: g.Holds, Detail: g.Detail, NotJudged: g.NotJudged, ExpectBreak: slices.Contains(rep.ExpectBreak, g.Name)})
	}
	rep.Attempts, rep.AttemptsAllowed = max(r.Attempt, 1), max(r.Attempts, 1)
	ph := r.Phases
	rep.PhasesS = map[string]float64{"boot": round(ph.Boot.Seconds(), 3), "warmup": round(ph.Warmup.Seconds(), 3),
		"fault": round(ph.Fault.Seconds(), 3), "cooldown": round(ph.Cooldown.Seconds(), 3), "read_back": round(ph.ReadBack.Seconds(), 3),
		"judge": round(ph.Judge.Seconds(), 3), "teardown": round(ph.Teardown.Seconds(), 3)}
	rep.Sessions = Sessions{Total: r.Evidence.Sessions.Total, Lost: r.Evidence.Sessions.Count()}

	width := r.Evidence.Recovery.BucketWidth
	if width <= 0 {
		width = defaultBucket
	}

	// What the engine measured (its evidence), rendered; only the chart's
	// buckets and the event list are drawn from the history itself.
	ev := r.Evidence
	end := runEnd(h)
	whole := check.Window{From: 0, To: end, Name: check.Run}
	rep.Timeline = Timeline{EndS: seconds(end), BucketS: seconds(width), Events: events(h)}
	rep.Requests = Requests{Total: ev.Overall.Total(), OK: ev.Overall.OK, Failed: ev.Overall.Failed, Unknown: ev.Overall.Unknown}
	rep.Availability.Overall = availability(ev.Overall)
	rep.LatencyMS = latency(ev.Latency)
	rep.LatencyDuringMS = Latency{}
	if fw := ev.Windows; fw.Heal > fw.Inject {
		rep.Timeline.FaultAtS, rep.Timeline.HealAtS = ptr(seconds(fw.Inject)), ptr(seconds(fw.Heal))
		rep.Availability.Before = availability(ev.Before)
		rep.Availability.During = availability(ev.During)
		rep.Availability.After = availability(ev.After)
		rep.LatencyDuringMS = latency(ev.LatencyDuring)
		rep.DuringByKind = duringByKind(h, ev.Windows.During)
		if ev.Recovery.Recovered {
			rep.RecoveryS = ptr(seconds(ev.Recovery.SinceInject))
		}
	}

	lost := ev.Lost
	rep.Writes = Writes{Acknowledged: lost.Acknowledged, Lost: lost.Count(), Checked: lost.Checked,
		Late: LateWrites{Count: lost.Late.Count(), Keys: append([]string{}, lost.Late.Keys...)}}
	if !lost.Checked {
		// The lost-write check does not count without a read-back, but how
		// many writes were acknowledged is known anyway.
		rep.Writes.Acknowledged = countOps(h, history.Write, history.OK)
	}
	stale := ev.Stale
	rep.Reads = Reads{Total: stale.Reads, Stale: len(stale.Stale), Phantoms: len(stale.Phantoms),
		MaxStalenessMS: millis(stale.MaxStaleness), MaxVersionsBehind: stale.MaxVersionsBehind,
		RYWViolations: len(ev.RYW.Violations)}
	rep.Buckets = buckets(h, whole, width)
	rep.Sampled = sampled(r.Evidence.Counters, r.Evidence.Windows)
	rep.Cache = cacheWork(r.Evidence.Counters, r.Evidence.Windows)
	rep.Assets = assetsWork(h, r.Evidence.Counters, r.Evidence.Windows)
	rep.DC = dcWork(h, r.Topology, r.Evidence.Windows, lost)
	rep.Jobs = jobsWork(r.Evidence.Jobs, r.Evidence.Counters, r.Evidence.Windows)
	rep.Shards = shardsWork(r.Evidence.Shards)
	rep.Breakers = breakerChanges(r.Evidence.Counters)
	rep.Clients = clientAnswers(h)
	rep.Alerts = alertsSeen(r.Evidence.Counters, r.Evidence.Windows)
	if rep.DC != nil {
		// Keys written on both sides mean split brain only where the data
		// centers could not talk: the stage's guarantee says where (a
		// partition), and counted them.
		for _, g := range r.Verdict.Guarantees {
			if g.Name == stage.NoDivergentWrites && g.NotJudged == "" {
				rep.DC.DivergentKeys = ptr(int(g.Value))
			}
		}
	}
	rep.Outcome = r.Outcome()
	return rep
}

// dcWork is the dc section: nil unless the clients looked the site up.
func dcWork(h history.History, t stacks.Topology, w check.FaultWindows, lost check.LostWrites) *DC {
	if len(h.Lookups) == 0 {
		return nil
	}
	dcOf := func(server string) string {
		if n, ok := t.Node(server); ok {
			return n.Home()
		}
		return ""
	}
	nets := t.Networks()
	first := ""
	if len(nets) > 0 {
		first = nets[0]
	}
	d := &DC{Served: map[string]DCServed{}, DNSAnswers: map[string]int{}}
	before, during, after := check.RegionsIn(h, w.Before, first, dcOf), check.RegionsIn(h, w.During, first, dcOf), check.RegionsIn(h, w.After, first, dcOf)
	if before.Total > 0 {
		d.Split = ptr(round(before.Share, 3))
	}
	for _, dc := range nets {
		if s := (DCServed{Before: before.Served[dc], During: during.Served[dc], After: after.Served[dc]}); s != (DCServed{}) {
			d.Served[dc] = s
		}
	}
	for _, l := range h.Lookups {
		switch {
		case l.Answer == "":
			d.DNSAnswers["failed"]++
		case l.DC == "":
			d.DNSAnswers["unknown"]++
		default:
			d.DNSAnswers[l.DC]++
		}
	}
	if w.Heal > w.Inject {
		m := check.MovedAfter(h, w.Inject, w.Heal, 0)
		d.FailoverS = ptr(seconds(m.LastFailed))
	}
	if lost.Checked {
		d.WritesLost = ptr(lost.Count())
	}
	return d
}

// sampled summarises the stack's samples per fault window, names sorted.
func sampled(samples []check.CounterSample, w check.FaultWindows) []Sampled {
	byName := map[string]*Sampled{}
	for _, s := range samples {
		for name, v := range s.Values {
			e := byName[name]
			if e == nil {
				e = &Sampled{Name: name}
				byName[name] = e
			}
			for _, slot := range []struct {
				win check.Window
				max **float64
			}{{w.Before, &e.MaxBefore}, {w.During, &e.MaxDuring}, {w.After, &e.MaxAfter}} {
				if slot.win.Contains(s.At) && (*slot.max == nil || v > **slot.max) {
					*slot.max = ptr(round(v, 3))
				}
			}
		}
	}
	out := make([]Sampled, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// cacheWork is the cache section: nil unless some sample carries the cache
// tier's counters.
func cacheWork(samples []check.CounterSample, w check.FaultWindows) *Cache {
	names := []string{stacks.CounterCacheHits, stacks.CounterCacheMisses, stacks.CounterDBTransactions}
	if !slices.ContainsFunc(samples, func(s check.CounterSample) bool {
		return slices.ContainsFunc(names, func(n string) bool { _, ok := s.Values[n]; return ok })
	}) {
		return nil
	}
	return &Cache{Before: cacheWindow(samples, w.Before), During: cacheWindow(samples, w.During), After: cacheWindow(samples, w.After)}
}

func cacheWindow(samples []check.CounterSample, w check.Window) CacheWindow {
	var cw CacheWindow
	hits := check.IncreaseIn(samples, w, stacks.CounterCacheHits)
	misses := check.IncreaseIn(samples, w, stacks.CounterCacheMisses)
	if !hits.NoData() {
		cw.Hits = ptr(hits.Delta)
	}
	if !misses.NoData() {
		cw.Misses = ptr(misses.Delta)
	}
	if cw.Hits != nil && cw.Misses != nil && hits.Delta+misses.Delta > 0 {
		cw.HitRatio = ptr(round(hits.Delta/(hits.Delta+misses.Delta), 4))
	}
	if rate, ok := check.IncreaseIn(samples, w, stacks.CounterDBTransactions).PerSecond(); ok {
		cw.DBQueriesPerS = ptr(round(rate, 2))
	}
	return cw
}

// assetsWork is the assets section: nil unless the history has an asset
// load. The counts come from the history, as the chart's buckets do: they
// are what the clients saw, the one thing the engine's evidence does not
// carry per window.
func assetsWork(h history.History, samples []check.CounterSample, w check.FaultWindows) *Assets {
	if !slices.ContainsFunc(h.Ops, func(op history.Op) bool { return op.Kind == history.Asset }) {
		return nil
	}
	return &Assets{Before: assetsWindow(h, samples, w.Before), During: assetsWindow(h, samples, w.During), After: assetsWindow(h, samples, w.After)}
}

func assetsWindow(h history.History, samples []check.CounterSample, w check.Window) AssetsWindow {
	s := check.Assets(h, w)
	aw := AssetsWindow{Total: s.Total, Failed: s.Failed, FromEdge: s.FromEdge, FromOrigin: s.FromOrigin}
	// Over the loads that succeeded, as the origin-offload guarantee counts.
	if offload, ok := check.OffloadIn(samples, w, stacks.CounterOriginServed, s.OK); ok {
		aw.Offload = ptr(round(offload, 4))
	}
	return aw
}

// RerunCommand is the command line that replays a run: the same stage,
// faults, control, seed and --set values. Settings the run did not set stay
// at their defaults, which is what they were. --rate is repeated only when
// it differs from the default, since it changes the schedule the seed makes.
func RerunCommand(spec engine.Spec, seed int64) string {
	parts := []string{"scalelab", "run", shellQuote(spec.Stage), "--fault", shellQuote(spec.Fault)}
	for _, f := range spec.With {
		parts = append(parts, "--fault", shellQuote(f))
	}
	if spec.Control != "" {
		// Always quoted: control names are sentences.
		parts = append(parts, "--control", singleQuote(spec.Control))
	}
	parts = append(parts, "--seed", strconv.FormatInt(seed, 10))
	keys := make([]string, 0, len(spec.Set))
	for k := range spec.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, "--set", shellQuote(k+"="+spec.Set[k]))
	}
	// --rate is repeated only when it differs from the engine's default.
	if rate := spec.Workload.Rate; rate != 0 && rate != engine.DefaultSpec(engine.Spec{}).Workload.Rate {
		parts = append(parts, "--rate", strconv.FormatFloat(rate, 'g', -1, 64))
	}
	return strings.Join(parts, " ")
}

// shellQuote leaves plain words alone and single-quotes anything a POSIX
// shell would split or expand.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c))
	}) < 0 {
		return s
	}
	return singleQuote(s)
}

func singleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func topologyOf(t stacks.Topology) Topology {
	out := Topology{Nodes: []Node{}, Links: t.LinkNames(), Proxy: stacks.ProxyNode}
	for _, n := range t.Nodes {
		// A node on several named networks (stage 8's DNS server, which
		// checks every data center) belongs to none of them.
		net := ""
		if len(n.Networks) == 1 {
			net = n.Networks[0]
		}
		out.Nodes = append(out.Nodes, Node{Name: n.Name, Kind: n.Role.Kind, Network: net})
	}
	return out
}

// runEnd is h.End, or the last invocation when End is missing (a broken
// history still gets a chart; Assumptions reports the missing End).
func runEnd(h history.History) time.Duration {
	end := h.End
	for _, op := range h.Ops {
		if op.Invoke >= end {
			end = op.Invoke + 1
		}
	}
	return end
}

func events(h history.History) []Event {
	evs := append([]history.Event(nil), h.Events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, Event{AtS: seconds(e.At), Kind: string(e.Kind), Fault: e.Fault})
	}
	return out
}

func availability(a check.Availability) *float64 {
	if a.NoData {
		return nil
	}
	return ptr(a.Value)
}

func latency(l check.Latency) Latency {
	if l.NoData {
		return Latency{}
	}
	return Latency{Count: l.Count, P50: ptr(millis(l.P50)), P90: ptr(millis(l.P90)), P99: ptr(millis(l.P99)), Max: ptr(millis(l.Max))}
}

// buckets slices the run like the recovery check does and adds each
// bucket's latency quantiles. The quantiles are exact (nearest rank over the
// bucket's ops) rather than from check.LatencyIn: a histogram per 250 ms
// would allocate a few hundred KB per bucket for a line on a chart.
func buckets(h history.History, whole check.Window, width time.Duration) []Bucket {
	bs, err := check.Buckets(h, whole, width)
	if err != nil || len(bs) == 0 {
		return []Bucket{}
	}
	lat := make([][]time.Duration, len(bs))
	for _, op := range h.Ops {
		if whole.Contains(op.Invoke) {
			i := int((op.Invoke - whole.From) / width)
			lat[i] = append(lat[i], max(op.Latency(), 0))
		}
	}
	out := make([]Bucket, len(bs))
	for i, b := range bs {
		out[i] = Bucket{TS: seconds(b.Start), OK: b.OK, Failed: b.Failed, Unknown: b.Unknown}
		if len(lat[i]) > 0 {
			slices.Sort(lat[i])
			out[i].P50MS = ptr(millis(quantile(lat[i], 0.50)))
			out[i].P99MS = ptr(millis(quantile(lat[i], 0.99)))
		}
	}
	return out
}

// quantile is the nearest-rank quantile of sorted, non-empty values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func countOps(h history.History, kind history.Kind, out history.Outcome) int {
	n := 0
	for _, op := range h.Ops {
		if op.Kind == kind && op.Outcome == out {
			n++
		}
	}
	return n
}

// seconds and millis round to the microsecond: more digits are noise and
// make the JSON hard to read.
func seconds(d time.Duration) float64 { return round(d.Seconds(), 6) }
func millis(d time.Duration) float64  { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

func ptr[T any](v T) *T { return &v }
