package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Verify compares the cache with the database, in two passes:
//
//   - The table, by id (keyset pagination): each row's cached value must be
//     the row as the database holds it, byte for byte as Encode writes it,
//     and each cached list of the row's values must hold the row.
//   - The cache, by SCAN of every master: a cached row the database does
//     not hold is an orphan.
//
// An old unique entry or list member that names a row no longer holding
// the value is harmless (reads check the row they read) and is not a
// divergence. An entry or list member that names a row whose stale cached
// value still holds the value answers the lookup wrongly: it is counted in
// BadIndex beside the stale row (removing the row repairs both).
//
// A difference found is checked again before it counts, under the fill
// protocol: Verify takes a fill lease on the key (granted only while no
// writer's mark and no other lease is outstanding), reads the database,
// and looks at the key in a script that also tells whether the lease
// still holds, so that no write was marked in between. A write in flight
// is thus never reported; a key that writes keep marked for two leases is
// counted as unsettled. With Repair, the same script removes the key
// (refusing pending fills) when the difference is confirmed.

// verifyRowScript: ARGV token, expected value, mode, absent. Ends the
// token and, if it held (it was the latest and no mark ran out), looks at
// the value. Mode "hold" only reports whether it held: {1} or {0}. Modes
// "check" and "repair" compare the value with the expected one (with
// absent "1", with no row: any value differs): {1, "same"}, or
// {1, "diff", type, value} when there is a value and it differs, which
// "repair" then removes.
var verifyRowScript = redis.NewScript(scriptPrelude + `
local n, maxexp, held = scan(ARGV[1])
local latest = redis.call('HGET', KEYS[2], '~') == ARGV[1]
if latest then redis.call('HDEL', KEYS[2], '~') end
redis.call('HDEL', KEYS[2], ARGV[1])
if not (held and latest and not crashed) then return {0} end
if ARGV[3] == 'hold' then return {1} end
local t = keytype(KEYS[1])
if t == 'none' then return {1, 'same'} end
local v = ''
if t == 'string' then
  v = redis.call('GET', KEYS[1])
  if ARGV[4] ~= '1' and v == ARGV[2] then return {1, 'same'} end
end
if ARGV[3] == 'repair' then redis.call('DEL', KEYS[1]) end
return {1, 'diff', t, v}
`)

// verifyListScript: ARGV token, mode, members... Ends the token and, if it
// held, returns {1} followed by the members a cached list lacks; "repair"
// then removes the list. Returns {0} when the token did not hold.
var verifyListScript = redis.NewScript(scriptPrelude + `
local n, maxexp, held = scan(ARGV[1])
local latest = redis.call('HGET', KEYS[2], '~') == ARGV[1]
if latest then redis.call('HDEL', KEYS[2], '~') end
redis.call('HDEL', KEYS[2], ARGV[1])
if not (held and latest and not crashed) then return {0} end
local out = {1}
if keytype(KEYS[1]) ~= 'zset' or not redis.call('ZSCORE', KEYS[1], '#') then return out end
for i = 3, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then out[#out + 1] = ARGV[i] end
end
if #out > 1 and ARGV[2] == 'repair' then redis.call('DEL', KEYS[1]) end
return out
`)

func init() {
	allScripts = append(allScripts, verifyRowScript, verifyListScript)
}

