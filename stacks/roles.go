package stacks

import "strings"

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
		},
		Port:  5432,
		Ready: []string{"pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"},
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

// Toxiproxy is the stack's link layer; every link is one of its proxies.
func Toxiproxy() Role {
	return Role{
		Kind:  "toxiproxy",
		Cmd:   []string{"toxiproxy-server", "-host=0.0.0.0", "-port=8474"},
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
