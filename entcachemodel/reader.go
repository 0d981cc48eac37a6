package entcachemodel

import (
	"context"
	"slices"
	"time"

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
	// Or, from ReaderFor: plain functions of the client.
	client   any
	loadFrom func(ctx context.Context, client any, ids []ID) ([]T, error)
	attachTo func(client any, v T)
}

// Reader returns a Reader on c. db is the client's driver, outside any
// transaction: reads drain the outbox through it now and then. load reads
// rows by id from the database (missing ids left out); attach binds a
// decoded entity to the client.
func (s *Schema[T, ID]) Reader(c *Cache, db dialect.Driver, load func(context.Context, []ID) ([]T, error), attach func(T)) Reader[T, ID] {
	return Reader[T, ID]{schema: s, cache: c, db: db, load: load, attach: attach}
}

// ReaderFor is Reader with plain functions that are given the client
// (generated code passes its *XClient): a Reader built per read then
// allocates nothing, where closures over the client would.
func (s *Schema[T, ID]) ReaderFor(c *Cache, db dialect.Driver, client any, load func(ctx context.Context, client any, ids []ID) ([]T, error), attach func(client any, v T)) Reader[T, ID] {
	return Reader[T, ID]{schema: s, cache: c, db: db, client: client, loadFrom: load, attachTo: attach}
}

// loadRows reads rows by id from the database.
func (r Reader[T, ID]) loadRows(ctx context.Context, ids []ID) ([]T, error) {
	if r.loadFrom != nil {
		return r.loadFrom(ctx, r.client, ids)
	}
	return r.load(ctx, ids)
}

// bind binds a decoded entity to the client.
func (r Reader[T, ID]) bind(v T) {
	if r.attachTo != nil {
		r.attachTo(r.client, v)
		return
	}
	r.attach(v)
}

// dialect returns the dialect of the database, "" without one.
func (r Reader[T, ID]) dialect() string {
	if r.db == nil {
		return ""
	}
	return r.db.Dialect()
}

// idDialect returns the dialect as the key texts of ids depend on it: ""
// for integer ids, whose texts are the same on every database (and the
// dialect is an interface call away).
func (r Reader[T, ID]) idDialect() string {
	if r.schema.IDKind == IntID {
		return ""
	}
	return r.dialect()
}

// cacheUp reports whether to read through the cache (Redis answers and
// reads are not paused), and drains the outbox when that is due.
func (r Reader[T, ID]) cacheUp(ctx context.Context) bool {
	return r.cacheUpAt(ctx, time.Now())
}

// cacheUpAt is cacheUp at the time now.
func (r Reader[T, ID]) cacheUpAt(ctx context.Context, now time.Time) bool {
	if !r.cache.Enabled() {
		return false
	}
	if r.cache.outbox.pokeAt(ctx, r.db, now) {
		now = time.Now() // the drain took time, and may have failed
	}
	return r.cache.redisUpAt(now) && !r.cache.readsPausedAt(ctx, &now)
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
	// Page returns the matching rows from the database, by id: only those
	// whose id the database orders after after (when not nil), and at most
	// limit of them (when positive). When nil, ListBy pages Query's rows.
	Page func(ctx context.Context, after *ID, limit int) ([]T, error)
}

// Get returns the entity with the given id, or ErrNotFound. A hit costs one
// GET and allocates, besides what go-redis does, only the key, the entity
// (with its pointers, slices and maps) and, for a caller's context that can
// be cancelled, a context.WithTimeout.
func (r Reader[T, ID]) Get(ctx context.Context, id ID) (T, error) {
	v, cached, err := r.get(ctx, id)
	if cached {
		r.cache.stats.hits.Add(1)
	}
	return v, err
}