// Verify compares the cached rows, entries and lists of the type with the
// database (see the top of this file), and with Repair removes what
// differs. It returns what it found, and the cursor reached, also with an
// error: a run cancelled through ctx returns ctx.Err(), and
// StartAfter(rep.Cursor) goes on from there (the pass over the cache then
// runs again whole). A Redis or database failure ends the run at once.
func (s *Schema[T, ID]) Verify(ctx context.Context, c *Cache, src Source[T, ID], opts ...RunOption) (VerifyReport, error) {
	rc := newRunConfig(opts)
	rep := VerifyReport{Type: s.Type, Cursor: rc.startAfter}
	if !c.Enabled() {
		return rep, fmt.Errorf("entcachemodel: verify %s: %w", s.Type, ErrNoCache)
	}
	after, err := s.cursor(rc.startAfter)
	if err != nil {
		return rep, err
	}
	total, err := src.Count(ctx)
	if err != nil {
		return rep, runError(ctx, "verify", s.Type, rep.Cursor, "counting the rows", err)
	}
	lists, err := s.listsServed(ctx, c, src.DB)
	if err != nil {
		return rep, runError(ctx, "verify", s.Type, rep.Cursor, "asking how the database orders ids", err)
	}
	v := &verifier[T, ID]{s: s, c: c, src: src, d: src.DB.Dialect(), lists: lists, rc: rc, rep: &rep, pipes: newPipes(c)}
	r := newRun(rc, s.Type, total)
	read := 0
	// A page's comparison (Redis only) runs while the next page is read;
	// its differences are rechecked, and the page reported, after.
	type compared struct {
		cands []candidate[T, ID]
		err   error
		k     runKeys
		rows  int
		last  ID
	}
	var inflight chan compared
	finish := func() error {
		if inflight == nil {
			return nil
		}
		res := <-inflight
		inflight = nil
		if res.err == nil {
			res.err = v.settle(ctx, res.k, res.cands)
		}
		if res.err != nil {
			return runError(ctx, "verify", s.Type, rep.Cursor, "comparing the page", res.err)
		}
		read += res.rows
		rep.Cursor = s.FormatID(res.last)
		return r.page(ctx, read, rep.Cursor, res.rows)
	}
	for {
		if err := ctx.Err(); err != nil {
			if ferr := finish(); ferr != nil && !errors.Is(ferr, err) {
				return rep, ferr
			}
			return rep, err
		}
		k := s.runKeys(ctx, c)
		rows, err := src.Rows(ctx, after, rc.batch)
		if ferr := finish(); ferr != nil {
			return rep, ferr
		}
		if err != nil {
			return rep, runError(ctx, "verify", s.Type, rep.Cursor, "reading the page", err)
		}
		if len(rows) == 0 || ctx.Err() != nil {
			break
		}
		rep.Untrusted = rep.Untrusted || !k.trusted
		last := s.ID(rows[len(rows)-1])
		after = &last
		ch := make(chan compared, 1)
		inflight = ch
		go func() {
			cands, err := v.page(ctx, k, rows)
			ch <- compared{cands: cands, err: err, k: k, rows: len(rows), last: last}
		}()
		if len(rows) < rc.batch {
			break
		}
	}
	if err := finish(); err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	k := s.runKeys(ctx, c)
	err = v.orphans(ctx, k, func(keys int) error { return r.page(ctx, read, rep.Cursor, keys) })
	if err != nil {
		return rep, runError(ctx, "verify", s.Type, rep.Cursor, "scanning the cache", err)
	}
	return rep, nil
}

// verifier is one Verify run.
type verifier[T any, ID comparable] struct {
	s     *Schema[T, ID]
	c     *Cache
	src   Source[T, ID]
	d     string
	lists []*Index[T]
	rc    runConfig
	rep   *VerifyReport
	pipes *pipes
}

// sampled reports whether to check one more row or key.
func (v *verifier[T, ID]) sampled() bool { return v.rc.sample >= 1 || rand.Float64() < v.rc.sample }

// diverged records a divergence.
func (v *verifier[T, ID]) diverged(key, kind, cached, database string, repaired bool) {
	rep := v.rep
	switch kind {
	case "stale":
		rep.Stale++
	case "orphan":
		rep.Orphans++
	default:
		rep.BadIndex++
	}
	if repaired {
		rep.Repaired++
	}
	if len(rep.Divergences) < maxDivergences {
		rep.Divergences = append(rep.Divergences, Divergence{Key: key, Kind: kind, Cached: cached, Database: database})
	}
}

// candidate is a difference that waits for its recheck: a cached row
// (list nil), or a cached list that lacks the row.
type candidate[T any, ID comparable] struct {
	id     ID
	parsed bool // id holds the row's id (a key's id text may not parse)
	text   string
	rowKey string
	list   *Index[T]
	key    string // the list's key
	lkey   string // the list's key text (indexKey)
}

