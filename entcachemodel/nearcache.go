package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// WithNearCache keeps up to maxEntries decoded entities in the process, in
// front of Redis, for Get by id. Entries are kept coherent by Redis
// server-assisted client-side caching (RESP3 CLIENT TRACKING, through a
// rueidis client to the same servers as the go-redis client given to New):
// a key another process changes is dropped when its invalidation arrives,
// and every entry is dropped when a tracking connection closes. The
// process's own writes drop their keys before the write returns. A hit
// returns a copy (the schema's generated Clone) the caller may change.
//
// It needs a server that supports CLIENT TRACKING (Redis 6+) and a
// *redis.Client or *redis.ClusterClient; otherwise (miniredis, Ring,
// Sentinel) it is off, with a warning logged by New. maxEntries <= 0 turns
// it off.
func WithNearCache(maxEntries int) Option { return func(c *Cache) { c.nearMax = maxEntries } }

// nearShards is the number of shards of a near cache (fewer for a small one).
const nearShards = 16

// nearStripes is the number of invalidation counters: a fill is kept only
// if no invalidation of a key of its stripe ran while it was in flight.
const nearStripes = 256

// nearCache holds decoded entities by row key. It serves only what a
// tracked read (DoCache) returned and no invalidation has dropped since.
type nearCache struct {
	rc     rueidis.Client
	log    *slog.Logger
	seed   maphash.Seed
	shards []nearShard
	cap    int // entries per shard
	// epoch moves on every drop of the whole cache (a tracking connection
	// closed, or Redis invalidated every key): a fill that started before
	// it is not kept.
	epoch atomic.Uint64
	// stripes count the invalidations of the keys of each stripe.
	stripes [nearStripes]atomic.Uint64
	// down is set while the last tracked read failed: nothing is served
	// until one succeeds.
	down atomic.Bool

	hits, fills, drops, invalidations atomic.Uint64

	// held and heldKeys are DelayNearInvalidations.
	holdMu   sync.Mutex
	held     bool
	heldKeys [][]rueidis.RedisMessage
}

// holdInvalidations keeps keys for later while invalidations are held.
func (n *nearCache) holdInvalidations(keys []rueidis.RedisMessage) bool {
	n.holdMu.Lock()
	defer n.holdMu.Unlock()
	if n.held {
		n.heldKeys = append(n.heldKeys, keys)
	}
	return n.held
}

// DelayNearInvalidations holds back the invalidations Redis sends the
// near cache until the returned function is called, as a slow network
// would: tests use it to check that the process's own writes do not wait
// for them. Without a near cache it does nothing.
func (c *Cache) DelayNearInvalidations() (release func()) {
	n := c.near
	if n == nil {
		return func() {}
	}
	n.holdMu.Lock()
	n.held = true
	n.holdMu.Unlock()
	return func() {
		n.holdMu.Lock()
		n.held = false
		keys := n.heldKeys
		n.heldKeys = nil
		n.holdMu.Unlock()
		s := &nearStore{n: n}
		for _, k := range keys {
			s.Delete(k)
		}
	}
}

type nearShard struct {
	mu sync.Mutex
	m  map[string]any
}

// newNearCache returns the near cache of c's Redis client, or nil (logged)
// when it cannot have one.
func newNearCache(c *Cache) *nearCache {
	if c.nearMax <= 0 || c.rdb == nil {
		return nil
	}
	opt, err := nearOptions(c.rdb)
	if err != nil {
		c.log.Warn("entcachemodel: near cache off", slog.Any("error", err))
		return nil
	}
	n := &nearCache{log: c.log, seed: maphash.MakeSeed()}
	shards := nearShards
	if c.nearMax < shards {
		shards = 1
	}
	n.shards = make([]nearShard, shards)
	n.cap = max(1, c.nearMax/shards)
	for i := range n.shards {
		n.shards[i].m = make(map[string]any)
	}
	opt.ClientName = NearClientName(c)
	opt.NewCacheStoreFn = func(rueidis.CacheStoreOption) rueidis.CacheStore { return &nearStore{n: n} }
	// A connection that stops answering is closed, and the cache dropped,
	// within this time (rueidis pings idle connections).
	opt.ConnWriteTimeout = max(2*time.Second, 2*c.timeout)
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		c.log.Warn("entcachemodel: near cache off: the Redis server does not support client-side caching (CLIENT TRACKING over RESP3)", slog.Any("error", err))
		return nil
	}
	n.rc = rc
	return n
}

