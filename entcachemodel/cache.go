package entcachemodel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// ErrUnavailable is returned, wrapped, by a write under WithStrictWrites when
// the cache could not be told about the write before it ran.
var ErrUnavailable = errors.New("entcachemodel: cache unavailable")

// ErrNotFound is returned by Reader when no row matches. Generated code turns
// it into the ent package's *NotFoundError.
var ErrNotFound = errors.New("entcachemodel: not found")

// Cache publishes committed writes to Redis and serves reads from it. One
// Cache is shared by every client of a process; it is safe for concurrent use.
type Cache struct {
	rdb      redis.UniversalClient
	prefix   string
	lease    time.Duration
	timeout  time.Duration
	fillWait time.Duration
	cooldown time.Duration
	strict   bool
	disabled bool
	log      *slog.Logger
	// versionCheck is how often the registry of schema versions is read.
	versionCheck time.Duration
	// outboxCheck is how often the outbox is drained.
	outboxCheck time.Duration
	// acks replicas must acknowledge a write within ackTimeout.
	acks       int
	ackTimeout time.Duration
	// startPaused is WithReadsPaused: the state of reads while Redis holds
	// none (pause.go).
	startPaused bool
	// nearMax is WithNearCache: the bound of the near cache (nearcache.go).
	nearMax int
	near    *nearCache
	// oneTrip is WithOneTripLookups: 0 when the server tells, 1 always (on
	// a *redis.Client), -1 never.
	oneTrip int
	// hints is WithLookupHints (hints.go).
	hintMax int
	hints   *lookupHints

	nonce    string
	tokens   atomic.Uint64
	openTill atomic.Int64 // Redis is not tried until this time (unix nanos)
	// deadlines bounds reads by the timeout (deadline.go).
	deadlines deadlines
	paused    atomic.Bool // reads go to the database (pause.go)
	group     singleflight.Group
	txs       sync.Map // transaction identity -> *txBuffer
	versions  sync.Map // type and hash -> *versionState
	servers   sync.Map // dialect.Driver -> server (text.go)
	repair    repairQueue
	outbox    outbox
	outage    outage
	ident     identity
	stats     stats
}

// Option configures a Cache.
type Option func(*Cache)

// WithPrefix sets the prefix of every key (default "ecm"). Give each
// application, or each database, its own prefix.
func WithPrefix(prefix string) Option { return func(c *Cache) { c.prefix = prefix } }

// WithLease sets how long a writer's mark and a reader's fill lease last
// (default 5s). It bounds how long a value can stay stale when a process dies
// between its commit and its publish.
func WithLease(d time.Duration) Option { return func(c *Cache) { c.lease = d } }

// WithTimeout bounds every Redis round trip (default 500ms). A read that
// times out falls back to the database. (A read whose context can never be
// cancelled shares its deadline with the reads that start within a few
// milliseconds of it: it may take a sixteenth of the timeout longer, at most
// 10ms.)
func WithTimeout(d time.Duration) Option { return func(c *Cache) { c.timeout = d } }

// WithFillWait sets how long a read that finds another reader filling the
// same key waits for it before reading the database itself (default 100ms).
func WithFillWait(d time.Duration) Option { return func(c *Cache) { c.fillWait = d } }

// WithCooldown sets how long reads and writes skip Redis after a Redis
// error (default 1s), so an outage costs one timeout, not one per call.
// Writes made meanwhile are repaired once Redis answers.
func WithCooldown(d time.Duration) Option { return func(c *Cache) { c.cooldown = d } }

// WithStrictWrites makes a write fail with ErrUnavailable, before it reaches
// the database, when the cache cannot be marked. The default lets the write
// through, logs the error and repairs the cache in the background.
func WithStrictWrites() Option { return func(c *Cache) { c.strict = true } }

// WithVersionCheck sets how often a process reads which versions of each
// schema share the cache (default 5s). A new version that starts while
// another is alive reads the database for twice the longest period of any
// live process, plus the longest lease.
func WithVersionCheck(d time.Duration) Option { return func(c *Cache) { c.versionCheck = d } }

// WithOutboxCheck sets how often a process drains the outbox (default: the
// lease): the keys that writes made while Redis was unreachable left stale,
// which their own process may not live to repair. Once Redis answers again,
// a stale value survives about this long.
func WithOutboxCheck(d time.Duration) Option { return func(c *Cache) { c.outboxCheck = d } }

