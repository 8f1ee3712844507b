// Package stage holds the stages of the scale-from-zero journey as data: for
// each stage its settings, its stack, its faults, the guarantees each fault
// must keep, and the negative controls under which those guarantees must
// visibly break. One file per stage, registered by id; a new stage is one new
// file.
package stage

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scalelab/scalelab/faults"
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
	"github.com/scalelab/scalelab/internal/verdict"
	"github.com/scalelab/scalelab/internal/workload"
	"github.com/scalelab/scalelab/stacks"
)

// Stage is one step of the journey.
type Stage struct {
	ID       string // "separate-db"
	Number   int
	Title    string
	Adds     string // what the stage adds to the one before
	Fixes    string
	Weak     string // its new ways to fail
	Lab      string // the workshop page, e.g. labs/02-separate-db
	Settings []Setting
	// Stack builds the stage's topology for the given settings.
	Stack func(Settings) stacks.Topology
	// Entry is the link the workload uses, e.g. "client->web"; with Site,
	// the link to the site's DNS server.
	Entry string
	// Site, when set, makes the workload's clients reach the stage by name,
	// as users do (stage 8, several data centers): each client's resolver
	// asks the DNS server behind Entry for the site's name as a client of
	// its own network, and goes where the answer says.
	Site func(Settings) Site
	// ClientTimeout is how long the workload's clients wait for an answer:
	// what "unavailable" means to a user of this stage (0: the engine's default).
	ClientTimeout time.Duration
	Faults        []Fault
	// Counters, when set, reads named counters that only grow from the
	// running stack, through its entry URL (e.g. the requests each web server
	// answered, from the load balancer's statistics). The engine samples them
	// every 250 ms while the workload runs, into Evidence.Counters.
	Counters func(ctx context.Context, entryURL string) (map[string]float64, error)
	// CountersVia, when set, is the link Counters reads through instead of
	// Entry (stage 10: client->alertlog, the pager the alerts reach).
	CountersVia string
	// Workload, when set, adjusts the workload of every run of the stage
	// after the engine's defaults are filled in (e.g. logged-in clients with
	// sessions). It must be idempotent.
	Workload func(*workload.Config)
	// PageLoads, when set, makes every op of the workload a browser's page
	// load (stage 6): the page from Entry, its assets from the link
	// EdgeLink (the engine fills in the edge's URL), as the settings say
	// (the edge timeout, the fallback to the origin).
	PageLoads func(Settings) workload.AssetsConfig
	EdgeLink  string
	// Service, when set, is the adapter through which the workload reads
	// and writes keys of a system that is not mysite (a user's own
	// service); nil: mysite's API.
	Service workload.NewService
	// Effects, when set, makes the stage's writes job submissions (stage
	// 9, through its Service): after the run, instead of reading every
	// written key back, the engine calls it for how many times each job's
	// effect was recorded (history.History.Effects), which it reads once
	// the system has done what it was given.
	Effects func(ctx context.Context, entryURL string) (map[string]int, error)
	// Ready is the HTTP path of the entry that answers 2xx once the
	// system serves (the engine waits for it before the workload starts);
	// "": mysite's /readyz.
	Ready string
}

// Site is a stage's name and where its clients are (Stage.Site).
type Site struct {
	Name string // "www.mysite.test"; the site listens on port 80
	// Subnet is a client's network: what the DNS server decides its
	// region by (sent as its EDNS Client Subnet).
	Subnet func(client int) netip.Prefix
	// NoCache: clients ignore the answers' TTL and ask for every
	// connection (a client without a DNS cache).
	NoCache bool
}

// Fault is one fault of a stage, with what it must (not) do to clients.
type Fault struct {
	ID   string // "db-latency"
	Help string
	// Settings only this fault reads; stage settings apply too.
	Settings []Setting
	// Inject makes the fault(s) to inject, in order.
	Inject func(Settings) []faults.Fault
	// Guarantees judges a run of this fault.
	Guarantees func(Evidence, Settings) []verdict.Guarantee
	// Controls are runs where some of the guarantees must break.
	Controls []Control
	// Window is how long the fault stays in before the heal; 0: the
	// engine's default (5 s). A fault whose recovery bound needs the
	// fault to last longer (a failover, measured in seconds, must finish
	// before the heal would bring the old primary back) says so here.
	Window time.Duration
}

