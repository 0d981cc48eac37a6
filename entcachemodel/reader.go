package entcachemodel

import (
	"context"
	"slices"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
)

// Reader serves the cached reads of one type for one client. With a nil
// Cache every read goes to the database.
type Reader[T any, ID comparable] struct {
	schema *Schema[T, ID]
	cache  *Cache
	db     dialect.Driver
	load   func(context.Context, []ID) ([]T, error)
	attach func(T)
}

// Reader returns a Reader on c. db is the client's driver, outside any
// transaction: reads drain the outbox through it now and then. load reads
// rows by id from the database (missing ids left out); attach binds a
// decoded entity to the client.
func (s *Schema[T, ID]) Reader(c *Cache, db dialect.Driver, load func(context.Context, []ID) ([]T, error), attach func(T)) Reader[T, ID] {
	return Reader[T, ID]{schema: s, cache: c, db: db, load: load, attach: attach}
}

// cacheUp reports whether to read through the cache, and drains the outbox
// when that is due.
func (r Reader[T, ID]) cacheUp(ctx context.Context) bool {
	if !r.cache.Enabled() {
		return false
	}
	r.cache.outbox.poke(ctx, r.db)
	return r.cache.redisUp()
}

// Lookup is a read by a published index.
type Lookup[T any, ID comparable] struct {
	Index *Index[T]
	// Key is the IndexKey of the values looked up.
	Key string
	// IDs returns the ids of the matching rows from the database, by id.
	IDs func(context.Context) ([]ID, error)
	// Query returns the matching rows from the database, by id.
	Query func(context.Context) ([]T, error)
}

// Get returns the entity with the given id, or ErrNotFound.
func (r Reader[T, ID]) Get(ctx context.Context, id ID) (T, error) {
	rows, err := r.GetMany(ctx, id)
	if err != nil || len(rows) == 0 {
		var zero T
		if err == nil {
			err = ErrNotFound
		}
		return zero, err
	}
	return rows[0], nil
}

// GetMany returns the entities with the given ids, in the order asked, with
// ids that do not exist left out. Cached entities cost one round trip.
func (r Reader[T, ID]) GetMany(ctx context.Context, ids ...ID) ([]T, error) {
	c := r.cache
	if len(ids) == 0 {
		return nil, nil
	}
	if !r.cacheUp(ctx) {
		return r.loadOrdered(ctx, ids)
	}
	g := r.schema.generation(ctx, c)
	if !g.trusted {
		return r.loadOrdered(ctx, ids)
	}
	ks := g.own
	uniq := make([]ID, 0, len(ids))
	seen := make(map[ID]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			uniq = append(uniq, id)
		}
	}
	keys := make([]string, len(uniq))
	for i, id := range uniq {
		keys[i] = ks.row(r.schema.FormatID(id))
	}
	vals, err := c.get(ctx, keys)
	if err != nil {
		c.fail(ctx, "get", err)
		return r.loadOrdered(ctx, ids)
	}
	found := make(map[ID]T, len(uniq))
	var missIDs []ID
	var missKeys []string
	for i, id := range uniq {
		if vals[i] != nil {
			if v, ok := r.decodeRow(vals[i], id); ok {
				r.attach(v)
				found[id] = v
				continue
			}
		}
		missIDs = append(missIDs, id)
		missKeys = append(missKeys, keys[i])
	}
	c.stats.hits.Add(uint64(len(uniq) - len(missIDs)))
	switch len(missIDs) {
	case 0:
	case 1:
		// Concurrent misses of one key in this process share one fill.
		ch := c.group.DoChan(missKeys[0], func() (any, error) {
			return r.fill(context.WithoutCancel(ctx), missIDs, missKeys)
		})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
			for id, v := range res.Val.(map[ID]T) {
				found[id] = v
			}
		}
	default:
		filled, err := r.fill(ctx, missIDs, missKeys)
		if err != nil {
			return nil, err
		}
		for id, v := range filled {
			found[id] = v
		}
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if v, ok := found[id]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// fill reads missed rows from the database under fill leases and stores
// those whose lease still holds. A single key held by another reader or a
// writer is awaited for a moment first, so a cold hot key costs one query.
func (r Reader[T, ID]) fill(ctx context.Context, ids []ID, keys []string) (map[ID]T, error) {
	c := r.cache
	found := make(map[ID]T, len(ids))
	tokens, values, err := c.leases(ctx, keys, true)
	if err != nil {
		c.fail(ctx, "lease", err)
		tokens = make([]string, len(keys))
	}
	// A value stored since the miss (a fill or publish that just finished)
	// is used as it is; one that does not decode is replaced by a fill.
	var retry []int
	for i, v := range values {
		if v == nil {
			continue
		}
		if e, ok := r.decodeRow(v, ids[i]); ok {
			c.stats.hits.Add(1)
			r.attach(e)
			found[ids[i]] = e
		} else {
			retry = append(retry, i)
		}
	}
	if len(found) > 0 || len(retry) > 0 {
		ids, keys, tokens = r.unresolved(ctx, ids, keys, tokens, found, retry)
		if len(ids) == 0 {
			return found, nil
		}
	}
	if err == nil && len(ids) == 1 && tokens[0] == "" {
		if data := c.waitFor(ctx, keys[0]); data != nil {
			if v, ok := r.decodeRow(data, ids[0]); ok {
				c.stats.hits.Add(1)
				r.attach(v)
				found[ids[0]] = v
				return found, nil
			}
		}
	}
	c.stats.misses.Add(uint64(len(ids)))
	rows, err := r.load(ctx, ids)
	if err != nil {
		if rerr := c.release(ctx, keys, tokens); rerr != nil {
			c.fail(ctx, "release", rerr)
		}
		return nil, err
	}
	for _, v := range rows {
		found[r.schema.ID(v)] = v
	}
	var held []int
	for i, t := range tokens {
		if t != "" {
			held = append(held, i)
		}
	}
	wctx := context.WithoutCancel(ctx)
	cmds, err := c.runScripts(wctx, len(held), func(pipe redis.Pipeliner, j int) *redis.Cmd {
		i := held[j]
		k := keys[i]
		if v, ok := found[ids[i]]; ok {
			return setScript.EvalSha(wctx, pipe, []string{k, lease(k)}, tokens[i], r.schema.encode(v), "fill")
		}
		return releaseScript.EvalSha(wctx, pipe, []string{k, lease(k)}, tokens[i])
	})
	if err != nil {
		// An unfinished fill leaves its lease to expire; the rows read are right.
		c.fail(ctx, "fill", err)
	}
	for _, cmd := range cmds {
		if n, _ := cmd.Int(); n == 1 && cmd.Args()[len(cmd.Args())-1] == "fill" {
			c.stats.fills.Add(1)
		}
	}
	return found, nil
}

