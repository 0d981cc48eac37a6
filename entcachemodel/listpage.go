package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ListOption chooses the page of a list that ListBy (a generated ListByX)
// returns: Limit and AfterID.
type ListOption func(*listPage)

type listPage struct {
	limit int
	after any // nil: from the first
	err   error
}

// Limit makes a list read return at most n entities (n > 0): the first n,
// by id, of those AfterID leaves.
func Limit(n int) ListOption {
	return func(p *listPage) {
		if n <= 0 {
			p.err = fmt.Errorf("entcachemodel: Limit(%d): the count must be positive", n)
		}
		p.limit = n
	}
}

// AfterID makes a list read return only the entities whose id the
// database orders after id (which need not be in the list). The id must be
// of the type's id type.
func AfterID[ID comparable](id ID) ListOption {
	return func(p *listPage) { p.after = id }
}

// Page returns the page opts ask for: the id it starts after (nil: from
// the first) and the most entities it holds (0: all of them).
func Page[ID comparable](opts ...ListOption) (after *ID, limit int, err error) {
	var p listPage
	for _, o := range opts {
		if o != nil {
			o(&p)
		}
	}
	if p.err != nil {
		return nil, 0, p.err
	}
	if p.after != nil {
		id, ok := p.after.(ID)
		if !ok {
			var want ID
			return nil, 0, fmt.Errorf("entcachemodel: AfterID of a %T: the ids are of type %T", p.after, want)
		}
		after = &id
	}
	return after, p.limit, nil
}

// pageSize is how many members a page of limit entities reads at a time:
// a little more than limit, since stale members are left out.
func pageSize(limit int) int { return limit + limit/4 + 8 }

// ListBy returns the entities a non-unique index maps Key to, ordered by id:
// with options, one page of them (Limit, AfterID). The cached list holds
// ids; every entity read by them must still hold the looked-up values. A
// list whose fields compare under a collation Go does not reproduce, or
// whose ids the database orders in a way Go does not, is read from the
// database; so is a page of a list of text ids the database does not
// order by their bytes.
//
// A page reads the list's members from its first id after AfterID's, a
// few more than Limit asks at a time, with the list's registry state (one
// round trip), then their rows (GetMany: one more on hits), and goes on
// while fewer than Limit matched and the list has more.
func (r Reader[T, ID]) ListBy(ctx context.Context, l Lookup[T, ID], opts ...ListOption) ([]T, error) {
	after, limit, err := Page[ID](opts...)
	if err != nil {
		return nil, err
	}
	c := r.cache
	if !r.cacheUp(ctx) {
		if c != nil {
			c.stats.misses.Add(1)
		}
		return r.fromDB(ctx, l, after, limit)
	}
	g := r.schema.generation(ctx, c)
	d := r.dialect()
	order, bytewise, err := r.schema.orderOf(ctx, c, r.db)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "entcachemodel: reading a list from the database", slog.String("type", r.schema.Type), slog.Any("error", err))
	}
	want := r.schema.indexKey(d, l.Index, l.Key)
	key, storable := g.list(l.Index.Name, want)
	kind := r.schema.IDKind
	paged := after != nil || limit > 0
	if !storable || order == nil || r.schema.folded(d, l.Index) || paged && kind != IntID && !bytewise {
		c.stats.misses.Add(1)
		return r.fromDB(ctx, l, after, limit)
	}
	def := g.lists[l.Index.Name]
	k, from := 0, ""
	if paged {
		k = pageSize(limit)
		if limit == 0 {
			k = 1000
		}
		from = r.rangeStart(after)
	}
	members, present, err := r.readList(ctx, def, key, from, k)
	if errors.Is(err, errNotServed) {
		c.stats.misses.Add(1)
		return r.fromDB(ctx, l, after, limit)
	}
	if err != nil {
		c.fail(ctx, "list", err)
		c.stats.misses.Add(1)
		return r.fromDB(ctx, l, after, limit)
	}
	if !present {
		res, err, _ := c.group.Do(key, func() (any, error) { return r.fillList(context.WithoutCancel(ctx), key, l) })
		if err != nil {
			return nil, err
		}
		ids := res.([]ID)
		if after != nil {
			ids = slices.DeleteFunc(slices.Clone(ids), func(id ID) bool { return order(id, *after) <= 0 })
		}
		return r.collect(ctx, d, l, want, order, ids, limit)
	}
	var out []T
	for {
		rest := 0 // all
		if limit > 0 {
			rest = limit - len(out)
		}
		rows, err := r.collect(ctx, d, l, want, order, r.parseMembers(members), rest)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = rows
		} else {
			out = append(out, rows...)
		}
		if k == 0 || limit > 0 && len(out) >= limit || len(members) < k {
			return out, nil
		}
		// Fewer matched than asked: read on from the last member.
		members, present, err = r.readList(ctx, def, key, "("+members[len(members)-1], k)
		if err != nil || !present {
			if err != nil && !errors.Is(err, errNotServed) {
				c.fail(ctx, "list", err)
			}
			c.stats.misses.Add(1)
			return r.fromDB(ctx, l, after, limit)
		}
	}
}

