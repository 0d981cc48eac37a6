package entcachemodel

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Purge removes the cache's keys: those of one type (Schema.Purge, which
// generated code calls from Cached().Purge) or of the whole prefix
// (Cache.Purge). It SCANs every master (never KEYS), and removes each key
// under the protocol, so that it can run while the application does:
//
//   - a value, unique entry or list goes, with its lease; a reader's fill
//     that was pending is refused (it may have read the database before a
//     raw SQL write that the purge is cleaning up after);
//   - a writer's mark that has not run out stays in its lease key, so that
//     the write still publishes, or, if its process dies, its mark still
//     runs out as after any crash;
//   - a watch set that has an expiry belongs to a running write (which
//     renews it) and stays until it runs out;
//   - a registry of schema versions loses the entries of versions that are
//     gone (unseen for a minute) and goes when none is left: an entry of a
//     running version is its processes' state (their keyspace), which they
//     would otherwise move away from while others still use it;
//   - the prefix's server stamp ({<prefix>}:servers: the server epoch and
//     the state of reads) stays.
//
// Every key of a type starts with "{<KeyPart(prefix)>:<Type>:" or
// "{<KeyPart(prefix)>:<Type>}"; keyClass is the one function that knows
// the forms within.

// keyKind is what a key under the prefix is, for Purge and Stats.
type keyKind int

const (
	kindControl  keyKind = iota // the prefix's own keys ({<prefix>}:...): never purged
	kindRow                     // a cached value, by id
	kindUnique                  // a unique index entry
	kindList                    // a list
	kindData                    // a data key of another form (or of a newer layout)
	kindLease                   // a lease key (of any data key)
	kindWatch                   // a watch set of an owner
	kindRegistry                // the registry of schema versions
	kindOther                   // a key of the type in no form the cache writes
)

// typeMatch returns the SCAN pattern of every key of one type (typ ""
// for every key of every type).
func typeMatch(prefix, typ string) string {
	if typ == "" {
		return globEscape("{"+KeyPart(prefix)+":") + "*"
	}
	return globEscape("{"+KeyPart(prefix)+":"+typ) + "[:}]*"
}

// globEscape escapes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// keyClass returns the type of a key under the prefix and what it is.
func keyClass(prefix, key string) (typ string, kind keyKind) {
	p := "{" + KeyPart(prefix)
	rest, ok := strings.CutPrefix(key, p)
	if !ok || rest == "" {
		return "", kindControl
	}
	if rest[0] != ':' {
		// {<prefix>}:servers, any later control key, and the keys of
		// another prefix that starts alike: left alone.
		return "", kindControl
	}
	rest = rest[1:]
	end := strings.IndexAny(rest, ":}")
	if end <= 0 {
		return rest, kindOther
	}
	typ, rest = rest[:end], rest[end:]
	if rest[0] == '}' {
		if rest == "}:registry" || rest == "}:versions" { // see Cache.registryKey; versions: an older release's
			return typ, kindRegistry
		}
		return typ, kindOther
	}
	rest = rest[1:]
	if strings.HasPrefix(rest, "w:") {
		if strings.HasSuffix(rest, "}") {
			return typ, kindWatch
		}
		return typ, kindOther
	}
	if body, ok := strings.CutSuffix(rest, "}:lk"); ok && !strings.Contains(body, "}") {
		return typ, kindLease
	}
	body, ok := strings.CutSuffix(rest, "}")
	if !ok || strings.ContainsAny(body, "{}") {
		return typ, kindOther
	}
	// "<server>.<hash>.<epoch>:r|u|l:..."
	if _, kind, ok := strings.Cut(body, ":"); ok {
		switch {
		case strings.HasPrefix(kind, "r:"):
			return typ, kindRow
		case strings.HasPrefix(kind, "u:"):
			return typ, kindUnique
		case strings.HasPrefix(kind, "l:"):
			return typ, kindList
		}
	}
	return typ, kindData
}

// purgeDataScript: KEYS data key, lease key. Removes the data and the
// lease, but for the marks of writers that have not run out (and "~" when
// it names one of them). Returns the keys removed.
var purgeDataScript = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
local lt = redis.call('TYPE', KEYS[2])['ok']
if lt == 'none' then return n end
if lt ~= 'hash' then return n + redis.call('DEL', KEYS[2]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kv = redis.call('HGETALL', KEYS[2])
for i = 1, #kv, 2 do
  local f = kv[i]
  if f ~= '~' then
    local e = tonumber(kv[i + 1])
    if string.sub(f, 1, 1) ~= 'w' or e == nil or e <= now then redis.call('HDEL', KEYS[2], f) end
  end
end
local latest = redis.call('HGET', KEYS[2], '~')
if latest and redis.call('HEXISTS', KEYS[2], latest) == 0 then redis.call('HDEL', KEYS[2], '~') end
if redis.call('EXISTS', KEYS[2]) == 0 then n = n + 1 end
return n
`)

// purgeWatchScript: KEYS watch set. Removes it unless it is a set with an
// expiry (a running write's). Returns the keys removed.
var purgeWatchScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt == 'none' then return 0 end
if kt == 'set' and redis.call('PTTL', KEYS[1]) > 0 then return 0 end
return redis.call('DEL', KEYS[1])
`)

