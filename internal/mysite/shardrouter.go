package mysite

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
)

// Shard routing (stage 11): which shard owns a user id.
//
// Both strategies hash with ShardHash: 64-bit FNV-1a of the string, then
// splitmix64's finalizer. FNV-1a alone is fast and deterministic but mixes
// its last bytes poorly: ids that differ only in their last character
// ("user-1", "user-2") get hashes that differ mostly in their low bits, and
// ring points of one shard ("shard-1#0", "shard-1#1", ...) would bunch
// together. The finalizer is a bijection on 64 bits with full avalanche, so
// similar strings spread over the whole range, and the mapping stays the
// same on every server and across restarts (no seed).
//
//   - modulo: shard index = h(id) mod N. Even, but going from N to N+1
//     shards moves about N/(N+1) of the keys (4 -> 5: 80%).
//   - ring (consistent hashing): each shard has -vnodes points on a ring of
//     2^64 positions, at h(name + "#" + v) for v = 0..vnodes-1; a key goes
//     to the shard of the first point at or after h(id), wrapping past the
//     end. Adding a shard adds its points only: a key either stays or moves
//     to the new shard, about 1/(N+1) of them (4 -> 5: 20%). More vnodes,
//     more even shares (the spread of a share is about 1/sqrt(vnodes)).

// Shard strategies (-shard-strategy).
const (
	ShardModulo = "modulo"
	ShardRing   = "ring"
)

// DefaultVNodes is the number of ring points per shard by default.
const DefaultVNodes = 64

// maxVNodes bounds -vnodes (the ring is built in memory on every server).
const maxVNodes = 4096

// ShardHash is the hash both strategies place keys and ring points with:
// 64-bit FNV-1a followed by splitmix64's finalizer.
func ShardHash(s string) uint64 {
	f := fnv.New64a()
	_, _ = f.Write([]byte(s))
	return mix64(f.Sum64())
}

// mix64 is splitmix64's finalizer (Steele, Lea, Flood 2014; the constants
// of Stafford's variant 13).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// ringPoint is one vnode: its position and the index of its shard.
type ringPoint struct {
	pos   uint64
	shard int
}

// Router maps user ids to shards. It is immutable, so that routing needs
// no lock: a reshard builds a new one and swaps the pointer.
type Router struct {
	strategy string
	names    []string
	vnodes   int
	ring     []ringPoint // sorted by pos (then shard); ring only
}

// NewRouter builds a router over the shards named (in order: index i is
// names[i]). vnodes is used by the ring (0 means DefaultVNodes).
func NewRouter(strategy string, names []string, vnodes int) (*Router, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("a router needs at least one shard")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("shard %s is named twice", n)
		}
		seen[n] = true
	}
	r := &Router{strategy: strategy, names: slices.Clone(names)}
	switch strategy {
	case ShardModulo:
	case ShardRing, "":
		r.strategy = ShardRing
		if vnodes == 0 {
			vnodes = DefaultVNodes
		}
		if vnodes < 1 || vnodes > maxVNodes {
			return nil, fmt.Errorf("vnodes must be between 1 and %d, got %d", maxVNodes, vnodes)
		}
		r.vnodes = vnodes
		r.ring = make([]ringPoint, 0, len(names)*vnodes)
		for i, n := range names {
			for v := range vnodes {
				r.ring = append(r.ring, ringPoint{pos: ShardHash(n + "#" + strconv.Itoa(v)), shard: i})
			}
		}
		// Ties (two points at one position: astronomically rare) go to
		// the lower index, the same on every server.
		slices.SortFunc(r.ring, func(a, b ringPoint) int {
			if a.pos != b.pos {
				if a.pos < b.pos {
					return -1
				}
				return 1
			}
			return a.shard - b.shard
		})
	default:
		return nil, fmt.Errorf("unknown shard strategy %q (want %s or %s)", strategy, ShardModulo, ShardRing)
	}
	return r, nil
}

// Shard is the index of the shard that owns id.
func (r *Router) Shard(id string) int {
	h := ShardHash(id)
	if r.strategy == ShardModulo {
		return int(h % uint64(len(r.names)))
	}
	i, _ := slices.BinarySearchFunc(r.ring, h, func(p ringPoint, h uint64) int {
		if p.pos < h {
			return -1
		}
		if p.pos > h {
			return 1
		}
		return 0
	})
	if i == len(r.ring) { // past the last point: wrap to the first
		i = 0
	}
	return r.ring[i].shard
}

// Name is the name of the shard that owns id.
func (r *Router) Name(id string) string { return r.names[r.Shard(id)] }

// Names are the shards, in order.
func (r *Router) Names() []string { return slices.Clone(r.names) }

// Len is the number of shards.
func (r *Router) Len() int { return len(r.names) }

// Strategy is ShardModulo or ShardRing.
func (r *Router) Strategy() string { return r.strategy }

// Grow is a router of the same strategy (and vnodes) over these shards
// followed by more.
func (r *Router) Grow(more ...string) (*Router, error) {
	return NewRouter(r.strategy, append(slices.Clone(r.names), more...), r.vnodes)
}