// errNotServed tells that a list may not be served now (its registry
// state moved on).
var errNotServed = errors.New("entcachemodel: the list is not served")

// rangeStart returns where a page of the list after after begins: a
// ZRANGEBYSCORE min for integer ids, a ZRANGEBYLEX min for others.
func (r Reader[T, ID]) rangeStart(after *ID) string {
	if r.schema.IDKind != IntID {
		if after == nil {
			return "[="
		}
		return "(" + listMemberOf(r.schema.IDKind, r.schema.FormatID(*after))
	}
	if after == nil {
		return "(-inf" // leaves out listPresent
	}
	text := r.schema.FormatID(*after)
	if _, ok := listScoreOf(IntID, text); ok {
		return "(" + text
	}
	if strings.HasPrefix(text, "-") {
		return "(-inf" // before every member: none is below -2^53
	}
	return "(" + strconv.Itoa(maxScoreID) // after every member
}

// readList reads a cached list with its registry state, in one round trip:
// whole when k is 0, else at most k members from from (rangeStart). It
// returns the members but listPresent and whether the list is cached. A
// key of another type is removed and read as a list not cached.
func (r Reader[T, ID]) readList(ctx context.Context, def listSpace, key, from string, k int) ([]string, bool, error) {
	c := r.cache
	// The list's state is read with it: a version without the list that
	// registered since this generation was read stops it being served now,
	// before that version's first write (see versions.go).
	rctx, cancel := c.readCtx(ctx)
	pipe := c.rdb.Pipeline()
	state := pipe.HGet(rctx, c.registryKey(r.schema.Type), listState(def.def))
	var mark *redis.FloatCmd
	var list *redis.StringSliceCmd
	switch {
	case k == 0:
		list = pipe.ZRange(rctx, key, 0, -1)
	case r.schema.IDKind == IntID:
		mark = pipe.ZScore(rctx, key, listPresent)
		list = pipe.ZRangeByScore(rctx, key, &redis.ZRangeBy{Min: from, Max: "+inf", Count: int64(k)})
	default:
		mark = pipe.ZScore(rctx, key, listPresent)
		list = pipe.ZRangeByLex(rctx, key, &redis.ZRangeBy{Min: from, Max: "+", Count: int64(k)})
	}
	_, _ = pipe.Exec(rctx)
	cancel()
	members, err := list.Result()
	present := false
	if err == nil && mark != nil {
		err = mark.Err()
		present = err == nil
		if errors.Is(err, redis.Nil) {
			err = nil
		}
	}
	if isWrongType(err) {
		// Not a list the cache wrote: remove it and fill it again.
		c.removeForeign(ctx, []string{key})
		members, present, err = nil, false, nil
	}
	if err == nil {
		if err = state.Err(); errors.Is(err, redis.Nil) || isWrongType(err) {
			err = nil // no state: not served (the registry is read again below)
		}
	}
	if err != nil {
		return nil, false, err
	}
	if !def.servable(state.Val()) {
		// The registry moved on: read it again before the next use.
		c.versionsDue(r.schema.Type)
		return nil, false, errNotServed
	}
	if k == 0 {
		if i := slices.Index(members, listPresent); i >= 0 {
			present = true
			members = slices.Delete(members, i, i+1)
		}
	}
	return members, present, nil
}

