package mysite

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestConfigReplicas(t *testing.T) {
	cfg, err := ParseConfig([]string{"-db", testDSN,
		"-replica", "r1=postgres://u@h1:5432/app", "-replica", "r2=postgres://u@h2:5433/app",
		"-reads", ReadsRYW, "-read-fallback=false"}, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := cfg.replicas()
	if err != nil || len(reps) != 2 || reps[1].Name != "r2" || reps[1].DSN != "postgres://u@h2:5433/app" {
		t.Fatalf("replicas %+v %v", reps, err)
	}
	if cfg.reads() != ReadsRYW || !cfg.NoReadFallback {
		t.Errorf("reads %q, no fallback %v", cfg.reads(), cfg.NoReadFallback)
	}
	// Without replicas every read goes to the primary, whatever -reads says.
	cfg, err = ParseConfig([]string{"-db", testDSN, "-reads", ReadsReplica}, env(), nil)
	if err != nil || cfg.reads() != ReadsPrimary {
		t.Errorf("no replicas: reads %q, %v", cfg.reads(), err)
	}
	// The environment's list, replaced by flags.
	cfg, err = ParseConfig([]string{"-db", testDSN}, env(EnvReplicas, "a=postgres://u@x/app b=postgres://u@y/app"), nil)
	if reps, _ := cfg.replicas(); err != nil || len(reps) != 2 {
		t.Errorf("env: %v %v", reps, err)
	}
	for _, bad := range [][]string{
		{"-replica", "nodsn"},
		{"-replica", "a=postgres://u@x/app", "-replica", "a=postgres://u@y/app"},
		{"-replica", "a=postgres://u@x/app", "-reads", "nearest"},
	} {
		if _, err := ParseConfig(append([]string{"-db", testDSN}, bad...), env(), nil); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestRouteHosts(t *testing.T) {
	cfg, err := pgconn.ParseConfig("postgres://u@h:1,h:2,h:3/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	order := func(c *pgconn.Config) string {
		out := []string{c.Host + ":" + itoa(c.Port)}
		for _, f := range c.Fallbacks {
			out = append(out, f.Host+":"+itoa(f.Port))
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		prefer, avoid []string
		want          string
	}{
		{nil, nil, "h:1,h:2,h:3"},
		{[]string{"h:3"}, nil, "h:3,h:1,h:2"},
		{[]string{"h:2"}, []string{"h:1"}, "h:2,h:3"},
		{nil, []string{"h:1", "h:2", "h:3"}, "h:1,h:2,h:3"}, // never none
	} {
		c := cfg.Copy()
		routeHosts(c, hostRoute{prefer: tt.prefer, avoid: tt.avoid})
		if got := order(c); got != tt.want {
			t.Errorf("prefer %v avoid %v: got %s, want %s", tt.prefer, tt.avoid, got, tt.want)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestMinLSNHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "/users/u1", nil)
	if minLSN(r) != 0 {
		t.Error("no header: want 0")
	}
	r.Header.Set(MinLSNHeader, "12345")
	if minLSN(r) != 12345 {
		t.Error("want 12345")
	}
	r.Header.Set(MinLSNHeader, "x")
	if minLSN(r) != 0 {
		t.Error("garbage: want 0")
	}
}
