package stacks

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HAProxy paths and ports. The load balancer serves everything on one port
// (the one its links reach): the site, its own health, and its statistics.
const (
	HAProxyPort       = 8080
	HAProxyConfigPath = "/etc/scalelab/haproxy.cfg"
	// HAProxyHealthPath is answered by HAProxy itself (monitor-uri), whatever
	// the state of the servers behind it: "is the load balancer up".
	HAProxyHealthPath = "/lb-health"
	// HAProxyStatsPath serves HAProxy's statistics; add ";csv" for CSV.
	// In production it would sit on a private port; in the lab the host can
	// reach the stack only through its entry link, and reading the load
	// balancer's own view of its servers is part of the lesson.
	HAProxyStatsPath = "/lb-stats"
	// HAProxyMetricsPath serves HAProxy's statistics in Prometheus's
	// format (its built-in exporter), for a stage that scrapes it.
	HAProxyMetricsPath = "/lb-metrics"
	// HAProxyAdminPort is HAProxy's runtime API (drain a server, read its
	// state), on the load balancer's loopback only: reached by exec.
	HAProxyAdminPort = 9999
)

// HAProxyConfig is a load balancer in front of a pool of HTTP servers, as
// data. Render turns it into haproxy.cfg.
//
// Requests are split by method into two backends over the same servers:
// "reads" (GET, HEAD) and "writes" (everything else). Their servers are the
// same (the writes backend tracks the health of the reads backend's servers),
// but retries differ, because what is safe to retry differs:
//
//   - a request that got no answer at all (conn-failure, empty-response) was
//     never processed, or its server died while processing it: a dead server
//     cannot apply it later. Retrying it elsewhere is safe for idempotent
//     requests, and mysite's PUT is an idempotent upsert of a full record
//     (it carries its own writeId; applying it twice stores the same record).
//   - a request that timed out (response-timeout) may still be running on a
//     slow or frozen server and be applied later, after the retry was
//     acknowledged and after newer writes: a zombie write overwriting them.
//     Only reads, which have no effect, are retried on a timeout.
type HAProxyConfig struct {
	Servers []HAProxyServer
	// Balance is the algorithm: roundrobin, leastconn or source.
	Balance string
	// CheckInterval, Fall, Rise: an active HTTP health check (GET CheckPath)
	// every CheckInterval; Fall failures in a row mark a server down, Rise
	// successes mark it up again. A check that gets no answer within
	// CheckInterval fails.
	CheckInterval time.Duration
	Fall, Rise    int
	CheckPath     string
	// Retries turns on retries with redispatch (every retry goes to another
	// server): up to 3, on conn-failure and empty-response for every request,
	// and on response-timeout for reads.
	Retries bool
	// ReadTimeout and WriteTimeout are HAProxy's "timeout server" for each
	// backend: how long it waits for a server's answer.
	ReadTimeout, WriteTimeout time.Duration
	// Cookie, when set, makes routing sticky by cookie insertion: the load
	// balancer adds a cookie of this name naming the server that answered
	// (cookie <name> insert indirect nocache), and sends a client's later
	// requests carrying it to that server while it is up. "" means none.
	Cookie string
}

// HAProxyServer is one server of the pool, reached at Addr (for a node of a
// stack: "${name}", the link from the load balancer to it).
type HAProxyServer struct {
	Name   string
	Addr   string
	Weight int // 0..256; 0 takes no new traffic
	// Standby servers are not running when the stack boots (Node.Standby):
	// the load balancer knows them from the start and sees them down until
	// they are started.
	Standby bool
}

// HAProxy runs HAProxy in the foreground (-db) on the config file that the
// node's Files put at HAProxyConfigPath. It is ready once every server's
// first health check has settled: running servers up, standby servers down.
// Without that wait, the first requests would reach a standby server that
// HAProxy still assumes up (it starts every server as up).
func HAProxy(c HAProxyConfig) Role {
	var up, down []string
	for _, s := range c.Servers {
		if s.Standby {
			down = append(down, s.Name)
		} else {
			up = append(up, s.Name)
		}
	}
	// Columns of HAProxy's CSV statistics: 1 pxname, 2 svname, 18 status,
	// 37 check_status. A running server must be up after a passed check
	// (L7OK; "DRAIN" is how an up server of weight 0 shows), a standby one
	// DOWN.
	awk := `BEGIN { n = split(up, u, " "); for (i = 1; i <= n; i++) want[u[i]] = "UP"
	  m = split(down, d, " "); for (i = 1; i <= m; i++) want[d[i]] = "DOWN" }
	$1 == "reads" && ($2 in want) { seen++
	  if (want[$2] == "UP" && !(($18 == "UP" || $18 == "DRAIN") && $37 == "L7OK")) bad = 1
	  if (want[$2] == "DOWN" && $18 != "DOWN") bad = 1 }
	END { exit (bad || seen != n + m) }`
	script := fmt.Sprintf("curl -fsS --max-time 2 'http://127.0.0.1:%d%s;csv' | awk -F, -v up=%s -v down=%s %s",
		HAProxyPort, HAProxyStatsPath, shellJoin([]string{strings.Join(up, " ")}), shellJoin([]string{strings.Join(down, " ")}), shellJoin([]string{awk}))
	return Role{
		Kind:  "haproxy",
		Cmd:   []string{"haproxy", "-db", "-f", HAProxyConfigPath},
		Port:  HAProxyPort,
		Ready: []string{"sh", "-c", script},
		Ping:  httpPing(HAProxyHealthPath),
	}
}