// get is Get, telling whether the row came from the cache (a hit) without
// counting it: a unique lookup counts it only if it serves it.
func (r Reader[T, ID]) get(ctx context.Context, id ID) (v T, cached bool, err error) {
	var zero T
	c := r.cache
	now := time.Now() // one reading of the clock for the whole hit
	if !r.cacheUpAt(ctx, now) {
		v, err = r.getOrdered(ctx, id)
		return v, false, err
	}
	g := r.schema.generationAt(ctx, c, &now)
	if !g.trusted {
		v, err = r.getOrdered(ctx, id)
		return v, false, err
	}
	d := r.idDialect()
	key := r.schema.rowKey(g.own, d, id)
	v, ok, err := r.cachedRow(ctx, key, d, id, now)
	if err != nil {
		c.fail(ctx, "get", err)
		v, err = r.getOrdered(ctx, id)
		return v, false, err
	}
	if ok {
		return v, true, nil
	}
	text := r.schema.idText(d, id)
	found, err := r.fillMisses(ctx, []ID{id}, []string{text}, []string{key})
	if err != nil {
		return zero, false, err
	}
	if v, ok := found[text]; ok {
		return v, false, nil
	}
	return zero, false, ErrNotFound
}

// cachedRow reads the row of id, under key, from the cache only: the near
// cache when there is one, else one GET. ok is false for a miss, and for a
// value that does not decode or holds another id (d is idDialect). A row
// found is bound; the caller counts it as a hit if it serves it.
func (r Reader[T, ID]) cachedRow(ctx context.Context, key, d string, id ID, now time.Time) (v T, ok bool, err error) {
	c := r.cache
	if c.near != nil && r.schema.Clone != nil {
		if v, ok := r.nearGet(ctx, key, d, id); ok {
			return v, true, nil
		}
	}
	val, found, err := c.getOneAt(ctx, key, now)
	if err != nil || !found {
		return v, false, err
	}
	if v, ok = r.schema.decodeString(val); ok && r.schema.sameID(d, v, id) {
		r.bind(v)
		return v, true, nil
	}
	var zero T
	return zero, false, nil
}

