package entcachemodel

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// A hidden foreign key (an edge without an edge field) can be changed by
// writes that do not name the rows they change: clearing the edge from the
// owner's side, or deleting the owner (ON DELETE SET NULL). Such a write
// lists the rows its owners hold before it runs, and republishes them. A
// row that another write moves to one of those owners after the listing and
// before the statement is changed unseen; the other write may already have
// published it with the owner it set.
//
// So the unnamed write first watches its owners: a set per owner, which its
// process renews until it publishes, and which ends watchLeases leases after
// the last renewal. A write that moves rows to an owner checks,
// after its commit, whether the owner is watched; if so, it adds its rows'
// keys to the set and holds them out of the cache for a lease (a writer
// mark that it never ends) instead of publishing them. When the unnamed
// write publishes, after its commit, it removes every key in its sets. A
// mover that comes after that finds the set still there and holds its rows
// until the unnamed write's change is in the database, which it already is.

// watchLeases is how many leases a watch lasts after its last renewal (its
// process renews it every lease while the write runs).
const watchLeases = 12

// watchPresent is the member that makes a watch set exist.
const watchPresent = "#"

// watchScript: KEYS watch set; ARGV life ms. Starts or extends a watch.
var watchScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt ~= 'set' and kt ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('SADD', KEYS[1], '` + watchPresent + `')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// joinScript: KEYS watch set; ARGV life ms, data keys... Adds the keys to
// the set if it exists, and returns 1 then: the rows must be held.
var joinScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt == 'none' then return 0 end
local keys = {unpack(ARGV, 2)}
if kt ~= 'set' then
  -- Not a watch set: it cannot tell whether a watch runs, so one may.
  -- Replace it by a watch holding the keys, as a running watch would.
  redis.call('DEL', KEYS[1])
  redis.call('SADD', KEYS[1], '` + watchPresent + `', unpack(keys))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
redis.call('SADD', KEYS[1], unpack(keys))
return 1
`)

// Owner names an owner of a hidden foreign key.
type Owner struct {
	Link string // the foreign-key column
	Key  string // the owner's id, formatted by Owners
}

// Owners names the owners, of one link, with the given ids.
func Owners[K any](link string, ids []K) []Owner {
	owners := make([]Owner, len(ids))
	for i, id := range ids {
		owners[i] = Owner{Link: link, Key: fmt.Sprint(id)}
	}
	return owners
}

// watchKey is the key of the watch set of one owner. It names no schema
// version: writers of every version see it.
func (s *Schema[T, ID]) watchKey(c *Cache, o Owner) string {
	return "{" + KeyPart(c.prefix) + ":" + s.Type + ":w:" + o.Link + ":" + KeyPart(o.Key) + "}"
}

// watch starts the watches of keys. A Redis error fails it only with
// WithStrictWrites.
func (c *Cache) watch(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	err := errBreakerOpen
	if c.redisUp() {
		life := strconv.FormatInt(watchLeases*c.lease.Milliseconds(), 10)
		_, err = c.runScripts(context.WithoutCancel(ctx), len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
			return watchScript.EvalSha(ctx, pipe, []string{keys[i]}, life)
		})
		if err != nil {
			c.fail(ctx, "watch", err)
		}
	}
	if err != nil && c.strict {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// join adds data keys to the watch sets that exist among watches, and
// reports whether there was one. On a Redis error it answers yes: holding
// rows is always safe.
func (c *Cache) join(ctx context.Context, watches, keys []string) bool {
	if len(watches) == 0 || len(keys) == 0 {
		return false
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, strconv.FormatInt(watchLeases*c.lease.Milliseconds(), 10))
	for _, k := range keys {
		args = append(args, k)
	}
	cmds, err := c.runScripts(context.WithoutCancel(ctx), len(watches), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return joinScript.EvalSha(ctx, pipe, []string{watches[i]}, args...)
	})
	if err != nil {
		c.fail(ctx, "join watch", err)
		return true
	}
	for _, cmd := range cmds {
		if n, _ := cmd.Int(); n == 1 {
			return true
		}
	}
	return false
}

// joined returns the data keys that movers added to the watch sets.
func (c *Cache) joined(ctx context.Context, watches []string) ([]string, error) {
	if len(watches) == 0 {
		return nil, nil
	}
	wctx, cancel := c.writeCtx(ctx)
	defer cancel()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(watches))
	for i, w := range watches {
		cmds[i] = pipe.SMembers(wctx, w)
	}
	if _, err := pipe.Exec(wctx); err != nil {
		return nil, err
	}
	var keys []string
	for _, cmd := range cmds {
		for _, k := range cmd.Val() {
			if k != watchPresent {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}
