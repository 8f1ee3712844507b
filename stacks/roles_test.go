package stacks

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// renderEdge runs the edge's script under dir with ORIGIN=origin and a
// stand-in nginx that records its arguments, and returns what the script
// wrote as the config, the arguments, and the script's combined output.
func renderEdge(t *testing.T, serveStale bool, dir, origin string) (conf string, args []string, out string, err error) {
	t.Helper()
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	fake := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + shellJoin([]string{argsFile}) + "\n"
	if err := os.WriteFile(filepath.Join(bin, "nginx"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", edgeScript(serveStale, dir))
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "ORIGIN=" + origin}
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", nil, string(b), err
	}
	c, rerr := os.ReadFile(filepath.Join(dir, "edge.conf"))
	if rerr != nil {
		t.Fatalf("the script wrote no config: %v", rerr)
	}
	a, rerr := os.ReadFile(argsFile)
	if rerr != nil {
		t.Fatalf("the script did not run nginx: %v", rerr)
	}
	return string(c), strings.Split(strings.TrimSuffix(string(a), "\n"), "\n"), string(b), nil
}

func TestEdgeRole(t *testing.T) {
	r := Edge(true)
	if r.Kind != "edge" || r.Port != 80 || r.User != "" || len(r.Cmd) != 3 || r.Cmd[0] != "sh" {
		t.Errorf("role %+v", r)
	}
	if !slices.Equal(r.Ready, httpReady("http://127.0.0.1:80/edge-health")) || string(r.Ping.Send) != string(httpPing("/edge-health").Send) {
		t.Errorf("probes: ready %q ping %q", r.Ready, r.Ping.Send)
	}
	if !strings.Contains(r.Cmd[2], "$ORIGIN") || !strings.Contains(r.Cmd[2], "nginx' '-c' '/tmp/edge.conf'") {
		t.Errorf("script does not use $ORIGIN or run nginx on /tmp/edge.conf:\n%s", r.Cmd[2])
	}
}

func TestEdgeScriptRendersConfig(t *testing.T) {
	common := []string{
		"load_module /usr/lib/nginx/modules/ngx_http_cache_purge_module.so;",
		"worker_processes 1;",
		"user www-data;",
		"error_log /dev/stderr warn;",
		"access_log off;",
		"listen 0.0.0.0:80;",
		"location = /edge-health {",
		`return 200 "ok\n";`,
		"proxy_pass http://toxiproxy:20001;",
		"proxy_cache edge;",
		"proxy_cache_key $request_uri;",
		"proxy_cache_lock on;",
		"proxy_connect_timeout 500ms;",
		"proxy_read_timeout 1s;",
		"location /purge/ {\n            proxy_cache_purge edge $edge_purge_key;",
		"~^/purge(/.*)$ $1;",
		"location @purge {\n            proxy_cache_purge edge $request_uri;",
		"error_page 418 = @purge;",
		"add_header X-Cache-Status $upstream_cache_status always;",
	}
	stale := []string{
		"proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;",
		"proxy_cache_background_update on;",
	}
	for _, serveStale := range []bool{true, false} {
		dir := t.TempDir()
		conf, args, out, err := renderEdge(t, serveStale, dir, "toxiproxy:20001")
		if err != nil {
			t.Fatalf("serveStale %v: %v: %s", serveStale, err, out)
		}
		for _, want := range append(append([]string{}, common...),
			"pid "+dir+"/edge.pid;", "proxy_cache_path "+dir+"/edge/cache ", "proxy_temp_path "+dir+"/edge/proxy_temp;") {
			if !strings.Contains(conf, want) {
				t.Errorf("serveStale %v: config lacks %q:\n%s", serveStale, want, conf)
			}
		}
		for _, d := range stale {
			if strings.Contains(conf, d) != serveStale {
				t.Errorf("serveStale %v: %q present %v:\n%s", serveStale, d, !serveStale, conf)
			}
		}
		// The module's "same location" form crashes nginx 1.22's worker.
		if strings.Contains(conf, "proxy_cache_purge PURGE") {
			t.Errorf("serveStale %v: the crashing same-location purge is back:\n%s", serveStale, conf)
		}
		if strings.Contains(conf, edgeOrigin) {
			t.Errorf("serveStale %v: the origin placeholder is left:\n%s", serveStale, conf)
		}
		if want := []string{"-c", dir + "/edge.conf", "-g", "daemon off;"}; !slices.Equal(args, want) {
			t.Errorf("nginx ran with %q, want %q", args, want)
		}
		checkWithNginx(t, conf, dir)
	}
}

// A missing or malformed ORIGIN stops the script before nginx starts.
func TestEdgeScriptRefusesBadOrigin(t *testing.T) {
	for _, origin := range []string{"", "origin:80|x", "a b:80", "$(id):80"} {
		_, _, out, err := renderEdge(t, true, t.TempDir(), origin)
		if err == nil || !strings.Contains(out, "edge: ORIGIN") {
			t.Errorf("ORIGIN=%q: err %v, output %q", origin, err, out)
		}
	}
}

// checkWithNginx has a real nginx test the config, when this machine has
// nginx and the purge module (the image's packages); otherwise only the
// text is checked.
func checkWithNginx(t *testing.T, conf, dir string) {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Log("no nginx here: the config is checked as text only")
		return
	}
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_http_cache_purge_module.so"); err != nil {
		t.Log("no cache purge module here: the config is checked as text only")
		return
	}
	// An origin nginx can resolve here; the listen port is not bound by -t.
	conf = strings.ReplaceAll(conf, "toxiproxy:20001", "127.0.0.1:1")
	path := filepath.Join(dir, "edge-test.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-c", path).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
}

// A program of the user's own runs from where Program puts it, probed on
// its own port and path, and a topology with it is valid data.
func TestProgramRole(t *testing.T) {
	r := Program("/tmp/build/shop-api", 9090, "/healthz")
	if r.Binary != "/tmp/build/shop-api" || r.Cmd[0] != ProgramDir+"/shop-api" || r.Port != 9090 {
		t.Fatalf("Program: %+v", r)
	}
	if got := r.Ready[len(r.Ready)-1]; got != "http://127.0.0.1:9090/healthz" {
		t.Errorf("ready probe %q", got)
	}
	topo := Topology{Name: "shop", Nodes: []Node{{Name: "db", Role: Postgres()}, {Name: "api", Role: r, Args: []string{"-db", PostgresDSN("${db}")}}},
		Links: []Link{{From: Client, To: "api"}, {From: "api", To: "db"}}}
	if err := topo.Validate(); err != nil {
		t.Error(err)
	}
}
