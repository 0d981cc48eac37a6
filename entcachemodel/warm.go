package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

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
if keytype(KEYS[1]) == 'zset' and redis.call('ZSCORE', KEYS[1], '#') then return 2 end
if n > 0 then return 0 end
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], exp, '~', ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`)

// warmLeasesScript is warmLeaseScript on many keys at once, for a server
// that is not a cluster (whose scripts cannot reach keys of other slots).
// KEYS: data and lease keys, in pairs; ARGV: lease ms, then a token per
// pair. Returns warmLeaseScript's answer for each pair.
var warmLeasesScript = redis.NewScript(`
local t = redis.call('TIME')
local exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local r = -1
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    local v = redis.pcall('GET', KEYS[i])
    if type(v) == 'string' then
      r = v
    elseif v == false then
      local tok = ARGV[(i + 1) / 2 + 1]
      redis.call('HSET', KEYS[i + 1], tok, exp, '~', tok)
      redis.call('PEXPIREAT', KEYS[i + 1], exp)
      r = 1
    end
  end
  out[#out + 1] = r
end
return out
`)

// warmSetsScript is warmSetScript on many keys at once (see
// warmLeasesScript). KEYS: data and lease keys, in pairs; ARGV: a token and
// a value per pair. Returns warmSetScript's answer for each pair.
var warmSetsScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS, 2 do
  local tok, r = ARGV[i], -1
  local kv = redis.pcall('HGETALL', KEYS[i + 1])
  if not kv.err and #kv == 4 then
    local mine, latest
    for j = 1, 3, 2 do
      if kv[j] == '~' then latest = kv[j + 1] elseif kv[j] == tok then mine = tonumber(kv[j + 1]) end
    end
    if latest == tok and mine and mine > now then
      redis.call('DEL', KEYS[i + 1])
      redis.call('SET', KEYS[i], ARGV[i + 1])
      r = 1
    end
  end
  out[#out + 1] = r
end
return out
`)

func init() {
	allScripts = append(allScripts, warmLeaseScript, warmSetScript, listLeaseScript, warmLeasesScript, warmSetsScript)
}

// keysPerScript is how many keys one script of warmLeasesScript or
// warmSetsScript handles: a script blocks the server while it runs.
const keysPerScript = 100

