// Package engine runs one experiment: boot a stage's stack, drive the
// workload through it, inject the fault on the workload's clock, heal it,
// read every written key back, and judge the history.
//
//	stage -> stack -> workload -> fault -> history -> checkers -> verdict
//
// The specs and the scalelab command both run experiments through Run: one
// code path.
package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/docker"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/images"
	"github.com/scalelab/scalelab/internal/stage"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Spec is one experiment.
type Spec struct {
	Stage string
	Fault string
	// With are more of the stage's faults, injected after Fault in the order
	// given and healed together with it (a lagging replica and then a dead
	// primary is one run). Their guarantees are judged too.
	With     []string
	Set      stage.Settings // --set values; defaults fill the rest
	Control  string         // name of one of the fault's controls; "" runs the fault itself
	Workload workload.Config
	// Phases, on the workload's clock: Warmup before the fault, FaultFor with
	// the fault in place, Cooldown after the heal.
	Warmup, FaultFor, Cooldown time.Duration
	// Results is where a run's artifacts go (a directory per run). Artifacts
	// are kept when the run fails or KeepArtifacts is set.
	Results       string
	KeepArtifacts bool
	Progress      func(string) // one line per step; nil: silent
	// OverlapTeardown leaves the stack's removal to the background when the
	// run is done, to overlap the next run's boot (teardown.go); the next
	// run waits for it before its workload starts. The driver must call
	// WaitTeardowns before it exits. Phases.Teardown is then 0.
	OverlapTeardown bool
	// CPUs caps the whole stack at this many CPUs (stacks.WithCPUBudget):
	// how runs side by side keep out of each other's way. 0: no cap.
	CPUs float64
}

// DefaultSpec fills what a spec leaves zero with the lab's defaults. The
// phases are as short as the verdict allows: at 100 ops/s every window needs
// 0.2 s for its minimum of operations; the warm-up's 2 s also let the
// connection pools fill (the first requests of a run are slower); the
// cool-down is defaultCooldown after the last heal, unless a guarantee's time
// bound needs more (Resolve), and the run goes on as long as heals take
// (coolDownEnd).
func DefaultSpec(s Spec) Spec {
	w := &s.Workload
	if w.Rate == 0 {
		w.Rate = 100
	}
	if w.Clients == 0 {
		w.Clients = workload.DefaultClients
	}
	if w.Keys == 0 {
		w.Keys = 100
	}
	if w.ReadRatio == 0 {
		w.ReadRatio = 0.5
	}
	if w.Timeout == 0 {
		w.Timeout = 5 * time.Second
		if st, err := stage.Get(s.Stage); err == nil && st.ClientTimeout > 0 {
			w.Timeout = st.ClientTimeout
		}
	}
	if st, err := stage.Get(s.Stage); err == nil && st.Workload != nil {
		st.Workload(w)
	}
	if s.Warmup == 0 {
		s.Warmup = 2 * time.Second
	}
	if s.FaultFor == 0 {
		s.FaultFor = 5 * time.Second
		if st, err := stage.Get(s.Stage); err == nil {
			if f, err := st.Fault(s.Fault); err == nil && f.Window > 0 {
				s.FaultFor = f.Window
			}
		}
	}
	if s.Cooldown == 0 {
		s.Cooldown = defaultCooldown
	}
	if s.Results == "" {
		// Beside the repository's go.mod when run from inside it (the specs
		// run in specs/), else in the working directory.
		s.Results = "results"
		if root, err := images.FindRepoRoot(); err == nil {
			s.Results = filepath.Join(root, "results")
		}
	}
	return s
}

// Result is a finished run.
type Result struct {
	Spec      Spec
	Settings  stage.Settings // resolved
	RunID     string
	Seed      int64
	Started   time.Time
	History   history.History
	Evidence  stage.Evidence
	Verdict   verdict.Verdict
	Stats     workload.Stats
	Topology  stacks.Topology
	Artifacts string // directory, when kept
	// Control is the negative control this run was (nil: the fault's own
	// run). Attempt is which run of it this was, of Attempts it had (a
	// control whose breach happens by chance gets several): 1 of 1 for a
	// fault's own run.
	Control           *stage.Control
	Attempt, Attempts int
	// Phases is where the run's wall time went.
	Phases Phases

	// injectAt is when the fault went in, on the run's clock: after the
	// warm-up, once the system was steady. unsteady says why it was not
	// (the run does not count).
	injectAt time.Duration
	unsteady string
	// lagDecidedNothing, when set, says why a control's run counts although
	// its load generator fell behind (judge).
	lagDecidedNothing string
}

