package stacks

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Gateway paths and files. The API gateway (stage 12) is HAProxy, as the
// load balancer is: it routes by path prefix, refuses requests without a
// known API key and limits each key's request rate, which HAProxy does with
// an ACL on a list of keys and a stick table counting each key's requests.
// No gateway of our own is needed.
const (
	GatewayPort       = 8080
	GatewayConfigPath = "/etc/scalelab/gateway.cfg"
	GatewayKeysPath   = "/etc/scalelab/api-keys"
	// GatewayHealthPath is answered by HAProxy itself: "is the gateway up".
	GatewayHealthPath = "/gw-health"
	// GatewayStatsPath serves HAProxy's statistics (;csv for CSV).
	GatewayStatsPath = "/gw-stats"
	// GatewayKeyHeader carries a client's API key.
	GatewayKeyHeader = "X-Api-Key"
)

// GatewayConfig is an API gateway in front of services, as data.
type GatewayConfig struct {
	// Routes: a request whose path starts with a route's Prefix goes to
	// its Service (a node, reached through the link gateway->Service), with
	// Rewrite in place of Prefix: "/api/orders/u1" -> orders "/orders/u1"
	// for Prefix "/api/orders/" and Rewrite "/orders/". Each route is a
	// backend of its own (a second route to a service names its Backend).
	Routes []GatewayRoute
	// Keys are the API keys the gateway accepts (header X-Api-Key); a
	// request without one of them is answered 401.
	Keys []string
	// RateLimit is the requests a second one key may send; the next are
	// answered 429 with Retry-After: 1. 0: no limit. Every request counts
	// towards it, the refused ones too: a client that keeps sending above
	// the limit is refused until it slows down.
	RateLimit int
	// Exempt are keys the rate limit does not count (an operator's own,
	// reading counters or checking what a run left); each one of Keys.
	Exempt []string
	// RateLimitBy is what the limit is counted per: LimitPerKey (the
	// default, "") or LimitPerAddress, the client's source address, which
	// every client behind one proxy or NAT shares.
	RateLimitBy string
	// Timeout is how long the gateway waits for a service's answer.
	Timeout time.Duration
	// CheckInterval: each service is health-checked (its route's Check) this
	// often; Fall failures in a row take it out, one success puts it back.
	CheckInterval time.Duration
	Fall          int
}

// What a gateway's rate limit is counted per.
const (
	LimitPerKey     = "key"
	LimitPerAddress = "address"
)

// GatewayRoute sends the paths under Prefix to Service.
type GatewayRoute struct {
	Prefix  string // e.g. "/api/orders/"
	Service string // a node
	Rewrite string // what replaces Prefix, e.g. "/orders/"
	// Backend names the route's HAProxy backend; "" is Service. A second
	// route to a service (an operator's) needs a name of its own.
	Backend string
	// Check is the path of the service's health check; "" is /readyz (its
	// database answers). An operator's route to a service's own metrics
	// checks /healthz (the process is up): its numbers are wanted most
	// while its database is gone.
	Check string
}

// backend is the route's HAProxy backend (and server) name.
func (r GatewayRoute) backend() string {
	if r.Backend == "" {
		return r.Service
	}
	return r.Backend
}

// checkPath is the route's health-check path.
func (r GatewayRoute) checkPath() string {
	if r.Check == "" {
		return "/readyz"
	}
	return r.Check
}

