package stacks

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Role is what a node runs: the same image serves every role, so a role is a
// command, the port others reach it on, and how to tell it is ready.
type Role struct {
	Kind string
	Cmd  []string
	User string // empty: root
	Port int    // the port links to this node connect to; 0: it serves none
	// Ready runs inside the container until it exits 0: a real probe of the
	// server (pg_isready, PING, an HTTP health endpoint), not a sleep.
	Ready []string
	// Ping is a one-round-trip request in the server's own protocol, sent
	// through a link to measure it (see Stack.PingLink).
	Ping Ping
	// Volumes are directories the server writes as it works, each put on
	// an anonymous Docker volume: the host's own file system instead of
	// the container's. On an engine that stores containers with
	// fuse-overlayfs every write and fsync there goes through a user-space
	// daemon that takes CPU from the stack itself (a commit's WAL flush, a
	// checkpoint, a base backup). Docker copies the image's files into the
	// volume when it creates the container; the volume lives as long as the
	// container (a restart keeps it) and is removed with it.
	Volumes []string
	// Binary, when set, is a program on this machine copied into the node
	// before it starts, at ProgramDir/<its file name> (a user's own
	// server: Program).
	Binary string
}

// Ping is a request that the server answers with at least Want bytes.
type Ping struct {
	Send []byte
	Want int
}

// pgBin is where Debian's postgresql-15 keeps the server binaries.
const pgBin = "/usr/lib/postgresql/15/bin/"

// Postgres runs PostgreSQL 15 on the data directory baked into the image
// (initdb ran at image build), with durability as configured by Debian
// (fsync on, synchronous_commit on). Extra -c settings go in the node's Args.
func Postgres() Role {
	return Role{
		Kind: "postgres",
		User: "postgres",
		Cmd: []string{pgBin + "postgres",
			"-D", "/var/lib/postgresql/15/main",
			"-c", "config_file=/etc/postgresql/15/main/postgresql.conf",
			"-c", "hba_file=/etc/scalelab/pg_hba.conf",
			"-c", "listen_addresses=*",
			// The port is set here, not taken from the packaged config:
			// pg_createcluster picks the next free port at image build time.
			"-c", "port=5432",
			"-c", "ssl=off",
			// /run is empty in an imported image (the engine does not run
			// systemd-tmpfiles): keep the socket and pid file out of it.
			"-c", "unix_socket_directories=/tmp",
			"-c", "external_pid_file=/tmp/postgres.pid",
			// After a crash, PostgreSQL fsyncs every file of its data
			// directory before replaying WAL; syncfs flushes the file system
			// in one call. On an engine that stores containers with
			// fuse-overlayfs the file-by-file pass took 5-7 s of a killed
			// database's restart (syncfs: 0.06 s): the lab measured the
			// storage, not Postgres.
			"-c", "recovery_init_sync_method=syncfs",
		},
		Port:  5432,
		Ready: []string{"pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"},
		// The data directory (and the replicated role's marker beside it).
		Volumes: []string{"/var/lib/postgresql"},
		// An SSLRequest: the server answers with one byte ('N': no TLS here)
		// before any authentication, so it measures exactly one round trip.
		Ping: Ping{Send: []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, Want: 1},
	}
}

// PostgresDSN is the DSN that reaches the Postgres role's database at host:
// database "postgres" as user "postgres" (trust authentication, see
// pg_hba.conf), without TLS. host is what follows the "@": a link reference
// such as "${db}" (expanded to the link's address when the node boots), a
// host:port, or several of them joined by commas (pgx tries them in order).
// params are more query parameters, each "key=value", appended as given:
//
//	PostgresDSN("${db}")  // postgres://postgres@${db}/postgres?sslmode=disable
//	PostgresDSN("${a},${b}", "target_session_attrs=read-write")
func PostgresDSN(host string, params ...string) string {
	return "postgres://postgres@" + host + "/postgres?" + strings.Join(append([]string{"sslmode=disable"}, params...), "&")
}

// Redis runs redis-server in the foreground; persistence is up to the node's
// Args (a cache stage keeps the defaults).
func Redis() Role {
	return Role{
		Kind:  "redis",
		User:  "redis",
		Cmd:   []string{"redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--port", "6379", "--daemonize", "no", "--dir", "/var/lib/redis"},
		Port:  6379,
		Ready: []string{"redis-cli", "-p", "6379", "ping"},
		Ping:  Ping{Send: []byte("PING\r\n"), Want: len("+PONG\r\n")},
	}
}

