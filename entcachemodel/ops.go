package entcachemodel

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file holds the Redis round trips. Each works on many keys in one
// pipeline; every script touches one key and its lease, so pipelines are
// Redis Cluster safe. The one exception, uniqueGetScript, runs on
// standalone servers only.

// get returns the values of keys; a missing value is nil. A key that holds
// something other than a string (not a value the cache wrote) is a miss,
// and is removed.
func (c *Cache) get(ctx context.Context, keys []string) ([][]byte, error) {
	ctx, cancel := c.readCtx(ctx)
	defer cancel()
	out := make([][]byte, len(keys))
	cmds := make([]*redis.StringCmd, len(keys))
	dials := c.ident.dials.Load()
	if len(keys) == 1 {
		cmds[0] = c.rdb.Get(ctx, keys[0])
	} else {
		pipe := c.rdb.Pipeline()
		for i, k := range keys {
			cmds[i] = pipe.Get(ctx, k)
		}
		_, _ = pipe.Exec(ctx) // each command's error is looked at below
	}
	var wrong []string
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		switch {
		case err == nil:
			out[i] = b
		case errors.Is(err, redis.Nil):
		case isWrongType(err):
			wrong = append(wrong, keys[i])
		default:
			return nil, err
		}
	}
	c.outage.answered(ctx)
	if c.ident.dials.Load() != dials && c.checkServers(ctx) {
		// A connection opened during the read led to other servers: what
		// they hold is of another epoch, and so are the keys read.
		return nil, errServersChanged
	}
	c.removeForeign(ctx, wrong)
	return out, nil
}

// getOne returns the value of one key as Redis replied it (ok false when
// there is none), with get's checks: a key that holds something other
// than a string is a miss and is removed, and a read during which a
// connection was opened is checked against the servers.
func (c *Cache) getOne(ctx context.Context, key string) (value string, ok bool, err error) {
	return c.getOneAt(ctx, key, time.Now())
}

// getOneAt is getOne starting at the time now.
func (c *Cache) getOneAt(ctx context.Context, key string, now time.Time) (value string, ok bool, err error) {
	rctx, cancel := c.boundRead(ctx, now)
	dials := c.ident.dials.Load()
	value, err = c.rdb.Get(rctx, key).Result()
	cancel()
	return c.oneReply(ctx, key, dials, value, err)
}

// oneReply applies getOne's checks to the reply of a GET of key, sent when
// the client had made dials connections.
func (c *Cache) oneReply(ctx context.Context, key string, dials uint64, value string, err error) (string, bool, error) {
	ok, wrong := false, false
	switch {
	case err == nil:
		ok = true
	case errors.Is(err, redis.Nil):
		err = nil
	case isWrongType(err):
		wrong, err = true, nil
	default:
		return "", false, err
	}
	c.outage.answered(ctx)
	if c.ident.dials.Load() != dials && c.checkServers(ctx) {
		return "", false, errServersChanged
	}
	if wrong {
		c.removeForeign(ctx, []string{key})
	}
	return value, ok, nil
}

// getUnmarkedAt is getOneAt in the same round trip as the key's PTTL: ok
// only for a value without an expiry. A writer's mark bounds the value it
// may replace to its lease (markScript), so a value with one may be older
// than a committed write (its writer not yet published, or dead); a value
// stored by a publish or a fill with no mark outstanding has none.
func (c *Cache) getUnmarkedAt(ctx context.Context, key string, now time.Time) (value string, ok bool, err error) {
	rctx, cancel := c.boundRead(ctx, now)
	dials := c.ident.dials.Load()
	pipe := c.rdb.Pipeline()
	get := pipe.Get(rctx, key)
	ttl := pipe.PTTL(rctx, key)
	_, _ = pipe.Exec(rctx)
	cancel()
	if value, ok, err = c.oneReply(ctx, key, dials, get.Val(), get.Err()); err != nil {
		return "", false, err
	}
	d, err := ttl.Result()
	if err != nil {
		return "", false, err
	}
	if d != -1 && d != -time.Nanosecond {
		ok = false // bounded by a mark (or gone): not to be trusted without its entry
	}
	return value, ok, nil
}

// getStrings is get on many keys in one pipeline, the values as Redis
// replied them ("" and false in ok when there is none).
func (c *Cache) getStrings(ctx context.Context, keys []string, now time.Time) (values []string, ok []bool, err error) {
	if len(keys) == 1 {
		v, found, err := c.getOneAt(ctx, keys[0], now)
		if err != nil {
			return nil, nil, err
		}
		return []string{v}, []bool{found}, nil
	}
	rctx, cancel := c.boundRead(ctx, now)
	defer cancel()
	dials := c.ident.dials.Load()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(rctx, k)
	}
	_, _ = pipe.Exec(rctx) // each command's error is looked at below
	values, ok = make([]string, len(keys)), make([]bool, len(keys))
	var wrong []string
	for i, cmd := range cmds {
		v, err := cmd.Result()
		switch {
		case err == nil:
			values[i], ok[i] = v, true
		case errors.Is(err, redis.Nil):
		case isWrongType(err):
			wrong = append(wrong, keys[i])
		default:
			return nil, nil, err
		}
	}
	c.outage.answered(ctx)
	if c.ident.dials.Load() != dials && c.checkServers(ctx) {
		return nil, nil, errServersChanged
	}
	c.removeForeign(ctx, wrong)
	return values, ok, nil
}