// Control is a negative control: the same stage under the stage's "before"
// configuration (Set) or with a no-op in place of the fault (NoOp), where the
// named guarantees must break. It proves those checks can fail.
type Control struct {
	Name   string
	Set    Settings // settings that make the "before" configuration
	NoOp   bool     // inject nothing (the fault's targets get a no-op)
	Breaks []string // guarantee names that must not hold
	// Attempts (default 1) is how many runs the control gets to show the
	// breach, for breaches that happen by chance in any one run. Each such
	// control says why, with the measured rate.
	Attempts int
	// With are more of the stage's faults the control injects after the
	// fault, like engine.Spec.With: the "before" configuration may need a
	// second failure to show (replicas lagging, then the primary dies).
	With []string
	// RecoverLate, when set, recovers every injected fault this long after
	// the heal is recorded (faults.LateRecovery): a restart that takes longer
	// than the recovery bound, the control of every "recovers" guarantee.
	RecoverLate time.Duration
	// Workload, when set, adjusts the workload of the control's runs after
	// the stage's own adjustment (e.g. more keys, so that a lost write is
	// not overwritten before the read-back can see it).
	Workload func(*workload.Config)
}

// FindControl finds one of the fault's controls by name; the error lists them.
func (f Fault) FindControl(name string) (*Control, error) {
	names := []string{}
	for i := range f.Controls {
		if f.Controls[i].Name == name {
			return &f.Controls[i], nil
		}
		names = append(names, fmt.Sprintf("%q", f.Controls[i].Name))
	}
	return nil, fmt.Errorf("fault %s has no control %q (controls: %s)", f.ID, name, strings.Join(names, ", "))
}

// Evidence is what the checkers measured on a run, for the guarantees to judge.
type Evidence struct {
	Windows               check.FaultWindows
	Before, During, After check.Availability
	Overall               check.Availability
	Latency               check.Latency      // the whole run
	ReadsDuring           check.Availability // reads only, during the fault
	WritesDuring          check.Availability // writes only, during the fault
	LatencyDuring         check.Latency
	Recovery              check.Recovery
	Lost                  check.LostWrites
	Stale                 check.StaleReads
	RYW                   check.ReadYourWrites
	ClientTimeout         time.Duration
	// WritesResumed is when writes were acknowledged again after the
	// fault, by completion (a write that waited through a failover counts
	// its wait).
	WritesResumed check.Resumption
	// Counters are the samples of the stage's Counters, in time order
	// (empty when the stage has none).
	Counters []check.CounterSample
	// Sessions is what happened to the login sessions (empty unless the
	// workload logs its clients in).
	Sessions check.Sessions
	// Jobs reconciles the submitted jobs with their effects (stages with
	// Effects).
	Jobs check.Jobs
	// Shards is where the keys lived and how each shard's users fared
	// (a sharded stage; empty evidence otherwise).
	Shards check.Shards
	// History is the run's whole history, for guarantees that look at
	// single ops (e.g. which statuses the failures had).
	History history.History `json:"-"`
}

// Setting is one knob of a stage or fault, with its default: what
// Resolve validates and the listings show. A stage file declares each of
// its settings once, typed (see Typed), and lists its Setting here.
type Setting struct {
	Name, Default, Help string
	// Check validates a value; nil accepts anything.
	Check func(string) error
}

// Settings are setting values by name.
type Settings map[string]string

// String is the settings as "k=v k=v", keys sorted: how runs and the
// CLI print them.
func (s Settings) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s[k]
	}
	return strings.Join(parts, " ")
}

// Typed is a setting that reads as a T. Each is declared once, as a package
// variable of its stage's file (Duration, Choice, OnOff, Int, Text), and
// listed by its Setting in Stage.Settings or Fault.Settings; stacks,
// faults, guarantees and controls read and set it through it, so that its
// name is written only where it is declared.
type Typed[T any] struct {
	Setting
	parse  func(string) T
	format func(T) string
}

// Get reads the setting from settings that Resolve validated; absent (a
// setting of another fault), its default.
func (t Typed[T]) Get(s Settings) T { return t.parse(t.Arg(s)) }

// Arg is the setting's value as it was given (absent, its default), for a
// program's command line.
func (t Typed[T]) Arg(s Settings) string {
	if v, ok := s[t.Name]; ok {
		return v
	}
	return t.Default
}

// Is is the setting at v, for a control's Set (see Values). It panics on a
// value the setting's Check refuses: controls are checked when the package
// loads.
func (t Typed[T]) Is(v T) Value {
	s := t.format(v)
	if t.Check != nil {
		if err := t.Check(s); err != nil {
			panic(fmt.Sprintf("setting %s=%q: %v", t.Name, s, err))
		}
	}
	return Value{Name: t.Name, Value: s}
}

// Checked is the setting with another Check.
func (t Typed[T]) Checked(check func(string) error) Typed[T] {
	t.Check = check
	return t
}

// Value is one setting's value (Typed.Is).
type Value struct{ Name, Value string }

// Values makes settings of values, e.g. a control's
// Set: Values(drainFirst.Is(false), retries.Is(false)).
func Values(vs ...Value) Settings {
	out := Settings{}
	for _, v := range vs {
		out[v.Name] = v.Value
	}
	return out
}

func text(s string) string { return s }