// RabbitMQ runs Debian's rabbitmq-server (stage 9's message broker) with
// its data directory (definitions, durable queues, persistent messages) on
// a volume, so that a restart keeps them as a real broker's disk does. The
// node name does not follow the container's hostname, which changes with
// every container: the data directory is the node's. guest may connect
// from other hosts (by default only from loopback): the lab's nodes reach
// it through Toxiproxy.
//
// It is slow to start: 11-15 s alone on the lab's 2-core machines, 6 s of
// it one core's CPU loading and JIT-compiling Erlang modules
// (BENCHMARKS.md).
func RabbitMQ() Role {
	return Role{
		Kind: "rabbitmq",
		User: "rabbitmq",
		// RABBITMQ_LOGS=-: the log on standard output, where the node's
		// log is kept with a run's artifacts.
		Cmd: []string{"env", "HOME=/var/lib/rabbitmq", "RABBITMQ_NODENAME=rabbit@localhost", "RABBITMQ_LOGS=-",
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-rabbit loopback_users []",
			// The server itself, not Debian's wrapper in /usr/sbin, which sends
			// its output to /var/log/rabbitmq/startup_log.
			"/usr/lib/rabbitmq/bin/rabbitmq-server"},
		Port: 5672,
		// The listener opens last in RabbitMQ's boot, once the virtual host
		// and its queues are up: a protocol header answered by a
		// Connection.Start frame (type 1) means it takes clients.
		Ready:   []string{"bash", "-c", amqpProbe},
		Volumes: []string{"/var/lib/rabbitmq"},
		// The AMQP 0-9-1 protocol header; the answer's frame header is 7
		// bytes.
		Ping: Ping{Send: []byte("AMQP\x00\x00\x09\x01"), Want: 7},
	}
}

// amqpProbe sends the AMQP protocol header to the local broker and wants a
// frame back within 2 s.
const amqpProbe = `exec 3<>/dev/tcp/127.0.0.1/5672 && printf 'AMQP\0\0\x09\x01' >&3 && IFS= read -r -t 2 -n 1 -d '' b <&3 && [ "$b" = $'\x01' ]`

// Mysite runs the sample web app; its database DSN and other settings come
// from the node's Args (e.g. -db PostgresDSN("${db}")).
func Mysite() Role {
	return Role{
		Kind:  "mysite",
		Cmd:   []string{"mysite", "-listen", ":8080"},
		Port:  8080,
		Ready: httpReady("http://127.0.0.1:8080/readyz"),
		Ping:  httpPing("/healthz"),
	}
}

// ProgramDir is where a role's Binary is put in its node.
const ProgramDir = "/usr/local/bin"

// Program runs a server of your own: binary is a Linux program on this
// machine (build it static, CGO_ENABLED=0: the node is Debian bookworm),
// copied into the node and started with the node's Args. It serves HTTP on
// port, and is ready once GET readyPath answers 2xx. It runs as nobody.
func Program(binary string, port int, readyPath string) Role {
	name := filepath.Base(binary)
	return Role{
		Kind:   "program " + name,
		Cmd:    []string{ProgramDir + "/" + name},
		User:   "nobody",
		Port:   port,
		Ready:  httpReady(fmt.Sprintf("http://127.0.0.1:%d%s", port, readyPath)),
		Ping:   httpPing(readyPath),
		Binary: binary,
	}
}

// Toxiproxy is the stack's link layer; every link is one of its proxies.
func Toxiproxy() Role {
	return Role{
		Kind: "toxiproxy",
		// Toxiproxy logs every connection at its default level (trace,
		// several lines each): at a few hundred connections a second
		// (stage 6's browsers) that is thousands of lines a second for the
		// Docker engine to store, enough to slow its API (a heal probe's
		// container inspect timed out for a minute). Errors only.
		// blackhole swallows the connections of links whose node is gone
		// (NoUpstream).
		Cmd:   []string{"sh", "-c", "blackhole -listen " + NoUpstream + " & exec env LOG_LEVEL=error toxiproxy-server -host=0.0.0.0 -port=8474"},
		Port:  8474,
		Ready: httpReady("http://127.0.0.1:8474/version"),
	}
}