// nearOptions returns the rueidis options of a client of the servers rdb
// talks to.
func nearOptions(rdb redis.UniversalClient) (rueidis.ClientOption, error) {
	switch r := rdb.(type) {
	case *redis.Client:
		o := r.Options()
		if o.Network == "unix" || o.Dialer != nil && o.Addr == "" {
			return rueidis.ClientOption{}, errors.New("entcachemodel: the near cache needs a TCP address")
		}
		return rueidis.ClientOption{
			InitAddress: []string{o.Addr}, Username: o.Username, Password: o.Password,
			SelectDB: o.DB, TLSConfig: o.TLSConfig, ForceSingleClient: true,
		}, nil
	case *redis.ClusterClient:
		o := r.Options()
		return rueidis.ClientOption{
			InitAddress: append([]string(nil), o.Addrs...), Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig,
		}, nil
	}
	return rueidis.ClientOption{}, fmt.Errorf("entcachemodel: the near cache needs a *redis.Client or *redis.ClusterClient, not %T", rdb)
}

// NearClientName is the CLIENT SETNAME of the near cache's connections
// (CLIENT LIST shows them; tests kill them).
func NearClientName(c *Cache) string { return "ecm-near-" + c.nonce }

// close releases the connections of the near cache.
func (n *nearCache) close() {
	if n != nil && n.rc != nil {
		n.rc.Close()
	}
}

func (n *nearCache) hash(key string) uint64 { return maphash.String(n.seed, key) }

func (n *nearCache) shard(h uint64) *nearShard { return &n.shards[h%uint64(len(n.shards))] }

// get returns the entity held for key.
func (n *nearCache) get(key string) (any, bool) {
	if n.down.Load() {
		return nil, false
	}
	s := n.shard(n.hash(key))
	s.mu.Lock()
	v, ok := s.m[key]
	s.mu.Unlock()
	return v, ok
}

// ticket is what a fill saw before its tracked read.
type ticket struct{ epoch, stripe uint64 }

func (n *nearCache) ticket(h uint64) ticket {
	return ticket{n.epoch.Load(), n.stripes[h%nearStripes].Load()}
}

// put keeps v for key if nothing invalidated key since t was taken.
func (n *nearCache) put(key string, h uint64, t ticket, v any) bool {
	s := n.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.epoch.Load() != t.epoch || n.stripes[h%nearStripes].Load() != t.stripe || n.down.Load() {
		return false
	}
	if _, ok := s.m[key]; !ok && len(s.m) >= n.cap {
		for k := range s.m { // one arbitrary entry out
			delete(s.m, k)
			break
		}
	}
	s.m[key] = v
	n.fills.Add(1)
	return true
}

// evict drops keys (invalidated, or written by this process).
func (n *nearCache) evict(keys ...string) {
	if n == nil {
		return
	}
	for _, k := range keys {
		h := n.hash(k)
		s := n.shard(h)
		s.mu.Lock()
		n.stripes[h%nearStripes].Add(1)
		delete(s.m, k)
		s.mu.Unlock()
	}
}

