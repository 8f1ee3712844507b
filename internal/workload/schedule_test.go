package workload

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scalelab/scalelab/internal/history"
)

func testConfig() Config {
	return Config{Rate: 200, Duration: time.Second, Clients: 16, Keys: 100, ReadRatio: 0.5, Timeout: time.Second, Seed: 42}
}

func decisions(t *testing.T, cfg Config) []Decision {
	t.Helper()
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []Decision
	for d, ok := s.Next(); ok; d, ok = s.Next() {
		out = append(out, d)
	}
	if len(out) != s.Len() {
		t.Fatalf("Next gave %d decisions, Len says %d", len(out), s.Len())
	}
	return out
}

func TestScheduleSameSeedSameDecisions(t *testing.T) {
	cfg := testConfig()
	a, b := decisions(t, cfg), decisions(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different schedules")
	}
	cfg.Seed = 43
	c := decisions(t, cfg)
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 42 and 43 gave the same schedule")
	}

	// Seed 0 is resolved from the clock, reported, and replays.
	cfg.Seed = 0
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed() == 0 {
		t.Fatal("seed 0 was not resolved")
	}
	cfg.Seed = s.Seed()
	first, _ := s.Next()
	if again := decisions(t, cfg)[0]; !reflect.DeepEqual(first, again) {
		t.Fatalf("replaying the resolved seed: %+v, want %+v", again, first)
	}
}

func TestScheduleShape(t *testing.T) {
	cfg := testConfig()
	ds := decisions(t, cfg)
	if len(ds) != 200 {
		t.Fatalf("200 ops/s for 1s scheduled %d ops", len(ds))
	}
	writes := make([]int, cfg.Clients)
	ids := make(map[string]bool)
	reads := 0
	for i, d := range ds {
		if d.Seq != i || d.At != time.Duration(i)*5*time.Millisecond {
			t.Fatalf("decision %d: seq %d at %v, want at %v", i, d.Seq, d.At, time.Duration(i)*5*time.Millisecond)
		}
		if d.Client < 0 || d.Client >= cfg.Clients {
			t.Fatalf("client %d out of range", d.Client)
		}
		var k int
		if _, err := fmt.Sscanf(d.Key, "u%d", &k); err != nil || k < 0 || k >= cfg.Keys {
			t.Fatalf("key %q out of range", d.Key)
		}
		switch d.Kind {
		case history.Read:
			reads++
			if d.WriteID != "" || d.user != nil {
				t.Fatalf("read %d carries a write: %+v", i, d)
			}
		case history.Write:
			writes[d.Client]++
			if want := fmt.Sprintf("c%d-w%d", d.Client, writes[d.Client]); d.WriteID != want {
				t.Fatalf("write %d has id %q, want %q", i, d.WriteID, want)
			}
			if ids[d.WriteID] {
				t.Fatalf("write id %q repeated", d.WriteID)
			}
			ids[d.WriteID] = true
			if d.user == nil || d.user.ID != d.Key || d.user.WriteID != d.WriteID || d.user.FirstName == "" {
				t.Fatalf("write %d body %+v does not match", i, d.user)
			}
		default:
			t.Fatalf("kind %q", d.Kind)
		}
	}
	if reads < 60 || reads > 140 { // ratio 0.5 of 200, far outside any plausible deviation
		t.Fatalf("%d reads of 200 with ratio 0.5", reads)
	}

	for _, ratio := range []float64{0, 1} {
		cfg.ReadRatio = ratio
		for _, d := range decisions(t, cfg) {
			if (d.Kind == history.Read) != (ratio == 1) {
				t.Fatalf("ratio %v gave a %s", ratio, d.Kind)
			}
		}
	}

	cfg.WriteIDPrefix = "run7"
	cfg.ReadRatio = 0
	if d := decisions(t, cfg)[0]; !strings.HasPrefix(d.WriteID, "run7-c") {
		t.Fatalf("prefix not applied: %q", d.WriteID)
	}
}

func TestScheduledOps(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		d    time.Duration
		want int
	}{
		{200, time.Second, 200},
		{3, time.Second, 3}, // 0, 333ms, 667ms
		{0.5, time.Second, 1},
		{0.1, time.Nanosecond, 1}, // op 0 is at the start: never empty
		{1000, 10 * time.Millisecond, 10},
		{7, 3 * time.Second, 21},
		{1e6, time.Millisecond, 1000},
	} {
		if got := scheduledOps(tc.rate, tc.d); got != tc.want {
			t.Errorf("scheduledOps(%v, %v) = %d, want %d", tc.rate, tc.d, got, tc.want)
		}
		n := scheduledOps(tc.rate, tc.d)
		if scheduledAt(n-1, tc.rate) >= tc.d || scheduledAt(n, tc.rate) < tc.d {
			t.Errorf("rate %v for %v: boundary wrong at %d", tc.rate, tc.d, n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate must be > 0"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate must be > 0"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration must be > 0"},
		{"huge schedule", func(c *Config) { c.Rate, c.Duration = 1e6, time.Hour }, "more than"},
		{"no clients", func(c *Config) { c.Clients = 0 }, "clients must be >= 1"},
		{"no keys", func(c *Config) { c.Keys = 0 }, "keys must be >= 1"},
		{"ratio", func(c *Config) { c.ReadRatio = 1.5 }, "read ratio"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout must be > 0"},
		{"cap", func(c *Config) { c.MaxInFlight = -1 }, "max in-flight"},
		{"prefix", func(c *Config) { c.WriteIDPrefix = "a/b" }, "write id prefix"},
	} {
		cfg := testConfig()
		tc.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Every problem is reported at once.
	err := Config{}.Validate()
	for _, want := range []string{"rate", "duration", "clients", "keys", "timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("zero config: error %v does not mention %s", err, want)
		}
	}
	if got := (Config{Rate: 100, Timeout: time.Second}).InFlightCap(); got != 264 {
		t.Errorf("default cap for 100/s, 1s = %d, want 264", got)
	}
}
