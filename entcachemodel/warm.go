package entcachemodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Warm publishes a table's existing rows ahead of traffic. It pages
// through the table by id (keyset pagination) and fills each page as a
// read that misses does (see Reader.fill): it takes a fill lease on every
// row key, reads the rows, and stores each only if its lease still holds,
// so that a write that marks or publishes a row after Warm read it wins.
// Rows already cached are left as they are. Unique entries of the rows
// are stored where none is (an entry only names an id: reads check the
// row it names). A list is stored only when none is, whole: its members
// are read from the database under the list's own lease.
//
// A page costs two Redis round trips on a server fast enough for a whole
// page in one pipeline, and three database queries at most (the page's
// ids, its rows, and the members of the lists it is the first to hold).

// warmLeaseScript: ARGV token, lease ms. leaseScript with the value check
// ("get"), for the states a cold key is in: with no lease key, it returns
// the value itself, or takes a fill lease (1) when there is none. In any
// other state it changes nothing and returns -1: the caller then asks
// leaseScript.
var warmLeaseScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'string' then return v end
if v ~= false then return -1 end
local t = redis.call('TIME')
local exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], exp, '~', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`)

// warmSetScript: ARGV token, value. setScript's fill, for the state a
// lease taken on a cold key leaves while nothing else happens to it: the
// token is the only one, the latest, and has not run out. It stores the
// value and ends the lease (1). In any other state it changes nothing and
// returns -1: the caller then asks setScript.
var warmSetScript = redis.NewScript(`
local kv = redis.pcall('HGETALL', KEYS[2])
if kv.err or #kv ~= 4 then return -1 end
local mine, latest
for i = 1, 3, 2 do
  if kv[i] == '~' then latest = kv[i + 1] elseif kv[i] == ARGV[1] then mine = tonumber(kv[i + 1]) end
end
if latest ~= ARGV[1] or not mine then return -1 end
local t = redis.call('TIME')
if mine <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then return -1 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// listLeaseScript: ARGV token, lease ms. Takes a fill lease on a list
// that is not cached (1); returns 2 when the list is cached (writers keep
// it complete), 0 when another reader or a writer holds it.
var listLeaseScript = redis.NewScript(scriptPrelude + `
local n = scan('')
if crashed then redis.call('DEL', KEYS[1]) end
if keytype(KEYS[1]) == 'set' and redis.call('SISMEMBER', KEYS[1], '#') == 1 then return 2 end
if n > 0 then return 0 end
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], exp, '~', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`)

func init() {
	allScripts = append(allScripts, warmLeaseScript, warmSetScript, listLeaseScript)
}

// Warm publishes the rows of the type's table that are not cached yet (see
// the top of this file). It returns what it did, and the cursor reached,
// also with an error: a run cancelled through ctx returns ctx.Err(), and
// StartAfter(rep.Cursor) goes on from there. A Redis or database failure
// ends the run at once (every Redis round trip is bounded by the timeout).
// While the type's schema version is not trusted it publishes nothing and
// returns ErrUntrusted.
func (s *Schema[T, ID]) Warm(ctx context.Context, c *Cache, src Source[T, ID], opts ...RunOption) (WarmReport, error) {
	rc := newRunConfig(opts)
	rep := WarmReport{Type: s.Type, Cursor: rc.startAfter}
	if !c.Enabled() {
		return rep, fmt.Errorf("entcachemodel: warm %s: %w", s.Type, ErrNoCache)
	}
	after, err := s.cursor(rc.startAfter)
	if err != nil {
		return rep, err
	}
	untrusted := func() (WarmReport, error) {
		rep.Untrusted = true
		return rep, fmt.Errorf("entcachemodel: warm %s: %w", s.Type, ErrUntrusted)
	}
	if !s.runKeys(ctx, c).trusted {
		return untrusted()
	}
	total, err := src.Count(ctx)
	if err != nil {
		return rep, runError(ctx, "warm", s.Type, rep.Cursor, "counting the rows", err)
	}
	lists, err := s.listsServed(ctx, c, src.DB)
	if err != nil {
		return rep, runError(ctx, "warm", s.Type, rep.Cursor, "asking how the database orders ids", err)
	}
	w := &warmer[T, ID]{s: s, c: c, src: src, d: src.DB.Dialect(), lists: lists, pipes: newPipes(c)}
	r := newRun(rc, s.Type, total)
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		k := s.runKeys(ctx, c)
		if !k.trusted {
			return untrusted()
		}
		keys, err := src.Keys(ctx, after, rc.batch)
		if err != nil {
			return rep, runError(ctx, "warm", s.Type, rep.Cursor, "reading the page", err)
		}
		if len(keys) == 0 {
			return rep, nil
		}
		if err := w.page(ctx, k, keys, &rep); err != nil {
			return rep, runError(ctx, "warm", s.Type, rep.Cursor, "warming the page", err)
		}
		last := s.ID(keys[len(keys)-1])
		after = &last
		rep.Rows += len(keys)
		rep.Cursor = s.FormatID(last)
		if err := r.page(ctx, rep.Rows, rep.Cursor, len(keys)); err != nil {
			return rep, err
		}
		if len(keys) < rc.batch {
			return rep, nil
		}
	}
}

