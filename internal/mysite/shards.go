package mysite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sharding (stage 11).
//
// With -shard name=DSN (repeated, in order) users are split over several
// PostgreSQL databases by id: a Router (shardrouter.go) says which shard
// owns an id, and every call goes to that shard's own PGStore, with its own
// pool, schema upkeep and monitor, so that a shard that is down or slow
// costs only the requests for its users (each waits at most the DB timeout
// on that shard's pool; no lock is held across a database call). -spare
// shards are started and kept ready but own no keys until POST
// /admin/reshard moves the keys whose home changes onto them (reshard.go).
//
// Every answer to GET /users/{id}, PUT /users/{id} and POST /users of a
// sharded store names the shard the request was routed to in the header
// Mysite-Shard (errors included), so that the lab can tell which shard's
// failure a failed request was.

// ShardHeader is set on every answer to GET /users/{id}, PUT /users/{id} and
// POST /users when the store is sharded: the name of the shard the request
// was routed to (during a move, the shard authoritative for reads of that
// key at routing time).
const ShardHeader = "Mysite-Shard"

// DefaultMoveRate is how many rows a second a reshard copies by default.
const DefaultMoveRate = 200

// ShardNamer is implemented by a sharded Store: the name of the shard that
// serves id right now (for reads; during a move, the old shard until the
// switch).
type ShardNamer interface {
	ShardOf(id string) string
}

// shardFlags defines the sharding flags.
func shardFlags(fs *flag.FlagSet, cfg *Config) {
	nodeList := func(name, usage, env string, to *string) {
		fromFlags := false
		fs.Func(name, usage+" (env "+env+": space-separated)", func(v string) error {
			if !fromFlags { // flags replace the environment's list
				*to, fromFlags = "", true
			}
			*to = strings.TrimSpace(*to + " " + v)
			return nil
		})
	}
	nodeList("shard", "a PostgreSQL database users are split over by id, name=DSN (URL form); repeat for every shard, in order "+
		"(shard-1, shard-2, ...). -db must then be empty", EnvShards, &cfg.Shards)
	nodeList("spare", "a shard that is started and kept ready but owns no users until POST /admin/reshard adds it, name=DSN; "+
		"repeatable", EnvSpares, &cfg.Spares)
	fs.StringVar(&cfg.ShardStrategy, "shard-strategy", cfg.ShardStrategy,
		"how ids map to shards: ring (consistent hashing: adding a shard moves about 1/(N+1) of the users, all to it) "+
			"or modulo (hash mod N: adding a shard moves about N/(N+1) of them) (env "+EnvShardStrategy+")")
	fs.IntVar(&cfg.VNodes, "vnodes", cfg.VNodes, "ring points per shard with -shard-strategy ring (more: more even shares)")
	fs.Float64Var(&cfg.MoveRate, "move-rate", cfg.MoveRate, "rows per second a reshard copies (0: unpaced)")
	fs.DurationVar(&cfg.ReadCacheTTL, "read-cache-ttl", cfg.ReadCacheTTL,
		"with -shard, keep each user read in this server's memory this long (its writes drop the entry; one web server only): "+
			"a hot key's reads stop reaching its shard; 0: no read cache")
}

// sharded reports whether users are split over shards.
func (c Config) sharded() bool { return strings.TrimSpace(c.Shards) != "" }

// ShardNode is one entry of Config.Shards or Config.Spares.
type ShardNode struct{ Name, DSN string }

// shardNodes parses Shards and Spares; names are unique across both.
func (c Config) shardNodes() (shards, spares []ShardNode, err error) {
	seen := map[string]bool{}
	parse := func(flag, list string) ([]ShardNode, error) {
		var out []ShardNode
		for _, f := range strings.Fields(list) {
			name, dsn, ok := strings.Cut(f, "=")
			if !ok || name == "" || dsn == "" {
				// Not echoed: the value may hold a password.
				return nil, fmt.Errorf("-%s wants name=DSN (e.g. shard-1=postgres://user:pass@db1:5432/app), got an entry without a name or a DSN", flag)
			}
			if err := validName(name); err != nil {
				return nil, fmt.Errorf("-%s name %v", flag, err)
			}
			if seen[name] {
				return nil, fmt.Errorf("-%s %s: the name is given twice (shard and spare names must be unique)", flag, name)
			}
			seen[name] = true
			if _, err := pgxpool.ParseConfig(dsn); err != nil {
				return nil, fmt.Errorf("-%s %s: not a valid PostgreSQL DSN: %v", flag, name, err)
			}
			out = append(out, ShardNode{Name: name, DSN: dsn})
		}
		return out, nil
	}
	if shards, err = parse("shard", c.Shards); err != nil {
		return nil, nil, err
	}
	if spares, err = parse("spare", c.Spares); err != nil {
		return nil, nil, err
	}
	return shards, spares, nil
}