func httpReady(url string) []string {
	return []string{"curl", "-fsS", "-o", "/dev/null", "--max-time", "2", url}
}

// httpPing is an HTTP/1.0 GET: the server answers and closes; the first bytes
// of the status line are enough to time the round trip.
func httpPing(path string) Ping {
	return Ping{Send: []byte("GET " + path + " HTTP/1.0\r\nHost: scalelab\r\n\r\n"), Want: len("HTTP/1.x 200")}
}

// OneBox runs Postgres and mysite in one container: stage 1's single server.
// There is no link between them (they share the box's loopback), which is the
// point: one box, one thing to lose. pgArgs go to Postgres, webArgs to mysite.
func OneBox(pgArgs, webArgs []string) Role {
	pg := append(Postgres().Cmd, pgArgs...)
	web := append([]string{"mysite", "-listen", ":8080",
		"-db", PostgresDSN("127.0.0.1:5432")}, webArgs...)
	script := strings.Join([]string{
		// A SIGKILLed box leaves Postgres's lock file behind; in a fresh start
		// of this container no other postmaster can be running, so it is stale.
		"rm -f /var/lib/postgresql/15/main/postmaster.pid",
		"runuser -u postgres -- " + shellJoin(pg) + " &",
		"exec " + shellJoin(web),
	}, "\n")
	return Role{
		Kind:  "one-box",
		Cmd:   []string{"sh", "-c", script},
		Port:  8080,
		Ready: httpReady("http://127.0.0.1:8080/readyz"),
		Ping:  httpPing("/healthz"),
	}
}

// shellJoin quotes words for sh.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Edge runs nginx as an HTTP edge cache (proxy_cache) in front of the origin
// whose host:port is the node's environment variable ORIGIN (the stage sets
// Env ORIGIN=${origin}). It caches what the origin's Cache-Control allows,
// keyed by the request URI (so ?v=2 is a new object), lets one request per
// object through to the origin at a time (proxy_cache_lock), says how each
// answer came about in X-Cache-Status (HIT, MISS, EXPIRED, STALE, UPDATING),
// and gives up on the origin fast (connect 500ms, read 1s). With
// serveStale it answers from what it holds, even expired, while the origin
// fails (and refreshes expired objects in the background); without, an
// origin failure is the client's error. A request with the method PURGE, or
// any request to /purge<uri>, removes the object of that URI (200 when it
// was cached, 404 when not; see edgeConfig). GET /edge-health is nginx's own
// answer.
func Edge(serveStale bool) Role {
	return Role{
		Kind:  "edge",
		Cmd:   []string{"sh", "-c", edgeScript(serveStale, "/tmp")},
		Port:  80,
		Ready: httpReady("http://127.0.0.1:80/edge-health"),
		Ping:  httpPing("/edge-health"),
	}
}

// edgeOrigin is the placeholder of the origin in the edge's config: the
// script substitutes it with $ORIGIN when the node starts.
const edgeOrigin = "@ORIGIN@"

// edgeScript writes the edge's nginx config under dir (the role: /tmp) and
// runs nginx on it in the foreground. The config is here rather than in the
// node's Args, Env or Files because those are expanded with os.Expand, which
// would eat nginx's own $variables; sh leaves them alone in a quoted heredoc.
func edgeScript(serveStale bool, dir string) string {
	conf := dir + "/edge.conf"
	return strings.Join([]string{
		"set -eu",
		// ORIGIN goes into sed's replacement and nginx's proxy_pass: only
		// what a host:port can hold.
		`case "${ORIGIN:-}" in`,
		`'') echo "edge: ORIGIN (the origin's host:port) is not set" >&2; exit 2;;`,
		`*[!A-Za-z0-9.:_-]*) echo "edge: ORIGIN=$ORIGIN is not a host:port" >&2; exit 2;;`,
		"esac",
		// nginx creates the last level of its cache and temp paths itself
		// (owned by the workers' user), not their parents.
		"mkdir -p " + shellJoin([]string{dir + "/edge"}),
		`sed "s|` + edgeOrigin + `|$ORIGIN|g" >` + shellJoin([]string{conf}) + " <<'EDGE_CONF_END'",
		edgeConfig(serveStale, dir) + "EDGE_CONF_END",
		"exec " + shellJoin([]string{"nginx", "-c", conf, "-g", "daemon off;"}),
	}, "\n")
}

