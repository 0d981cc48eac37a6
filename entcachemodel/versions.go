package entcachemodel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Several versions of a schema can share one Redis: during a rolling deploy,
// or after a rollback. The protocol between them, in one place:
//
//   - Rows and unique entries are cached per row encoding (the schema hash,
//     which covers every field, its encoding and a JSON field's shape): a
//     value is read only by the versions that wrote it the same way. A write
//     by any version also removes what every other live encoding cached for
//     the rows it wrote (rows are known to every version).
//   - Lists are cached per list definition (Index.Def: its fields and their
//     key encoding), in a namespace shared by the versions that define the
//     list alike. A version that lacks a list cannot keep it right, so a list
//     is served only while every live version defines it; once that holds
//     again after it did not, the list starts in a fresh namespace.
//   - The registry (one Redis hash per type) lists the live processes, each
//     with its encoding, its lists and its refresh period; a process counts
//     as gone 3 of its periods (plus a second) after it last registered.
//     Every process registers once a period, through one script that
//     applies the rules above atomically, on the server's clock.
//   - What is new (an encoding that joins while others are alive, a list
//     namespace that starts) is trusted twice the longest period of any
//     live process after it started: by then every process has read the
//     registry again and keeps it right. Until then it is only removed from,
//     never stored in or served.
//   - An encoding whose processes are all gone is abandoned once another
//     live version notices (its writes stop removing it), and comes back,
//     when its processes return, with a fresh keyspace. A registry that is
//     missing (first run, or flushed with the data) gives epoch 0, so that
//     processes that register at different times agree.

// registerScript: KEYS registry; ARGV process, encoding, layout, period
// ms, lists ("name=def name=def"). Returns: server time, the longest live
// period, the encoding's epoch and join time, the number of other live
// encodings followed by each one's hash and epoch, then each of the lists'
// state ("epoch:since", or "-" when not every live version defines it), in
// the order given.
var registerScript = redis.NewScript(`
local reg = KEYS[1]
local kt = redis.call('TYPE', reg)['ok']
if kt ~= 'hash' and kt ~= 'none' then redis.call('DEL', reg) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local proc, hash, layout, period = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local f = {}
local all = redis.call('HGETALL', reg)
for i = 1, #all, 2 do f[all[i]] = all[i + 1] end
local liveHash, liveLayout, maxPeriod = {}, {}, period
for k, v in pairs(f) do
  if string.sub(k, 1, 2) == 'p:' then
    local h, l, p, seen = string.match(v, '^([^|]+)|([^|]+)|(%d+)|(%d+)$')
    if not seen or now - tonumber(seen) > 3 * tonumber(p) + 1000 then
      redis.call('HDEL', reg, k)
    else
      liveHash[h] = true
      liveLayout[l] = true
      if tonumber(p) > maxPeriod then maxPeriod = tonumber(p) end
    end
  end
end
-- An encoding with no live process is no longer kept right by this one,
-- nor, once they register, by the others: it comes back with a fresh
-- keyspace.
for k, v in pairs(f) do
  local h = string.sub(k, 3)
  if string.sub(k, 1, 2) == 'v:' and h ~= hash and not liveHash[h] and string.sub(v, -2) ~= ':s' then
    redis.call('HSET', reg, k, v .. ':s')
  end
end
local own = f['v:' .. hash]
local epoch, joined, stale
if own then epoch, joined, stale = string.match(own, '^(%d+):(%d+)(:?s?)$') end
if not epoch or (stale == ':s' and not liveHash[hash]) then
  if own then epoch = tostring(now) else epoch = '0' end
  joined = tostring(now)
end
redis.call('HSET', reg, 'v:' .. hash, epoch .. ':' .. joined)
redis.call('HSET', reg, 'p:' .. proc, hash .. '|' .. layout .. '|' .. period .. '|' .. now)
redis.call('HSET', reg, 'd:' .. layout, ARGV[5])
f['d:' .. layout] = ARGV[5]
liveHash[hash] = true
liveLayout[layout] = true
-- Lists: served only while every live layout defines them alike.
local defs, liveDefs = {}, {}
for l, _ in pairs(liveLayout) do
  local set = {}
  for _, def in string.gmatch(f['d:' .. l] or '', '([^ =]+)=([^ ]+)') do
    set[def] = true
    defs[def] = true
  end
  liveDefs[l] = set
end
for k, _ in pairs(f) do
  if string.sub(k, 1, 2) == 'l:' then defs[string.sub(k, 3)] = true end
end
for def, _ in pairs(defs) do
  local common = true
  for _, set in pairs(liveDefs) do if not set[def] then common = false end end
  local st = f['l:' .. def]
  local next
  if not common then next = '-'
  elseif not st then next = '0:0'
  elseif st == '-' then next = now .. ':' .. now end
  if next and next ~= st then
    redis.call('HSET', reg, 'l:' .. def, next)
    f['l:' .. def] = next
  end
end
local out = {tostring(now), tostring(maxPeriod), epoch, joined}
local n = {}
for h, _ in pairs(liveHash) do
  if h ~= hash then
    local e = string.match(f['v:' .. h] or '', '^(%d+):')
    if e then table.insert(n, h); table.insert(n, e) end
  end
end
table.insert(out, tostring(#n / 2))
for _, x in ipairs(n) do table.insert(out, x) end
for _, def in string.gmatch(ARGV[5], '([^ =]+)=([^ ]+)') do
  table.insert(out, f['l:' .. def] or '-')
end
return out
`)