// Validate names every problem of the config.
func (c HAProxyConfig) Validate() error {
	var problems []string
	switch c.Balance {
	case "roundrobin", "leastconn", "source":
	default:
		problems = append(problems, fmt.Sprintf("balance %q: want roundrobin, leastconn or source", c.Balance))
	}
	if len(c.Servers) == 0 {
		problems = append(problems, "no servers")
	}
	for _, s := range c.Servers {
		if s.Weight < 0 || s.Weight > 256 {
			problems = append(problems, fmt.Sprintf("server %s: weight %d, want 0..256", s.Name, s.Weight))
		}
	}
	if c.CheckInterval < 10*time.Millisecond || c.Fall < 1 || c.Rise < 1 {
		problems = append(problems, fmt.Sprintf("health check every %v, fall %d, rise %d: want >= 10ms, >= 1, >= 1", c.CheckInterval, c.Fall, c.Rise))
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 {
		problems = append(problems, "read and write timeouts must be > 0")
	}
	if len(problems) > 0 {
		return fmt.Errorf("haproxy config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// haproxyHTTPDefaults are the defaults every HAProxy of the lab starts
// with (the load balancer's and the gateway's), in HTTP mode, logging each
// request to stdout:
//   - timeout connect: connecting goes to the stack's Toxiproxy, which
//     accepts at once even when the server behind it is dead: a dead server
//     shows as an empty response, not as a refused connection;
//   - timeout client and http-keep-alive: above the workload's idle
//     keep-alive (30 s), so that HAProxy never closes a client connection
//     the client is about to reuse.
const haproxyHTTPDefaults = `    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 1s
    timeout client 60s
    timeout http-keep-alive 60s
    timeout http-request 10s
`

// haproxyMS is a duration as HAProxy's config reads it, in milliseconds.
func haproxyMS(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// Render is haproxy.cfg. Server addresses are left as given (Node.Files
// expands "${name}" to the link's address when the file is written).
func (c HAProxyConfig) Render() string {
	path := c.CheckPath
	if path == "" {
		path = "/healthz"
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Generated by scalelab (stacks.HAProxyConfig); HAProxy %s.", "2.6")
	line("global")
	line("    log stdout format iso local0 info")
	line("    maxconn 4096")
	line("    stats socket ipv4@127.0.0.1:%d level admin", HAProxyAdminPort)
	line("")
	line("defaults")
	b.WriteString(haproxyHTTPDefaults)
	// A check that gets no answer within one interval fails: a frozen server
	// accepts the connection (through Toxiproxy) and never answers.
	line("    timeout check %s", haproxyMS(c.CheckInterval))
	line("    default-server inter %s fall %d rise %d", haproxyMS(c.CheckInterval), c.Fall, c.Rise)
	line("")
	line("frontend www")
	line("    bind :%d", HAProxyPort)
	line("    monitor-uri %s", HAProxyHealthPath)
	line("    stats enable")
	line("    stats uri %s", HAProxyStatsPath)
	// HAProxy's own Prometheus exporter (stage 10 scrapes it): each
	// server's state as its health checks see it.
	line("    http-request use-service prometheus-exporter if { path %s }", HAProxyMetricsPath)
	line("    use_backend writes unless METH_GET")
	line("    default_backend reads")
	for _, be := range []string{"reads", "writes"} {
		line("")
		line("backend %s", be)
		line("    balance %s", c.Balance)
		if c.Cookie != "" {
			line("    cookie %s insert indirect nocache", c.Cookie)
		}
		timeout, retryOn := c.ReadTimeout, "conn-failure empty-response response-timeout"
		if be == "writes" {
			timeout, retryOn = c.WriteTimeout, "conn-failure empty-response"
		}
		line("    timeout server %s", haproxyMS(timeout))
		if c.Retries {
			line("    retries 3")
			line("    option redispatch 1")
			line("    retry-on %s", retryOn)
		} else {
			// HAProxy retries failed connections 3 times by default: off
			// means off.
			line("    retries 0")
			line("    retry-on none")
		}
		if be == "reads" {
			line("    option httpchk GET %s", path)
			line("    http-check expect status 200")
		}
		for _, s := range c.Servers {
			sticky := ""
			if c.Cookie != "" {
				sticky = " cookie " + s.Name
			}
			if be == "reads" {
				line("    server %s %s check weight %d%s", s.Name, s.Addr, s.Weight, sticky)
			} else {
				line("    server %s %s track reads/%s weight %d%s", s.Name, s.Addr, s.Name, s.Weight, sticky)
			}
		}
	}
	return b.String()
}

// HAProxyServerStat is one server's line in HAProxy's statistics, summed
// over the backends it serves in.
type HAProxyServerStat struct {
	Name string
	// Status is the server's state in the "reads" backend (UP, DOWN, ...).
	Status string
	// Responses counts the answers the server sent, all status classes.
	Responses int64
}

// HAProxyStats reads the statistics of the HAProxy at base (e.g. a stack's
// entry URL) and returns one entry per server, in the config's order.
func HAProxyStats(ctx context.Context, hc *http.Client, base string) ([]HAProxyServerStat, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+HAProxyStatsPath+";csv", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("haproxy stats: status %d", resp.StatusCode)
	}
	return parseHAProxyStats(io.LimitReader(resp.Body, 4<<20))
}

func parseHAProxyStats(r io.Reader) ([]HAProxyServerStat, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, fmt.Errorf("haproxy stats: empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(strings.TrimSpace(name), "# ")] = i
	}
	for _, need := range []string{"pxname", "svname", "status", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("haproxy stats: no column %q", need)
		}
	}
	var out []HAProxyServerStat
	index := map[string]int{}
	for _, row := range rows[1:] {
		get := func(name string) string {
			if i := col[name]; i < len(row) {
				return row[i]
			}
			return ""
		}
		px, sv := get("pxname"), get("svname")
		if (px != "reads" && px != "writes") || sv == "BACKEND" || sv == "FRONTEND" {
			continue
		}
		i, ok := index[sv]
		if !ok {
			i = len(out)
			index[sv] = i
			out = append(out, HAProxyServerStat{Name: sv})
		}
		if px == "reads" {
			out[i].Status = get("status")
		}
		for _, c := range []string{"hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"} {
			n, _ := strconv.ParseInt(get(c), 10, 64)
			out[i].Responses += n
		}
	}
	return out, nil
}

// HAProxyRuntime sends one command to the runtime API of the HAProxy on
// node (e.g. "set server reads/web-3 state drain") and returns its answer.
// It runs inside the node's container (bash's /dev/tcp): the API listens on
// the container's loopback only.
func (s *Stack) HAProxyRuntime(ctx context.Context, node, command string) (string, error) {
	script := fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d && printf '%%s\n' "$1" >&3 && cat <&3`, HAProxyAdminPort)
	out, err := s.Run(ctx, node, []string{"bash", "-c", script, "haproxy-runtime", command})
	if err != nil {
		return "", fmt.Errorf("haproxy on %s: %q: %w", node, command, err)
	}
	return out, nil
}

// HAProxyServerState is one server of one backend, from the runtime API.
type HAProxyServerState struct {
	Backend, Server string
	// Draining: the server's admin state has the drain flag (set on it, or
	// inherited from the server it tracks): it gets no new requests.
	Draining bool
	// InFlight is the number of requests the server is serving (scur).
	InFlight int
}

// HAProxyServerStates lists every backend's entry for server on the HAProxy
// node (one per backend that holds it).
func (s *Stack) HAProxyServerStates(ctx context.Context, node, server string) ([]HAProxyServerState, error) {
	state, err := s.HAProxyRuntime(ctx, node, "show servers state")
	if err != nil {
		return nil, err
	}
	stat, err := s.HAProxyRuntime(ctx, node, "show stat")
	if err != nil {
		return nil, err
	}
	// "show servers state": be_id be_name srv_id srv_name srv_addr
	// srv_op_state srv_admin_state ...; admin flags 0x08 (drain) and 0x10
	// (drain inherited from a tracked server).
	var out []HAProxyServerState
	for _, line := range strings.Split(state, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || strings.HasPrefix(f[0], "#") || f[3] != server {
			continue
		}
		admin, err := strconv.Atoi(f[6])
		if err != nil {
			return nil, fmt.Errorf("haproxy servers state: %q", line)
		}
		out = append(out, HAProxyServerState{Backend: f[1], Server: server, Draining: admin&(0x08|0x10) != 0})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("haproxy on %s has no server %q", node, server)
	}
	cr := csv.NewReader(strings.NewReader(stat))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy show stat: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(name, "# ")] = i
	}
	for _, row := range rows[1:] {
		if len(row) <= col["scur"] || row[col["svname"]] != server {
			continue
		}
		for i := range out {
			if out[i].Backend == row[col["pxname"]] {
				out[i].InFlight, _ = strconv.Atoi(row[col["scur"]])
			}
		}
	}
	return out, nil
}