// Validate names every problem of the config.
func (c GatewayConfig) Validate() error {
	var problems []string
	if len(c.Routes) == 0 {
		problems = append(problems, "no routes")
	}
	seen := map[string]bool{}
	for _, r := range c.Routes {
		if seen[r.backend()] {
			problems = append(problems, fmt.Sprintf("route %q: backend %s has a route already (a second route to a service needs a Backend name of its own)", r.Prefix, r.backend()))
		}
		seen[r.backend()] = true
		if !ValidName(r.backend()) {
			problems = append(problems, fmt.Sprintf("route %q: backend %q is not a name", r.Prefix, r.backend()))
		}
		if !strings.HasPrefix(r.Prefix, "/") || !strings.HasSuffix(r.Prefix, "/") || !strings.HasPrefix(r.Rewrite, "/") || !strings.HasSuffix(r.Rewrite, "/") {
			problems = append(problems, fmt.Sprintf("route %q -> %s %q: prefix and rewrite must start and end with /", r.Prefix, r.Service, r.Rewrite))
		}
		if !strings.HasPrefix(r.checkPath(), "/") {
			problems = append(problems, fmt.Sprintf("route %q: check path %q must start with /", r.Prefix, r.Check))
		}
		if !ValidName(r.Service) {
			problems = append(problems, fmt.Sprintf("route %q: service %q is not a node name", r.Prefix, r.Service))
		}
	}
	if len(c.Keys) == 0 {
		problems = append(problems, "no API keys")
	}
	for _, k := range c.Keys {
		if k == "" || strings.ContainsAny(k, " \t\n#\\") {
			problems = append(problems, fmt.Sprintf("API key %q: want a word", k))
		}
	}
	for _, k := range c.Exempt {
		if !slices.Contains(c.Keys, k) {
			problems = append(problems, fmt.Sprintf("exempt key %q is not one of the keys", k))
		}
	}
	if c.RateLimitBy != "" && c.RateLimitBy != LimitPerKey && c.RateLimitBy != LimitPerAddress {
		problems = append(problems, fmt.Sprintf("rate limit by %q: want %s or %s", c.RateLimitBy, LimitPerKey, LimitPerAddress))
	}
	if c.RateLimit < 0 {
		problems = append(problems, fmt.Sprintf("rate limit %d: want >= 0", c.RateLimit))
	}
	if c.Timeout <= 0 || c.CheckInterval < 10*time.Millisecond || c.Fall < 1 {
		problems = append(problems, "want a timeout > 0, a check interval >= 10ms and fall >= 1")
	}
	if len(problems) > 0 {
		return fmt.Errorf("gateway config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Backends are the routes' HAProxy backends, in route order (a backend and
// its one server share the name).
func (c GatewayConfig) Backends() []string {
	var out []string
	for _, r := range c.Routes {
		out = append(out, r.backend())
	}
	return out
}

// Files are the gateway node's files: its config and its keys.
func (c GatewayConfig) Files() map[string]string {
	return map[string]string{GatewayConfigPath: c.Render(), GatewayKeysPath: strings.Join(c.Keys, "\n") + "\n"}
}

// Render is the gateway's haproxy.cfg; service addresses are "${name}"
// (Node.Files expands them to the links' addresses).
func (c GatewayConfig) Render() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Generated by scalelab (stacks.GatewayConfig): an API gateway.")
	line("global")
	line("    log stdout format iso local0 info")
	line("    maxconn 4096")
	line("")
	line("defaults")
	b.WriteString(haproxyHTTPDefaults)
	line("    timeout server %s", haproxyMS(c.Timeout))
	line("    timeout check %s", haproxyMS(c.CheckInterval))
	line("    default-server inter %s fall %d rise 1", haproxyMS(c.CheckInterval), c.Fall)
	// A request is sent once: whether one that failed may be sent again is
	// the client's to decide (a placed order is not idempotent for it).
	line("    retries 0")
	line("    retry-on none")
	line("")
	line("frontend api")
	line("    bind :%d", GatewayPort)
	line("    monitor-uri %s", GatewayHealthPath)
	line("    stats enable")
	line("    stats uri %s", GatewayStatsPath)
	line("    acl is_stats path_beg %s", GatewayStatsPath)
	line("    acl known_key req.hdr(%s) -m str -f %s", GatewayKeyHeader, GatewayKeysPath)
	line("    http-request return status 401 content-type text/plain string \"unknown API key\" unless known_key || is_stats")
	if c.RateLimit > 0 {
		// Each key's (or address's) requests in the last second; over the
		// limit, 429 with Retry-After. The table forgets a key 10 s after
		// its last request.
		uncounted := "is_stats"
		if len(c.Exempt) > 0 {
			line("    acl exempt_key req.hdr(%s) -m str %s", GatewayKeyHeader, strings.Join(c.Exempt, " "))
			uncounted += " || exempt_key"
		}
		if c.RateLimitBy == LimitPerAddress {
			line("    stick-table type ip size 10k expire 10s store http_req_rate(1s)")
			line("    http-request track-sc0 src unless %s", uncounted)
		} else {
			line("    stick-table type string len 64 size 10k expire 10s store http_req_rate(1s)")
			line("    http-request track-sc0 req.hdr(%s) unless %s", GatewayKeyHeader, uncounted)
		}
		line("    http-request return status 429 content-type text/plain hdr Retry-After 1 string \"rate limited\" if { sc_http_req_rate(0) gt %d }", c.RateLimit)
	}
	// http-request rules all run before use_backend: a path no route
	// takes is answered here.
	routed := []string{"is_stats"}
	for i, r := range c.Routes {
		line("    acl route%d path_beg %s", i, r.Prefix)
		routed = append(routed, fmt.Sprintf("route%d", i))
	}
	line("    http-request return status 404 content-type text/plain string \"no route\" unless %s", strings.Join(routed, " || "))
	for i, r := range c.Routes {
		line("    use_backend %s if route%d", r.backend(), i)
	}
	for _, r := range c.Routes {
		line("")
		line("backend %s", r.backend())
		line("    http-request replace-path %s(.*) %s\\1", regexpQuote(r.Prefix), r.Rewrite)
		line("    option httpchk GET %s", r.checkPath())
		line("    http-check expect status 200")
		line("    server %s ${%s} check", r.backend(), r.Service)
	}
	return b.String()
}

// regexpQuote escapes what HAProxy's regular expressions would read.
func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Gateway runs HAProxy as the API gateway on the files GatewayConfig.Files
// writes. It is ready once every service's first health check passed
// (HAProxy starts a server as up, before any check: its status alone says
// nothing yet).
func Gateway(c GatewayConfig) Role {
	// Columns of HAProxy's CSV statistics: 1 pxname, 2 svname, 18 status,
	// 37 check_status.
	awk := `BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 }
	($1 in need) && $2 == $1 { seen++; if ($18 != "UP" || $37 != "L7OK") bad = 1 }
	END { exit (bad || seen != n) }`
	script := fmt.Sprintf("curl -fsS --max-time 2 'http://127.0.0.1:%d%s;csv' | awk -F, -v want=%s %s",
		GatewayPort, GatewayStatsPath, shellJoin([]string{strings.Join(c.Backends(), " ")}), shellJoin([]string{awk}))
	return Role{
		Kind:  "gateway",
		Cmd:   []string{"haproxy", "-db", "-f", GatewayConfigPath},
		Port:  GatewayPort,
		Ready: []string{"sh", "-c", script},
		Ping:  httpPing(GatewayHealthPath),
	}
}

// Shop runs one service of the shop (cmd/shop -service name): its
// database and dependencies come from the node's Args.
func Shop(service string) Role {
	return Role{
		Kind:  "shop " + service,
		Cmd:   []string{"shop", "-service", service, "-listen", ":8080"},
		Port:  8080,
		Ready: httpReady("http://127.0.0.1:8080/readyz"),
		Ping:  httpPing("/healthz"),
	}
}