// Phases is where a run's wall time went, phase by phase: what to shorten
// when the matrix is slow. Warm-up, fault and cool-down are measured on the
// workload's clock (first injection, last heal, end); Teardown is known
// only once Run has returned.
type Phases struct {
	Boot     time.Duration `json:"boot_ns"` // stack boot until /readyz answers
	Warmup   time.Duration `json:"warmup_ns"`
	Fault    time.Duration `json:"fault_ns"`
	Cooldown time.Duration `json:"cooldown_ns"`
	ReadBack time.Duration `json:"read_back_ns"`
	Judge    time.Duration `json:"judge_ns"` // checkers and verdict
	Teardown time.Duration `json:"teardown_ns"`
}

// String is the run's narration line of where its time went (without the
// teardown, not known yet), the one `make test` adds up over the suite
// (internal/junitfail): "time: boot 8.1s, warm-up 3.2s, ...".
func (p Phases) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	return fmt.Sprintf("time: boot %v, warm-up %v, fault %v, cool-down %v, read-back %v, judge %v",
		r(p.Boot), r(p.Warmup), r(p.Fault), r(p.Cooldown), r(p.ReadBack), r(p.Judge))
}

// Outcome says whether the run went as it should (verdict.Outcome): a
// fault's run held every guarantee, a control's run broke those it names.
func (r *Result) Outcome() verdict.Outcome {
	if r == nil {
		return verdict.Outcome{Label: "no run ✗"}
	}
	var breaks []string
	if r.Control != nil {
		breaks = r.Control.Breaks
	}
	return r.Verdict.Outcome(r.Control != nil, breaks, r.Attempt, r.Attempts)
}

// Passed tells whether every guarantee held and the run's assumptions were met.
func (r *Result) Passed() bool { return r != nil && r.Verdict.Passed() }

// Guarantee finds a judged guarantee by name.
func (r *Result) Guarantee(name string) (verdict.Guarantee, bool) {
	for _, g := range r.Verdict.Guarantees {
		if g.Name == name {
			return g, true
		}
	}
	return verdict.Guarantee{}, false
}

// Checker parameters: availability is judged per bucket of 250 ms (recovery
// times are measured to that resolution, and a stage's counters are sampled
// as often), and "steady" means >= 99% of a bucket's requests succeed.
const (
	bucket          = 250 * time.Millisecond
	steadyThreshold = 0.99
	minOpsPerWindow = 20
	readBackRetries = 5
	// readBackWithin bounds the whole read-back (plus readBackPerKey for
	// each key: 4 workers read 100 keys in under a second when the system
	// answers). Each GET may take twice the clients' timeout: a system
	// that answers none within that is not answering. Before 2026-12-05 a
	// GET could take 60 s, and a stack left overloaded by its fault (stage
	// 8 under inter-dc-latency, on a 2-core CI machine) held the read-back
	// past its spec's 4-minute timeout: the spec got a goroutine dump, not
	// the run's "read-back failed" that says why.
	readBackWithin = 60 * time.Second
	readBackPerKey = 10 * time.Millisecond
	// maxSendLagP99 is how late the generator may send its requests (p99,
	// against their schedule) for the run to count. The generator holds a
	// 4,000 ops/s schedule with p99 2.6 ms on 2 cores (BENCHMARKS.md); the
	// lab runs 100 ops/s, and the tightest latency bound it judges is
	// 500 ms above a timeout: 50 ms of lateness stays an order below it.
	// Measured over the 60-run matrix alone on 2 cores: p99 1.4-24.7 ms
	// (median 6 ms); with a second stack's specs on the same cores: 58-224 ms.
	maxSendLagP99 = 50 * time.Millisecond
)

// Plan is a resolved experiment: what Run will do, decided before anything
// boots. Resolve is pure (no Docker), so bad input is refused at once.
type Plan struct {
	Spec     Spec // defaults filled in, phases final
	Stage    stage.Stage
	Faults   []stage.Fault // the fault, then With and the control's With
	Control  *stage.Control
	Settings stage.Settings
}