// isWrongType reports Redis's answer to a command on a key of another type.
func isWrongType(err error) bool { return redis.HasErrorPrefix(err, "WRONGTYPE") }

// removeForeign removes keys that hold something the cache did not write,
// through the remove script, which refuses their pending fills.
func (c *Cache) removeForeign(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	if err := c.remove(ctx, keys); err != nil {
		c.fail(ctx, "remove foreign key", err)
		return
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "entcachemodel: removed keys of a type the cache never writes", slog.Any("keys", keys))
}

// leases asks for a fill lease on each key. The token of a granted lease is
// returned; "" means another reader or a writer holds the key. With check,
// a value stored since the caller's miss is returned instead of a lease.
func (c *Cache) leases(ctx context.Context, keys []string, check bool) ([]string, [][]byte, error) {
	tokens := make([]string, len(keys))
	for i := range keys {
		tokens[i] = "r" + c.token()
	}
	mode := ""
	if check {
		mode = "get"
	}
	cmds, err := c.runScripts(ctx, len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return leaseScript.EvalSha(ctx, pipe, []string{keys[i], lease(keys[i])}, tokens[i], c.leaseMillis(), mode)
	})
	if err != nil {
		return nil, nil, err
	}
	values := make([][]byte, len(keys))
	for i, cmd := range cmds {
		if s, ok := cmd.Val().(string); ok {
			values[i], tokens[i] = []byte(s), ""
		} else if n, _ := cmd.Int(); n != 1 {
			tokens[i] = ""
		}
	}
	return tokens, values, nil
}

// marks adds a writer token to each key, before a database write.
func (c *Cache) marks(ctx context.Context, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ctx = context.WithoutCancel(ctx)
	tokens := make([]string, len(keys))
	for i := range keys {
		tokens[i] = "w" + c.token()
	}
	_, err := c.runScripts(ctx, len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return markScript.EvalSha(ctx, pipe, []string{keys[i], lease(keys[i])}, tokens[i], c.leaseMillis())
	})
	if err != nil {
		return make([]string, len(keys)), err
	}
	return tokens, nil
}

// release ends tokens without changing the data.
func (c *Cache) release(ctx context.Context, keys, tokens []string) error {
	ctx = context.WithoutCancel(ctx)
	var held []int
	for i := range keys {
		if tokens[i] != "" {
			held = append(held, i)
		}
	}
	_, err := c.runScripts(ctx, len(held), func(pipe redis.Pipeliner, j int) *redis.Cmd {
		k := keys[held[j]]
		return releaseScript.EvalSha(ctx, pipe, []string{k, lease(k)}, tokens[held[j]])
	})
	return err
}

// removeHeld deletes data keys, ending the given tokens (one per key, ""
// for none) and refusing pending fills.
func (c *Cache) removeHeld(ctx context.Context, keys, tokens []string) error {
	ctx = context.WithoutCancel(ctx)
	_, err := c.runScripts(ctx, len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return removeScript.EvalSha(ctx, pipe, []string{keys[i], lease(keys[i])}, tokens[i])
	})
	return err
}

// remove deletes data keys and refuses their pending fills.
func (c *Cache) remove(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	_, err := c.runScripts(ctx, len(keys), func(pipe redis.Pipeliner, i int) *redis.Cmd {
		return removeScript.EvalSha(ctx, pipe, []string{keys[i], lease(keys[i])}, "")
	})
	return err
}

// waitFor polls key until it holds a value or the fill wait is over.
func (c *Cache) waitFor(ctx context.Context, key string) []byte {
	deadline := time.Now().Add(c.fillWait)
	for d := time.Millisecond; time.Now().Before(deadline); d = min(2*d, 20*time.Millisecond) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		vals, err := c.get(ctx, []string{key})
		if err != nil {
			c.fail(ctx, "wait", err)
			return nil
		}
		if vals[0] != nil {
			return vals[0]
		}
	}
	return nil
}

// scriptBatch is the size of the first pipelines of scripts, so that each
// round trip fits in the timeout however many keys a write touches (a
// script runs in microseconds on Redis, but much slower on an embedded
// server).
const scriptBatch = 100

// maxScriptPipe bounds the scripts of one pipeline of runScripts: a script
// takes microseconds on Redis, so 4,096 hold it for some milliseconds.
const maxScriptPipe = 4096