// validateShards checks the sharding settings, and that sharding is not
// combined with what it does not support: replicas, the cache and
// write-behind would each need to know which shard a key is on, and the
// jobs and Redis sessions are other stages' (the scope stays small).
func (c Config) validateShards() error {
	switch c.ShardStrategy {
	case "", ShardRing, ShardModulo:
	default:
		return fmt.Errorf("-shard-strategy (%s) must be %s or %s, got %q", EnvShardStrategy, ShardRing, ShardModulo, c.ShardStrategy)
	}
	if c.VNodes < 0 || c.VNodes > maxVNodes {
		return fmt.Errorf("-vnodes must be between 1 and %d, got %d", maxVNodes, c.VNodes)
	}
	if c.MoveRate < 0 || math.IsNaN(c.MoveRate) || math.IsInf(c.MoveRate, 0) {
		return fmt.Errorf("-move-rate must be a number >= 0 (0: unpaced), got %v", c.MoveRate)
	}
	if c.ReadCacheTTL < 0 {
		return fmt.Errorf("-read-cache-ttl must be >= 0 (0: no read cache), got %v", c.ReadCacheTTL)
	}
	if !c.sharded() {
		if c.ReadCacheTTL > 0 {
			return errors.New("-read-cache-ttl needs -shard (the other stages cache in Redis: -cache)")
		}
		if strings.TrimSpace(c.Spares) != "" {
			return errors.New("-spare needs -shard: spares join the shards a reshard grows")
		}
		return nil
	}
	if _, _, err := c.shardNodes(); err != nil {
		return err
	}
	refuse := func(what, why string) error {
		return fmt.Errorf("-shard cannot be combined with %s (%s)", what, why)
	}
	switch {
	case strings.TrimSpace(c.Replicas) != "":
		return refuse("-replica", "replicas of which shard?")
	case c.Cache != "":
		return refuse("-cache", "not supported with shards")
	case c.Writes == WritesBehind:
		return refuse("-writes "+WritesBehind, "not supported with shards")
	case c.sessions() != SessionsMemory:
		return refuse("-sessions "+c.sessions(), "sharding uses sessions in memory")
	case c.Role == RoleWorker:
		return refuse("-role worker", "photo jobs are not sharded")
	case c.Jobs.Queue != "" || c.Jobs.Sync:
		return refuse("photo jobs (-queue, -jobs-mode sync)", "photo jobs are not sharded")
	}
	return nil
}

// shardNode is one shard (or spare) and its store.
type shardNode struct {
	name  string
	store *PGStore
	mon   *DBMonitor
}

// ShardedStore is a Store over several PGStores, one per shard, routing
// each call by the user's id. It also moves users onto spare shards
// (reshard.go).
type ShardedStore struct {
	nodes   []*shardNode // the shards in order, then the spares
	byName  map[string]*shardNode
	spares  []string
	timeout time.Duration // per background DB call; 0: bgCallTimeout
	rate    float64       // rows/s a move copies; 0: unpaced
	log     *slog.Logger

	// route is how keys are routed now; replaced whole (never changed in
	// place) by a move's phases.
	route atomic.Pointer[routing]

	// The move: at most one per process (moveStarted), run in the
	// background until ctx ends.
	ctx         context.Context
	cancel      context.CancelFunc
	bg          sync.WaitGroup
	moveStarted atomic.Bool
	mu          sync.Mutex // guards move and dirty; never held across a DB call
	move        MoveStatus
	dirty       map[string]bool // moving ids whose dual write may not have reached the new shard
	moving      atomic.Int64
	copied      atomic.Int64
}

// NewShardedStore builds a PGStore per shard and spare of cfg (valid,
// sharded), each with cfg's timeout and pool size. It does not connect:
// Run creates the schemas.
func NewShardedStore(cfg Config, log *slog.Logger) (*ShardedStore, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	shards, spares, err := cfg.shardNodes()
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, errors.New("no shards configured (-shard)")
	}
	s := &ShardedStore{byName: map[string]*shardNode{}, timeout: cfg.DBTimeout, rate: cfg.MoveRate, log: log,
		dirty: map[string]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var names []string
	for i, n := range append(shards, spares...) {
		one := cfg
		one.DB, one.Shards, one.Spares = n.DSN, "", ""
		nlog := log.With("shard", n.Name)
		mon := NewDBMonitor(nil, nlog)
		st, err := NewPGStore(one, mon, nlog)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("shard %s: %w", n.Name, err)
		}
		node := &shardNode{name: n.Name, store: st, mon: mon}
		s.nodes = append(s.nodes, node)
		s.byName[n.Name] = node
		if i < len(shards) {
			names = append(names, n.Name)
		} else {
			s.spares = append(s.spares, n.Name)
		}
	}
	r, err := NewRouter(cfg.ShardStrategy, names, cfg.VNodes)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.route.Store(&routing{cur: r, writes: newEpoch()})
	s.move = MoveStatus{State: MoveIdle, From: r.Len(), To: r.Len() + len(s.spares), Shards: r.Names()}
	return s, nil
}

