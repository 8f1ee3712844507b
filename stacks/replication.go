package stacks

import (
	"fmt"
	"sort"
	"strings"
)

// PGNode is one database node of a streaming-replication cluster (stage 4).
// Every node runs the same role; what it is at boot follows from the data.
type PGNode struct {
	// Name is the node's own name: its application_name on the primary
	// (pg_stat_replication, synchronous_standby_names).
	Name string
	// BootPrimary is the node that is primary when the cluster first boots.
	// Every other node makes itself a replica of it by following it through
	// its link to it: all nodes start from the same data directory, made at
	// image build (initdb, shut down cleanly), so a replica needs no base
	// backup at boot, only the WAL the primary wrote since.
	BootPrimary string
	// Peers are the other database nodes this node has a link to: on a
	// restart it may have to follow, or rebuild from, any of them.
	Peers []string
	// Controller is the failover controller's node. On a restart the node
	// asks it who is primary now: a former primary then rebuilds itself as
	// a replica of the new one instead of coming back as a second primary.
	// "" (no fencing): a restarted node starts on whatever data it has.
	Controller string
}

// PGDataDir is where Postgres keeps its data (baked into the image).
const PGDataDir = "/var/lib/postgresql/15/main"

// pgBootScript decides what this node is before Postgres starts, then execs
// Postgres with the arguments given after the script ("$@").
//
// The container's file system survives a restart (docker start), so a
// marker file tells a first boot from a restart. Environment: NODE,
// BOOT_PRIMARY, PG_PEERS ("name=host:port ..." through this node's links),
// CONTROLLER ("host:port" or empty).
const pgBootScript = `set -u
D=` + PGDataDir + `
MARK=/var/lib/postgresql/15/.scalelab-initialized
log() { echo "$(date -u +%FT%T.%3N) scalelab-pg $NODE: $*" >&2; }
peer() { for p in $PG_PEERS; do if [ "${p%%=*}" = "$1" ]; then echo "${p#*=}"; return 0; fi; done; return 1; }
rebuild() {
	a=$(peer "$1") || { log "no link to $1"; exit 1; }
	log "base backup from $1 through $a"
	until rm -rf "$D" && mkdir -m 700 "$D" &&
		pg_basebackup -h "${a%:*}" -p "${a##*:}" -U postgres -D "$D" -X stream -R -c fast -d "application_name=$NODE"; do
		log "base backup from $1 failed; retrying"
		sleep 0.3
	done
	log "replica of $1"
}
follow() {
	a=$(peer "$1") || { log "no link to $1"; exit 1; }
	echo "primary_conninfo = 'host=${a%:*} port=${a##*:} user=postgres application_name=$NODE'" >> "$D/postgresql.auto.conf"
}
if [ ! -f "$MARK" ]; then
	# The image's data directory is a clean shutdown of one initdb, the same
	# on every node: a cold copy of the boot primary as it starts. A replica
	# replays from there what the primary streams (the same system id,
	# timeline and shutdown checkpoint), which is what a base backup would
	# have given it, without copying the files over the network.
	if [ "$NODE" != "$BOOT_PRIMARY" ]; then
		touch "$D/standby.signal"
		follow "$BOOT_PRIMARY"
		log "replica of $BOOT_PRIMARY (from the image's data directory)"
	fi
	touch "$MARK"
elif [ -n "$CONTROLLER" ]; then
	# A restart: the cluster may have failed over while this node was away.
	until primary=$(curl -fsS --max-time 1 "http://$CONTROLLER/primary") && [ -n "$primary" ]; do
		log "asking the failover controller who is primary"
		sleep 0.2
	done
	if [ "$primary" != "$NODE" ]; then
		if [ -f "$D/standby.signal" ]; then
			log "restarting as a replica of $primary"
			follow "$primary"
		else
			log "was primary, but $primary is now: rejoining as its replica"
			rebuild "$primary"
		fi
	fi
fi
# A SIGKILL leaves the lock file behind; no other postmaster runs here.
rm -f "$D/postmaster.pid"
exec ` + pgBin + `postgres "$@"
`

// PostgresReplicated runs one node of a replicated cluster: the Postgres
// role (its -c settings, plus what replication needs) behind a boot script
// that makes a replica follow the boot primary from the image's data
// directory, and that rejoins a restarted former primary as a replica (a
// base backup of the new primary) when a controller says so. A node is ready
// when it is the primary, or a replica that streams from one: a replica that
// only answers queries could be promoted without the writes it never got. Extra -c settings
// go in the node's Args; the node's Env must come from PGNode.Env.
func PostgresReplicated() Role {
	r := Postgres()
	r.Kind = "postgres-replicated"
	args := append([]string{}, r.Cmd[1:]...)
	args = append(args,
		// Replicas keep the queries they serve from being cancelled by the
		// primary's vacuum, and report their position every second even
		// when idle (pg_stat_replication's lag columns).
		"-c", "hot_standby_feedback=on",
		"-c", "wal_receiver_status_interval=1s",
		// A node that becomes primary keeps this much WAL for replicas
		// that reconnect late (a replica following it after a failover, a
		// restarted one): without it a post-promotion checkpoint can recycle
		// the segment a replica still needs ("requested WAL segment ... has
		// already been removed"), and that replica never catches up.
		"-c", "wal_keep_size=256MB",
		// A replica that boots before its primary (they boot together) or
		// loses it retries the connection this often, not every 5 s (the
		// default): the stack is ready as soon as the primary is.
		"-c", "wal_retrieve_retry_interval=200ms",
	)
	r.Cmd = append([]string{"sh", "-c", pgBootScript, "scalelab-pg"}, args...)
	r.Ready = []string{"sh", "-c", replicatedReady}
	return r
}

// replicatedReady passes on a primary, or on a replica whose WAL receiver
// streams (pg_stat_wal_receiver), not merely on a server that answers.
const replicatedReady = `pg_isready -q -h 127.0.0.1 -p 5432 &&
[ "$(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc "select not pg_is_in_recovery() or exists (select 1 from pg_stat_wal_receiver where status = 'streaming')")" = t ]`

// Env is the environment the boot script reads. Peer addresses are link
// references (${name}), expanded to this node's links when it boots.
func (n PGNode) Env() map[string]string {
	peers := append([]string{}, n.Peers...)
	sort.Strings(peers)
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = fmt.Sprintf("%s=${%s}", p, p)
	}
	env := map[string]string{"NODE": n.Name, "BOOT_PRIMARY": n.BootPrimary, "PG_PEERS": strings.Join(parts, " "), "CONTROLLER": ""}
	if n.Controller != "" {
		env["CONTROLLER"] = "${" + n.Controller + "}"
	}
	return env
}

// FailoverPort is where the failover controller serves its API.
const FailoverPort = 8008

// Failover runs scalelab's failover controller (cmd/pgfailover); its
// nodes, boot primary and replication addresses come from the node's Args.
func Failover() Role {
	return Role{
		Kind:  "failover",
		Cmd:   []string{"pgfailover", "-listen", fmt.Sprintf(":%d", FailoverPort)},
		Port:  FailoverPort,
		Ready: httpReady(fmt.Sprintf("http://127.0.0.1:%d/healthz", FailoverPort)),
		Ping:  httpPing("/healthz"),
	}
}