// parseMembers returns the ids of a list's members, in their order,
// leaving out what no id encodes.
func (r Reader[T, ID]) parseMembers(members []string) []ID {
	ids := make([]ID, 0, len(members))
	for _, m := range members {
		if r.schema.IDKind != IntID {
			var ok bool
			if m, ok = strings.CutPrefix(m, "="); !ok {
				continue
			}
		}
		if id, err := r.schema.ParseID(m); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// collect reads the entities of ids (a list's, in the database's order)
// and returns those that hold want, by id: with a limit, the first limit
// of them, read a few more than limit at a time.
func (r Reader[T, ID]) collect(ctx context.Context, d string, l Lookup[T, ID], want string, order func(a, b ID) int, ids []ID, limit int) ([]T, error) {
	// One row may be a member under two ids the database finds equal.
	seen := make(map[string]bool, len(ids))
	uniq := ids[:0:0]
	for _, id := range ids {
		if t := r.schema.idText(d, id); !seen[t] {
			seen[t] = true
			uniq = append(uniq, id)
		}
	}
	step := len(uniq)
	if limit > 0 {
		step = pageSize(limit)
	}
	out := []T{} // never nil, as the database's
	for len(uniq) > 0 && (limit == 0 || len(out) < limit) {
		chunk := uniq[:min(step, len(uniq))]
		uniq = uniq[len(chunk):]
		rows, err := r.GetMany(ctx, chunk...)
		if err != nil {
			return nil, err
		}
		for _, v := range rows {
			if r.matches(d, l.Index, want, v) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b T) int { return order(r.schema.ID(a), r.schema.ID(b)) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// fromDB reads a page of a list from the database.
func (r Reader[T, ID]) fromDB(ctx context.Context, l Lookup[T, ID], after *ID, limit int) ([]T, error) {
	if after == nil && limit == 0 {
		return l.Query(ctx)
	}
	if l.Page != nil {
		return l.Page(ctx, after, limit)
	}
	// A hand-written lookup without Page: its rows, paged here.
	rows, err := l.Query(ctx)
	if err != nil {
		return nil, err
	}
	if after != nil {
		cmp := r.schema.CompareID
		if cmp == nil || r.schema.IDKind != IntID {
			cmp = func(a, b ID) int { return strings.Compare(r.schema.FormatID(a), r.schema.FormatID(b)) }
		}
		rows = slices.DeleteFunc(rows, func(v T) bool { return cmp(r.schema.ID(v), *after) <= 0 })
	}
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	return rows, nil
}

// fillList reads a list's ids from the database under a fill lease, and
// stores the list unless one of its ids has no exact score.
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
	args := make([]any, 0, 2*len(ids)+3)
	args = append(args, tokens[0], listPresentScore(r.schema.IDKind), listPresent)
	script := listFillScript
	for _, id := range ids {
		m, score, ok := r.schema.listEntry(id)
		if !ok {
			script, args = releaseScript, args[:1]
			break
		}
		args = append(args, score, m)
	}
	wctx := context.WithoutCancel(ctx)
	cmds, err := c.runScripts(wctx, 1, func(pipe redis.Pipeliner, _ int) *redis.Cmd {
		return script.EvalSha(wctx, pipe, []string{key, lease(key)}, args...)
	})
	if err != nil {
		c.fail(ctx, "fill list", err)
	} else if n, _ := cmds[0].Int(); n == 1 && script == listFillScript {
		c.stats.fills.Add(1)
	}
	return ids, nil
}
