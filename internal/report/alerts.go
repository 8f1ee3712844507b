package report

import (
	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/stacks"
)

// AlertSeen is one alert as the pager heard it (stage 10: the alert log,
// read every 250 ms), its times relative to the fault's injection.
type AlertSeen struct {
	AlertName string `json:"alertname"`
	Instance  string `json:"instance,omitempty"`
	// FiredAtS is when it was first heard firing, in seconds after the
	// injection (negative: before it).
	FiredAtS float64 `json:"fired_at_s"`
	// ResolvedAtS is when it was first heard resolved, in seconds after
	// the heal; null while it was not (still firing when the run ended).
	ResolvedAtS *float64 `json:"resolved_at_s"`
}

// alertsSeen lists every alert the pager heard, in the order they fired
// (check.AlertSpans); nil when the run did not sample a pager.
func alertsSeen(samples []check.CounterSample, w check.FaultWindows) []AlertSeen {
	var out []AlertSeen
	for _, a := range check.AlertSpans(samples, stacks.GaugeAlertFiring) {
		s := AlertSeen{AlertName: a.AlertName, Instance: a.Instance, FiredAtS: seconds(a.FiredAt - w.Inject)}
		if a.Resolved {
			s.ResolvedAtS = ptr(seconds(a.ResolvedAt - w.Heal))
		}
		out = append(out, s)
	}
	return out
}