// runError describes a failed step of a maintenance run; when the run's
// context ended, it is the context's error, as it is.
func runError(ctx context.Context, op, typ, cursor, step string, err error) error {
	if ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	return fmt.Errorf("entcachemodel: %s %s: %s after %q: %w", op, typ, step, cursor, err)
}

// warmer is one Warm run.
type warmer[T any, ID comparable] struct {
	s     *Schema[T, ID]
	c     *Cache
	src   Source[T, ID]
	d     string
	lists []*Index[T] // the lists reads serve from the cache
	pipes *pipes
}

// warmList is a list a page holds rows of.
type warmList[T any] struct {
	idx     *Index[T]
	key     string
	token   string
	sample  T
	members []any
}

// page warms the rows of keys (their ids and listed fields) and the lists
// they are in, and adds what it did to rep.
func (w *warmer[T, ID]) page(ctx context.Context, k runKeys, keys []T, rep *WarmReport) error {
	s, c, d := w.s, w.c, w.d
	n := len(keys)
	texts := make([]string, n)
	rowKeys := make([]string, n)
	tokens := make([]string, n)
	for i, v := range keys {
		texts[i] = s.idText(d, s.ID(v))
		rowKeys[i] = k.row(texts[i])
		tokens[i] = "r" + c.token()
	}
	var lists []*warmList[T]
	seen := map[string]bool{}
	for _, idx := range w.lists {
		for _, v := range keys {
			ik, ok := idx.Key(v)
			if !ok {
				continue
			}
			lk := k.list(idx.Name, s.indexKey(d, idx, ik))
			if lk != "" && !seen[lk] {
				seen[lk] = true
				lists = append(lists, &warmList[T]{idx: idx, key: lk, token: "r" + c.token(), sample: v})
			}
		}
	}

	// Round trip 1: a fill lease on every row key and every list not cached.
	lm := c.leaseMillis()
	cmds, err := w.pipes.run(ctx, n+len(lists), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		if i < n {
			return warmLeaseScript.EvalSha(ctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], lm)
		}
		l := lists[i-n]
		return listLeaseScript.EvalSha(ctx, pipe, []string{l.key, lease(l.key)}, l.token, lm)
	})
	if err != nil {
		return err
	}
	held := make([]bool, n)
	var present []T // rows already cached, as cached
	skipped, cachedRows := 0, 0
	take := func(i int, cmd *redis.Cmd) (again bool) {
		switch v := cmd.Val().(type) {
		case string:
			cachedRows++
			if e, ok := s.decode([]byte(v)); ok && s.idText(d, s.ID(e)) == texts[i] {
				present = append(present, e)
			}
		case int64:
			switch v {
			case 1:
				held[i] = true
			case -1:
				return true
			default:
				skipped++ // a writer or another reader holds the key
			}
		default:
			skipped++
		}
		return false
	}
	var again []int
	for i := 0; i < n; i++ {
		if take(i, cmds[i]) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		more, err := w.pipes.run(ctx, len(again), func(pipe redis.Pipeliner, j int) *redis.Cmd {
			i := again[j]
			return leaseScript.EvalSha(ctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], lm, "get")
		})
		if err != nil {
			return err
		}
		for j, i := range again {
			take(i, more[j])
		}
	}
	granted := lists[:0:0]
	for j, l := range lists {
		if v, _ := cmds[n+j].Int(); v == 1 {
			granted = append(granted, l)
		}
	}

	// The database, after the leases: the rows leased, and the members of
	// the lists leased.
	var ids []ID
	for i, h := range held {
		if h {
			ids = append(ids, s.ID(keys[i]))
		}
	}
	rows, err := inChunks(ctx, ids, w.src.Load)
	if err == nil {
		err = w.members(ctx, k, granted)
	}
	if err != nil {
		w.release(ctx, rowKeys, tokens, held, granted)
		return err
	}
	found := make(map[string]T, len(rows))
	for _, v := range rows {
		found[s.idText(d, s.ID(v))] = v
	}

	// Round trip 2: store the rows whose lease still holds, the unique
	// entries that are missing, and the lists.
	type op struct {
		i     int    // the row, -1 for none
		key   string // entries
		id    string
		value []byte
		list  *warmList[T]
	}
	var ops []op
	entries := func(v T) {
		for _, idx := range s.Indexes {
			if !idx.Unique {
				continue
			}
			if ik, ok := idx.Key(v); ok {
				ops = append(ops, op{i: -1, key: k.unique(idx.Name, s.indexKey(d, idx, ik)), id: s.FormatID(s.ID(v))})
			}
		}
	}
	for i, h := range held {
		if !h {
			continue
		}
		v, ok := found[texts[i]]
		if !ok {
			ops = append(ops, op{i: i}) // deleted since: end the lease
			continue
		}
		ops = append(ops, op{i: i, value: s.encode(v)})
		entries(v)
	}
	for _, v := range present {
		entries(v)
	}
	for _, l := range granted {
		ops = append(ops, op{i: -1, list: l})
	}
	wctx := context.WithoutCancel(ctx)
	build := func(pipe redis.Pipeliner, o op, fallback bool) *redis.Cmd {
		switch {
		case o.list != nil:
			args := append([]any{o.list.token, listPresent}, o.list.members...)
			return listFillScript.EvalSha(wctx, pipe, []string{o.list.key, lease(o.list.key)}, args...)
		case o.i < 0:
			return pipe.Do(wctx, "SET", o.key, o.id, "NX")
		case o.value == nil:
			return releaseScript.EvalSha(wctx, pipe, []string{rowKeys[o.i], lease(rowKeys[o.i])}, tokens[o.i])
		case fallback:
			return setScript.EvalSha(wctx, pipe, []string{rowKeys[o.i], lease(rowKeys[o.i])}, tokens[o.i], o.value, "fill")
		}
		return warmSetScript.EvalSha(wctx, pipe, []string{rowKeys[o.i], lease(rowKeys[o.i])}, tokens[o.i], o.value)
	}
	cmds, err = w.pipes.run(wctx, len(ops), func(pipe redis.Pipeliner, j int) *redis.Cmd { return build(pipe, ops[j], false) })
	if err != nil {
		return err
	}
	published, stored, filled := 0, 0, 0
	var fallback []op
	for j, o := range ops {
		switch n, _ := cmds[j].Int(); {
		case o.list != nil:
			if n == 1 {
				filled++
			}
		case o.i < 0:
			if cmds[j].Val() == "OK" {
				stored++
			}
		case o.value == nil:
			skipped++
		case n == 1:
			published++
		case n == -1:
			fallback = append(fallback, o)
		default:
			skipped++
		}
	}
	if len(fallback) > 0 {
		more, err := w.pipes.run(wctx, len(fallback), func(pipe redis.Pipeliner, j int) *redis.Cmd { return build(pipe, fallback[j], true) })
		if err != nil {
			return err
		}
		for _, cmd := range more {
			if n, _ := cmd.Int(); n == 1 {
				published++
			} else {
				skipped++ // a write marked the key since Warm read the row
			}
		}
	}
	rep.Published += published
	rep.Skipped += skipped
	rep.Cached += cachedRows
	rep.Entries += stored
	rep.Lists += filled
	return nil
}