// page compares the rows of one page with the cache (a round trip, no
// database query), and returns the differences to recheck.
func (v *verifier[T, ID]) page(ctx context.Context, k runKeys, rows []T) ([]candidate[T, ID], error) {
	s, d := v.s, v.d
	// A probe asks a list of the page's rows whether it is cached, and
	// holds them: one command per list, whatever its rows.
	type probe struct {
		idx  *Index[T]
		key  string
		lkey string
		rows []int
	}
	var checked []T
	for _, r := range rows {
		if v.sampled() {
			checked = append(checked, r)
		}
	}
	n := len(checked)
	v.rep.Checked += n
	texts := make([]string, n)
	keys := make([]string, n)
	for i, r := range checked {
		texts[i] = s.idText(d, s.ID(r))
		keys[i] = k.row(texts[i])
	}
	var probes []*probe
	byKey := map[string]*probe{}
	for i, r := range checked {
		for _, idx := range v.lists {
			if ik, ok := idx.Key(r); ok {
				lk := s.indexKey(d, idx, ik)
				key := k.list(idx.Name, lk)
				if key == "" {
					continue // not served now: nothing to compare
				}
				p, ok := byKey[key]
				if !ok {
					p = &probe{idx: idx, key: key, lkey: lk}
					byKey[key] = p
					probes = append(probes, p)
				}
				p.rows = append(p.rows, i)
			}
		}
	}
	cmds, err := v.pipes.run(ctx, n+len(probes), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		if i < n {
			return pipe.Do(ctx, "GET", keys[i])
		}
		p := probes[i-n]
		args := make([]any, 0, 3+len(p.rows))
		args = append(args, "ZMSCORE", p.key, listPresent)
		for _, row := range p.rows {
			m, _, _ := s.listEntry(s.ID(checked[row]))
			args = append(args, m)
		}
		return pipe.Do(ctx, args...)
	})
	if err != nil {
		return nil, err
	}
	var cands []candidate[T, ID]
	var wrong []string
	for i, r := range checked {
		cmd := cmds[i]
		if isWrongType(cmd.Err()) {
			// No write of the cache puts anything but a value there.
			v.rep.Cached++
			wrong = append(wrong, keys[i])
			v.diverged(keys[i], "stale", "a key of another type", describe(r), v.rc.repair)
			continue
		}
		val, ok := cmd.Val().(string)
		if !ok {
			continue // not cached
		}
		v.rep.Cached++
		if val != string(s.encode(r)) {
			cands = append(cands, candidate[T, ID]{id: s.ID(r), parsed: true, text: texts[i], rowKey: keys[i]})
		}
	}
	for j, p := range probes {
		flags, _ := cmds[n+j].Slice()
		if len(flags) != 1+len(p.rows) || flags[0] == nil {
			continue // not cached (or not a sorted set: a miss for reads)
		}
		for m, row := range p.rows {
			if flags[1+m] == nil {
				r := checked[row]
				cands = append(cands, candidate[T, ID]{id: s.ID(r), parsed: true, text: texts[row], rowKey: keys[row], list: p.idx, key: p.key, lkey: p.lkey})
			}
		}
	}
	if v.rc.repair && len(wrong) > 0 {
		if _, err := v.pipes.run(context.WithoutCancel(ctx), len(wrong), func(pipe redis.Pipeliner, i int) *redis.Cmd {
			return removeScript.EvalSha(ctx, pipe, []string{wrong[i], lease(wrong[i])}, "")
		}); err != nil {
			return nil, err
		}
	}
	return cands, nil
}

// rowCheck is a confirmed difference of a cached row.
type rowCheck[T any] struct {
	key    string
	typ    string // the key's type
	value  string
	db     T
	inDB   bool
	cached T
	decode bool // cached holds the value, decoded
}