// getOrdered is Get from the database.
func (r Reader[T, ID]) getOrdered(ctx context.Context, id ID) (T, error) {
	rows, err := r.loadOrdered(ctx, []ID{id})
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
// ids that do not exist left out. Cached entities cost one round trip. An
// id is answered as the database answers it, under its collation: on
// MySQL, Get("go ") returns the row "go".
func (r Reader[T, ID]) GetMany(ctx context.Context, ids ...ID) ([]T, error) {
	c := r.cache
	if len(ids) == 0 {
		return []T{}, nil // as ent's All: empty, not nil
	}
	now := time.Now()
	if !r.cacheUpAt(ctx, now) {
		return r.loadOrdered(ctx, ids)
	}
	g := r.schema.generationAt(ctx, c, &now)
	if !g.trusted {
		return r.loadOrdered(ctx, ids)
	}
	ks := g.own
	d := r.idDialect()
	// Ids the database finds equal share one key text, and one key: slot
	// tells each id's place among the keys asked.
	keys, slot, uniq := r.schema.rowKeys(ks, d, ids)
	vals, present, err := c.getStrings(ctx, keys, now)
	if err != nil {
		c.fail(ctx, "get", err)
		return r.loadOrdered(ctx, ids)
	}
	rows := make([]T, len(keys))
	have := make([]bool, len(keys))
	var missIDs []ID
	var missAt []int
	var missTexts, missKeys []string
	dec := decoders.Get().(*Decoder)
	dec.batch = len(keys) // the entities come from one allocation
	for j, id := range uniq {
		if present[j] {
			if v, ok := r.schema.decodeWith(dec, vals[j]); ok && r.schema.sameID(d, v, id) {
				r.bind(v)
				rows[j], have[j] = v, true
				continue
			}
		}
		missIDs, missAt = append(missIDs, id), append(missAt, j)
		missTexts = append(missTexts, r.schema.idText(d, id))
		missKeys = append(missKeys, keys[j])
	}
	*dec = Decoder{}
	decoders.Put(dec)
	c.stats.hits.Add(uint64(len(keys) - len(missIDs)))
	if len(missIDs) > 0 {
		found, err := r.fillMisses(ctx, missIDs, missTexts, missKeys)
		if err != nil {
			return nil, err
		}
		for m, j := range missAt {
			rows[j], have[j] = found[missTexts[m]]
		}
	}
	out := make([]T, 0, len(ids))
	for i := range ids {
		if j := slot[i]; have[j] {
			out = append(out, rows[j])
		}
	}
	return out, nil
}

// fillMisses reads ids missed in Redis (with their key texts and keys)
// through fill, and returns the rows found by key text.
func (r Reader[T, ID]) fillMisses(ctx context.Context, missIDs []ID, missTexts, missKeys []string) (map[string]T, error) {
	c := r.cache
	if len(missIDs) > 1 {
		return r.fill(ctx, missIDs, missTexts, missKeys)
	}
	// Concurrent misses of one key in this process share one fill.
	ch := c.group.DoChan(missKeys[0], func() (any, error) {
		return r.fill(context.WithoutCancel(ctx), missIDs, missTexts, missKeys)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(map[string]T), nil
	}
}

// fill reads missed rows from the database under fill leases and stores
// those whose lease still holds. A single key held by another reader or a
// writer is awaited for a moment first, so a cold hot key costs one query.
// It returns the rows by the key texts of the ids asked.
func (r Reader[T, ID]) fill(ctx context.Context, ids []ID, texts, keys []string) (map[string]T, error) {
	c := r.cache
	d := r.dialect()
	found := make(map[string]T, len(ids))
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
		if e, ok := r.schema.decode(v); ok && r.schema.idText(d, r.schema.ID(e)) == texts[i] {
			c.stats.hits.Add(1)
			r.bind(e)
			found[texts[i]] = e
		} else {
			retry = append(retry, i)
		}
	}
	if len(found) > 0 || len(retry) > 0 {
		ids, texts, keys, tokens = r.unresolved(ctx, ids, texts, keys, tokens, found, retry)
		if len(ids) == 0 {
			return found, nil
		}
	}
	if err == nil && len(ids) == 1 && tokens[0] == "" {
		if data := c.waitFor(ctx, keys[0]); data != nil {
			if v, ok := r.schema.decode(data); ok && r.schema.idText(d, r.schema.ID(v)) == texts[0] {
				c.stats.hits.Add(1)
				r.bind(v)
				found[texts[0]] = v
				return found, nil
			}
		}
	}
	c.stats.misses.Add(uint64(len(ids)))
	rows, aliases, err := r.resolve(ctx, ids, texts)
	if err != nil {
		if rerr := c.release(ctx, keys, tokens); rerr != nil {
			c.fail(ctx, "release", rerr)
		}
		return nil, err
	}
	for t, v := range rows {
		found[t] = v
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
		// A row that the database matched only under its collation
		// (asked "GO", stored "Go") is not stored under the key asked:
		// writes to it mark the key of its stored id.
		if v, ok := rows[texts[i]]; ok && !aliases[texts[i]] {
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

// resolve reads the rows of ids (with their key texts) from the database
// and returns them by the key text of the id that asked for each. Under a
// collation Go does not reproduce, a row may be stored with an id other
// than the one asked ("Go" for "GO"): those ids are read one by one, and
// their rows are returned in aliases too.
func (r Reader[T, ID]) resolve(ctx context.Context, ids []ID, texts []string) (found map[string]T, aliases map[string]bool, err error) {
	d := r.dialect()
	rows, err := r.loadRows(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	found = make(map[string]T, len(rows))
	for _, v := range rows {
		found[r.schema.idText(d, r.schema.ID(v))] = v
	}
	asked := make(map[string]bool, len(texts))
	for _, t := range texts {
		asked[t] = true
	}
	for t := range found {
		if !asked[t] {
			delete(found, t)
		}
	}
	if len(rows) == 0 || r.schema.idRule(d) != textFolded {
		return found, nil, nil
	}
	for i, id := range ids {
		if _, ok := found[texts[i]]; ok {
			continue
		}
		one, err := r.loadRows(ctx, []ID{id})
		if err != nil {
			return nil, nil, err
		}
		if len(one) > 0 {
			if aliases == nil {
				aliases = map[string]bool{}
			}
			found[texts[i]], aliases[texts[i]] = one[0], true
		}
	}
	return found, aliases, nil
}

// unresolved drops the ids found after a lease request and asks again, with
// no value check, for the leases of those whose value was corrupt.
func (r Reader[T, ID]) unresolved(ctx context.Context, ids []ID, texts, keys, tokens []string, found map[string]T, retry []int) ([]ID, []string, []string, []string) {
	var outIDs []ID
	var outTexts, outKeys, outTokens, again []string
	var againAt []int
	for i, id := range ids {
		if _, ok := found[texts[i]]; ok {
			continue
		}
		if slices.Contains(retry, i) {
			again = append(again, keys[i])
			againAt = append(againAt, len(outIDs))
		}
		outIDs, outTexts = append(outIDs, id), append(outTexts, texts[i])
		outKeys, outTokens = append(outKeys, keys[i]), append(outTokens, tokens[i])
	}
	if len(again) > 0 {
		if t, _, err := r.cache.leases(ctx, again, false); err == nil {
			for j, at := range againAt {
				outTokens[at] = t[j]
			}
		}
	}
	return outIDs, outTexts, outKeys, outTokens
}

// loadOrdered reads ids from the database, in the order asked.
func (r Reader[T, ID]) loadOrdered(ctx context.Context, ids []ID) ([]T, error) {
	if r.cache != nil {
		r.cache.stats.misses.Add(uint64(len(ids)))
	}
	d := r.dialect()
	texts := make([]string, len(ids))
	for i, id := range ids {
		texts[i] = r.schema.idText(d, id)
	}
	found, _, err := r.resolve(ctx, ids, texts)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, t := range texts {
		if v, ok := found[t]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// GetBy returns the entity a unique index maps Key to, or ErrNotFound.
// The index entry only names an id; the entity read by that id must still
// hold the looked-up values, so a stale entry costs a database query, never a
// wrong answer. The id a lookup found is remembered (a lookup hint, see
// WithLookupHints): the next lookup of the same values reads that id's row
// from Redis first, under the same check, and trusts it only if no writer's
// mark bounds it; otherwise it reads the entry.
func (r Reader[T, ID]) GetBy(ctx context.Context, l Lookup[T, ID]) (T, error) {
	c := r.cache
	now := time.Now()
	if !r.cacheUpAt(ctx, now) {
		return r.first(ctx, l)
	}
	g := r.schema.generationAt(ctx, c, &now)
	if !g.trusted {
		return r.first(ctx, l)
	}
	d := r.dialect()
	want := r.schema.indexKey(d, l.Index, l.Key)
	key := g.own.unique(l.Index.Name, want)
	hinted, isHinted := c.hints.get(key)
	if id, ok := hinted.(ID); ok {
		// The row of the id found last time, if it still holds the values
		// (see hints.go). Read from Redis, not the near cache (whose copy may be older than
		// another process's write), and only a value no writer's mark
		// bounds: an older value may still hold the values after a
		// committed write gave them to another row.
		kd := r.idDialect()
		val, ok, err := c.getUnmarkedAt(ctx, r.schema.rowKey(g.own, kd, id), now)
		if err != nil {
			c.fail(ctx, "get", err)
			return r.first(ctx, l)
		}
		if ok {
			if v, ok := r.schema.decodeString(val); ok && r.schema.sameID(kd, v, id) && r.matches(d, l.Index, want, v) {
				r.bind(v)
				c.stats.hits.Add(1)
				return v, nil
			}
		}
	}
	v, err := r.getBy(ctx, g, d, l, want, key)
	if err == nil && r.matches(d, l.Index, want, v) {
		if id := r.schema.ID(v); !isHinted || hinted != any(id) {
			c.hints.put(key, id)
		}
	} else if isHinted {
		c.hints.drop(key)
	}
	return v, err
}

// getBy is GetBy without hints: the entry of key (the unique key of want,
// the indexKey of l's values on dialect d) names the row.
func (r Reader[T, ID]) getBy(ctx context.Context, g *generation, d string, l Lookup[T, ID], want, key string) (T, error) {
	c := r.cache
	if c.near == nil && c.oneTripLookups() {
		// The entry and its row in one round trip. (With a near cache the
		// row is read through Get, which may hold it in process.)
		text, row, found, rowFound, err := c.getUnique(ctx, key, g.own.rowStart(), time.Now())
		if err != nil {
			c.fail(ctx, "get", err)
			return r.first(ctx, l)
		}
		if found {
			if v, ok := r.uniqueHit(ctx, g.own, d, l, want, text, row, rowFound); ok {
				return v, nil
			}
		}
	} else if vals, err := c.get(ctx, []string{key}); err != nil {
		c.fail(ctx, "get", err)
		return r.first(ctx, l)
	} else if vals[0] != nil {
		if id, err := r.schema.ParseID(string(vals[0])); err == nil {
			if v, cached, err := r.get(ctx, id); err == nil && r.matches(d, l.Index, want, v) {
				r.countHit(cached)
				return v, nil
			}
		}
	}
	if r.schema.folded(d, l.Index) {
		// The database may match values other than those asked: its
		// answer is the one to give, and to point the entry to when the
		// row holds the values byte for byte.
		v, err := r.first(ctx, l)
		if err == nil && r.matches(d, l.Index, want, v) {
			wctx, cancel := c.writeCtx(ctx)
			if err := c.rdb.Set(wctx, key, r.schema.FormatID(r.schema.ID(v)), 0).Err(); err != nil {
				c.fail(ctx, "set index", err)
			}
			cancel()
		}
		return v, err
	}
	res, err, _ := c.group.Do(key, func() (any, error) { return l.IDs(context.WithoutCancel(ctx)) })
	if err != nil {
		var zero T
		return zero, err
	}
	ids := res.([]ID)
	if len(ids) == 0 {
		c.stats.misses.Add(1) // the database answered
		var zero T
		return zero, ErrNotFound
	}
	wctx, cancel := c.writeCtx(ctx)
	if err := c.rdb.Set(wctx, key, r.schema.FormatID(ids[0]), 0).Err(); err != nil {
		c.fail(ctx, "set index", err)
	}
	cancel()
	if v, cached, err := r.get(ctx, ids[0]); err == nil && r.matches(d, l.Index, want, v) {
		r.countHit(cached)
		return v, nil
	}
	// The row changed between the two reads, or its cached value is being
	// replaced by a writer, or it holds the values only under the column's
	// collation (stored "Alice", asked "ALICE"): answer from the database.
	return r.first(ctx, l)
}

// uniqueHit answers a unique lookup from what getUnique read: the entry's
// id text and, when rowFound, the row the script read under the key it built
// from that text. The row counts only when that key is the id's own (an
// entry whose text is not the id's as FormatID writes it, "05" or "+5" for
// 5, names another key, which may hold an old copy), holds the id, and
// still holds the looked-up values; an entry whose row was not read is
// answered by Get.
func (r Reader[T, ID]) uniqueHit(ctx context.Context, ks keyspace, d string, l Lookup[T, ID], want, text, row string, rowFound bool) (T, bool) {
	var zero T
	id, err := r.schema.ParseID(text)
	if err != nil {
		return zero, false
	}
	if rowFound && r.ownKey(ks, d, id, text) {
		if v, ok := r.schema.decodeString(row); ok && r.schema.sameID(d, v, id) && r.matches(d, l.Index, want, v) {
			r.bind(v)
			r.cache.stats.hits.Add(1)
			return v, true
		}
		return zero, false
	}
	if v, cached, err := r.get(ctx, id); err == nil && r.matches(d, l.Index, want, v) {
		r.countHit(cached)
		return v, true
	}
	return zero, false
}

// countHit counts a row a unique lookup served as a hit if it came from
// the cache.
func (r Reader[T, ID]) countHit(cached bool) {
	if cached {
		r.cache.stats.hits.Add(1)
	}
}

// ownKey reports whether the row key built from an id's text as written
// (ks.row(text)) is the id's own key (rowKey).
func (r Reader[T, ID]) ownKey(ks keyspace, d string, id ID, text string) bool {
	if r.schema.IDKind == IntID {
		var buf [24]byte
		if b, ok := appendInt(buf[:0], id); ok {
			return string(b) == text // the key of digits as FormatID writes them
		}
	}
	return r.schema.rowKey(ks, d, id) == ks.row(text)
}

// matches reports whether v holds the values whose key text (indexKey) is
// want. Under a collation Go does not reproduce, values the database finds
// equal may not match: such a lookup is answered by the database.
func (r Reader[T, ID]) matches(d string, idx *Index[T], want string, v T) bool {
	k, ok := idx.Key(v)
	return ok && r.schema.indexKey(d, idx, k) == want
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
