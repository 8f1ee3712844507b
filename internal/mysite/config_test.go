package mysite

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const testDSN = "postgres://u:secret@db:5432/app?sslmode=disable"

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]string{"-db", testDSN}, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sessionDefaults(Config{Listen: ":8080", DB: testDSN, DBTimeout: 2 * time.Second, MaxConns: 16, DBConnectRate: DefaultDBConnectRate, ShutdownTimeout: 10 * time.Second})
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigEnvAndFlags(t *testing.T) {
	e := env(EnvListen, ":9000", EnvDB, testDSN, EnvDBTimeout, "500ms", EnvMaxConns, "4", EnvDBConnectRate, "7.5", EnvShutdownTimeout, "3s")
	cfg, err := ParseConfig(nil, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sessionDefaults(Config{Listen: ":9000", DB: testDSN, DBTimeout: 500 * time.Millisecond, MaxConns: 4, DBConnectRate: 7.5, ShutdownTimeout: 3 * time.Second})
	if cfg != want {
		t.Errorf("env: got %+v, want %+v", cfg, want)
	}
	// Flags win over the environment.
	cfg, err = ParseConfig([]string{"-listen", "127.0.0.1:1", "-db-timeout", "0", "-max-conns", "2", "-db-connect-rate", "0", "-shutdown-timeout", "1s"}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = sessionDefaults(Config{Listen: "127.0.0.1:1", DB: testDSN, DBTimeout: 0, MaxConns: 2, ShutdownTimeout: time.Second})
	if cfg != want {
		t.Errorf("flags: got %+v, want %+v", cfg, want)
	}
}

// sessionDefaults fills in the defaults of the session and cache settings.
func sessionDefaults(c Config) Config {
	c.Name, c.Sessions, c.SessionTTL, c.SessionTimeout = DefaultName(), SessionsMemory, DefaultSessionTTL, DefaultSessionTimeout
	c.CacheTTL, c.CacheTimeout, c.CacheInvalidation, c.CacheGuard = DefaultCacheTTL, DefaultCacheTimeout, DefaultCacheInvalidation, DefaultCacheGuard
	c.ShardStrategy, c.VNodes, c.MoveRate = ShardRing, DefaultVNodes, DefaultMoveRate
	return c
}

func TestConfigCache(t *testing.T) {
	cfg, err := ParseConfig([]string{"-db", testDSN}, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache != "" || cfg.CacheTTL != 30*time.Second || cfg.CacheTimeout != 100*time.Millisecond ||
		cfg.CacheInvalidation != CacheInvalidateDelete || cfg.CacheGuard != CacheGuardCoalesce {
		t.Errorf("defaults: %+v", cfg)
	}
	e := env(EnvDB, testDSN, EnvCache, "cache:6379", EnvCacheTTL, "5m", EnvCacheTimeout, "50ms",
		EnvCacheInvalidation, "update", EnvCacheGuard, "lease")
	cfg, err = ParseConfig(nil, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache != "cache:6379" || cfg.CacheTTL != 5*time.Minute || cfg.CacheTimeout != 50*time.Millisecond ||
		cfg.CacheInvalidation != CacheInvalidateUpdate || cfg.CacheGuard != CacheGuardLease {
		t.Errorf("env: %+v", cfg)
	}
	// Flags win; a cache timeout of 0 is allowed (no timeout: the negative control).
	cfg, err = ParseConfig([]string{"-cache", "10.0.0.5:6380", "-cache-ttl", "1s", "-cache-timeout", "0",
		"-cache-invalidation", "none", "-cache-guard", "none"}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache != "10.0.0.5:6380" || cfg.CacheTTL != time.Second || cfg.CacheTimeout != 0 ||
		cfg.CacheInvalidation != CacheInvalidateNone || cfg.CacheGuard != CacheGuardNone {
		t.Errorf("flags: %+v", cfg)
	}
	// A Config built in code may leave the cache settings zero.
	if err := (Config{Listen: ":1", DB: testDSN, MaxConns: 1, Cache: "r:1"}).Validate(); err != nil {
		t.Errorf("zero cache settings: %v", err)
	}
}

func TestConfigSessions(t *testing.T) {
	if DefaultName() == "" {
		t.Fatal("no default name")
	}
	e := env(EnvDB, testDSN, EnvName, "web1", EnvSessions, "redis", EnvRedis, "redis:6379", EnvSessionTTL, "5m", EnvSessionTimeout, "300ms")
	cfg, err := ParseConfig(nil, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web1" || cfg.Sessions != SessionsRedis || cfg.Redis != "redis:6379" || cfg.SessionTTL != 5*time.Minute || cfg.SessionTimeout != 300*time.Millisecond {
		t.Errorf("env: %+v", cfg)
	}
	cfg, err = ParseConfig([]string{"-name", "web2", "-sessions", "memory", "-redis", "10.0.0.9:6380", "-session-ttl", "1h", "-session-timeout", "1s"}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web2" || cfg.Sessions != SessionsMemory || cfg.Redis != "10.0.0.9:6380" || cfg.SessionTTL != time.Hour || cfg.SessionTimeout != time.Second {
		t.Errorf("flags: %+v", cfg)
	}
	// A Config built in code may leave the session settings zero.
	if err := (Config{Listen: ":1", DB: testDSN, MaxConns: 1}).Validate(); err != nil {
		t.Errorf("zero session settings: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{nil, env(), "DSN is required: set -db or MYSITE_DB"},
		{[]string{"-db", "  "}, env(), "DSN is required"},
		{[]string{"-db", "postgres://u:secret@h:notaport/x"}, env(), "not a valid PostgreSQL DSN"},
		{[]string{"-db", testDSN, "-db-timeout", "-1s"}, env(), "-db-timeout (MYSITE_DB_TIMEOUT) must be >= 0"},
		{[]string{"-db", testDSN, "-db-timeout", "soon"}, env(), "-db-timeout"},
		{[]string{"-db", testDSN, "-max-conns", "0"}, env(), "-max-conns"},
		{[]string{"-db", testDSN, "-db-connect-rate", "-1"}, env(), "-db-connect-rate"},
		{[]string{"-db", testDSN}, env(EnvDBConnectRate, "fast"), EnvDBConnectRate},
		{[]string{"-db", testDSN, "-shutdown-timeout", "-1s"}, env(), "-shutdown-timeout"},
		{[]string{"-db", testDSN, "-listen", ""}, env(), "-listen"},
		{[]string{"-db", testDSN, "extra"}, env(), `unexpected argument "extra"`},
		{[]string{"-db", testDSN, "-nope"}, env(), "flag provided but not defined: -nope"},
		{nil, env(EnvDB, testDSN, EnvDBTimeout, "abc"), "MYSITE_DB_TIMEOUT"},
		{nil, env(EnvDB, testDSN, EnvMaxConns, "many"), "MYSITE_DB_MAX_CONNS"},
		{[]string{"-db", testDSN, "-sessions", "cookie"}, env(), `-sessions (MYSITE_SESSIONS) must be memory or redis, got "cookie"`},
		{[]string{"-db", testDSN, "-sessions", "redis"}, env(), "-sessions redis needs the Redis address: set -redis or MYSITE_REDIS"},
		{[]string{"-db", testDSN, "-sessions", "redis", "-redis", "redis"}, env(), "-redis (MYSITE_REDIS) must be host:port"},
		{[]string{"-db", testDSN, "-sessions", "redis", "-redis", "redis:http"}, env(), "invalid port"},
		{[]string{"-db", testDSN, "-sessions", "redis", "-redis", ":6379"}, env(), "must be host:port"},
		{[]string{"-db", testDSN, "-session-ttl", "0"}, env(), "-session-ttl (MYSITE_SESSION_TTL) must be > 0"},
		{[]string{"-db", testDSN, "-session-ttl", "-1m"}, env(), "-session-ttl"},
		{[]string{"-db", testDSN, "-session-timeout", "0"}, env(), "-session-timeout (MYSITE_SESSION_TIMEOUT) must be > 0"},
		{nil, env(EnvDB, testDSN, EnvSessionTimeout, "soon"), "MYSITE_SESSION_TIMEOUT"},
		{[]string{"-db", testDSN, "-name", "web 1"}, env(), "-name (MYSITE_NAME) must be visible ASCII"},
		{[]string{"-db", testDSN, "-name", strings.Repeat("n", 129)}, env(), "-name"},
		{[]string{"-db", testDSN, "-cache", "redis"}, env(), "-cache (MYSITE_CACHE) must be host:port"},
		{[]string{"-db", testDSN, "-cache", "redis:0"}, env(), "-cache (MYSITE_CACHE) has an invalid port"},
		{[]string{"-db", testDSN, "-cache-ttl", "0"}, env(), "-cache-ttl (MYSITE_CACHE_TTL) must be > 0"},
		{[]string{"-db", testDSN, "-cache-ttl", "-1s"}, env(), "-cache-ttl"},
		{[]string{"-db", testDSN, "-cache-timeout", "-1ms"}, env(), "-cache-timeout (MYSITE_CACHE_TIMEOUT) must be >= 0 (0 disables the timeout)"},
		{nil, env(EnvDB, testDSN, EnvCacheTimeout, "soon"), "MYSITE_CACHE_TIMEOUT"},
		{[]string{"-db", testDSN, "-cache-invalidation", "expire"}, env(), `-cache-invalidation (MYSITE_CACHE_INVALIDATION) must be delete, update or none, got "expire"`},
		{[]string{"-db", testDSN, "-cache-guard", "lock"}, env(), `-cache-guard (MYSITE_CACHE_GUARD) must be none, coalesce or lease, got "lock"`},
		{[]string{"-db", testDSN, "-cache", "c:6379", "-replica", "r1=postgres://u:secret@r1:5432/app"}, env(), "-cache cannot be combined with -replica"},
		{[]string{"-db", testDSN, "-cache", "c:6379", "-writes", "behind"}, env(), "-cache cannot be combined with -writes behind"},
	} {
		_, err := ParseConfig(c.args, c.env, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.args, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %q", c.args, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error shows the password: %q", c.args, err)
		}
	}
}

func TestConfigHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseConfig([]string{"-h"}, env(), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"-db", "MYSITE_DB", "-db-timeout", "0 disables the timeout", "HANG", "-max-conns", "-shutdown-timeout", "-listen",
		"-name", "MYSITE_NAME", "-sessions", "memory", "redis", "-redis", "MYSITE_REDIS", "-session-ttl", "-session-timeout",
		"-cache", "MYSITE_CACHE", "-cache-ttl", "-cache-timeout", "STALL", "-cache-invalidation", "-cache-guard", "coalesce", "lease"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPoolConfig(t *testing.T) {
	cfg := Config{Listen: ":0", DB: testDSN, DBTimeout: 750 * time.Millisecond, MaxConns: 7, ShutdownTimeout: time.Second}
	pc, err := cfg.poolConfig()
	if err != nil {
		t.Fatal(err)
	}
	if pc.MaxConns != 7 || pc.ConnConfig.ConnectTimeout != 750*time.Millisecond || pc.HealthCheckPeriod <= 0 {
		t.Errorf("pool config: max %d connect timeout %v health %v", pc.MaxConns, pc.ConnConfig.ConnectTimeout, pc.HealthCheckPeriod)
	}
	cfg.DBTimeout = 0
	pc, _ = cfg.poolConfig()
	if pc.ConnConfig.ConnectTimeout != 0 {
		t.Errorf("timeout 0: connect timeout %v, want none", pc.ConnConfig.ConnectTimeout)
	}
	// The DSN's own connect_timeout wins over the database timeout.
	cfg.DBTimeout, cfg.DB = 2*time.Second, testDSN+"&connect_timeout=1"
	if pc, err = cfg.poolConfig(); err != nil {
		t.Fatal(err)
	}
	if pc.ConnConfig.ConnectTimeout != time.Second {
		t.Errorf("connect_timeout=1 in the DSN: connect timeout %v, want 1s", pc.ConnConfig.ConnectTimeout)
	}
	if pc.MinConns != 0 {
		t.Errorf("min conns %d without pool_min_conns, want 0", pc.MinConns)
	}
	// So does its pool_min_conns (stage 8's web servers open theirs at boot).
	cfg.DB = testDSN + "&pool_min_conns=4"
	if pc, err = cfg.poolConfig(); err != nil || pc.MinConns != 4 {
		t.Errorf("pool_min_conns=4 in the DSN: min conns %d, err %v", pc.MinConns, err)
	}
}

// The connect rate cap: a burst of connects goes through at once, the next
// waits its turn, and one that would wait over maxConnectWait fails at once
// without dialing.
func TestRateLimitedDial(t *testing.T) {
	dials := 0
	limit := rate.NewLimiter(2, 2) // 2 a second, burst 2
	dial := rateLimitedDial(func(context.Context, string, string) (net.Conn, error) {
		dials++
		return nil, nil
	}, limit)
	ctx := context.Background()
	start := time.Now()
	for range 3 { // 2 at once, the third after about 500 ms
		if _, err := dial(ctx, "tcp", "db:5432"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("3 dials at 2/s with a burst of 2 took %v, want the third to wait about 500ms", d)
	}
	// Others have taken the next second of the bucket: one more would wait
	// past maxConnectWait.
	limit.ReserveN(time.Now(), 2)
	start = time.Now()
	_, err := dial(ctx, "tcp", "db:5432")
	if err == nil || !strings.Contains(err.Error(), "-db-connect-rate") || time.Since(start) > maxConnectWait/2 {
		t.Errorf("a dial that would wait over %v: err %v after %v, want an at-once refusal", maxConnectWait, err, time.Since(start))
	}
	if dials != 3 {
		t.Errorf("%d dials reached the server, want 3", dials)
	}
}