// runScripts runs n scripts in pipelines, each round trip bounded by the
// timeout, so that a bulk write costs round trips by the thousand rows, not
// by the row. The first pipeline holds scriptBatch scripts; each next one
// four times more (up to maxScriptPipe) while the last took under an eighth
// of the round trip's budget (roundTrip), half as many when it took over a
// third (a slow, embedded server). It stops at the first failed pipeline.
func (c *Cache) runScripts(ctx context.Context, n int, build func(redis.Pipeliner, int) *redis.Cmd) ([]*redis.Cmd, error) {
	if n == 0 {
		return nil, nil
	}
	cmds := make([]*redis.Cmd, n)
	size := scriptBatch
	budget := c.roundTrip()
	for start := 0; start < n; {
		end := min(n, start+size)
		batch := cmds[start:end]
		began := time.Now()
		err := c.runBatch(ctx, batch, func(pipe redis.Pipeliner, i int) *redis.Cmd { return build(pipe, start+i) })
		if err != nil {
			return cmds, err
		}
		switch took := time.Since(began); {
		case took < budget/8:
			size = min(4*size, maxScriptPipe)
		case took > budget/3:
			size = max(size/2, 10)
		}
		start = end
	}
	return cmds, nil
}

// roundTrip is the longest a round trip may take: the timeout, or the
// client's own read timeout when it is shorter (a reply slower than it
// fails the pipeline whatever the context allows).
func (c *Cache) roundTrip() time.Duration {
	var read time.Duration
	switch r := c.rdb.(type) {
	case *redis.Client:
		read = r.Options().ReadTimeout
	case *redis.ClusterClient:
		read = r.Options().ReadTimeout
	case *redis.Ring:
		read = r.Options().ReadTimeout
	}
	if read > 0 && read < c.timeout {
		return read
	}
	return c.timeout
}

// runBatch runs one pipeline of scripts into cmds. When Redis does not know a
// script (first use, restart, SCRIPT FLUSH), it loads them all and runs the
// refused ones once more.
func (c *Cache) runBatch(ctx context.Context, cmds []*redis.Cmd, build func(redis.Pipeliner, int) *redis.Cmd) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	for i := range cmds {
		cmds[i] = build(pipe, i)
	}
	acked := c.waitReplicas(ctx, pipe)
	_, err := pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err == nil {
		c.outage.answered(ctx)
		err = acked()
	}
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return err
	}
	for _, s := range allScripts {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return err
		}
	}
	// Run again only the scripts Redis did not know: the others ran.
	pipe = c.rdb.Pipeline()
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			cmds[i] = build(pipe, i)
		}
	}
	acked = c.waitReplicas(ctx, pipe)
	_, err = pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err == nil {
		err = acked()
	}
	return err
}

// uniqueGetScript reads a unique entry and, in the same round trip, the row
// it names: KEYS[1] the entry, ARGV[1] the row keys' start ("{<keyspace>:r:").
// It returns false for no entry, 0 for an entry of a type the cache never
// writes, {id} when the row was not read (an id KeyPart would encode, not
// keep: Go builds that key; or no row), and {id, row}. It reads only; the
// row is not among its KEYS, which a standalone server allows and a Cluster
// does not (the two are in different slots), so it runs on standalone
// servers only.
var uniqueGetScript = redis.NewScript(`
local ok, id = pcall(redis.call, 'GET', KEYS[1])
if not ok then return 0 end
if not id then return false end
if #id == 0 or #id > ` + strconv.Itoa(maxRawPart) + ` or string.find(id, '[^%w%-_%.@%+]') then return {id} end
local ok2, v = pcall(redis.call, 'GET', ARGV[1] .. 'r' .. id .. '}')
if not ok2 or not v then return {id} end
return {id, v}
`)

// oneTripLookups reports whether a unique lookup may read its entry and its
// row in one script: on a single server that holds every key (a standalone
// Redis, or a Sentinel's master), not on a Cluster or a Ring, whose keys
// live on several servers (see WithOneTripLookups).
func (c *Cache) oneTripLookups() bool {
	if _, single := c.rdb.(*redis.Client); !single || c.oneTrip < 0 {
		return false
	}
	return c.oneTrip > 0 || c.ident.standalone.Load()
}

// getUnique reads a unique entry and the row it names (uniqueGetScript),
// with get's checks. rowStart is the keyspace's row key start. ok is false
// when there is no entry; row is "" with rowOK false when the row was not
// read or is absent.
func (c *Cache) getUnique(ctx context.Context, key, rowStart string, now time.Time) (id, row string, ok, rowOK bool, err error) {
	rctx, cancel := c.boundRead(ctx, now)
	dials := c.ident.dials.Load()
	res, err := uniqueGetScript.Run(rctx, c.rdb, []string{key}, rowStart).Result()
	cancel()
	wrong := false
	switch {
	case errors.Is(err, redis.Nil):
		err = nil
	case err != nil:
		return "", "", false, false, err
	default:
		switch v := res.(type) {
		case int64:
			wrong = true
		case []any:
			if len(v) > 0 {
				id, ok = v[0].(string)
			}
			if ok && len(v) > 1 {
				row, rowOK = v[1].(string)
			}
		}
	}
	c.outage.answered(ctx)
	if c.ident.dials.Load() != dials && c.checkServers(ctx) {
		return "", "", false, false, errServersChanged
	}
	if wrong {
		c.removeForeign(ctx, []string{key})
	}
	return id, row, ok, rowOK, nil
}