// decodeRow decodes the cached value of row id. A value that does not
// decode, or that holds another row (bytes copied under the wrong key), is
// not that row's.
func (r Reader[T, ID]) decodeRow(data []byte, id ID) (T, bool) {
	v, ok := r.schema.decode(data)
	if !ok || r.schema.FormatID(r.schema.ID(v)) != r.schema.FormatID(id) {
		var zero T
		return zero, false
	}
	return v, true
}

// unresolved drops the ids found after a lease request and asks again, with
// no value check, for the leases of those whose value was corrupt.
func (r Reader[T, ID]) unresolved(ctx context.Context, ids []ID, keys, tokens []string, found map[ID]T, retry []int) ([]ID, []string, []string) {
	var outIDs []ID
	var outKeys, outTokens, again []string
	var againAt []int
	for i, id := range ids {
		if _, ok := found[id]; ok {
			continue
		}
		if slices.Contains(retry, i) {
			again = append(again, keys[i])
			againAt = append(againAt, len(outIDs))
		}
		outIDs, outKeys, outTokens = append(outIDs, id), append(outKeys, keys[i]), append(outTokens, tokens[i])
	}
	if len(again) > 0 {
		if t, _, err := r.cache.leases(ctx, again, false); err == nil {
			for j, at := range againAt {
				outTokens[at] = t[j]
			}
		}
	}
	return outIDs, outKeys, outTokens
}