// listSpace is one list of a generation: the namespace it is cached in, and
// whether it may be stored in and served.
type listSpace struct {
	ks      keyspace
	trusted bool
}

// generation is what one process knows of one type's versions.
type generation struct {
	server  string // the server epoch the keyspaces are of
	own     keyspace
	others  []keyspace
	trusted bool // reads and publishes may use the cache
	// lists holds the type's lists by index name; a list that not every
	// live version defines alike has none.
	lists   map[string]listSpace
	expires time.Time
	// guessed is set when Redis did not answer: own is the keyspace of an
	// empty registry and others are unknown. Every use tries to refresh it.
	guessed bool
}

// list returns the key of a list entry and whether the list may be stored
// in and served; "" when no key of the list is kept right now.
func (g *generation) list(index, key string) (string, bool) {
	l, ok := g.lists[index]
	if !ok {
		return "", false
	}
	return l.ks.list(index, key), l.trusted && g.trusted
}

// layout is the lists a schema version defines: "name=def" entries, sorted,
// and their digest.
type layout struct {
	id    string
	lists string
	defs  []string // by entry, as in lists
	names []string
}

func newLayout(typ, hash string, indexes []string, defs []string) layout {
	var entries []string
	l := layout{}
	for i, name := range indexes {
		def := defs[i]
		if def == "" {
			// A hand-written schema without definitions: its lists are its
			// own encoding's.
			sum := sha256.Sum256([]byte(typ + "\x00" + hash + "\x00" + name))
			def = hex.EncodeToString(sum[:6])
		}
		entries = append(entries, name+"="+def)
	}
	sort.Strings(entries)
	for _, e := range entries {
		name, def, _ := strings.Cut(e, "=")
		l.names, l.defs = append(l.names, name), append(l.defs, def)
	}
	l.lists = strings.Join(entries, " ")
	sum := sha256.Sum256([]byte(l.lists))
	l.id = hex.EncodeToString(sum[:6])
	return l
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
// but only for one more period: what is new is trusted two of the longest
// periods after it started, so every process must know it by then.
func (c *Cache) generation(ctx context.Context, typ, hash string, l layout) *generation {
	now := time.Now()
	return c.generationOf(ctx, c.versionState(typ, hash, l), typ, hash, l, &now)
}

// versionState returns what the cache knows of one version of a type.
func (c *Cache) versionState(typ, hash string, l layout) *versionState {
	return c.versionStateOf(versionName(typ, hash, l))
}

// versionName names a version of a type among the cache's versions.
func versionName(typ, hash string, l layout) string { return typ + "\x00" + hash + "\x00" + l.id }

// versionStateOf is versionState of the version named (versionName).
func (c *Cache) versionStateOf(name string) *versionState {
	if v, ok := c.versions.Load(name); ok {
		return v.(*versionState)
	}
	v, _ := c.versions.LoadOrStore(name, &versionState{})
	return v.(*versionState)
}

// generationOf is generation at the time *now, given the type's
// versionState. It reads the time again after a round trip.
func (c *Cache) generationOf(ctx context.Context, st *versionState, typ, hash string, l layout, now *time.Time) *generation {
	g := st.cur.Load()
	server := c.serverEpochAt(ctx, now)
	if g != nil && g.server != server {
		g = nil // the servers changed: every keyspace did
		st.cur.Store(nil)
	}
	if g != nil && now.Before(g.expires) {
		return g
	}
	defer func() { *now = time.Now() }()
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
		next = c.register(ctx, typ, hash, l, server)
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

// registryKey returns the key of a type's registry of versions.
func (c *Cache) registryKey(typ string) string {
	return "{" + KeyPart(c.prefix) + ":" + typ + "}:registry"
}

// listKeyspace returns the namespace of a list definition in one epoch.
func (c *Cache) listKeyspace(typ, server, def, epoch string) keyspace {
	return newKeyspace(c.prefix, typ, server+".L"+def+"."+epoch)
}

func (c *Cache) register(ctx context.Context, typ, hash string, l layout, server string) *generation {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	res, err := registerScript.Run(ctx, c.rdb, []string{c.registryKey(typ)},
		c.nonce, hash, l.id, c.versionCheck.Milliseconds(), l.lists).StringSlice()
	if err == nil && len(res) < 5 {
		err = fmt.Errorf("entcachemodel: registry answered %d fields", len(res))
	}
	if err != nil {
		c.fail(ctx, "register version", err)
		return nil
	}
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	now, maxPeriod, joined := num(res[0]), num(res[1]), num(res[3])
	g := &generation{
		server:  server,
		own:     newKeyspace(c.prefix, typ, server+"."+hash+"."+res[2]),
		expires: time.Now().Add(c.versionCheck),
		lists:   make(map[string]listSpace, len(l.names)),
	}
	n := int(num(res[4]))
	rest := res[5:]
	if len(rest) < 2*n+len(l.names) {
		c.fail(ctx, "register version", fmt.Errorf("entcachemodel: registry answered %d fields", len(res)))
		return nil
	}
	for i := 0; i < n; i++ {
		g.others = append(g.others, newKeyspace(c.prefix, typ, server+"."+rest[2*i]+"."+rest[2*i+1]))
	}
	g.trusted = n == 0 || now >= joined+2*maxPeriod
	for i, name := range l.names {
		epoch, since, ok := strings.Cut(rest[2*n+i], ":")
		if !ok {
			continue // not every live version defines it alike
		}
		g.lists[name] = listSpace{
			ks:      c.listKeyspace(typ, server, l.defs[i], epoch),
			trusted: num(since) == 0 || now >= num(since)+2*maxPeriod,
		}
	}
	return g
}

// spaces is where every registered version of a type may cache an entry.
type spaces struct {
	rows  []keyspace
	lists map[string][]keyspace // by index name
}

// keys returns the keys, in every version, of an entry named by rel.
func (s spaces) keys(rel string) []string {
	if index, ok := listIndex(rel); ok {
		out := make([]string, 0, len(s.lists[index]))
		for _, ks := range s.lists[index] {
			out = append(out, ks.at(rel))
		}
		return out
	}
	out := make([]string, 0, len(s.rows))
	for _, ks := range s.rows {
		out = append(out, ks.at(rel))
	}
	return out
}

// keyspaces returns where every registered version of a type may cache an
// entry, with the keyspace hash would get from an empty registry.
func (c *Cache) keyspaces(ctx context.Context, typ, hash string) (spaces, error) {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	server := c.serverEpoch(ctx)
	reg, err := c.rdb.HGetAll(ctx, c.registryKey(typ)).Result()
	if err != nil {
		return spaces{}, err
	}
	out := spaces{lists: map[string][]keyspace{}}
	if _, ok := reg["v:"+hash]; !ok {
		out.rows = append(out.rows, newKeyspace(c.prefix, typ, server+"."+hash+".0"))
	}
	seen := map[string]bool{}
	for k, v := range reg {
		switch {
		case strings.HasPrefix(k, "v:"):
			if epoch, _, ok := strings.Cut(v, ":"); ok {
				out.rows = append(out.rows, newKeyspace(c.prefix, typ, server+"."+k[2:]+"."+epoch))
			}
		case strings.HasPrefix(k, "d:"):
			for _, e := range strings.Fields(v) {
				name, def, ok := strings.Cut(e, "=")
				epoch, _, live := strings.Cut(reg["l:"+def], ":")
				if !ok || !live || seen[name+"="+def] {
					continue
				}
				seen[name+"="+def] = true
				out.lists[name] = append(out.lists[name], c.listKeyspace(typ, server, def, epoch))
			}
		}
	}
	return out, nil
}