// Resolve checks a spec and decides its phases. It refuses settings that
// would make a guarantee unable to fail (a negative availability floor, a
// slow server with no latency, a failover due after the heal) and bounds
// that need more than maxCooldown after the heal. The cool-down lasts until
// the largest time bound a guarantee judges has passed, plus
// check.SteadyFor to see the system steady there: a bound is decided inside
// the run, never assumed.
func Resolve(spec Spec) (Plan, error) {
	spec = DefaultSpec(spec)
	st, err := stage.Get(spec.Stage)
	if err != nil {
		return Plan{}, err
	}
	fault, err := st.Fault(spec.Fault)
	if err != nil {
		return Plan{}, err
	}
	all := []stage.Fault{fault}
	for _, id := range spec.With {
		f, err := st.Fault(id)
		if err != nil {
			return Plan{}, err
		}
		if slices.ContainsFunc(all, func(g stage.Fault) bool { return g.ID == f.ID }) {
			return Plan{}, fmt.Errorf("fault %s is given twice", f.ID)
		}
		all = append(all, f)
	}
	set := spec.Set
	var control *stage.Control
	if spec.Control != "" {
		if control, err = fault.FindControl(spec.Control); err != nil {
			return Plan{}, err
		}
		set = merge(set, control.Set)
		if control.Workload != nil {
			control.Workload(&spec.Workload)
		}
		for _, id := range control.With {
			f, err := st.Fault(id)
			if err != nil {
				return Plan{}, fmt.Errorf("control %q: %w", control.Name, err)
			}
			if slices.ContainsFunc(all, func(g stage.Fault) bool { return g.ID == f.ID }) {
				continue // already given with --fault
			}
			all = append(all, f)
		}
	}
	set, err = st.Resolve(set, all...)
	if err != nil {
		return Plan{}, err
	}
	if spec.Cooldown, err = observeUntilBounds(spec, all, set); err != nil {
		return Plan{}, err
	}
	spec.Workload.Duration = spec.Warmup + spec.FaultFor + spec.Cooldown
	spec.Workload = spec.Workload.WithSeed()
	if err := spec.Workload.Validate(); err != nil {
		return Plan{}, err
	}
	return Plan{Spec: spec, Stage: st, Faults: all, Control: control, Settings: set}, nil
}

// observeUntilBounds judges the faults' guarantees on the planned windows
// (no measurements yet) to learn their bounds and whether the settings make
// any of them vacuous, and returns the cool-down that covers every bound.
func observeUntilBounds(spec Spec, fs []stage.Fault, set stage.Settings) (time.Duration, error) {
	w, f := spec.Warmup, spec.FaultFor
	planned := stage.Evidence{Windows: check.FaultWindows{
		Before: check.Window{From: 0, To: w, Name: check.Before},
		During: check.Window{From: w, To: w + f, Name: check.During},
		After:  check.Window{From: w + f, To: w + f + spec.Cooldown, Name: check.After},
		Inject: w, Heal: w + f,
	}}
	cooldown := spec.Cooldown
	for _, flt := range fs {
		for _, g := range flt.Guarantees(planned, set) {
			if g.Vacuous != "" {
				return 0, fmt.Errorf("fault %s, guarantee %s: %s (settings %s)", flt.ID, g.Name, g.Vacuous, set)
			}
			b := g.Bound
			if b == nil {
				continue
			}
			// After the bound, the run must go on SteadyFor (steadiness is
			// judged to the end of the run), plus a bucket for where the
			// bound falls in the bucket grid.
			past := b.D + check.SteadyFor + bucket
			switch {
			case b.WhileFaulted:
				// Decided at the heal: the recovery must come before it.
			case b.Since == verdict.SinceHeal:
				cooldown = max(cooldown, past)
			default:
				cooldown = max(cooldown, past-f)
			}
		}
	}
	if cooldown > maxCooldown {
		return 0, fmt.Errorf("a bound the guarantees judge needs the run observed %v after the heal, more than the %v a run may last after it: the bound is longer than the run (settings %s)",
			cooldown.Round(time.Millisecond), maxCooldown, set)
	}
	return cooldown, nil
}

// maxCooldown caps how long a run is observed after the heal: a bound that
// needs more is a setting mistake, not an experiment.
const maxCooldown = time.Minute