// members reads the ids of the lists leased, whole: every row that holds
// a list's values, in as few queries as the statements' parameters allow.
func (w *warmer[T, ID]) members(ctx context.Context, k runKeys, lists []*warmList[T]) error {
	s, d := w.s, w.d
	byIndex := map[*Index[T]][]*warmList[T]{}
	var order []*Index[T]
	for _, l := range lists {
		if _, ok := byIndex[l.idx]; !ok {
			order = append(order, l.idx)
		}
		byIndex[l.idx] = append(byIndex[l.idx], l)
	}
	for _, idx := range order {
		ls := byIndex[idx]
		byKey := make(map[string]*warmList[T], len(ls))
		samples := make([]T, len(ls))
		for i, l := range ls {
			byKey[l.key] = l
			samples[i] = l.sample
		}
		rows, err := inChunks(ctx, samples, func(ctx context.Context, vs []T) ([]T, error) { return w.src.Members(ctx, idx, vs) })
		if err != nil {
			return err
		}
		for _, v := range rows {
			ik, ok := idx.Key(v)
			if !ok {
				continue
			}
			if l, ok := byKey[k.list(idx.Name, s.indexKey(d, idx, ik))]; ok {
				l.members = append(l.members, listMember(s.FormatID(s.ID(v))))
			}
		}
	}
	return nil
}

// release ends the leases of a page that cannot go on.
func (w *warmer[T, ID]) release(ctx context.Context, rowKeys, tokens []string, held []bool, lists []*warmList[T]) {
	var keys, toks []string
	for i, h := range held {
		if h {
			keys, toks = append(keys, rowKeys[i]), append(toks, tokens[i])
		}
	}
	for _, l := range lists {
		keys, toks = append(keys, l.key), append(toks, l.token)
	}
	if err := w.c.release(ctx, keys, toks); err != nil {
		w.c.fail(ctx, "release", err) // the leases run out by themselves
	}
}
