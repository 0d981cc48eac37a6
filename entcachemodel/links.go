package entcachemodel

import (
	"context"
	"fmt"

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
// So the unnamed write first watches its owners, for one lease, and a write
// that moves rows to an owner checks for a watch after its commit, when it
// publishes: if one is set, it holds its rows out of the cache for a lease
// (a writer mark that it never ends) instead of publishing them. Any fill
// then waits for the mark to run out, after the unnamed write.

// Owner names the owner a write sets the hidden foreign key of its rows to.
type Owner struct {
	Link string // the foreign-key column
	Key  string // the owner's id, from OwnerKeys
}

// OwnerKeys formats owner ids for Watch and Owner.
func OwnerKeys[K any](ids []K) []string {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = fmt.Sprint(id)
	}
	return keys
}

// Owners names the owners, of one link, that a write moves rows to.
func Owners[K any](link string, ids []K) []Owner {
	owners := make([]Owner, len(ids))
	for i, k := range OwnerKeys(ids) {
		owners[i] = Owner{Link: link, Key: k}
	}
	return owners
}

// watchKey is the key of a watch on one owner of a link. It names no
// schema version: writers of every version see it.
func (s *Schema[T, ID]) watchKey(c *Cache, link, owner string) string {
	return "{" + KeyPart(c.prefix) + ":" + s.Type + ":w:" + link + ":" + KeyPart(owner) + "}"
}

// Watch marks, for one lease, the owners whose rows the write about to run
// may change without naming them. It must run before the write lists the
// rows those owners hold. A Redis error fails it only with WithStrictWrites.
func (s *Schema[T, ID]) Watch(ctx context.Context, c *Cache, link string, owners []string) error {
	if c == nil || len(owners) == 0 {
		return nil
	}
	err := errBreakerOpen
	if c.redisUp() {
		wctx, cancel := c.writeCtx(ctx)
		defer cancel()
		pipe := c.rdb.Pipeline()
		for _, o := range owners {
			pipe.Set(wctx, s.watchKey(c, link, o), c.nonce, c.lease)
		}
		if _, err = pipe.Exec(wctx); err != nil {
			c.fail(ctx, "watch", err)
		}
	}
	if err != nil && c.strict {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// watched reports whether any of the watch keys is set. On a Redis error it
// answers yes: holding rows is always safe.
func (c *Cache) watched(ctx context.Context, keys []string) bool {
	if len(keys) == 0 {
		return false
	}
	rctx, cancel := c.writeCtx(ctx)
	defer cancel()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Exists(rctx, k)
	}
	if _, err := pipe.Exec(rctx); err != nil {
		c.fail(ctx, "watched", err)
		return true
	}
	for _, cmd := range cmds {
		if cmd.Val() > 0 {
			return true
		}
	}
	return false
}