// settle rechecks candidates until each is confirmed or gone, and records
// the confirmed ones. A candidate whose keys stay held by writes for two
// leases is counted as unsettled.
func (v *verifier[T, ID]) settle(ctx context.Context, k runKeys, cands []candidate[T, ID]) error {
	if len(cands) == 0 {
		return nil
	}
	s, c, d := v.s, v.c, v.d
	deadline := time.Now().Add(2*c.lease + c.timeout)
	delay := 5 * time.Millisecond
	mode := "check"
	if v.rc.repair {
		mode = "repair"
	}
	lm := c.leaseMillis()
	// One candidate per difference (a SCAN may return a key twice).
	type what struct{ row, list string }
	once := map[what]bool{}
	uniq := cands[:0:0]
	for _, cd := range cands {
		w := what{cd.rowKey, cd.key}
		if !once[w] {
			once[w] = true
			uniq = append(uniq, cd)
		}
	}
	cands = uniq
	for len(cands) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Round trip 1: a lease on every key a candidate needs.
		var keys []string
		at := map[string]int{}
		need := func(key string) {
			if _, ok := at[key]; !ok {
				at[key] = len(keys)
				keys = append(keys, key)
			}
		}
		for _, cd := range cands {
			need(cd.rowKey)
			if cd.list != nil {
				need(cd.key)
			}
		}
		tokens := make([]string, len(keys))
		for i := range tokens {
			tokens[i] = "r" + c.token()
		}
		cmds, err := v.pipes.run(ctx, len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
			return leaseScript.EvalSha(ctx, pipe, []string{keys[i], lease(keys[i])}, tokens[i], lm, "")
		})
		if err != nil {
			return err
		}
		granted := make([]bool, len(keys))
		for i, cmd := range cmds {
			n, _ := cmd.Int()
			granted[i] = n == 1
		}
		ready := func(cd candidate[T, ID]) bool {
			return granted[at[cd.rowKey]] && (cd.list == nil || granted[at[cd.key]])
		}
		// The database, under the leases.
		var ids []ID
		seen := map[string]bool{}
		for _, cd := range cands {
			if ready(cd) && cd.parsed && !seen[cd.text] {
				seen[cd.text] = true
				ids = append(ids, cd.id)
			}
		}
		rows, err := inChunks(ctx, ids, v.src.Load)
		if err != nil {
			var held []string
			var toks []string
			for i, g := range granted {
				if g {
					held, toks = append(held, keys[i]), append(toks, tokens[i])
				}
			}
			_ = c.release(ctx, held, toks)
			return err
		}
		db := make(map[string]T, len(rows))
		for _, r := range rows {
			db[s.idText(d, s.ID(r))] = r
		}
		// Round trip 2: look again, each key under its lease.
		rowMode := map[string]string{}          // row key -> mode
		rowOf := map[string]*candidate[T, ID]{} // row key -> its row's candidate
		members := map[string][]any{}           // list key -> members to find
		for i, cd := range cands {
			if !ready(cd) {
				continue
			}
			if cd.list == nil {
				rowMode[cd.rowKey] = mode
				rowOf[cd.rowKey] = &cands[i]
			} else if _, ok := rowMode[cd.rowKey]; !ok {
				rowMode[cd.rowKey] = "hold"
			}
			if cd.list != nil {
				if r, ok := db[cd.text]; ok && v.holds(cd.list, r, cd.lkey) {
					m, _, _ := s.listEntry(s.ID(r))
					members[cd.key] = append(members[cd.key], m)
				}
			}
		}
		var run []int
		for i, g := range granted {
			if g {
				run = append(run, i)
			}
		}
		wctx := context.WithoutCancel(ctx)
		looked, err := v.pipes.run(wctx, len(run), func(pipe redis.Pipeliner, j int) *redis.Cmd {
			i := run[j]
			key, ks := keys[i], []string{keys[i], lease(keys[i])}
			if m, ok := rowMode[key]; ok {
				want, absent := "", "1"
				if cd := rowOf[key]; cd != nil {
					if r, ok := db[cd.text]; ok {
						want, absent = string(s.encode(r)), "0"
					}
				}
				return verifyRowScript.EvalSha(wctx, pipe, ks, tokens[i], want, m, absent)
			}
			if ms, ok := members[key]; ok {
				return verifyListScript.EvalSha(wctx, pipe, ks, append([]any{tokens[i], mode}, ms...)...)
			}
			return releaseScript.EvalSha(wctx, pipe, ks, tokens[i])
		})
		if err != nil {
			return err
		}
		results := make(map[string][]any, len(run))
		for j, i := range run {
			results[keys[i]], _ = looked[j].Slice()
		}
		result := func(key string) []any { return results[key] }
		removed := map[string]bool{}
		var retry []candidate[T, ID]
		var found []rowCheck[T]
		for _, cd := range cands {
			if !ready(cd) {
				retry = append(retry, cd)
				continue
			}
			row := result(cd.rowKey)
			if len(row) == 0 || row[0] != int64(1) {
				retry = append(retry, cd)
				continue
			}
			dbRow, inDB := db[cd.text]
			if cd.list == nil {
				if len(row) < 4 || row[1] != "diff" {
					continue // the same now: a write was in flight
				}
				rc := rowCheck[T]{key: cd.rowKey, db: dbRow, inDB: inDB}
				rc.typ, _ = row[2].(string)
				rc.value, _ = row[3].(string)
				if rc.typ == "string" {
					rc.cached, rc.decode = s.decode([]byte(rc.value))
					rc.decode = rc.decode && s.idText(d, s.ID(rc.cached)) == cd.text
				}
				found = append(found, rc)
				continue
			}
			if _, ok := members[cd.key]; !ok || !inDB {
				continue // the row left the list meanwhile
			}
			list := result(cd.key)
			if len(list) == 0 || list[0] != int64(1) {
				retry = append(retry, cd)
				continue
			}
			want, _, _ := s.listEntry(s.ID(dbRow))
			for _, m := range list[1:] {
				if m == want {
					// One removal repairs the list for every row it lacks.
					v.diverged(cd.key, "index", "a list without "+s.FormatID(s.ID(dbRow)), describe(dbRow), v.rc.repair && !removed[cd.key])
					removed[cd.key] = true
					break
				}
			}
		}
		if err := v.confirmed(ctx, k, found); err != nil {
			return err
		}
		cands = retry
		if len(cands) == 0 {
			break
		}
		if time.Now().After(deadline) {
			v.rep.Unsettled += len(cands)
			break
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
	return nil
}