// dropAll drops every entry: a tracking connection closed, Redis
// invalidated every key, or a tracked read failed.
func (n *nearCache) dropAll() {
	n.epoch.Add(1)
	n.drops.Add(1)
	for i := range n.shards {
		s := &n.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// len returns the number of entries held.
func (n *nearCache) len() int {
	total := 0
	for i := range n.shards {
		s := &n.shards[i]
		s.mu.Lock()
		total += len(s.m)
		s.mu.Unlock()
	}
	return total
}

// read is a tracked GET of key: its value, whether there is one, and the
// ticket to keep what it decodes to.
func (n *nearCache) read(ctx context.Context, key string, h uint64, timeout time.Duration) (string, bool, ticket, error) {
	t := n.ticket(h)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := n.rc.DoCache(ctx, n.rc.B().Get().Key(key).Cache(), time.Hour).ToString()
	if rueidis.IsRedisNil(err) {
		n.down.Store(false)
		return "", false, t, nil
	}
	if err != nil {
		if n.down.CompareAndSwap(false, true) {
			n.log.LogAttrs(ctx, slog.LevelWarn, "entcachemodel: near cache dropped: a tracked read failed", slog.Any("error", err))
		}
		n.dropAll()
		return "", false, t, err
	}
	n.down.Store(false)
	return v, true, t, nil
}

// nearStore is the rueidis CacheStore of one tracking connection. It holds
// nothing itself: it tells the near cache of invalidations (Delete) and of
// the connection's end (Close).
type nearStore struct{ n *nearCache }

func (s *nearStore) Flight(string, string, time.Duration, time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	return rueidis.RedisMessage{}, nil // always a miss: the read goes to Redis
}

func (s *nearStore) Update(string, string, rueidis.RedisMessage) int64 { return 0 }

func (s *nearStore) Cancel(string, string, error) {}

func (s *nearStore) Delete(keys []rueidis.RedisMessage) {
	if s.n.holdInvalidations(keys) {
		return
	}
	if keys == nil {
		s.n.dropAll()
		return
	}
	for _, k := range keys {
		if key, err := k.ToString(); err == nil {
			s.n.invalidations.Add(1)
			s.n.evict(key)
		} else {
			s.n.dropAll() // an invalidation not understood: trust nothing
			return
		}
	}
}

func (s *nearStore) Close(error) { s.n.dropAll() }

// NearStats counts what the near cache did (all zero without one).
type NearStats struct {
	On            bool   // the near cache is in use
	Entries       int    // entities held now
	Hits          uint64 // Gets served from the process
	Fills         uint64 // entities kept after a tracked read
	Invalidations uint64 // keys dropped on Redis's word
	Drops         uint64 // times every entry was dropped
}

// NearStats returns the counters of the near cache.
func (c *Cache) NearStats() NearStats {
	n := c.near
	if n == nil {
		return NearStats{}
	}
	return NearStats{On: true, Entries: n.len(), Hits: n.hits.Load(), Fills: n.fills.Load(),
		Invalidations: n.invalidations.Load(), Drops: n.drops.Load()}
}

// Close releases the connections of the near cache, if any (the Redis
// client given to New stays the caller's to close). The Cache keeps
// working, without its near cache.
func (c *Cache) Close() {
	if c == nil || c.near == nil {
		return
	}
	n := c.near
	n.down.Store(true)
	n.dropAll()
	n.close()
}

// DropNearCache drops every entity of the near cache (tests, and tools that
// changed Redis by hand).
func (c *Cache) DropNearCache() {
	if c != nil && c.near != nil {
		c.near.dropAll()
	}
}

// nearGet is Get from the near cache, after the checks of a read from
// Redis passed (Redis answers, reads are not paused, the generation is
// trusted): the entity held for key, or one a tracked read of key returns
// (then held). It returns false when the read is Redis's to answer: no
// value in Redis, one that does not decode, or a failed tracked read.
func (r Reader[T, ID]) nearGet(ctx context.Context, key, d string, id ID) (T, bool) {
	var zero T
	c := r.cache
	n := c.near
	if held, ok := n.get(key); ok {
		if v, ok := held.(T); ok {
			v = r.schema.Clone(v)
			r.bind(v)
			n.hits.Add(1)
			return v, true
		}
	}
	h := n.hash(key)
	val, ok, t, err := n.read(ctx, key, h, c.timeout)
	if err != nil || !ok {
		return zero, false
	}
	v, ok := r.schema.decodeString(val)
	if !ok || !r.schema.sameID(d, v, id) {
		return zero, false
	}
	n.put(key, h, t, v)
	v = r.schema.Clone(v)
	r.bind(v)
	return v, true
}

// nearEvict drops from the near cache the keys this part wrote: its rows
// in every keyspace of g (when known) and every key it marked. It runs
// before the write returns, so the process reads its own writes without
// waiting for their invalidations. It holds p.mu.
func (p *part[T, ID]) nearEvict(c *Cache, g *generation) {
	n := c.near
	if n == nil {
		return
	}
	for k := range p.tokens {
		n.evict(k)
	}
	if g == nil {
		return
	}
	for _, t := range p.order {
		n.evict(g.own.row(t))
		for _, other := range g.others {
			n.evict(other.row(t))
		}
	}
}