// batched reports whether scripts may work on many keys at once: on a
// client of one server (not a cluster, nor a ring of shards).
func batched(c *Cache) bool {
	_, one := c.rdb.(*redis.Client)
	return one
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
	w.batch.Store(batched(c))
	r := newRun(rc, s.Type, total)
	// A page's second round trip (its stores) runs while the next page is
	// read, unless the run is throttled; its result is taken, and the page
	// reported, before the next page's stores start.
	type stored struct {
		done warmed
		err  error
		rows int
		last ID
		page *warmPage[T, ID]
	}
	var inflight chan stored
	finish := func() error {
		if inflight == nil {
			return nil
		}
		res := <-inflight
		inflight = nil
		if res.err != nil {
			return runError(ctx, "warm", s.Type, rep.Cursor, "storing the page", res.err)
		}
		res.done.add(&rep)
		rep.Rows += res.rows
		rep.Cursor = s.FormatID(res.last)
		return r.page(ctx, rep.Rows, rep.Cursor, res.rows)
	}
	start := func(res stored) {
		ch := make(chan stored, 1)
		inflight = ch
		go func() {
			res.done, res.err = res.page.store(context.WithoutCancel(ctx))
			ch <- res
		}()
	}
	for {
		if err := ctx.Err(); err != nil {
			if ferr := finish(); ferr != nil && !errors.Is(ferr, err) {
				return rep, ferr
			}
			return rep, err
		}
		k := s.runKeys(ctx, c)
		if !k.trusted {
			if err := finish(); err != nil {
				return rep, err
			}
			return untrusted()
		}
		keys, err := src.Keys(ctx, after, rc.batch)
		if err == nil && len(keys) == 0 {
			return rep, finish()
		}
		var page *warmPage[T, ID]
		if err == nil {
			page, err = w.page(ctx, k, after, keys)
		}
		// The page before is done (or failed) first: it comes first.
		if ferr := finish(); ferr != nil {
			if page != nil {
				page.release(ctx)
			}
			return rep, ferr
		}
		if err != nil {
			return rep, runError(ctx, "warm", s.Type, rep.Cursor, "warming the page", err)
		}
		if err := ctx.Err(); err != nil {
			page.release(ctx) // cancelled while the page before was reported
			return rep, err
		}
		last := s.ID(keys[len(keys)-1])
		after = &last
		res := stored{rows: len(keys), last: last, page: page}
		if rc.rate > 0 {
			inflight = make(chan stored, 1)
			res.done, res.err = page.store(context.WithoutCancel(ctx))
			inflight <- res
			if err := finish(); err != nil {
				return rep, err
			}
		} else {
			start(res)
		}
		if len(keys) < rc.batch {
			return rep, finish()
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
	batch atomic.Bool // a script may work on many keys (see batched)
}

// warmList is a list a page holds rows of.
type warmList[T any] struct {
	idx     *Index[T]
	key     string
	token   string
	sample  T
	members []any // score and member pairs
	big     bool  // a member no score holds exactly: not stored
}

// warmed is what a page did.
type warmed struct {
	published, skipped, cached, entries, lists int
}

// add adds what a page did to rep.
func (d warmed) add(rep *WarmReport) {
	rep.Published += d.published
	rep.Skipped += d.skipped
	rep.Cached += d.cached
	rep.Entries += d.entries
	rep.Lists += d.lists
}

// page warms the rows of keys (their ids and listed fields), the page after
// the id after, and the lists they are in. It takes the leases and reads
// the database, and returns the step that stores what it read (the second
// round trip), which may run while the next page is read.
func (w *warmer[T, ID]) page(ctx context.Context, k runKeys, after *ID, keys []T) (*warmPage[T, ID], error) {
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
	answers, err := w.rows(ctx, n, func(pipe redis.Pipeliner, rows []int) *redis.Cmd {
		if len(rows) == 1 {
			i := rows[0]
			return warmLeaseScript.EvalSha(ctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], lm)
		}
		ks, args := make([]string, 0, 2*len(rows)), make([]any, 0, 1+len(rows))
		args = append(args, lm)
		for _, i := range rows {
			ks, args = append(ks, rowKeys[i], lease(rowKeys[i])), append(args, tokens[i])
		}
		return warmLeasesScript.EvalSha(ctx, pipe, ks, args...)
	}, len(lists), func(pipe redis.Pipeliner, j int) *redis.Cmd {
		l := lists[j]
		return listLeaseScript.EvalSha(ctx, pipe, []string{l.key, lease(l.key)}, l.token, lm)
	})
	if err != nil {
		return nil, err
	}
	held := make([]bool, n)
	var present []T // rows already cached, as cached
	skipped, cachedRows := 0, 0
	take := func(i int, answer any) (again bool) {
		switch v := answer.(type) {
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
		if take(i, answers.row[i]) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		more, err := w.pipes.run(ctx, len(again), func(pipe redis.Pipeliner, j int) *redis.Cmd {
			i := again[j]
			return leaseScript.EvalSha(ctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], lm, "get")
		})
		if err != nil {
			return nil, err
		}
		for j, i := range again {
			take(i, more[j].Val())
		}
	}
	granted := lists[:0:0]
	for j, l := range lists {
		if v, _ := answers.other[j].Int(); v == 1 {
			granted = append(granted, l)
		}
	}

	// The database, after the leases: the rows leased (the page's range
	// when they are most of it, as a keyset query costs less than one by
	// ids), and the members of the lists leased.
	var ids []ID
	for i, h := range held {
		if h {
			ids = append(ids, s.ID(keys[i]))
		}
	}
	var rows []T
	switch {
	case len(ids) == 0:
	case 2*len(ids) >= n:
		rows, err = w.src.Range(ctx, after, s.ID(keys[n-1]), 2*n)
	default:
		rows, err = inChunks(ctx, ids, w.src.Load)
	}
	if err == nil {
		err = w.members(ctx, k, granted)
	}
	if err != nil {
		w.release(ctx, rowKeys, tokens, held, granted)
		return nil, err
	}
	found := make(map[string]T, len(rows))
	for _, v := range rows {
		found[s.idText(d, s.ID(v))] = v
	}

	return &warmPage[T, ID]{w: w, k: k, rowKeys: rowKeys, tokens: tokens, texts: texts, held: held,
		found: found, present: present, granted: granted, done: warmed{skipped: skipped, cached: cachedRows}}, nil
}

// warmPage is a page read under its leases, waiting for its stores.
type warmPage[T any, ID comparable] struct {
	w                      *warmer[T, ID]
	k                      runKeys
	rowKeys, tokens, texts []string
	held                   []bool
	found                  map[string]T // the rows read, by key text
	present                []T          // the rows cached already
	granted                []*warmList[T]
	done                   warmed
}

// release ends the page's leases, storing nothing.
func (p *warmPage[T, ID]) release(ctx context.Context) {
	p.w.release(ctx, p.rowKeys, p.tokens, p.held, p.granted)
}

// store is a page's second round trip: it stores the rows whose lease
// still holds, the unique entries that are missing, and the lists.
func (p *warmPage[T, ID]) store(ctx context.Context) (warmed, error) {
	w, s, d, k := p.w, p.w.s, p.w.d, p.k
	rowKeys, tokens, held, found, present, granted := p.rowKeys, p.tokens, p.held, p.found, p.present, p.granted
	texts, done := p.texts, p.done
	n := len(rowKeys)
	skipped := done.skipped
	values := make([][]byte, n) // nil: the row is gone, end its lease
	var stores []int
	var entries [][2]string // key, id
	addEntries := func(v T) {
		for _, idx := range s.Indexes {
			if !idx.Unique {
				continue
			}
			if ik, ok := idx.Key(v); ok {
				entries = append(entries, [2]string{k.unique(idx.Name, s.indexKey(d, idx, ik)), s.FormatID(s.ID(v))})
			}
		}
	}
	var gone []int
	for i, h := range held {
		if !h {
			continue
		}
		v, ok := found[texts[i]]
		if !ok {
			gone = append(gone, i) // deleted since
			continue
		}
		values[i] = s.encode(v)
		stores = append(stores, i)
		addEntries(v)
	}
	for _, v := range present {
		addEntries(v)
	}
	extra := len(gone) + len(entries) + len(granted)
	wctx := context.WithoutCancel(ctx)
	stored, err := w.batches(wctx, stores, func(pipe redis.Pipeliner, rows []int) *redis.Cmd {
		if len(rows) == 1 {
			i := rows[0]
			return warmSetScript.EvalSha(wctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], values[i])
		}
		ks, args := make([]string, 0, 2*len(rows)), make([]any, 0, 2*len(rows))
		for _, i := range rows {
			ks, args = append(ks, rowKeys[i], lease(rowKeys[i])), append(args, tokens[i], values[i])
		}
		return warmSetsScript.EvalSha(wctx, pipe, ks, args...)
	}, extra, func(pipe redis.Pipeliner, j int) *redis.Cmd {
		switch {
		case j < len(gone):
			i := gone[j]
			return releaseScript.EvalSha(wctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i])
		case j < len(gone)+len(entries):
			e := entries[j-len(gone)]
			return pipe.Do(wctx, "SET", e[0], e[1], "NX")
		}
		l := granted[j-len(gone)-len(entries)]
		if l.big {
			return releaseScript.EvalSha(wctx, pipe, []string{l.key, lease(l.key)}, l.token)
		}
		args := append([]any{l.token, listPresentScore(s.IDKind), listPresent}, l.members...)
		return listFillScript.EvalSha(wctx, pipe, []string{l.key, lease(l.key)}, args...)
	})
	if err != nil {
		return warmed{}, err
	}
	published, entered, filled := 0, 0, 0
	var fallback []int
	for j, i := range stores {
		switch n, _ := stored.row[j].(int64); n {
		case 1:
			published++
		case -1:
			fallback = append(fallback, i)
		default:
			skipped++
		}
	}
	skipped += len(gone)
	for j := range entries {
		if stored.other[len(gone)+j].Val() == "OK" {
			entered++
		}
	}
	for j, l := range granted {
		// A big list's lease was only released: it is not filled.
		if n, _ := stored.other[len(gone)+len(entries)+j].Int(); n == 1 && !l.big {
			filled++
		}
	}
	if len(fallback) > 0 {
		more, err := w.pipes.run(wctx, len(fallback), func(pipe redis.Pipeliner, j int) *redis.Cmd {
			i := fallback[j]
			return setScript.EvalSha(wctx, pipe, []string{rowKeys[i], lease(rowKeys[i])}, tokens[i], values[i], "fill")
		})
		if err != nil {
			return warmed{}, err
		}
		for _, cmd := range more {
			if n, _ := cmd.Int(); n == 1 {
				published++
			} else {
				skipped++ // a write marked the key since Warm read the row
			}
		}
	}
	return warmed{published: published, skipped: skipped, cached: done.cached, entries: entered, lists: filled}, nil
}