// WithReplicaAcks makes a write count as published only once n replicas
// have it (Redis WAIT, up to timeout); one that fewer acknowledge is
// repaired as after a Redis error. Then a replica promoted after its
// master fails holds every publish that counted, and a write that still
// reaches the old master is repaired against the new one. It needs a
// client of one master (a fixed address or Sentinel), not a Redis Cluster
// client. While fewer than n replicas answer, reads go to the database.
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(c *Cache) { c.acks, c.ackTimeout = n, timeout }
}

// WithOneTripLookups chooses whether a unique lookup (GetByX) reads its
// entry and its row in one script. By default it does on a *redis.Client
// whose server says it is a standalone Redis (INFO server's redis_mode), and
// reads them in two round trips on a Cluster, a Ring, or a server that does
// not tell. The script reads a key it does not declare, which only one
// server holding every key answers right: behind a sharding proxy (Envoy,
// twemproxy, Codis, a multi-shard managed Redis without the Cluster API)
// pass false. true turns it on for any *redis.Client, for a server that
// does not tell but holds every key (an embedded test server).
func WithOneTripLookups(on bool) Option {
	return func(c *Cache) {
		c.oneTrip = -1
		if on {
			c.oneTrip = 1
		}
	}
}

// WithLookupHints sets how many unique lookups a process remembers the id
// of (default 16384; 0 remembers none). A lookup of a remembered value reads
// the row of that id first (its GET and PTTL, one round trip on any
// server), and checks that no writer's mark bounds it and that it still
// holds the value, as it checks the row an index entry names; a row that
// does not costs that round trip more. The ids take about 100 bytes each.
func WithLookupHints(n int) Option { return func(c *Cache) { c.hintMax = n } }

// WithLogger sets the logger for Redis errors (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *Cache) { c.log = l } }