// loadOrdered reads ids from the database, in the order asked.
func (r Reader[T, ID]) loadOrdered(ctx context.Context, ids []ID) ([]T, error) {
	if r.cache != nil {
		r.cache.stats.misses.Add(uint64(len(ids)))
	}
	rows, err := r.load(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[ID]T, len(rows))
	for _, v := range rows {
		byID[r.schema.ID(v)] = v
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if v, ok := byID[id]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// GetBy returns the entity a unique index maps Key to, or ErrNotFound.
// The index entry only names an id; the entity read by that id must still
// hold the looked-up values, so a stale entry costs a database query, never a
// wrong answer.
func (r Reader[T, ID]) GetBy(ctx context.Context, l Lookup[T, ID]) (T, error) {
	c := r.cache
	if !r.cacheUp(ctx) {
		return r.first(ctx, l)
	}
	g := r.schema.generation(ctx, c)
	if !g.trusted {
		return r.first(ctx, l)
	}
	key := g.own.unique(l.Index.Name, l.Key)
	if vals, err := c.get(ctx, []string{key}); err != nil {
		c.fail(ctx, "get", err)
		return r.first(ctx, l)
	} else if vals[0] != nil {
		if id, err := r.schema.ParseID(string(vals[0])); err == nil {
			if v, err := r.Get(ctx, id); err == nil && r.matches(l, v) {
				return v, nil
			}
		}
	}
	res, err, _ := c.group.Do(key, func() (any, error) { return l.IDs(context.WithoutCancel(ctx)) })
	if err != nil {
		var zero T
		return zero, err
	}
	ids := res.([]ID)
	if len(ids) == 0 {
		var zero T
		return zero, ErrNotFound
	}
	wctx, cancel := c.writeCtx(ctx)
	if err := c.rdb.Set(wctx, key, r.schema.FormatID(ids[0]), 0).Err(); err != nil {
		c.fail(ctx, "set index", err)
	}
	cancel()
	if v, err := r.Get(ctx, ids[0]); err == nil && r.matches(l, v) {
		return v, nil
	}
	// The row changed between the two reads, or its cached value is being
	// replaced by a writer: answer from the database.
	return r.first(ctx, l)
}

func (r Reader[T, ID]) matches(l Lookup[T, ID], v T) bool {
	k, ok := l.Index.Key(v)
	return ok && k == l.Key
}

func (r Reader[T, ID]) first(ctx context.Context, l Lookup[T, ID]) (T, error) {
	if r.cache != nil {
		r.cache.stats.misses.Add(1)
	}
	rows, err := l.Query(ctx)
	if err != nil || len(rows) == 0 {
		var zero T
		if err == nil {
			err = ErrNotFound
		}
		return zero, err
	}
	return rows[0], nil
}

// ListBy returns the entities a non-unique index maps Key to, ordered by id.
// The cached list holds ids; every entity read by them must still hold the
// looked-up values.
func (r Reader[T, ID]) ListBy(ctx context.Context, l Lookup[T, ID]) ([]T, error) {
	c := r.cache
	if !r.cacheUp(ctx) {
		if c != nil {
			c.stats.misses.Add(1)
		}
		return l.Query(ctx)
	}
	g := r.schema.generation(ctx, c)
	if !g.trusted {
		c.stats.misses.Add(1)
		return l.Query(ctx)
	}
	key := g.own.list(l.Index.Name, l.Key)
	rctx, cancel := c.readCtx(ctx)
	members, err := c.rdb.SMembers(rctx, key).Result()
	cancel()
	if isWrongType(err) {
		// Not a list the cache wrote: remove it and fill it again.
		c.removeForeign(ctx, []string{key})
		members, err = nil, nil
	}
	if err != nil {
		c.fail(ctx, "list", err)
		c.stats.misses.Add(1)
		return l.Query(ctx)
	}
	var ids []ID
	if slices.Contains(members, listPresent) {
		ids = make([]ID, 0, len(members)-1)
		for _, m := range members {
			if id, err := r.schema.ParseID(strings.TrimPrefix(m, "=")); err == nil && m != listPresent {
				ids = append(ids, id)
			}
		}
	} else {
		res, err, _ := c.group.Do(key, func() (any, error) { return r.fillList(context.WithoutCancel(ctx), key, l) })
		if err != nil {
			return nil, err
		}
		ids = res.([]ID)
	}
	rows, err := r.GetMany(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, v := range rows {
		if r.matches(l, v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b T) int { return r.schema.CompareID(r.schema.ID(a), r.schema.ID(b)) })
	return out, nil
}

// fillList reads a list's ids from the database under a fill lease.
func (r Reader[T, ID]) fillList(ctx context.Context, key string, l Lookup[T, ID]) ([]ID, error) {
	c := r.cache
	tokens, _, err := c.leases(ctx, []string{key}, false)
	if err != nil {
		c.fail(ctx, "lease", err)
		tokens = []string{""}
	}
	c.stats.misses.Add(1)
	ids, err := l.IDs(ctx)
	if err != nil || tokens[0] == "" {
		return ids, err
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, tokens[0], listPresent)
	for _, id := range ids {
		args = append(args, listMember(r.schema.FormatID(id)))
	}
	wctx := context.WithoutCancel(ctx)
	cmds, err := c.runScripts(wctx, 1, func(pipe redis.Pipeliner, _ int) *redis.Cmd {
		return listFillScript.EvalSha(wctx, pipe, []string{key, lease(key)}, args...)
	})
	if err != nil {
		c.fail(ctx, "fill list", err)
	} else if n, _ := cmds[0].Int(); n == 1 {
		c.stats.fills.Add(1)
	}
	return ids, nil
}