// Run runs one experiment. The error is for setup failures (bad spec, no
// Docker, a stack that does not boot); a guarantee that breaks is a Result
// whose Verdict did not pass.
//
// A run whose load generator fell behind its schedule (an overloaded
// machine: runs side by side, a compile next door) does not count: its
// latencies would measure the lab. Run then runs it again, with a fresh
// schedule (or the same seed, if the spec names one), up to overloadRuns
// runs in all, and returns the last.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	for i := 1; ; i++ {
		start := time.Now()
		res, err := runOnce(ctx, spec)
		if err != nil || !res.overloaded() && res.unsteady == "" || i == overloadRuns || ctx.Err() != nil {
			return res, err
		}
		// A run that would not end before ctx's deadline (a spec's timeout)
		// is not started: the caller gets the run that did not count, which
		// says why, rather than a timeout in the middle of the next one.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < time.Since(start)*5/4 {
			if spec.Progress != nil {
				spec.Progress(fmt.Sprintf("this run does not count, and another (%v the last one took) would not end within the %v left: not running it again",
					time.Since(start).Round(time.Second), time.Until(dl).Round(time.Second)))
			}
			return res, err
		}
		if spec.Progress != nil && res.unsteady != "" {
			spec.Progress(fmt.Sprintf("%s: this run does not count; running it again (%d of %d)", res.unsteady, i+1, overloadRuns))
		} else if spec.Progress != nil {
			spec.Progress(fmt.Sprintf("the load generator fell behind (send lag p99 %v > %v): this run does not count; running it again (%d of %d)",
				res.Stats.LagP99.Round(time.Millisecond), maxSendLagP99, i+1, overloadRuns))
		}
		// The same spec again: a fresh schedule, unless it names its seed
		// (a replay keeps it).
	}
}

// overloadRuns is how many runs Run makes at most while the generator falls
// behind: a machine that stays overloaded gets a run that does not count,
// not an endless loop.
const overloadRuns = 3

// overloaded tells whether the generator fell behind its schedule.
func (r *Result) overloaded() bool {
	return r != nil && r.Stats.LagP99 > maxSendLagP99 && r.lagDecidedNothing == ""
}