// purgeRegistryScript: KEYS registry; ARGV deadAfter ms. Removes the
// entries of versions gone for deadAfter, and the registry when none is
// left. Returns the keys removed.
var purgeRegistryScript = redis.NewScript(luaLive + `
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt == 'none' then return 0 end
if kt ~= 'hash' then return redis.call('DEL', KEYS[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kv = redis.call('HGETALL', KEYS[1])
-- A registry that names a live process stays whole (see versions.go's
-- processLive): its processes still use what it says.
for i = 1, #kv, 2 do
  if string.sub(kv[i], 1, 2) == 'p:' then
    local _, _, p, seen = string.match(kv[i + 1], '^([^|]+)|([^|]+)|(%d+)|(%d+)')
    if seen and live(tonumber(p), tonumber(seen), now) then return 0 end
  end
end
redis.call('DEL', KEYS[1])
return 1
`)

func init() {
	allScripts = append(allScripts, purgeDataScript, purgeWatchScript, purgeRegistryScript, setReadsScript)
}

// Purge removes every key of the prefix, of every type, schema version
// and server epoch, and returns how many it removed. It keeps what running
// writes and processes still use (see Schema.Purge), and the prefix's
// server stamp, which also holds the state of reads: DEL
// "{<KeyPart(prefix)>}:servers" by hand once no process uses the prefix.
func (c *Cache) Purge(ctx context.Context) (int, error) { return c.purge(ctx, "") }

// Purge removes every key of the type in every schema version and server
// epoch (values, leases, unique entries, lists, the registry of versions)
// and returns how many it removed. It can run while the application
// writes: it keeps the marks of writes in flight and the watch sets of
// running writes (both run out by themselves), and the registry entries of
// versions that are running (they go once unseen for a minute).
func (s *Schema[T, ID]) Purge(ctx context.Context, c *Cache) (int, error) {
	return c.purge(ctx, s.Type)
}

// purge removes the keys of typ ("" for every type).
func (c *Cache) purge(ctx context.Context, typ string) (int, error) {
	if !c.Enabled() {
		return 0, ErrNoCache
	}
	var mu sync.Mutex
	removed := 0
	err := c.scanKeys(ctx, typeMatch(c.prefix, typ), func(ctx context.Context, keys []string) error {
		n, err := c.purgeKeys(ctx, keys)
		mu.Lock()
		removed += n
		mu.Unlock()
		return err
	})
	if err != nil {
		return removed, fmt.Errorf("entcachemodel: purge: %w", err)
	}
	return removed, nil
}

// purgeKeys removes a batch of keys found by SCAN, and returns how many it
// removed.
func (c *Cache) purgeKeys(ctx context.Context, keys []string) (int, error) {
	type job struct {
		script *redis.Script
		keys   []string
		args   []any
	}
	var jobs []job
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		_, kind := keyClass(c.prefix, k)
		switch kind {
		case kindControl:
		case kindRow, kindUnique, kindList, kindData, kindLease:
			data := strings.TrimSuffix(k, ":lk")
			if kind != kindLease {
				data = k
			}
			if !seen[data] {
				seen[data] = true
				jobs = append(jobs, job{script: purgeDataScript, keys: []string{data, lease(data)}})
			}
		case kindWatch:
			jobs = append(jobs, job{script: purgeWatchScript, keys: []string{k}})
		case kindRegistry:
			jobs = append(jobs, job{script: purgeRegistryScript, keys: []string{k}})
		case kindOther:
			// Not a form the cache writes, and maybe not of one slot with
			// anything else: a plain DEL.
			jobs = append(jobs, job{keys: []string{k}})
		}
	}
	wctx := context.WithoutCancel(ctx)
	cmds, err := c.runScripts(wctx, len(jobs), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		j := jobs[i]
		if j.script == nil {
			return pipe.Do(wctx, "DEL", j.keys[0])
		}
		return j.script.EvalSha(wctx, pipe, j.keys, j.args...)
	})
	n := 0
	for _, cmd := range cmds {
		if cmd != nil {
			v, _ := cmd.Int()
			n += v
		}
	}
	return n, err
}

// scanBatch is the COUNT of each SCAN.
const scanBatch = 1000

// scanKeys SCANs every master for keys matching pattern and hands each
// batch found to f (concurrently for different masters). Each SCAN round
// trip is bounded by the timeout; the whole scan by ctx.
func (c *Cache) scanKeys(ctx context.Context, pattern string, f func(context.Context, []string) error) error {
	scan := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, c.timeout)
			keys, next, err := node.Scan(rctx, cursor, pattern, scanBatch).Result()
			cancel()
			if err != nil {
				return fmt.Errorf("SCAN: %w", err)
			}
			if len(keys) > 0 {
				if err := f(ctx, keys); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	switch r := c.rdb.(type) {
	case *redis.ClusterClient:
		return r.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if err := scan(ctx, node); err != nil {
				return fmt.Errorf("%s: %w", node.Options().Addr, err)
			}
			return nil
		})
	case *redis.Ring:
		return r.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	default:
		return scan(ctx, c.rdb)
	}
}
