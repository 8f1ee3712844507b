package check

import (
	"slices"
	"testing"
	"time"
)

// The breaker lines of any sampler's prefix, out of order: each state at
// 1 in time order; other lines and a 0 are not states.
func TestBreakerStates(t *testing.T) {
	samples := []CounterSample{
		{At: 500 * time.Millisecond, Values: map[string]float64{
			`orders:shop_breaker_state{dependency="users",state="closed"}`:  1,
			`orders:shop_breaker_state{dependency="payments",state="open"}`: 1,
			`orders:shop_breaker_state{dependency="payments",state="none"}`: 0,
		}},
		{At: 250 * time.Millisecond, Values: map[string]float64{
			`shop_breaker_state{dependency="payments",state="closed"}`: 1,
			`orders:shop_breaker_opened_total{dependency="payments"}`:  1,
			"payments:shop_requests_total":                             9,
		}},
	}
	want := []BreakerState{
		{At: 250 * time.Millisecond, Dependency: "payments", State: "closed"},
		{At: 500 * time.Millisecond, Dependency: "payments", State: "open"},
		{At: 500 * time.Millisecond, Dependency: "users", State: "closed"},
	}
	if got := BreakerStates(samples, "shop_breaker_state"); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