// holds reports whether row r holds the values of idx whose key text is lkey.
func (v *verifier[T, ID]) holds(idx *Index[T], r T, lkey string) bool {
	ik, ok := idx.Key(r)
	return ok && v.s.indexKey(v.d, idx, ik) == lkey
}

// confirmed records confirmed row differences, and the unique entries and
// lists that answer with those rows' stale values.
func (v *verifier[T, ID]) confirmed(ctx context.Context, k runKeys, found []rowCheck[T]) error {
	if len(found) == 0 {
		return nil
	}
	s, d := v.s, v.d
	type probe struct {
		key, text string
		row       int
		unique    bool
	}
	var probes []probe
	for i, f := range found {
		kind := "stale"
		cached := "a corrupt value"
		switch {
		case f.typ != "string":
			cached = "a key of another type (" + f.typ + ")"
		case f.decode:
			cached = describe(f.cached)
			if !f.inDB {
				kind = "orphan"
			}
		}
		database := "no row"
		if f.inDB {
			database = describe(f.db)
		}
		v.diverged(f.key, kind, cached, database, v.rc.repair)
		if !f.decode {
			continue // a value no read uses
		}
		id := s.FormatID(s.ID(f.cached))
		for _, idx := range s.Indexes {
			ik, ok := idx.Key(f.cached)
			if !ok {
				continue
			}
			lk := s.indexKey(d, idx, ik)
			if f.inDB && v.holds(idx, f.db, lk) {
				continue // the lookup names the right row
			}
			switch {
			case idx.Unique:
				probes = append(probes, probe{key: k.unique(idx.Name, lk), text: id, row: i, unique: true})
			case v.served(idx) && k.list(idx.Name, lk) != "":
				probes = append(probes, probe{key: k.list(idx.Name, lk), text: id, row: i})
			}
		}
	}
	if len(probes) == 0 {
		return nil
	}
	cmds, err := v.pipes.run(ctx, len(probes), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		p := probes[i]
		if p.unique {
			return pipe.Do(ctx, "GET", p.key)
		}
		return pipe.Do(ctx, "ZMSCORE", p.key, listPresent, listMemberOf(s.IDKind, p.text))
	})
	if err != nil {
		return err
	}
	for i, p := range probes {
		f := found[p.row]
		database := "no row " + p.text
		if f.inDB {
			database = describe(f.db)
		}
		if p.unique {
			if got, _ := cmds[i].Val().(string); got == p.text {
				// Removing the row (Repair) makes the entry harmless.
				v.diverged(p.key, "index", "answers with the stale row "+describe(f.cached), database, false)
			}
			continue
		}
		if flags, _ := cmds[i].Slice(); len(flags) == 2 && flags[0] != nil && flags[1] != nil {
			v.diverged(p.key, "index", "answers with the stale row "+describe(f.cached), database, false)
		}
	}
	return nil
}

// served reports whether reads serve idx's lists from the cache.
func (v *verifier[T, ID]) served(idx *Index[T]) bool {
	for _, l := range v.lists {
		if l == idx {
			return true
		}
	}
	return false
}