// Duration declares a duration setting such as 2s or 200ms (IsDuration).
func Duration(name, def, help string) Typed[time.Duration] {
	return Typed[time.Duration]{
		Setting: Setting{Name: name, Default: def, Help: help, Check: IsDuration},
		parse: func(v string) time.Duration {
			d, _ := time.ParseDuration(v)
			return d
		},
		format: time.Duration.String,
	}
}

// Choice declares a setting that takes one of vals (OneOf).
func Choice(name, def, help string, vals ...string) Typed[string] {
	return Typed[string]{Setting: Setting{Name: name, Default: def, Help: help, Check: OneOf(vals...)}, parse: text, format: text}
}

// OnOff declares a setting that is on or off; it reads as true when on.
func OnOff(name, def, help string) Typed[bool] {
	return Typed[bool]{
		Setting: Setting{Name: name, Default: def, Help: help, Check: OneOf("on", "off")},
		parse:   func(v string) bool { return v == "on" },
		format: func(on bool) string {
			if on {
				return "on"
			}
			return "off"
		},
	}
}

// Int declares a whole number setting, >= 0 (WholeNumber) unless Checked
// otherwise.
func Int(name, def, help string) Typed[int] {
	return Typed[int]{
		Setting: Setting{Name: name, Default: def, Help: help, Check: WholeNumber},
		parse: func(v string) int {
			n, _ := strconv.Atoi(v)
			return n
		},
		format: strconv.Itoa,
	}
}

// Text declares a setting read as it is given; it accepts anything unless
// Checked.
func Text(name, def, help string) Typed[string] {
	return Typed[string]{Setting: Setting{Name: name, Default: def, Help: help}, parse: text, format: text}
}

// IsDuration validates a non-negative duration such as 2s or 200ms.
func IsDuration(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration like 2s or 200ms")
	}
	return nil
}

// DurationAtLeast validates a duration of at least min; example, if not
// empty, is shown in the error ("like 500ms").
func DurationAtLeast(min time.Duration, example string) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < min {
			if example != "" {
				return fmt.Errorf("want a duration of at least %v, like %s", min, example)
			}
			return fmt.Errorf("want a duration of at least %v", min)
		}
		return nil
	}
}

// WholeNumber validates a whole number >= 0.
func WholeNumber(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return fmt.Errorf("want a whole number >= 0")
	}
	return nil
}

// IntBetween validates a whole number from lo to hi.
func IntBetween(lo, hi int) func(string) error {
	return func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		return nil
	}
}

// OneOf validates a value from a list.
func OneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
	}
}

var registry = map[string]Stage{}

func register(s Stage) { registry[s.ID] = s }

// All lists the stages in journey order.
func All() []Stage {
	out := make([]Stage, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// Get finds a stage by id; the error lists the stages there are.
func Get(id string) (Stage, error) {
	if s, ok := registry[id]; ok {
		return s, nil
	}
	ids := []string{}
	for _, s := range All() {
		ids = append(ids, s.ID)
	}
	return Stage{}, fmt.Errorf("unknown stage %q (stages: %s)", id, strings.Join(ids, ", "))
}

// Fault finds one of the stage's faults; the error lists them.
func (s Stage) Fault(id string) (Fault, error) {
	ids := []string{}
	for _, f := range s.Faults {
		if f.ID == id {
			return f, nil
		}
		ids = append(ids, f.ID)
	}
	return Fault{}, fmt.Errorf("stage %s has no fault %q (faults: %s)", s.ID, id, strings.Join(ids, ", "))
}

// Resolve merges defaults, then given values, validating each; unknown names
// are errors that list the valid ones. The settings are the stage's plus
// those of the given faults.
func (s Stage) Resolve(given Settings, fs ...Fault) (Settings, error) {
	all := append([]Setting{}, s.Settings...)
	ids := []string{}
	for _, f := range fs {
		all = append(all, f.Settings...)
		ids = append(ids, f.ID)
	}
	out := Settings{}
	known := map[string]Setting{}
	for _, st := range all {
		out[st.Name] = st.Default
		known[st.Name] = st
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	for k, v := range given {
		st, ok := known[k]
		if !ok {
			return nil, fmt.Errorf("stage %s, fault %s: no setting %q (settings: %s)", s.ID, strings.Join(ids, "+"), k, strings.Join(names, ", "))
		}
		if st.Check != nil {
			if err := st.Check(v); err != nil {
				return nil, fmt.Errorf("setting %s=%q: %v", k, v, err)
			}
		}
		out[k] = v
	}
	return out, nil
}

// Defaults are the stage's own settings at their defaults.
func Defaults(s Stage) Settings {
	out := Settings{}
	for _, st := range s.Settings {
		out[st.Name] = st.Default
	}
	return out
}

// ParseSet reads "key=value" arguments (--set).
func ParseSet(args []string) (Settings, error) {
	out := Settings{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value, e.g. --set timeout=2s", a)
		}
		out[k] = v
	}
	return out, nil
}