// answers are the results of a round trip of per-row scripts and other
// commands: one per row, then one Cmd per other command.
type answers struct {
	row   []any
	other []*redis.Cmd
}

// rows runs, in one round trip when the pipeline allows, scripts on the
// rows 0..n-1 and more other commands. On one server a script handles up
// to keysPerScript rows, and answers with a list; elsewhere, and for a row
// alone, script is asked for the script of one row, whose Cmd's value is
// the row's answer.
func (w *warmer[T, ID]) rows(ctx context.Context, n int, script func(redis.Pipeliner, []int) *redis.Cmd, more int, other func(redis.Pipeliner, int) *redis.Cmd) (answers, error) {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return w.batches(ctx, all, script, more, other)
}

// batches is rows on the rows named.
func (w *warmer[T, ID]) batches(ctx context.Context, rows []int, script func(redis.Pipeliner, []int) *redis.Cmd, more int, other func(redis.Pipeliner, int) *redis.Cmd) (answers, error) {
	per := 1
	if w.batch.Load() {
		per = keysPerScript
	}
	var groups [][]int
	for start := 0; start < len(rows); start += per {
		groups = append(groups, rows[start:min(len(rows), start+per)])
	}
	cmds, err := w.pipes.run(ctx, len(groups)+more, func(pipe redis.Pipeliner, i int) *redis.Cmd {
		if i < len(groups) {
			return script(pipe, groups[i])
		}
		return other(pipe, i-len(groups))
	})
	if err != nil {
		return answers{}, err
	}
	out := answers{row: make([]any, 0, len(rows)), other: cmds[len(groups):]}
	for g, group := range groups {
		if len(group) == 1 {
			out.row = append(out.row, cmds[g].Val()) // the script of one key
			continue
		}
		vals, err := cmds[g].Slice()
		if err != nil || len(vals) != len(group) {
			if per > 1 && err != nil && !isWrongType(err) {
				// Not a server whose scripts reach every key (a proxy
				// of a cluster): one script per key from now on.
				w.batch.Store(false)
				return w.batches(ctx, rows, script, more, other)
			}
			vals = make([]any, len(group))
		}
		out.row = append(out.row, vals...)
	}
	return out, nil
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
				m, sc, ok := s.listEntry(s.ID(v))
				l.members, l.big = append(l.members, sc, m), l.big || !ok
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