func runOnce(ctx context.Context, spec Spec) (*Result, error) {
	plan, err := Resolve(spec)
	if err != nil {
		return nil, err
	}
	spec, st, fault, all, control, set := plan.Spec, plan.Stage, plan.Faults[0], plan.Faults, plan.Control, plan.Settings
	say := spec.Progress
	if say == nil {
		say = func(string) {}
	}

	res := &Result{Spec: spec, Settings: set, RunID: docker.RunID(), Seed: spec.Workload.Seed, Started: time.Now(), Control: control, Attempt: 1, Attempts: 1}
	res.Topology = st.Stack(set)
	say(fmt.Sprintf("run %s: stage %s, fault %s%s, seed %d, settings %s",
		res.RunID, st.ID, fault.ID, controlNote(control), res.Seed, set))
	say(machineNote(ctx))

	if len(res.Topology.Nodes) >= bigStack {
		// A big stack boots after an earlier run's teardown, not beside
		// it: stage 8's 11 containers booting while the previous 11 were
		// removed drove the load average to 20-31 on 2 cores, Docker
		// refused to remove a network that still "has active endpoints",
		// and the DNS server's health checks and heals ran out of time
		// (a whole suite's run, 2026-12-04 23:48-23:56).
		awaitTeardowns(ctx, say)
	}
	say("booting the stack")
	bootStart := time.Now()
	opts := []stacks.Option{stacks.WithProgress(func(l string) { say("  " + l) })}
	if spec.CPUs > 0 {
		opts = append(opts, stacks.WithCPUBudget(spec.CPUs))
	}
	stack, err := stacks.Boot(ctx, res.Topology, opts...)
	defer func() {
		if spec.OverlapTeardown {
			teardownLater("the teardown of run "+res.RunID+"'s stack "+st.ID, func() error { return stack.Terminate(ctx) })
			return
		}
		t := time.Now()
		if terr := stack.Terminate(ctx); terr != nil {
			say(fmt.Sprintf("warning: teardown: %v", terr))
		}
		res.Phases.Teardown = time.Since(t)
	}()
	if err != nil {
		return nil, err
	}
	at, err := reachStack(ctx, st, set, stack)
	if err != nil {
		return nil, err
	}
	base, dial := at.base, at.dial
	res.Phases.Boot = time.Since(bootStart)
	// An earlier run's stack, removed in the background while this one
	// booted, is gone before anything is measured.
	awaitTeardowns(ctx, say)

	// The workload runs on its own goroutine; the fault schedule below runs
	// on the same clock.
	clock := workload.NewClock()
	rec := workload.NewRecorder(clock)
	type ran struct {
		stats workload.Stats
		err   error
	}
	done := make(chan ran, 1)
	// The workload may run past its planned end while heals take longer
	// than planned (a former primary rebuilding itself): the cool-down is
	// counted from the last heal, and End is set once every heal is done.
	wcfg, err := stageWorkload(ctx, st, set, stack, at, spec.Workload)
	if err != nil {
		return nil, err
	}
	countersAt := base // where the stage's counters are read
	if st.CountersVia != "" {
		if countersAt, err = stack.URL(ctx, st.CountersVia); err != nil {
			return nil, fmt.Errorf("the counters' link %s: %w", st.CountersVia, err)
		}
	}
	say(describeWorkload(st, wcfg))
	wcfg.Duration += faults.HealedWithin + steadyWithin
	wcfg.End = &workload.End{}
	go func() {
		_, stats, err := workload.Run(ctx, wcfg, base, clock, rec)
		done <- ran{stats, err}
	}()
	stopSampling := sampleCounters(ctx, st.Counters, countersAt, clock)

	var problems []string
	injections, injectErr := res.inject(ctx, stack, all, control, set, rec, spec, say)
	if injectErr != nil {
		problems = append(problems, injectErr.Error())
	}
	if res.unsteady != "" {
		problems = append(problems, res.unsteady)
	}
	lastHeal, healErr := res.heal(ctx, injections, rec, spec, say)
	if healErr != nil {
		problems = append(problems, healErr.Error())
	}
	for _, t := range faults.Tallies(injections) {
		rec.AddTally(t)
	}
	wcfg.End.Set(coolDownEnd(spec, lastHeal, clock.Now()))

	say("cooling down")
	r := <-done
	counters := stopSampling()
	res.Stats = r.stats
	if r.err != nil && ctx.Err() != nil {
		return res, fmt.Errorf("interrupted: %w", ctx.Err())
	}

	readStart := time.Now()
	if st.Effects != nil {
		say("reading every job's effects once the queue drained")
		effects, err := st.Effects(ctx, base)
		if err != nil {
			problems = append(problems, "reading the jobs' effects after the run failed, so lost and doubled jobs cannot be judged: "+err.Error())
		}
		rec.SetEffects(effects)
	} else {
		say("reading every written key back")
		keys := rec.WrittenKeys()
		rctx, cancel := context.WithTimeout(ctx, readBackWithin+time.Duration(len(keys))*readBackPerKey)
		final, err := workload.ReadBackVia(rctx, base, st.Service, dial, keys, 2*spec.Workload.Timeout, readBackRetries)
		cancel()
		if err != nil {
			problems = append(problems, "read-back after the run failed, so lost writes cannot be judged: "+err.Error())
		}
		rec.SetFinal(final)
	}
	res.Phases.ReadBack = time.Since(readStart)
	res.History = rec.History()
	if st.Site != nil {
		nameAnswers(ctx, stack, res.History.Lookups)
	}

	judgeStart := time.Now()
	res.judge(all, set, problems, counters)
	res.Phases.Judge = time.Since(judgeStart)
	if res.lagDecidedNothing != "" {
		say(res.lagDecidedNothing)
	}
	if w := res.Evidence.Windows; w.Heal > w.Inject {
		res.Phases.Warmup, res.Phases.Fault, res.Phases.Cooldown = w.Inject, w.Heal-w.Inject, res.History.End-w.Heal
	}
	// What the checkers saw, judged or not: a stage that promises nothing
	// about staleness still shows how stale its reads were.
	ev := res.Evidence
	if st.PageLoads != nil {
		// Page loads: no writes, no reads of users; what the browsers saw.
		var seen []string
		for _, w := range ev.Windows.All() {
			seen = append(seen, check.Assets(res.History, w).String())
		}
		say(fmt.Sprintf("seen: %s; generator send lag p99 %v", strings.Join(seen, "; "), res.Stats.LagP99.Round(100*time.Microsecond)))
	} else if st.Effects != nil {
		say(fmt.Sprintf("seen: jobs %v; generator send lag p99 %v", ev.Jobs, res.Stats.LagP99.Round(100*time.Microsecond)))
	} else {
		say(fmt.Sprintf("seen: writes %v; reads %v; read-your-writes %v; generator send lag p99 %v",
			ev.Lost, ev.Stale, ev.RYW, res.Stats.LagP99.Round(100*time.Microsecond)))
	}
	say(res.Phases.String())
	say(res.Verdict.String())
	// Artifacts are for runs that are not as they should be: a fault run
	// that broke, or a control whose guarantees held (a control that broke
	// them as expected is the check working, and would fill results/ with
	// one directory per control of every matrix).
	if !res.Outcome().AsExpected || spec.KeepArtifacts {
		dir, err := res.keep(ctx, stack)
		if err != nil {
			say(fmt.Sprintf("warning: keeping artifacts: %v", err))
		} else {
			res.Artifacts = dir
			say("artifacts in " + dir)
			if n, err := pruneArtifacts(spec.Results, KeepLastArtifacts); err != nil {
				say(fmt.Sprintf("warning: pruning %s: %v", spec.Results, err))
			} else if n > 0 {
				say(fmt.Sprintf("removed the %d oldest artifact folders of %s: it keeps the last %d (and every run's with --keep)", n, spec.Results, KeepLastArtifacts))
			}
		}
	}
	return res, nil
}

