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
//     key encoding, with listFormat, the lists' storage form, appended by
//     the runtime), in a namespace shared by the versions that define the
//     list alike. A version that lacks a list cannot keep it right, so a list
//     is served only while every live version defines it; once that holds
//     again after it did not, the list starts in a fresh namespace. A list
//     read checks the list's state in the registry in the same round trip,
//     so a version without the list stops every other process serving it
//     the moment it registers, before its first write.
//   - The registry (one Redis hash per type) lists the live processes, each
//     with its encoding, its lists and its refresh period; a process counts
//     as gone 3 of its periods (plus a second) after it last registered.
//     Every process registers once a period, through one script that
//     applies the rules above atomically, on the server's clock.
//   - What is new (an encoding that joins while others are alive, a list
//     namespace that starts) is trusted twice the longest period of any
//     live process, plus the longest lease, after it started: by then every
//     process has read the registry again and keeps it right, and a write
//     that started with an older view has committed or outlived its lease
//     (its marks do not name what is new). Until then it is only removed
//     from, never stored in or served.
//   - An encoding whose processes are all gone is abandoned once another
//     live version notices (its writes stop removing it), and comes back,
//     when its processes return, with a fresh keyspace.
//   - Epochs (of encodings and of list namespaces) are the server's time,
//     in microseconds, when they start, so none is ever used twice: a
//     keyspace abandoned once, which may hold values nobody kept right,
//     never comes back.
//   - A registry found empty (a first run, a flush, or the registry alone
//     lost: deleted, evicted, overwritten with another type) starts again.
//     Each process tells, when it registers, when it last registered and
//     the longest period and lease it then knew of. A process that was
//     live before the registry started again proves that processes ran
//     (and may still run) with a view of the lost registry, in keyspaces it
//     named: then everything started since is started again and trusted
//     only after the trust delay, which covers the longest period and lease
//     that process knew of until every process of before can be back.
//     Without such a process it was a first run (or everything was gone),
//     and what starts is trusted at once, as on a first run.
//   - Every keyspace names the server epoch (failover.go). The registry
//     notes when a process first registers in a new one: its keyspaces are
//     trusted after the trust delay too, since processes that have not
//     read the stamp since still write the old epoch's keyspaces, and a
//     write that started before publishes there.

