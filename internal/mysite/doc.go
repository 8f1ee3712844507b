// Package mysite is the sample web application under test in the lab: a JSON
// API over PostgreSQL, with login sessions in memory or in Redis, and
// optionally a Redis read cache.
//
// # API
//
// Every answer is JSON, errors included: {"error": "<what is wrong>"}.
//
//	POST /users         create; body is a User with id; 201 + stored user (Location: /users/{id});
//	                    409 {"error": "user 42 already exists"}
//	PUT  /users/{id}    upsert (full replacement); 200 + stored user; body id optional, must match the path
//	GET  /users/{id}    200 + user; 404 {"error": "user 42 not found"}
//	POST /login         body {"user": "<user id>"}; 200 {"user": "u1", "session": "<id>"} and
//	                    Set-Cookie: session=<id>; Path=/; HttpOnly
//	GET  /me            200 {"user": "u1", "server": "<-name>"} when the cookie's session exists;
//	                    401 {"error": "not logged in"} without a cookie or when the session is
//	                    unknown (logged out, expired, or lost with the server that held it)
//	POST /logout        deletes the cookie's session; 200 {"status": "logged out"} and
//	                    Set-Cookie: session=; Path=/; Max-Age=0; HttpOnly (also without a session)
//	GET  /healthz       200 {"status": "alive"} while the process runs
//	GET  /readyz        200 {"status": "ready"} when the schema exists, the DB answers a ping
//	                    within the DB timeout and the session store a PING within the session
//	                    timeout (Redis sessions); else 503 {"error": "database: ..."} or
//	                    {"error": "session store: ..."}
//	GET  /metrics       Prometheus text format
//	GET  /cache         200: the cache's settings and counters (hits, misses, errors,
//	                    timeouts, fills, invalidations, db_reads, ...); 404 without -cache
//	GET  /static/{name} 200: app.js, app.css or logo.svg at the current version (see Static
//	                    assets); 404 for any other name
//	GET  /page          200 text/html naming the three assets; Cache-Control: no-store
//	POST /static/publish
//	                    200 {"version": N}: every asset's new version
//	GET  /static-stats  200 {"version": N, "served": <200 answers of GET /static/...>}
//	POST /admin/reshard?protocol=online|naive|offline
//	                    202 + the move's status (state "copying"): starts moving users onto
//	                    the -spare shards in the background (see Sharding); 409 when a move
//	                    already ran or is running, 400 for another protocol, 404 without -spare
//	GET  /admin/reshard 200 {"state": "idle|copying|done|failed", "protocol", "from": N, "to": M,
//	                    "moving": <rows whose shard changes>, "copied", "started", "finished"
//	                    (RFC 3339, nanoseconds; "" until then), "error", "shards": [the shards
//	                    that own users now], "move_rate"}; 404 without -spare
//
// Every response carries the header Mysite-Server: <-name> (default the host
// name), so that a client behind a load balancer sees which server answered.
// With -shard, every answer to GET /users/{id}, PUT /users/{id} and POST
// /users (errors included, once the id is known) carries Mysite-Shard: <the
// shard the request was routed to>.
//
// A stored user always has every key:
//
//	{"id": "42", "firstName": "John", "lastName": "Smith",
//	 "address": {"streetAddress": "21 2nd Street", "city": "New York", "state": "NY", "postalCode": "10021"},
//	 "phoneNumbers": [{"type": "home", "number": "212 555-1234"}],
//	 "writeId": "c3-w17", "version": 5}
//
// address is null when not given, phoneNumbers [] and writeId "" likewise.
// version is assigned by the server (1 on create, +1 on every PUT of that id,
// atomically in SQL); a version sent by the client is ignored.
//
// Other statuses: 400 for bad input (invalid JSON, unknown field, missing id or
// firstName, invalid id — 1 to 64 characters of A-Z a-z 0-9 _ -, body over 64
// KiB, NUL characters), 405 with an Allow header for a wrong method, 404 for
// an unknown path, 503 {"error": "database unavailable: ..."} when the database
// is down, unreachable or slower than the DB timeout (always within the
// timeout), 500 {"error": "database error: ..."} for any other database error.
//
// On a 5xx answer to POST or PUT, the header Mysite-Write-Outcome says
// "not-applied" when the write certainly did not happen (e.g. no connection
// could be made) or "unknown" when it may have (e.g. the timeout passed after
// the statement was sent).
//
// # Sessions
//
// A session is an opaque random id (128 bits) mapped to a user id, living
// -session-ttl after login (use does not extend it). The user is not looked
// up in the database: the lab has no passwords. With -sessions memory the
// map is in this process, so a user stays logged in only while every request
// reaches this server (sticky sessions) and it lives; with -sessions redis it
// is in a shared Redis under "mysite:session:<id>", and any server serves any
// user.
//
// Requests to /users that carry a session cookie are checked first: 401
// {"error": "not logged in"} when the session is unknown (before any database
// call). Requests without the cookie are served anonymously, as before.
//
// When the session store cannot answer (down, unreachable, slower than
// -session-timeout) the request gets 503 {"error": "session store
// unavailable: ..."} within the timeout, with Mysite-Write-Outcome:
// not-applied on writes. Session store calls are always bounded: there is no
// "0 means wait forever" as for the database.
//
// # Database timeout
//
// Every database call of a request runs under the DB timeout (-db-timeout).
// A timeout of 0 disables it: requests then wait for a slow database as long
// as the client does. That is the lab's negative control.
//
// # Cache
//
// With -cache host:port mysite reads users cache-aside through a Redis
// (stage 5): GET /users/{id} looks up "mysite:user:<id>" (the user's JSON,
// version included); on a miss it reads the database and stores the user
// with the TTL -cache-ttl. Memory limits and eviction (maxmemory,
// maxmemory-policy allkeys-lru) are Redis's own settings. A write goes to
// the database, then -cache-invalidation says what happens to the entry:
// delete, update (store the written user) or none (stale until the TTL
// ends). -cache-guard says what concurrent misses of one user do: none
// (each reads the database), coalesce (one read per server) or lease (a
// lease "mysite:user-lease:<id>" in Redis: one read for the whole web tier;
// a write also ends the lease, so a fill of a value read before the write
// is dropped).
//
// A slow or dead cache does not stall requests: every cache call is
// bounded by -cache-timeout (100 ms), after which the read goes to the
// database; a cache error never fails a request, and the cache is not part
// of readiness. A cache timeout of 0 disables it: requests then wait for a
// slow cache up to the DB timeout. That is the lab's negative control.
// -cache is refused together with -replica or -writes behind.
//
// # Static assets
//
// For the edge cache stage (6) mysite serves three small generated assets,
// app.js, app.css and logo.svg, with no database involved. They share one
// version, 1 at start (in this process: a restart begins again at 1), which
// POST /static/publish raises by one. GET /static/{name} answers the asset
// at the current version whatever its query string says, with the headers
// Asset-Version: N and Cache-Control: public, max-age=<-static-max-age in
// seconds> (60 by default; -static-max-age 0 sends no-store); the body's
// first line names the asset and its version ("/* app.js version 3 */").
// GET /page names each asset once, as /static/app.js?v=N (without ?v=N when
// -static-versioned=false, the lab's negative control: a new version then
// has the same URL, and caches serve the old one until it expires), with
// Asset-Version: N and Cache-Control: no-store. GET /static-stats counts
// the 200 answers to asset requests: what an edge cache in front of mysite
// saved it shows there.
//
// # Sharding
//
// With -shard name=DSN (repeated, in order; -db empty; stage 11) users are
// split over several PostgreSQL databases by id, each with its own pool of
// -max-conns and the DB timeout: a shard that is down or slow fails only
// its own users' requests. -shard-strategy says how: ring (the default:
// consistent hashing, -vnodes points per shard, 64 by default) or modulo
// (hash mod N). The hash is 64-bit FNV-1a followed by splitmix64's
// finalizer. /readyz needs every shard and spare ready and names the first
// that is not. Sharding combines only with -db-timeout, -max-conns, -name,
// memory sessions, the static assets and -failpoints; -replica, -cache,
// -writes behind, Redis sessions and photo jobs are refused.
//
// -spare name=DSN shards are kept ready but own no users until POST
// /admin/reshard grows the router to the shards plus every spare (same
// strategy) and moves the users whose shard changes, -move-rate rows a
// second (200; 0: unpaced), once per process. protocol=online dual-writes
// moving users (old shard, then a version-guarded copy to the new one,
// then the answer), copies them, and switches: no acknowledged write is
// lost and no read goes back in time. protocol=naive (the lab's negative
// control) copies, then switches: writes during the copy to rows already
// copied are lost. protocol=offline (the other control, a maintenance
// window) refuses every request of a moving user (503, not applied) until
// the switch: nothing is lost, but those users are down while they move.
// A move that cannot finish (a shard unavailable) fails,
// and the old shards stay authoritative. Spares should be empty databases.
// Moved rows are not deleted from their old shard. See reshard.go.
//
// # Read replicas
//
// With -replica name=DSN (one per database node; stage 4) mysite reads from
// replicas and writes to the primary. -db is then usually every node in one
// multi-host DSN with target_session_attrs=read-write: new connections find
// whichever node accepts writes, so writes follow a failover by themselves.
// mysite probes every listed node every -replica-check (100 ms): a node in
// recovery is a replica; new write connections go first to the node last
// seen accepting writes and skip nodes that did not answer; and a primary on
// an older timeline than one already seen (a former primary back after a
// failover) is refused.
//
// -reads says where reads go: replica (a healthy replica, round robin; the
// next one, then the primary, when it fails), read-your-writes (a replica
// that has replayed the client's last write, else the primary) or primary.
// In read-your-writes mode every successful write answers with the header
// Mysite-LSN: <the primary's WAL position after the commit, in bytes>; a
// client sends the highest it got back on its reads as Mysite-Min-LSN. Any
// read may ask for the primary with Mysite-Read-From: primary.
// -read-fallback=false is the lab's negative control: reads go round robin to
// every listed node, with no health checks and no second try.
//
//	GET /replication    200: mysite's view of the cluster: every node's role
//	                    (primary, replica, fenced, down), position and reads
//	                    served, and the primary's pg_stat_replication (lag per
//	                    standby); 404 without -replica
package mysite

