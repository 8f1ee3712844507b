package workload

import (
	"fmt"
	"slices"
	"time"
)

// Stats is what the engine measured about itself: whether it offered the
// load it was asked to, and how late it was. A bench compares these with
// another load generator; a run whose lag is large measured the client, not
// the server.
type Stats struct {
	Seed int64 `json:"seed"` // the seed used (resolved when Config.Seed was 0)
	// ScheduledOps is how many ops the schedule held for the whole Duration.
	ScheduledOps int `json:"scheduled_ops"`
	// Launched counts ops whose scheduled time was reached: Sent plus
	// Overloaded plus NotLoggedIn. Below ScheduledOps only when the context
	// stopped the run.
	Launched   int `json:"launched"`
	Sent       int `json:"sent"`       // requests handed to the HTTP client
	Overloaded int `json:"overloaded"` // ops recorded "client overloaded" (in-flight cap reached)
	// With Config.Sessions: Logins counts the slots that became a login;
	// NotLoggedIn the ops recorded failed without being sent because their
	// client's login failed or did not answer within Timeout.
	Logins      int `json:"logins,omitempty"`
	NotLoggedIn int `json:"not_logged_in,omitempty"`
	// Outcome counts over every recorded op (overloaded and abandoned included).
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
	// Abandoned counts requests still running at the drain deadline,
	// recorded then (writes unknown, reads failed). Non-zero means a request
	// outlived its own timeout: a client bug worth a look.
	Abandoned int `json:"abandoned"`
	// AssetsCut counts, with Config.Assets, the assets of pages loaded
	// just before the end that were not loaded because the end came (no
	// op is invoked at or after the history's End).
	AssetsCut int `json:"assets_cut,omitempty"`
	// Schedule lag: actual send time minus scheduled time, over sent ops.
	LagP50 time.Duration `json:"lag_p50_ns"`
	LagP99 time.Duration `json:"lag_p99_ns"`
	LagMax time.Duration `json:"lag_max_ns"`
	// SendWindow is from the workload start until its schedule ended (Duration)
	// or the context stopped it; AchievedRate is Sent per second of it.
	SendWindow   time.Duration `json:"send_window_ns"`
	AchievedRate float64       `json:"achieved_rate"`
	InFlightCap  int           `json:"in_flight_cap"`
	PeakInFlight int           `json:"peak_in_flight"`
}

func (s Stats) String() string {
	extra := "" // what only some workloads have
	if s.Logins > 0 || s.NotLoggedIn > 0 {
		extra = fmt.Sprintf("; %d logins, %d not sent for want of a session", s.Logins, s.NotLoggedIn)
	}
	if s.AssetsCut > 0 {
		extra += fmt.Sprintf("; %d assets not loaded: the end came", s.AssetsCut)
	}
	return fmt.Sprintf("seed %d: %d/%d ops launched, %d sent (%.1f/s), %d overloaded, %d abandoned; ok %d failed %d unknown %d; lag p50 %v p99 %v max %v; peak in-flight %d/%d%s",
		s.Seed, s.Launched, s.ScheduledOps, s.Sent, s.AchievedRate, s.Overloaded, s.Abandoned,
		s.OK, s.Failed, s.Unknown, s.LagP50, s.LagP99, s.LagMax, s.PeakInFlight, s.InFlightCap, extra)
}

// setLags fills the lag fields from the samples (sorted in place).
func (s *Stats) setLags(lags []time.Duration) {
	if len(lags) == 0 {
		return
	}
	slices.Sort(lags)
	s.LagP50 = quantile(lags, 0.50)
	s.LagP99 = quantile(lags, 0.99)
	s.LagMax = lags[len(lags)-1]
}

// quantile is the nearest-rank q-quantile of sorted samples: the
// ceil(q*n)-th smallest. The ceiling is taken with a tolerance, because
// q*n in floating point can land just above an integer (0.99*200 is
// 198.00000000000003) and a plain ceil would then skip a rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