// registerScript: KEYS registry; ARGV process, encoding, layout, period
// ms, lists ("name=def name=def"), lease ms; of this process's last
// registration: its server time (0 for none), the registry's start id
// then, the longest period and lease it knew of; a new start id, used if
// the registry starts again; the server epoch. Returns: server time, the
// longest live period, the longest live lease, the encoding's epoch and
// join time, whether its trust must wait even alone ("1"), the registry's
// start id, when the registry saw the server epoch start (0: trusted from
// the start, -1: an epoch the others left), the number of other live
// encodings followed by each one's hash and epoch, then each of the lists'
// state ("epoch:since", or "-" when not every live version defines it), in
// the order given.
var registerScript = redis.NewScript(luaLive + `
local reg = KEYS[1]
local kt = redis.call('TYPE', reg)['ok']
if kt ~= 'hash' and kt ~= 'none' then redis.call('DEL', reg) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local proc, hash, layout, period, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6])
local last, lastStart = tonumber(ARGV[7]) or 0, ARGV[8]
local hintPeriod, hintLease = tonumber(ARGV[9]) or 0, tonumber(ARGV[10]) or 0
local f = {}
local all = redis.call('HGETALL', reg)
for i = 1, #all, 2 do f[all[i]] = all[i + 1] end
-- A fresh epoch: the server's time in microseconds, past the one it
-- replaces.
local nowUs = t[1] .. string.format('%06d', tonumber(t[2]))
local function fresh(old)
  local o = tonumber(old or '')
  if o and o >= tonumber(nowUs) then return string.format('%.0f', o + 1) end
  return nowUs
end
-- 'r' names the registry's start, and tells whether a process from before
-- it has shown up since ("1").
local start, proven = string.match(f['r'] or '', '^([^:]+):([01])$')
if #all == 0 then
  start, proven = ARGV[11], '0'
  redis.call('HSET', reg, 'r', start .. ':0')
elseif not start then
  start, proven = ARGV[11], '1'
  redis.call('HSET', reg, 'r', start .. ':1')
end
-- A process that last registered in another start of the registry,
-- recently enough to have counted as live, ran with a view of a registry
-- that was lost.
local survivor = last > 0 and lastStart ~= '' and lastStart ~= start and live(period, last, now)
if survivor then
  if proven == '0' then
    -- Everything here started since the restart, by processes that took
    -- it for a first run, and may be trusted already: start it again.
    for k, v in pairs(f) do
      local kind = string.sub(k, 1, 2)
      if kind == 'v:' then
        local nv = fresh(string.match(v, '^(%d+):')) .. ':' .. now .. ':w'
        redis.call('HSET', reg, k, nv)
        f[k] = nv
      elseif kind == 'l:' and v ~= '-' then
        local nv = fresh(string.match(v, '^(%d+):')) .. ':' .. now
        redis.call('HSET', reg, k, nv)
        f[k] = nv
      end
    end
    proven = '1'
    redis.call('HSET', reg, 'r', start .. ':1')
  end
  -- The processes not back yet have at most the longest period and lease
  -- this one knew of: they count in the trust delay as one live process.
  local _, _, hp, _, hl = string.match(f['p:~'] or '', '^([^|]+)|([^|]+)|(%d+)|(%d+)|(%d+)$')
  hp = math.max(tonumber(hp or '0'), hintPeriod, period)
  hl = math.max(tonumber(hl or '0'), hintLease, lease)
  f['p:~'] = '~|~|' .. hp .. '|' .. now .. '|' .. hl
  redis.call('HSET', reg, 'p:~', f['p:~'])
end
-- 'e' is the server epoch the registry last saw, and when it moved to it
-- (0: before anything was cached in it). Every keyspace names the server
-- epoch: those of a new one are trusted once every process can have moved
-- to it (some may still write the old one's, with their last view of the
-- stamp, or publish a write that started before).
local serverSince = 0
local known, movedAt = string.match(f['e'] or '', '^(%d+):(%d+)$')
if not known then
  redis.call('HSET', reg, 'e', ARGV[12] .. ':0')
elseif tonumber(ARGV[12]) > tonumber(known) then
  serverSince = now
  redis.call('HSET', reg, 'e', ARGV[12] .. ':' .. now)
elseif ARGV[12] == known then
  serverSince = tonumber(movedAt)
else
  serverSince = -1 -- an epoch the others left: nothing in it is trusted
end
local liveHash, liveLayout, maxPeriod, maxLease = {}, {}, period, lease
for k, v in pairs(f) do
  if string.sub(k, 1, 2) == 'p:' then
    local h, l, p, seen, ls = string.match(v, '^([^|]+)|([^|]+)|(%d+)|(%d+)|(%d+)$')
    if not seen or not live(tonumber(p), tonumber(seen), now) then
      redis.call('HDEL', reg, k)
    else
      if h ~= '~' then
        liveHash[h] = true
        liveLayout[l] = true
      end
      if tonumber(p) > maxPeriod then maxPeriod = tonumber(p) end
      if tonumber(ls) > maxLease then maxLease = tonumber(ls) end
    end
  end
end
-- An encoding with no live process is no longer kept right by this one,
-- nor, once they register, by the others: it comes back with a fresh
-- keyspace.
for k, v in pairs(f) do
  local h = string.sub(k, 3)
  if string.sub(k, 1, 2) == 'v:' and h ~= hash and not liveHash[h] and not string.match(v, ':%a*s%a*$') then
    local nv = string.match(v, '^(%d+:%d+)') or '0:0'
    local fl = string.match(v, '^%d+:%d+:(%a*)$') or ''
    redis.call('HSET', reg, k, nv .. ':' .. fl .. 's')
  end
end
local own = f['v:' .. hash]
local epoch, joined, flags
if own then epoch, joined, flags = string.match(own, '^(%d+):(%d+):?(%a*)$') end
local wait = false
if not epoch then
  -- New here, or its entry lost or unreadable: processes of the encoding
  -- that are live (or from before a restart) may keep another keyspace.
  epoch, joined = fresh(own and string.match(own, '^(%d+)')), tostring(now)
  wait = survivor or liveHash[hash] == true
elseif string.find(flags, 's') and not liveHash[hash] then
  epoch, joined = fresh(epoch), tostring(now)
else
  wait = string.find(flags, 'w') ~= nil
end
local ownValue = epoch .. ':' .. joined
if wait then ownValue = ownValue .. ':w' end
redis.call('HSET', reg, 'v:' .. hash, ownValue)
-- The layouts that were live before this registration: a list one of them
-- defines was kept in a namespace that its state, if missing, lost.
local before = {}
for l, _ in pairs(liveLayout) do before[l] = true end
redis.call('HSET', reg, 'p:' .. proc, hash .. '|' .. layout .. '|' .. period .. '|' .. now .. '|' .. lease)
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
  local st = f['l:' .. def] -- see listState
  local valid = st == '-' or (st and string.match(st, '^%d+:%d+$'))
  local next
  if not common then next = '-'
  elseif st == '-' then next = fresh(nil) .. ':' .. now
  elseif not valid then
    -- New, or its state lost: trusted at once only if no process could
    -- have kept it under the lost state.
    local kept = survivor
    for l, _ in pairs(before) do if liveDefs[l] and liveDefs[l][def] then kept = true end end
    if kept then next = fresh(st and string.match(st, '^(%d+)')) .. ':' .. now
    else next = fresh(st and string.match(st, '^(%d+)')) .. ':0' end
  end
  if next and next ~= st then
    redis.call('HSET', reg, 'l:' .. def, next)
    f['l:' .. def] = next
  end
end
local w = '0'
if wait then w = '1' end
local out = {tostring(now), tostring(maxPeriod), tostring(maxLease), epoch, joined, w, start, tostring(serverSince)}
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
// its state in the registry when the generation was read.
type listSpace struct {
	ks    keyspace
	def   string
	state string // "epoch:since", as the registry holds it
	// trustedAt is when the namespace may be stored in and served, in this
	// process's clock (0: from the start).
	trustedAt int64
}

// trusted reports whether the namespace, in the state this generation
// knows, may be stored in and served now.
func (l listSpace) trusted() bool {
	return l.state != "" && time.Now().UnixMilli() >= l.trustedAt
}

// servable reports whether the list, in the state the registry holds now
// (read with the list itself), may be served: the state is the one this
// generation knows, and its namespace is trusted.
func (l listSpace) servable(state string) bool { return state == l.state && l.trusted() }

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
	// guessed is set when Redis did not answer: own is a guess of the
	// keyspace and others are unknown (no registry read, or a view older
	// than the others may rely on). Writes do not mark with it; they leave
	// what they change to repairs, which read the registry. Every use tries
	// to refresh it.
	guessed bool
}

// distrusted returns a copy of g that serves and stores nothing, and whose
// keyspaces count as a guess: writes repair what they change in every
// version the registry names once it answers.
func (g *generation) distrusted() *generation {
	d := *g
	d.trusted, d.guessed = false, true
	d.lists = make(map[string]listSpace, len(g.lists))
	for name, l := range g.lists {
		d.lists[name] = listSpace{ks: l.ks, def: l.def}
	}
	return &d
}

// list returns the key of a list entry and whether the list may be stored
// in; "" when no key of the list is kept right now.
func (g *generation) list(index, key string) (string, bool) {
	l, ok := g.lists[index]
	if !ok {
		return "", false
	}
	return l.ks.list(index, key), g.trusted && l.trusted()
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
		// The storage form of lists is part of what defines a list alike.
		entries = append(entries, name+"="+def+listFormat)
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
	// Of the last registration (under refreshing): its server time, the
	// registry's start id, and the longest period and lease it reported.
	// The next one tells the registry, which may have been lost since.
	lastAt, lastPeriod, lastLease int64
	lastStart                     string
	due                           atomic.Bool // read the registry at the next use
}

// versionsDue makes the next use of a type's generations read the registry.
func (c *Cache) versionsDue(typ string) {
	c.versions.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), typ+"\x00") {
			v.(*versionState).due.Store(true)
		}
		return true
	})
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
	if g != nil && now.Before(g.expires) && !st.due.Load() {
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
	if g = st.cur.Load(); g != nil && !g.guessed && time.Now().Before(g.expires) && !st.due.Load() {
		return g // refreshed while we waited
	}
	st.due.Store(false)
	var next *generation
	if c.redisUp() { // within the breaker's cooldown, keep what we know
		next = c.register(ctx, st, typ, hash, l, server)
	}
	if next == nil {
		if g != nil && !g.guessed && time.Now().Before(g.expires.Add(c.versionCheck)) {
			return g
		}
		if g != nil {
			// Older than the others may rely on: their versions, lists and
			// verdicts on this one may have changed since. Its keyspaces
			// still name where to mark and remove; nothing is served or
			// stored.
			return g.distrusted()
		}
		next = &generation{server: server, own: newKeyspace(c.prefix, typ, server+"."+hash+".0"), guessed: true,
			lists: make(map[string]listSpace, len(l.names))}
		for i, name := range l.names {
			// Not served; named so that a write records its lists for the
			// outbox, which finds their real namespaces when it drains.
			next.lists[name] = listSpace{ks: c.listKeyspace(typ, server, l.defs[i], "0"), def: l.defs[i]}
		}
	}
	st.cur.Store(next)
	return next
}

// listState returns the registry field that holds a list definition's
// state.
func listState(def string) string { return "l:" + def }

// registryKey returns the key of a type's registry of versions.
func (c *Cache) registryKey(typ string) string {
	return "{" + KeyPart(c.prefix) + ":" + typ + "}:registry"
}

// listKeyspace returns the namespace of a list definition in one epoch.
func (c *Cache) listKeyspace(typ, server, def, epoch string) keyspace {
	return newKeyspace(c.prefix, typ, server+".L"+def+"."+epoch)
}

func (c *Cache) register(ctx context.Context, st *versionState, typ, hash string, l layout, server string) *generation {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	// The view ages from the request: what the answer tells may be older
	// than the moment it arrives (a stall in between).
	asked := time.Now()
	res, err := registerScript.Run(ctx, c.rdb, []string{c.registryKey(typ)},
		c.nonce, hash, l.id, c.versionCheck.Milliseconds(), l.lists, c.lease.Milliseconds(),
		st.lastAt, st.lastStart, st.lastPeriod, st.lastLease, c.token(), server).StringSlice()
	if err == nil && len(res) < 9 {
		err = fmt.Errorf("entcachemodel: registry answered %d fields", len(res))
	}
	if err != nil {
		c.fail(ctx, "register version", err)
		return nil
	}
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	now, maxPeriod, maxLease, joined, wait := num(res[0]), num(res[1]), num(res[2]), num(res[4]), res[5] == "1"
	delay := 2*maxPeriod + maxLease
	g := &generation{
		server:  server,
		own:     newKeyspace(c.prefix, typ, server+"."+hash+"."+res[3]),
		expires: asked.Add(c.versionCheck),
		lists:   make(map[string]listSpace, len(l.names)),
	}
	// The keyspaces of a server epoch other processes may not have moved to
	// yet are not trusted.
	serverSince := num(res[7])
	servers := serverSince == 0 || serverSince > 0 && now >= serverSince+delay
	n := int(num(res[8]))
	rest := res[9:]
	if len(rest) < 2*n+len(l.names) {
		c.fail(ctx, "register version", fmt.Errorf("entcachemodel: registry answered %d fields", len(res)))
		return nil
	}
	for i := 0; i < n; i++ {
		g.others = append(g.others, newKeyspace(c.prefix, typ, server+"."+rest[2*i]+"."+rest[2*i+1]))
	}
	g.trusted = servers && (n == 0 && !wait || now >= joined+delay)
	st.lastAt, st.lastStart, st.lastPeriod, st.lastLease = now, res[6], maxPeriod, maxLease
	skew := time.Now().UnixMilli() - now // this process's clock, less the server's (at least)
	for i, name := range l.names {
		state := rest[2*n+i]
		epoch, since, ok := strings.Cut(state, ":")
		if !ok {
			continue // not every live version defines it alike
		}
		ls := listSpace{ks: c.listKeyspace(typ, server, l.defs[i], epoch), def: l.defs[i], state: state}
		if t := num(since); t > 0 {
			ls.trustedAt = t + delay + skew
		}
		g.lists[name] = ls
	}
	return g
}

// registryProcess reads a process entry of the registry ("p:<id>"): its
// encoding, its period and when it last registered (server ms). The
// entry "p:~" stands for processes of a lost registry (hash "~").
func registryProcess(v string) (hash string, period, seen int64, ok bool) {
	parts := strings.Split(v, "|")
	if len(parts) < 4 {
		return "", 0, 0, false
	}
	p, err1 := strconv.ParseInt(parts[2], 10, 64)
	t, err2 := strconv.ParseInt(parts[3], 10, 64)
	return parts[0], p, t, err1 == nil && err2 == nil
}

// processLive is the registry's liveness rule: a process is live until 3
// of its periods and a second have passed since it last registered (server
// ms). luaLive is the same rule for the registry's scripts.
func processLive(period, seen, now int64) bool { return now-seen <= 3*period+1000 }

// luaLive defines live(period, seen, now), processLive in Lua, for the
// scripts that read the registry.
const luaLive = `
local function live(period, seen, now) return now - seen <= 3 * period + 1000 end
`

// registryVersions lists the encodings a registry names, for an operator.
func registryVersions(reg map[string]string, now time.Time) []Version {
	byHash := map[string]*Version{}
	for k, v := range reg {
		if h, ok := strings.CutPrefix(k, "v:"); ok {
			epoch, rest, _ := strings.Cut(v, ":")
			joined, _, _ := strings.Cut(rest, ":")
			ms, _ := strconv.ParseInt(joined, 10, 64)
			byHash[h] = &Version{Hash: h, Epoch: epoch, Joined: time.UnixMilli(ms)}
		}
	}
	for k, v := range reg {
		if !strings.HasPrefix(k, "p:") {
			continue
		}
		h, period, seen, ok := registryProcess(v)
		ver := byHash[h]
		if !ok || ver == nil {
			continue
		}
		if t := time.UnixMilli(seen); t.After(ver.Seen) {
			ver.Seen = t
		}
		ver.Alive = ver.Alive || processLive(period, seen, now.UnixMilli())
	}
	out := make([]Version, 0, len(byHash))
	for _, v := range byHash {
		out = append(out, *v)
	}
	return out
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
	if isWrongType(err) {
		// Not a registry: it names nothing, and the next registration
		// starts it again with fresh keyspaces.
		reg, err = map[string]string{}, nil
	}
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