// Run keeps every shard's schema (PGStore.MaintainSchema) and flushes
// their monitors until ctx is done.
func (s *ShardedStore) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range s.nodes {
		wg.Go(func() { n.store.MaintainSchema(ctx) })
		wg.Go(func() { n.mon.Run(ctx) })
	}
	wg.Wait()
	for _, n := range s.nodes {
		n.mon.Flush()
	}
}

// Close stops a move in progress and closes every pool.
func (s *ShardedStore) Close() {
	s.cancel()
	s.bg.Wait()
	for _, n := range s.nodes {
		n.store.Close()
	}
}

// Pools are the shards' (and spares') pools by name, in order (for
// metrics).
func (s *ShardedStore) Pools() []ShardPool {
	out := make([]ShardPool, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = ShardPool{Name: n.name, Pool: n.store.Pool()}
	}
	return out
}

// ShardPool is one shard's pool.
type ShardPool struct {
	Name string
	Pool *pgxpool.Pool
}

// ShardOf implements ShardNamer.
func (s *ShardedStore) ShardOf(id string) string { return s.route.Load().cur.Name(id) }

// Shards are the names of the shards that own keys now, in order.
func (s *ShardedStore) Shards() []string { return s.route.Load().cur.Names() }

// Spares are the spare shards' names.
func (s *ShardedStore) Spares() []string { return append([]string(nil), s.spares...) }

// Ready implements Store: every shard and every spare must be ready (a
// spare must be able to take keys when a move starts). They are asked at
// the same time, so that a hanging shard does not use up the others' time;
// the error names the first shard (in order) that is not ready.
func (s *ShardedStore) Ready(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		// A shard that hangs must fail before the caller's own deadline,
		// so that the answer still says which shard it was.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)*4/5))
		defer cancel()
	}
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { errs[i] = n.store.Ready(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.nodes[i].name, err)
		}
	}
	return nil
}

// Get implements Store: from the shard that is authoritative for id now.
func (s *ShardedStore) Get(ctx context.Context, id string) (User, error) {
	rt := s.route.Load()
	name := rt.cur.Name(id)
	noteShard(ctx, name)
	if err := rt.refused(id); err != nil {
		return User{}, err
	}
	u, err := s.byName[name].store.Get(ctx, id)
	return u, shardErr(name, err)
}

// Create implements Store.
func (s *ShardedStore) Create(ctx context.Context, u User) (User, error) {
	return s.write(ctx, u.ID, func(ctx context.Context, st *PGStore) (User, error) { return st.Create(ctx, u) })
}

// Put implements Store.
func (s *ShardedStore) Put(ctx context.Context, u User) (User, error) {
	return s.write(ctx, u.ID, func(ctx context.Context, st *PGStore) (User, error) { return st.Put(ctx, u) })
}

// shardErr names the shard in a failure; answers (not found, exists) stay
// as they are.
func shardErr(name string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) {
		return err
	}
	return fmt.Errorf("shard %s: %w", name, err)
}

// shardNote carries the shard a call was routed to from the store back to
// the handler (callNote).
type shardNote = callNote[shardRouted]

// shardRouted names the shard among a request's notes.
type shardRouted struct{}

func withShardNote(ctx context.Context, n *shardNote) context.Context { return withNote(ctx, n) }

func noteShard(ctx context.Context, name string) { note[shardRouted](ctx, &name) }

// sqlPutVersion writes a row as it is on another shard, version included,
// unless this shard has that version or a newer one already: a copy of an
// old version can never overwrite a newer row (reshard.go says why that
// matters). No row comes back when the guard kept the stored one.
const sqlPutVersion = `INSERT INTO users (id, first_name, last_name, address, phone_numbers, write_id, version)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, NULLIF($6, ''), $7)
ON CONFLICT (id) DO UPDATE SET` + userFieldsReplaced + `
	version       = EXCLUDED.version
WHERE users.version < EXCLUDED.version
RETURNING ` + userColumns

// putVersion stores u as it is (its version included) unless the stored
// row's version is u's or newer. Idempotent, so it is retried on a dead
// connection like a read.
func (s *PGStore) putVersion(ctx context.Context, u User) error {
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	_, err = s.queryUser(ctx, "copy", true, sqlPutVersion, append(args, u.Version)...)
	if errors.Is(err, ErrNotFound) { // the guard kept a row as new or newer
		return nil
	}
	return err
}

// sqlListIDs pages through the ids in order (keyset pagination: each page
// is one short statement under the timeout, however many rows there are).
const sqlListIDs = `SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2`

// listIDs returns up to limit ids after the id given, in order.
func (s *PGStore) listIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := s.checkSchema(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sqlListIDs, after, limit)
	if err != nil {
		err = s.classify(err, true)
		s.observe(ctx, "list", err)
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	err = s.classify(err, true)
	s.observe(ctx, "list", err)
	return ids, err
}