// orphans scans the cache for cached rows that the database does not
// hold, calling done after each batch of keys.
func (v *verifier[T, ID]) orphans(ctx context.Context, k runKeys, done func(keys int) error) error {
	nodes, err := masters(ctx, v.c)
	if err != nil {
		return err
	}
	pattern := k.rowPattern()
	for _, node := range nodes {
		var cursor uint64
		for {
			rctx, cancel := v.c.readCtx(ctx)
			keys, next, err := node.Scan(rctx, cursor, pattern, scanCount).Result()
			cancel()
			if err != nil {
				v.c.fail(ctx, "scan", err)
				return err
			}
			if err := v.scanned(ctx, k, keys); err != nil {
				return err
			}
			if err := done(len(keys)); err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// scanned checks one SCAN batch of row keys.
func (v *verifier[T, ID]) scanned(ctx context.Context, k runKeys, keys []string) error {
	s, d := v.s, v.d
	var texts, named, unnamed []string
	for _, key := range keys {
		if !v.sampled() {
			continue
		}
		if t, ok := k.rowText(key); ok {
			texts, named = append(texts, t), append(named, key)
		} else {
			unnamed = append(unnamed, key)
		}
	}
	if len(unnamed) > 0 {
		// A long id's key part is a hash: the value names the row.
		cmds, err := v.pipes.run(ctx, len(unnamed), func(pipe redis.Pipeliner, i int) *redis.Cmd { return pipe.Do(ctx, "GET", unnamed[i]) })
		if err != nil {
			return err
		}
		var lost []string
		for i, cmd := range cmds {
			val, ok := cmd.Val().(string)
			if !ok && !isWrongType(cmd.Err()) {
				continue // gone
			}
			if t, ok := valueID([]byte(val)); ok && k.row(normal(s.idRule(d), t)) == unnamed[i] {
				texts, named = append(texts, normal(s.idRule(d), t)), append(named, unnamed[i])
				continue
			}
			lost = append(lost, unnamed[i])
			v.diverged(unnamed[i], "stale", "a corrupt value of an unknown row", "unknown", v.rc.repair)
		}
		if v.rc.repair && len(lost) > 0 {
			if _, err := v.pipes.run(context.WithoutCancel(ctx), len(lost), func(pipe redis.Pipeliner, i int) *redis.Cmd {
				return removeScript.EvalSha(ctx, pipe, []string{lost[i], lease(lost[i])}, "")
			}); err != nil {
				return err
			}
		}
	}
	var cands []candidate[T, ID]
	var ids []ID
	for i, t := range texts {
		cd := candidate[T, ID]{text: t, rowKey: named[i]}
		if id, err := s.ParseID(t); err == nil {
			cd.id, cd.parsed = id, true
			ids = append(ids, id)
		}
		cands = append(cands, cd)
	}
	var exist []ID
	for chunk := range slices.Chunk(ids, existChunk) {
		more, err := v.src.Exist(ctx, chunk)
		if err != nil {
			return err
		}
		exist = append(exist, more...)
	}
	in := make(map[string]bool, len(exist))
	for _, id := range exist {
		in[s.idText(d, id)] = true
	}
	orphans := cands[:0]
	for _, cd := range cands {
		if !in[cd.text] {
			orphans = append(orphans, cd)
		}
	}
	return v.settle(ctx, k, orphans)
}

// scanCount is the COUNT of the SCANs for orphans, and existChunk the most
// ids asked in one query whether they exist (ids alone: statements take
// tens of thousands of parameters).
const (
	scanCount  = 5000
	existChunk = 5000
)

// masters returns a client of every master the cache's keys are on.
func masters(ctx context.Context, c *Cache) ([]redis.Cmdable, error) {
	var mu sync.Mutex
	var out []redis.Cmdable
	add := func(_ context.Context, n *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, n)
		return nil
	}
	switch r := c.rdb.(type) {
	case *redis.ClusterClient:
		if err := r.ForEachMaster(ctx, add); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := r.ForEachShard(ctx, add); err != nil {
			return nil, err
		}
	default:
		out = append(out, c.rdb)
	}
	return out, nil
}

// describe prints an entity for a Divergence.
func describe(v any) string { return fmt.Sprint(v) }