// RunControl runs one of a fault's negative controls until every guarantee
// it names breaks in a run that counts, or its attempts are used up. It
// returns the last run and how many runs it took.
func RunControl(ctx context.Context, spec Spec) (*Result, int, error) {
	st, err := stage.Get(spec.Stage)
	if err != nil {
		return nil, 0, err
	}
	f, err := st.Fault(spec.Fault)
	if err != nil {
		return nil, 0, err
	}
	c, err := f.FindControl(spec.Control)
	if err != nil {
		return nil, 0, err
	}
	attempts := max(c.Attempts, 1)
	var res *Result
	for i := 1; i <= attempts; i++ {
		if res, err = Run(ctx, spec); err != nil {
			return res, i, err
		}
		res.Attempt, res.Attempts = i, attempts
		if res.Outcome().AsExpected {
			if attempts > 1 && spec.Progress != nil {
				spec.Progress(fmt.Sprintf("the control showed %s in run %d of %d", strings.Join(c.Breaks, ", "), i, attempts))
			}
			return res, i, nil
		}
		if i < attempts && spec.Progress != nil {
			spec.Progress(fmt.Sprintf("the control did not show %s in run %d of %d; running it again", strings.Join(c.Breaks, ", "), i, attempts))
		}
		spec.Workload.Seed = 0 // a fresh schedule each attempt
	}
	return res, attempts, nil
}

// inject waits for the warm-up, then injects the fault (or the control's
// no-ops), records the event, and waits until the fault has landed.
func (res *Result) inject(ctx context.Context, stack *stacks.Stack, fs []stage.Fault, control *stage.Control,
	set stage.Settings, rec *workload.Recorder, spec Spec, say func(string)) ([]*faults.Injection, error) {
	if err := waitUntil(ctx, rec.Clock(), spec.Warmup); err != nil {
		return nil, err
	}
	unsteady, err := waitSteady(ctx, rec)
	if err != nil {
		return nil, err
	}
	res.unsteady, res.injectAt = unsteady, rec.Clock().Now()
	var toInject []faults.Fault
	for _, f := range fs {
		toInject = append(toInject, f.Inject(set)...)
	}
	late := &faults.LateGroup{}
	for i, flt := range toInject {
		if control != nil && control.NoOp {
			flt = faults.NoOp{On: flt.Target()}
		}
		if control != nil && control.RecoverLate > 0 {
			flt = faults.LateRecovery{By: control.RecoverLate, Fault: flt, Interrupt: ctx.Done(), Group: late}
		}
		toInject[i] = flt
	}
	var ins []*faults.Injection
	for _, step := range faults.Steps(toInject) {
		in, err := faults.ApplyStep(ctx, stack, step, func(flt faults.Fault) {
			say("injecting: " + flt.Name())
			rec.Event(history.FaultInjected, flt.Name(), "")
		})
		ins = append(ins, in...)
		if err != nil {
			return ins, err
		}
	}
	return ins, nil
}

// heal waits for the end of the fault window, then recovers every injected
// fault (recorded at the moment recovery starts) and waits until each is healed.
// It returns when the last heal was recorded (0 when nothing was injected).
func (res *Result) heal(ctx context.Context, ins []*faults.Injection, rec *workload.Recorder, spec Spec, say func(string)) (lastHeal time.Duration, err error) {
	waitErr := waitUntil(ctx, rec.Clock(), max(res.injectAt, spec.Warmup)+spec.FaultFor)
	record := func(in *faults.Injection) {
		if nr, ok := in.Fault.(faults.NeverRecovered); ok {
			// The window ends (the history's heal event) but nothing is
			// undone: say so, not "healing".
			say(fmt.Sprintf("the fault window ends; %s stays: this control never recovers it", nr.Fault.Name()))
		} else {
			say("healing: " + in.Fault.Name())
		}
		lastHeal = rec.Event(history.FaultHealed, in.Fault.Name(), "").At
	}
	if res.Control != nil && res.Control.RecoverLate > 0 {
		// Late recoveries: every heal is recorded when it was asked for,
		// then they come (LateGroup: all By after the first ask). Recorded
		// as each one's turn came, the second of two would be recorded
		// after the first's late recovery, and a bound counted from the
		// last heal would start after the system was back.
		for i := len(ins) - 1; i >= 0; i-- {
			record(ins[i])
		}
		record = nil
	}
	err = faults.HealAll(ctx, ins, record)
	return lastHeal, errors.Join(err, waitErr)
}

