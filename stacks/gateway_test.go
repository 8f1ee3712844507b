package stacks

import (
	"strings"
	"testing"
	"time"
)

func testGateway() GatewayConfig {
	return GatewayConfig{
		Routes: []GatewayRoute{
			{Prefix: "/api/orders/", Service: "orders", Rewrite: "/orders/"},
			{Prefix: "/api/users/", Service: "users", Rewrite: "/users/"},
		},
		Keys: []string{"k1", "k2"}, RateLimit: 50, Timeout: 10 * time.Second, CheckInterval: time.Second, Fall: 3,
	}
}

func TestGatewayRendersRoutesKeysAndTheRateLimit(t *testing.T) {
	c := testGateway()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := c.Render()
	for _, want := range []string{
		"acl known_key req.hdr(X-Api-Key) -m str -f " + GatewayKeysPath,
		`http-request return status 401 content-type text/plain string "unknown API key" unless known_key || is_stats`,
		"http-request track-sc0 req.hdr(X-Api-Key) unless is_stats",
		"hdr Retry-After 1 string \"rate limited\" if { sc_http_req_rate(0) gt 50 }",
		"acl route0 path_beg /api/orders/",
		`http-request return status 404 content-type text/plain string "no route" unless is_stats || route0 || route1`,
		"use_backend users if route1",
		`http-request replace-path /api/orders/(.*) /orders/\1`,
		"server orders ${orders} check",
		"timeout server 10000ms",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("the config lacks %q:\n%s", want, cfg)
		}
	}
	if got := c.Files()[GatewayKeysPath]; got != "k1\nk2\n" {
		t.Errorf("keys file %q", got)
	}
	if got := strings.Join(c.Backends(), ","); got != "orders,users" {
		t.Errorf("backends %s", got)
	}
	// A second route to a service: a backend of its own, its own check.
	c.Routes = append(c.Routes, GatewayRoute{Prefix: "/ops/orders/", Service: "orders", Rewrite: "/", Backend: "orders-ops", Check: "/healthz"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg = c.Render()
	for _, want := range []string{"use_backend orders-ops if route2", "backend orders-ops", "option httpchk GET /healthz", "server orders-ops ${orders} check"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("the config lacks %q:\n%s", want, cfg)
		}
	}
	if got := strings.Join(c.Backends(), ","); got != "orders,users,orders-ops" {
		t.Errorf("backends %s", got)
	}
	c.Exempt = []string{"k2"}
	if cfg := c.Render(); !strings.Contains(cfg, "acl exempt_key req.hdr(X-Api-Key) -m str k2") || !strings.Contains(cfg, "unless is_stats || exempt_key") {
		t.Errorf("an exempt key is counted:\n%s", cfg)
	}
	c.RateLimitBy = LimitPerAddress
	if cfg := c.Render(); !strings.Contains(cfg, "track-sc0 src") || strings.Contains(cfg, "track-sc0 req.hdr") {
		t.Errorf("a limit per address counts by key:\n%s", cfg)
	}
	c.RateLimit = 0
	if strings.Contains(c.Render(), "track-sc0") {
		t.Error("rate_limit 0 still counts the keys' requests")
	}
}

func TestGatewayRefusesABadConfig(t *testing.T) {
	for name, mod := range map[string]func(*GatewayConfig){
		"no routes":        func(c *GatewayConfig) { c.Routes = nil },
		"prefix without /": func(c *GatewayConfig) { c.Routes[0].Prefix = "/api/orders" },
		"bad service":      func(c *GatewayConfig) { c.Routes[0].Service = "Or ders" },
		"no keys":          func(c *GatewayConfig) { c.Keys = nil },
		"a key with space": func(c *GatewayConfig) { c.Keys = []string{"a b"} },
		"negative limit":   func(c *GatewayConfig) { c.RateLimit = -1 },
		"limit per user":   func(c *GatewayConfig) { c.RateLimitBy = "user" },
		"exempt unknown":   func(c *GatewayConfig) { c.Exempt = []string{"k3"} },
		"no timeout":       func(c *GatewayConfig) { c.Timeout = 0 },
		"two routes to one backend": func(c *GatewayConfig) {
			c.Routes = append(c.Routes, GatewayRoute{Prefix: "/v2/orders/", Service: "orders", Rewrite: "/orders/"})
		},
	} {
		c := testGateway()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
