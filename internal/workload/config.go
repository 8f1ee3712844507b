package workload

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config describes one workload.
type Config struct {
	// Rate is the offered load in operations per second, across all clients.
	Rate float64 `json:"rate"`
	// Duration is how long operations are scheduled for. The history's End is
	// the workload's start plus Duration, or plus End's value when End was
	// set (earlier) while the workload ran.
	Duration time.Duration `json:"duration_ns"`
	// End, when not nil, can move the end earlier while the workload runs.
	End *End `json:"-"`
	// Clients is the number of logical clients. A client is a label that the
	// per-client checkers (read-your-writes) group by; in the open model one
	// client may have several operations in flight at once.
	Clients int `json:"clients"`
	// Keys is the size of the key space: user ids "u0" .. "u<Keys-1>".
	Keys int `json:"keys"`
	// ReadRatio is the probability that an operation is a read (0..1).
	ReadRatio float64 `json:"read_ratio"`
	// Timeout bounds each request, from the moment it is sent until its
	// response body has been read.
	Timeout time.Duration `json:"timeout_ns"`
	// Seed seeds every decision of the schedule. 0 means "pick one from the
	// clock"; WithSeed resolves it, and Stats.Seed reports the one used.
	Seed int64 `json:"seed"`
	// MaxInFlight caps concurrent requests; 0 means DefaultInFlightCap. An op
	// whose time comes while the cap is reached is recorded as failed with
	// Error "client overloaded".
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// WriteIDPrefix, when set, is prepended to every writeId ("<prefix>-c3-w17")
	// so that values of different runs against one database cannot be
	// mistaken for each other. Optional.
	WriteIDPrefix string `json:"write_id_prefix,omitempty"`
	// Sessions makes every client a logged-in user (stage 7): a client's
	// first op is a login (POST /login as user SessionUser(client), recorded
	// as a history.Login with Value = the session id), and all its later
	// requests carry the session cookie. When a request is answered 401 (the
	// user was logged out) the client's next op is a login again. See
	// sessions.go.
	Sessions bool `json:"sessions,omitempty"`
	// SessionRatio is the share of ops that are session checks (GET /me,
	// history.SessionCheck); the others are reads and writes split by
	// ReadRatio. Only with Sessions.
	SessionRatio float64 `json:"session_ratio,omitempty"`
	// Assets, when set, makes every op a browser's page load (stage 6,
	// CDN) instead of a read or a write: the page from the origin, then the
	// assets it names from the edge cache. See assets.go.
	Assets *AssetsConfig `json:"assets,omitempty"`
	// Service, when set, is the system's own adapter for reads and writes
	// (a user's service, not mysite): every op goes through it. Not with
	// Sessions or Assets, which speak mysite's protocol.
	Service NewService `json:"-"`
	// Resolve, when set, makes each client reach the base URL's host by
	// name through its own stub resolver (resolver.go): the site's DNS
	// decides where each client goes (stage 8).
	Resolve *Resolve `json:"-"`
}

// DefaultClients is how many clients a run has unless told otherwise (the
// engine's default; stage 8 splits them between its regions).
const DefaultClients = 16

// Limits that keep a config from exhausting memory or the timer resolution.
const (
	maxRate         = 1e6        // 1µs between ops is already below what the scheduler can keep
	maxScheduledOps = 50_000_000 // every op is kept in memory in the history
	maxPrefixLen    = 64         // mysite accepts writeIds up to 256 bytes
)

// Validate reports every problem with c at once, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	rateOK := !math.IsNaN(c.Rate) && !math.IsInf(c.Rate, 0) && c.Rate > 0 && c.Rate <= maxRate
	if !rateOK {
		bad("rate must be > 0 and <= %g ops/s, got %v", float64(maxRate), c.Rate)
	}
	if c.Duration <= 0 {
		bad("duration must be > 0, got %v", c.Duration)
	}
	if rateOK && c.Duration > 0 {
		// (Never empty: op 0 is at the start, which is before any Duration > 0.)
		if n := c.Rate * c.Duration.Seconds(); n > maxScheduledOps {
			bad("rate %v for %v schedules %.0f ops, more than the %d the history can hold", c.Rate, c.Duration, n, maxScheduledOps)
		}
	}
	if c.Clients < 1 {
		bad("clients must be >= 1, got %d", c.Clients)
	}
	if c.Keys < 1 {
		bad("keys must be >= 1, got %d", c.Keys)
	}
	if math.IsNaN(c.ReadRatio) || c.ReadRatio < 0 || c.ReadRatio > 1 {
		bad("read ratio must be within [0, 1], got %v", c.ReadRatio)
	}
	if c.Timeout <= 0 {
		bad("timeout must be > 0, got %v", c.Timeout)
	}
	if c.MaxInFlight < 0 {
		bad("max in-flight must be >= 0 (0 = default), got %d", c.MaxInFlight)
	}
	if math.IsNaN(c.SessionRatio) || c.SessionRatio < 0 || c.SessionRatio > 1 {
		bad("session ratio must be within [0, 1], got %v", c.SessionRatio)
	} else if c.SessionRatio > 0 && !c.Sessions {
		bad("session ratio %v needs sessions on", c.SessionRatio)
	}
	if err := validPrefix(c.WriteIDPrefix); err != nil {
		errs = append(errs, err)
	}
	if c.Assets != nil {
		errs = append(errs, c.Assets.validate(c)...)
	}
	if c.Resolve != nil {
		errs = append(errs, c.Resolve.validate(c)...)
	}
	if c.Service != nil && (c.Sessions || c.Assets != nil) {
		bad("a service adapter reads and writes keys only: not with sessions or page loads")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid workload config: %w", errors.Join(errs...))
	}
	return nil
}

func validPrefix(p string) error {
	if len(p) > maxPrefixLen {
		return fmt.Errorf("write id prefix is too long: %d bytes, at most %d", len(p), maxPrefixLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("write id prefix %q contains %q: only A-Z a-z 0-9 _ - . are allowed", p, c)
		}
	}
	return nil
}

// WithSeed returns c with Seed resolved: unchanged when set, else one taken
// from the clock (never 0), so that it can be logged and replayed.
func (c Config) WithSeed() Config {
	for c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	return c
}

// Interval is the time between two scheduled operations.
func (c Config) Interval() time.Duration { return time.Duration(float64(time.Second) / c.Rate) }

// DefaultInFlightCap is the in-flight cap for a rate and timeout: twice the
// requests that can be outstanding when every one of them runs into the
// timeout (Rate*Timeout), plus headroom for small rates. Reaching it means
// the client itself cannot keep up, which is reported, never hidden.
func DefaultInFlightCap(rate float64, timeout time.Duration) int {
	return int(math.Ceil(rate*timeout.Seconds()*2)) + 64
}

// InFlightCap is MaxInFlight, or the default when it is 0.
func (c Config) InFlightCap() int {
	if c.MaxInFlight > 0 {
		return c.MaxInFlight
	}
	return DefaultInFlightCap(c.Rate, c.Timeout)
}

// ScheduledOps is how many operations the schedule holds for the whole
// Duration.
func (c Config) ScheduledOps() int { return scheduledOps(c.Rate, c.Duration) }