// edgeConfig is the edge's nginx config, with the origin as edgeOrigin and
// every file under dir.
//
// The workers run as www-data: nginx's master (root) creates the cache and
// temp directories and hands them to that user, so nothing needs root after
// start.
//
// Purging is a real removal, by Debian's libnginx-mod-http-cache-purge
// (ngx_cache_purge 2.3 built for nginx 1.22's module ABI; the image's
// packages), loaded by its absolute path: the image's /etc/nginx is not read.
// Only its "separate location" form is used (proxy_cache_purge ZONE KEY):
// its "same location" form (proxy_cache_purge PURGE in the proxied location)
// crashes the worker with SIGSEGV on every PURGE on nginx 1.22 (checked with
// Debian's 1.22.1 and 2.3-4), the module's known incompatibility with nginx
// 1.11.6 and later. So a PURGE request is sent to a named location through
// error_page, where the key is its $request_uri as it stands, and /purge<uri>
// is a location whose key is the rest of its raw request URI.
func edgeConfig(serveStale bool, dir string) string {
	edge := dir + "/edge"
	stale := "            # No proxy_cache_use_stale: when the origin fails, so does the edge.\n"
	if serveStale {
		stale = "            # While the origin fails, answer with what the cache holds, even\n" +
			"            # expired; refresh expired objects behind the client's back.\n" +
			"            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;\n" +
			"            proxy_cache_background_update on;\n" +
			"            # The client that triggers a background refresh gets the stale\n" +
			"            # copy at once, but nginx finishes its request only when the\n" +
			"            # refresh ends: the next request on that kept-alive connection\n" +
			"            # would wait for it (up to the 1 s read timeout against a dead\n" +
			"            # origin; measured: 3 asset loads a second timed out). One\n" +
			"            # request per connection keeps the wait on the refresh alone.\n" +
			"            keepalive_timeout 0;\n"
	}
	return `# The edge cache of scalelab's Edge role (stacks/roles.go), generated.
load_module /usr/lib/nginx/modules/ngx_http_cache_purge_module.so;
worker_processes 1;
user www-data;
pid ` + dir + `/edge.pid;
error_log /dev/stderr warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    server_tokens off;
    # Every file nginx writes is under ` + edge + `, not /var/lib/nginx.
    client_body_temp_path ` + edge + `/client_body;
    proxy_temp_path ` + edge + `/proxy_temp;
    fastcgi_temp_path ` + edge + `/fastcgi_temp;
    uwsgi_temp_path ` + edge + `/uwsgi_temp;
    scgi_temp_path ` + edge + `/scgi_temp;
    # inactive=1h: an expired object stays on disk, to be served stale
    # while the origin is down (when the stage asks for that).
    proxy_cache_path ` + edge + `/cache levels=1:2 keys_zone=edge:1m max_size=64m inactive=1h use_temp_path=off;
    # /purge/static/app.js?v=2 purges the key /static/app.js?v=2: taken
    # from the raw request URI, so that it is byte for byte the key the
    # object was stored under.
    map $request_uri $edge_purge_key {
        ~^/purge(/.*)$ $1;
    }

    server {
        listen 0.0.0.0:80;

        location = /edge-health {
            default_type text/plain;
            return 200 "ok\n";
        }

        location /purge/ {
            proxy_cache_purge edge $edge_purge_key;
        }

        location @purge {
            proxy_cache_purge edge $request_uri;
        }

        location / {
            # "return" is one of the two safe things to do in an "if".
            error_page 418 = @purge;
            if ($request_method = PURGE) {
                return 418;
            }
            proxy_pass http://` + edgeOrigin + `;
            proxy_cache edge;
            # The URI with its query string: /static/app.js?v=2 is another
            # object than ?v=1. No proxy_cache_valid: the origin's
            # Cache-Control alone says what is kept and how long.
            proxy_cache_key $request_uri;
            # One request per missing object goes to the origin; the others
            # wait for its answer (at most 2s, then they go too, uncached).
            proxy_cache_lock on;
            proxy_cache_lock_timeout 2s;
            proxy_cache_lock_age 2s;
            # A dead or slow origin is an error within 1.5s, not a hang.
            proxy_connect_timeout 500ms;
            proxy_send_timeout 1s;
            proxy_read_timeout 1s;
            proxy_next_upstream off;
` + stale + `            add_header X-Cache-Status $upstream_cache_status always;
        }
    }
}
`
}
