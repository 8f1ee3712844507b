package report

import (
	"html"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/check"
	"github.com/scalelab/scalelab/internal/history"
)

// Orders' breaker state lines, sampled out of order: the first state and
// each change, in time order; "none" (no breaker) is no state.
func TestBreakerChanges(t *testing.T) {
	state := func(at time.Duration, payments, users string) check.CounterSample {
		return check.CounterSample{At: at, Values: map[string]float64{
			`orders:shop_breaker_state{dependency="payments",state="` + payments + `"}`: 1,
			`orders:shop_breaker_state{dependency="users",state="` + users + `"}`:       1,
			`orders:shop_breaker_opened_total{dependency="payments"}`:                   3,
			"payments:shop_requests_total":                                              120,
		}}
	}
	samples := []check.CounterSample{
		state(750*time.Millisecond, "half-open", "closed"),
		state(250*time.Millisecond, "closed", "closed"),
		state(500*time.Millisecond, "open", "closed"),
		state(time.Second, "closed", "none"),
	}
	want := []BreakerChange{
		{AtS: 0.25, Dependency: "payments", State: "closed"},
		{AtS: 0.25, Dependency: "users", State: "closed"},
		{AtS: 0.5, Dependency: "payments", State: "open"},
		{AtS: 0.75, Dependency: "payments", State: "half-open"},
		{AtS: 1, Dependency: "payments", State: "closed"},
	}
	if got := breakerChanges(samples); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got := breakerChanges(nil); got != nil {
		t.Errorf("no samples: %v", got)
	}

	r := syntheticResult(syntheticHistory())
	r.Evidence.Counters = samples
	page, err := renderHTML(FromResult(r))
	if err != nil {
		t.Fatal(err)
	}
	if text := html.UnescapeString(string(page)); !strings.Contains(text, "<b>payments</b> open at 0.5 s") {
		t.Errorf("report.html does not show the breaker opening")
	}
}

// Each client's requests and 429s: the flood's tally first, then the
// workload's clients in order; nothing when nothing was refused and no
// fault sent requests of its own.
func TestClientAnswers(t *testing.T) {
	h := history.History{Ops: []history.Op{
		{Client: 2, Status: 200}, {Client: 0, Status: 429}, {Client: 2, Status: 503}, {Client: 0, Status: 200},
	}}
	want := []ClientAnswers{
		{Name: "client 0", Workload: true, Requests: 2, Limited: 1},
		{Name: "client 2", Workload: true, Requests: 2},
	}
	if got := clientAnswers(h); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	h.Tallies = []history.Tally{{Fault: "a flood", Client: "abuser", Sent: 10, Skipped: 2, ByStatus: map[int]int64{429: 9, 204: 1}}}
	want = append([]ClientAnswers{{Name: "abuser", Requests: 10, Limited: 9, NotSent: 2}}, want...)
	if got := clientAnswers(h); !slices.Equal(got, want) {
		t.Errorf("with a tally: got %v\nwant %v", got, want)
	}
	if got := clientAnswers(history.History{Ops: []history.Op{{Client: 1, Status: 200}}}); got != nil {
		t.Errorf("nothing refused, no tally: %v", got)
	}
}