// New returns a Cache on the given Redis client.
func New(rdb redis.UniversalClient, opts ...Option) *Cache {
	c := &Cache{
		rdb:          rdb,
		prefix:       "ecm",
		lease:        5 * time.Second,
		timeout:      500 * time.Millisecond,
		fillWait:     100 * time.Millisecond,
		cooldown:     time.Second,
		log:          slog.Default(),
		versionCheck: 5 * time.Second,
		hintMax:      defaultLookupHints,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.outboxCheck <= 0 {
		c.outboxCheck = c.lease
	}
	c.paused.Store(c.startPaused)
	var b [6]byte
	_, _ = rand.Read(b[:])
	c.nonce = hex.EncodeToString(b[:])
	c.repair.cache = c
	c.outbox.cache = c
	c.outage.cache = c
	c.ident.due.Store(true)
	rdb.AddHook(dialWatch{&c.ident})
	c.near = newNearCache(c)
	c.hints = newLookupHints(c.hintMax)
	if _, cluster := rdb.(*redis.ClusterClient); cluster && c.acks > 0 {
		c.log.Error("entcachemodel: WithReplicaAcks needs a client of one master; on a Redis Cluster client it is off")
		c.acks = 0
	}
	if known, on := honoursDeadlines(rdb); known && !on {
		c.log.Warn("entcachemodel: the Redis client ignores context deadlines, so WithTimeout cannot bound its round trips (only its ReadTimeout and WriteTimeout do); set ContextTimeoutEnabled in its options",
			slog.Duration("timeout", c.timeout))
	}
	return c
}

// Disabled returns a Cache that does nothing. A client made with
// ent.CacheModel(entcachemodel.Disabled()) reads and writes the database
// only, like a client made without the option, but on purpose: its writes
// of cached types log no warning (see Unpublished). Its Cached() reads go
// to the database. Use it for tools, scripts and tests that must not touch
// Redis, knowing that what they write is not published: values they change
// stay stale in the cache until something else writes those rows.
func Disabled() *Cache { return &Cache{disabled: true} }

// Enabled reports whether c publishes writes and serves reads: false for a
// nil Cache and for Disabled().
func (c *Cache) Enabled() bool { return c != nil && !c.disabled }

// unpublished holds the types whose unpublished writes were logged.
var unpublished sync.Map

// Unpublished is called by generated hooks when a client whose cache is not
// Enabled writes a cached type: such a write leaves the values it changes
// stale in Redis. Without any cache (c is nil, the client was made without
// ent.CacheModel) the first such write of each type logs a warning through
// slog.Default(), once per process; with Disabled() the choice is explicit
// and nothing is logged.
func Unpublished(ctx context.Context, c *Cache, typ string) {
	if c != nil {
		return
	}
	if _, logged := unpublished.LoadOrStore(typ, true); logged {
		return
	}
	slog.Default().LogAttrs(ctx, slog.LevelWarn, "entcachemodel: a client made without ent.CacheModel writes a cached type: its writes are not published and leave cached values stale; pass ent.CacheModel(entcachemodel.Disabled()) to say this is intended",
		slog.String("type", typ))
}

// honoursDeadlines reports whether rdb is a go-redis client of a known kind
// (known) and whether it ends a round trip at its context's deadline (on),
// which go-redis does only with ContextTimeoutEnabled.
func honoursDeadlines(rdb redis.UniversalClient) (known, on bool) {
	switch c := rdb.(type) {
	case *redis.Client:
		return true, c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return true, c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return true, c.Options().ContextTimeoutEnabled
	}
	return false, false
}

// Redis returns the Redis client of the cache.
func (c *Cache) Redis() redis.UniversalClient { return c.rdb }

// Stats counts what a Cache did since it was created.
type Stats struct {
	Hits          uint64 // reads served from Redis
	Misses        uint64 // reads that went to the database
	Fills         uint64 // values stored by readers after a miss
	Publishes     uint64 // values stored by writers
	Invalidations uint64 // values removed by writers (deletes, refused publishes)
	Errors        uint64 // Redis errors
	Pending       int    // keys waiting for repair after write-side errors
	OutboxRecords uint64 // writes that recorded their keys in the outbox
	OutboxRepairs uint64 // outbox records drained (by any process's writes)
	ReadsPaused   bool   // reads go to the database (PauseReads), as last checked
}

type stats struct {
	hits, misses, fills, publishes, invalidations, errors atomic.Uint64
	outboxRecords, outboxRepairs                          atomic.Uint64
}

// Stats returns the counters of the cache.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:          c.stats.hits.Load(),
		Misses:        c.stats.misses.Load(),
		Fills:         c.stats.fills.Load(),
		Publishes:     c.stats.publishes.Load(),
		Invalidations: c.stats.invalidations.Load(),
		Errors:        c.stats.errors.Load(),
		Pending:       c.repair.len(),
		OutboxRecords: c.stats.outboxRecords.Load(),
		OutboxRepairs: c.stats.outboxRepairs.Load(),
		ReadsPaused:   c.paused.Load(),
	}
}

func (c *Cache) token() string {
	return c.nonce + "." + strconv.FormatUint(c.tokens.Add(1), 36)
}

func (c *Cache) leaseMillis() string { return strconv.FormatInt(c.lease.Milliseconds(), 10) }

// readCtx bounds a read-side round trip by the caller's context and the timeout.
func (c *Cache) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// writeCtx bounds a write-side round trip. It ignores the caller's
// cancellation: once the database has the write, the cache must hear of it.
func (c *Cache) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
}

// redisUp reports whether to try Redis: not within the cooldown of an error
// (the breaker is closed), and not while keys this process left stale wait
// for repair (Redis may answer again before they are gone).
func (c *Cache) redisUp() bool { return c.redisUpAt(time.Now()) }

// redisUpAt is redisUp at the time now.
func (c *Cache) redisUpAt(now time.Time) bool {
	return now.UnixNano() >= c.openTill.Load() && c.repair.len() == 0
}

// fail records and logs a Redis error and opens the breaker for the cooldown.
func (c *Cache) fail(ctx context.Context, op string, err error) {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, errServersChanged) {
		return // errServersChanged: logged when found, and Redis answers
	}
	c.stats.errors.Add(1)
	c.openTill.Store(time.Now().Add(c.cooldown).UnixNano())
	if c.near != nil {
		c.near.dropAll() // what Redis now holds is unsure
	}
	c.ident.due.Store(true) // the server may be another one when it answers
	c.outage.failed(ctx, op, err)
}
