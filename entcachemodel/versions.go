package entcachemodel

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Several versions of a schema can share one Redis: during a rolling deploy,
// or after a rollback. Each caches under its own keys (the schema hash is in
// every key), so a write by one version must also remove what the others
// cached for the rows it wrote. A registry hash per type lists the versions
// alive (seen in the last deadAfter), each with an epoch: a version that
// comes back after being gone starts a fresh keyspace, since its old keys
// missed the writes made meanwhile. A registry that is missing (first run,
// or flushed together with the data) gives epoch 0, so that processes that
// register at different times agree.
//
// A version that registers while another is alive serves reads from the
// database, and only removes keys on writes, for two refresh periods: the
// time the others need to learn of it.

// registerScript: KEYS registry; ARGV hash, deadAfter ms. Returns the
// registry as a flat field/value list after recording this version.
var registerScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt ~= 'hash' and kt ~= 'none' then redis.call('DEL', KEYS[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], ARGV[1])
local epoch, joined
if v then
  local e, j, seen = string.match(v, '^(%d+):(%d+):(%d+)$')
  if seen and now - tonumber(seen) <= tonumber(ARGV[2]) then epoch, joined = e, j end
end
if not epoch then
  -- Unknown (first run, or the registry was flushed with the data): every
  -- process agrees on epoch 0. Known but gone: start a fresh keyspace.
  if v then epoch = tostring(now) else epoch = '0' end
  joined = tostring(now)
end
redis.call('HSET', KEYS[1], ARGV[1], epoch .. ':' .. joined .. ':' .. now)
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, '~now')
table.insert(out, tostring(now))
return out
`)

// deadAfter is how long a version may go unseen before it counts as gone.
const deadAfter = time.Minute

// generation is what one process knows of one type's versions.
type generation struct {
	server  string // the server epoch the keyspaces are of
	own     keyspace
	others  []keyspace
	trusted bool // reads and publishes may use the cache
	expires time.Time
	// guessed is set when Redis did not answer: own is the keyspace of an
	// empty registry and others are unknown. Every use tries to refresh it.
	guessed bool
}

type versionState struct {
	cur        atomic.Pointer[generation]
	refreshing sync.Mutex
}

// generation returns the keyspaces of a type, refreshing the registry every
// version check period. Without an answer from Redis the cache is not
// trusted: reads go to the database and writes only remove keys.
//
// While one goroutine refreshes, others keep using the expired generation,
// but only for one more period: a version that joined is trusted two
// periods after joining, so every process must know it by then.
func (c *Cache) generation(ctx context.Context, typ, hash string) *generation {
	v, _ := c.versions.LoadOrStore(typ+"\x00"+hash, &versionState{})
	st := v.(*versionState)
	g := st.cur.Load()
	now := time.Now()
	server := c.serverEpoch(ctx)
	if g != nil && g.server != server {
		g = nil // the servers changed: every keyspace did
		st.cur.Store(nil)
	}
	if g != nil && now.Before(g.expires) {
		return g
	}
	if g != nil && !g.guessed && now.Before(g.expires.Add(c.versionCheck)) {
		if !st.refreshing.TryLock() {
			return g // another goroutine is refreshing; what we have will do
		}
	} else {
		st.refreshing.Lock()
	}
	defer st.refreshing.Unlock()
	if g = st.cur.Load(); g != nil && !g.guessed && time.Now().Before(g.expires) {
		return g // refreshed while we waited
	}
	var next *generation
	if c.redisUp() { // within the breaker's cooldown, keep what we know
		next = c.register(ctx, typ, hash, server)
	}
	if next == nil {
		if g != nil {
			return g
		}
		next = &generation{server: server, own: newKeyspace(c.prefix, typ, server+"."+hash+".0"), guessed: true}
	}
	st.cur.Store(next)
	return next
}

func (c *Cache) register(ctx context.Context, typ, hash, server string) *generation {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	key := "{" + KeyPart(c.prefix) + ":" + typ + "}:versions"
	res, err := registerScript.Run(ctx, c.rdb, []string{key}, hash, deadAfter.Milliseconds()).StringSlice()
	if err != nil {
		c.fail(ctx, "register version", err)
		return nil
	}
	now, _ := strconv.ParseInt(res[len(res)-1], 10, 64)
	g := &generation{server: server, expires: time.Now().Add(c.versionCheck)}
	var joined int64
	for i := 0; i+1 < len(res)-2; i += 2 {
		h := res[i]
		parts := strings.Split(res[i+1], ":")
		if len(parts) != 3 {
			continue
		}
		seenMs, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			continue
		}
		ks := newKeyspace(c.prefix, typ, server+"."+h+"."+parts[0])
		if h == hash {
			g.own = ks
			joined, _ = strconv.ParseInt(parts[1], 10, 64)
			continue
		}
		if now-seenMs <= deadAfter.Milliseconds() {
			g.others = append(g.others, ks)
		}
	}
	g.trusted = len(g.others) == 0 || now >= joined+2*c.versionCheck.Milliseconds()
	return g
}

// keyspaces returns the keyspaces of every registered version of a type,
// and the keyspace hash would get from an empty registry: where a value of
// one version of a row may be cached.
func (c *Cache) keyspaces(ctx context.Context, typ, hash string) ([]keyspace, error) {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	server := c.serverEpoch(ctx)
	reg, err := c.rdb.HGetAll(ctx, "{"+KeyPart(c.prefix)+":"+typ+"}:versions").Result()
	if err != nil {
		return nil, err
	}
	var out []keyspace
	if _, ok := reg[hash]; !ok {
		out = append(out, newKeyspace(c.prefix, typ, server+"."+hash+".0"))
	}
	for h, v := range reg {
		if epoch, _, ok := strings.Cut(v, ":"); ok {
			out = append(out, newKeyspace(c.prefix, typ, server+"."+h+"."+epoch))
		}
	}
	return out, nil
}