// coolDownEnd is when the workload stops, on the run's clock: the planned
// end; Cooldown after the last heal was recorded (the bounds the guarantees
// judge count from it); and defaultCooldown after every heal completed
// (now), whichever is latest. A heal that takes long (a former primary
// rebuilding itself) thus lengthens the run instead of shortening what is
// seen after it: a primary that comes back unfenced must be seen for longer
// than the split-brain bound.
func coolDownEnd(spec Spec, lastHeal, now time.Duration) time.Duration {
	return max(spec.Warmup+spec.FaultFor+spec.Cooldown, lastHeal+spec.Cooldown, now+defaultCooldown)
}

// defaultCooldown is how long a run goes on after its last heal, and at
// least once every heal has completed, when no bound needs longer.
const defaultCooldown = 3 * time.Second

// judge runs the checkers and the fault's guarantees over the history.
func (res *Result) judge(fs []stage.Fault, set stage.Settings, problems []string, counters []check.CounterSample) {
	h := res.History
	ev, found := evidenceOf(h, res.Spec.Workload.Timeout, counters)
	problems = append(problems, found...)
	res.Evidence = ev

	problems = append(problems, check.Assumptions(h, check.Requirements{
		MinOpsBefore: minOpsPerWindow, MinOpsDuring: minOpsPerWindow, MinOpsAfter: minOpsPerWindow,
	})...)
	res.Verdict = verdict.Verdict{Assumptions: problems}
	res.Verdict.Add(guaranteesOf(fs, ev, set)...)
	// Latency is measured from each op's scheduled time: a generator that
	// fell behind (a loaded machine) would blame the system for its own
	// lateness. Such a run measures the lab, not the system; but a
	// control whose guarantees break also measured from when each op was
	// sent broke them whatever the lateness (in CI, 2026-12-05, at load
	// 8-10: stage 5's "no cache timeout" fell behind by 71 ms in each of
	// its runs, its fail-fast at 4.2 s against 400 ms). A fault run gets no
	// such pass: an op scheduled in the fault window and sent after the
	// heal would count as served during it.
	if res.Stats.LagP99 > maxSendLagP99 {
		counts := false
		if res.Control != nil && res.Outcome().AsExpected {
			// Judged again as sent: only a control's run can count so.
			sent := verdict.Verdict{Assumptions: problems}
			sentEv, _ := evidenceOf(h.AsSent(), res.Spec.Workload.Timeout, counters)
			sent.Add(guaranteesOf(fs, sentEv, set)...)
			counts = sent.Outcome(true, res.Control.Breaks, 0, 0).AsExpected
		}
		lag := res.Stats.LagP99.Round(time.Millisecond)
		if counts {
			res.lagDecidedNothing = fmt.Sprintf("the load generator fell behind (send lag p99 %v > %v), but %s also broke measured from when each request was sent: the run counts",
				lag, maxSendLagP99, strings.Join(res.Control.Breaks, ", "))
		} else {
			res.Verdict.Assumptions = append(res.Verdict.Assumptions, fmt.Sprintf("the load generator fell behind: send lag p99 %v > %v (the machine is overloaded; the latencies measure the lab, not the system)",
				lag, maxSendLagP99))
		}
	}
}

// guaranteesOf judges the faults' guarantees on the evidence, each once
// (two faults may judge the same guarantee).
func guaranteesOf(fs []stage.Fault, ev stage.Evidence, set stage.Settings) []verdict.Guarantee {
	var out []verdict.Guarantee
	judged := map[string]bool{}
	for _, f := range fs {
		for _, g := range f.Guarantees(ev, set) {
			if !judged[g.Name] {
				judged[g.Name] = true
				out = append(out, g)
			}
		}
	}
	return out
}

// counterEvery is how often a stage's counters are sampled: the resolution
// of the availability buckets.
const counterEvery = bucket

// sampleCounters reads the stage's counters (if it has any) every
// counterEvery on the run's clock until the returned stop is called, which
// returns the samples in time order. A failed reading is skipped: a gap in
// the series, not a zero.
func sampleCounters(ctx context.Context, read func(context.Context, string) (map[string]float64, error), base string, clock *workload.Clock) (stop func() []check.CounterSample) {
	if read == nil {
		return func() []check.CounterSample { return nil }
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan []check.CounterSample, 1)
	go func() {
		var samples []check.CounterSample
		tick := time.NewTicker(counterEvery)
		defer tick.Stop()
		for {
			callCtx, done := context.WithTimeout(ctx, time.Second)
			t0 := clock.Now()
			vals, err := read(callCtx, base)
			t1 := clock.Now()
			done()
			if err == nil {
				samples = append(samples, check.CounterSample{At: t0 + (t1-t0)/2, Values: vals})
			}
			select {
			case <-ctx.Done():
				out <- samples
				return
			case <-tick.C:
			}
		}
	}()
	return func() []check.CounterSample {
		cancel()
		return <-out
	}
}