// # Photo jobs
//
// With -queue <AMQP URL> (stage 9) a web server takes photo jobs and hands
// them to workers through a RabbitMQ queue (durable, persistent messages):
//
//	POST /photos/{id}/jobs  body {"job": "<id>", "op": "blur|sharpen|crop"} (both optional:
//	                        the server makes a job id; the op follows from the photo id);
//	                        202 {"job", "photo", "op", "state": "queued"} once the broker
//	                        confirmed it has the job ("sent" with -confirms=false: handed to
//	                        the connection, not confirmed); 503 with Mysite-Write-Outcome
//	                        not-applied (no broker connection) or unknown (no confirm in
//	                        -job-timeout: the job may still be queued)
//	GET  /jobs/{id}         200 {"job", "effects": N, "state": "done" | "pending"}
//	GET  /jobs              200 {"effects": {"<job id>": N, ...}}: every job's effects
//	GET  /queue             200 {"queue", "messages", "consumers"} as the broker counts them
//
// A worker (-role worker, same -db and -queue) takes jobs with -prefetch
// unacknowledged at most, does the photo operation (real CPU work on an
// image made from the photo id, -photo-size pixels a side) and records its
// effect, a row of photo_effects, in the database; with manual acks (the
// default) it acknowledges a job only after that commit, so a job whose
// worker died is delivered again. With idempotency (the default) the effect
// and a row of jobs_done keyed by the job id commit together: a job
// delivered twice has one effect. It serves /healthz, /readyz (broker
// channel open, database reachable) and GET /worker (its counters).
// The lab's negative controls: -ack auto (the broker forgets a job on
// delivery), -idempotency=false, -queue-durable=false, -confirms=false, and
// -jobs-mode sync (the web server does the work in the request, no queue).