// A fault goes in once the system is steady: in the last steadyFor, at
// least steadyMinOps ops completed and at most steadyMaxNotOK of them did
// not succeed. Right after a boot on a loaded machine (six containers
// started at once, load average 18 on 2 cores) a stage-4 stack was seen
// timing reads out before any fault, and the run then blamed the fault for
// it. A stack not steady within steadyWithin gets the fault anyway, and the
// run does not count (Run runs it again).
const (
	steadyFor      = time.Second
	steadyWithin   = 10 * time.Second
	steadyMinOps   = 5
	steadyMaxNotOK = 0.01
)

// waitSteady waits until the system is steady; it returns why it was not,
// "" when it was.
func waitSteady(ctx context.Context, rec *workload.Recorder) (string, error) {
	c := rec.Clock()
	deadline := c.Now() + steadyWithin
	for {
		ok, notOK := rec.CompletedSince(c.Now() - steadyFor)
		// A request in flight for longer than steadyFor has not succeeded
		// in it either: the requests that hang (a stack whose database
		// connections were still timing out after its boot) complete only
		// after the fault went in, and then were blamed on it.
		notOK += rec.InFlightBefore(c.Now() - steadyFor)
		if n := ok + notOK; n >= steadyMinOps && float64(notOK) <= steadyMaxNotOK*float64(n) {
			return "", nil
		}
		if c.Now() >= deadline {
			return fmt.Sprintf("the system was not steady before the fault: %d of the %d ops of the last %v did not succeed (or were in flight for longer), %v after the warm-up",
				notOK, ok+notOK, steadyFor, steadyWithin), nil
		}
		if err := waitUntil(ctx, c, c.Now()+50*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// nameAnswers fills in each lookup's DC: the network whose entry (Toxiproxy's
// address there) the answer is.
func nameAnswers(ctx context.Context, stack *stacks.Stack, lookups []history.Lookup) {
	dc := map[string]string{}
	for _, net := range stack.Topology.Networks() {
		if a, err := stack.EntryAddr(ctx, net); err == nil {
			dc[a.String()] = net
		}
	}
	for i := range lookups {
		lookups[i].DC = dc[lookups[i].Answer]
	}
}

// waitUntil blocks until the clock reaches at (a point of the run's
// schedule, not a synchronization: nothing else is waited for).
func waitUntil(ctx context.Context, c *workload.Clock, at time.Duration) error {
	d := at - c.Now()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func merge(a, b stage.Settings) stage.Settings {
	out := stage.Settings{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func controlNote(c *stage.Control) string {
	if c == nil {
		return ""
	}
	return " (control: " + c.Name + ")"
}

// evidenceOf runs the checkers over h: what every fault's guarantees are
// judged on. The problems are histories the checkers could not read (no
// fault window).
func evidenceOf(h history.History, timeout time.Duration, counters []check.CounterSample) (stage.Evidence, []string) {
	var problems []string
	ev := stage.Evidence{ClientTimeout: timeout, Counters: counters, History: h}
	wins, err := check.Windows(h)
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		ev.Windows = wins
		ev.Before = check.AvailabilityIn(h, wins.Before)
		ev.During = check.AvailabilityIn(h, wins.During)
		ev.ReadsDuring = check.AvailabilityIn(h, wins.During, history.Read)
		ev.WritesDuring = check.AvailabilityIn(h, wins.During, history.Write)
		ev.After = check.AvailabilityIn(h, wins.After)
		ev.LatencyDuring = check.LatencyIn(h, wins.During)
		ev.Recovery, err = check.RecoveryTime(h, bucket, steadyThreshold)
		if err != nil {
			problems = append(problems, err.Error())
		}
		ev.WritesResumed, _ = check.ResumedAfter(h, history.Write) // same windows: no new error
		ev.Shards = check.ShardsIn(h, wins)
	}
	ev.Overall = check.AvailabilityIn(h, check.WholeRun(h))
	ev.Latency = check.LatencyIn(h, check.WholeRun(h))
	ev.Lost = check.LostAcknowledgedWrites(h)
	ev.Stale = check.FindStaleReads(h)
	ev.RYW = check.FindRYWViolations(h)
	ev.Sessions = check.SessionsLost(h)
	ev.Jobs = check.JobsIn(h)
	return ev, problems
}
