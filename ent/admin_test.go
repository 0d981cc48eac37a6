package ent_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/entcachemodel/cachecli"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// prefixKeys returns the keys of the test's prefix that start with start
// (after "{<KeyPart(prefix)>"), sorted.
func (e *env) prefixKeys(start string) []string {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, "{"+entcachemodel.KeyPart(e.redis.Prefix)+start+"*")
	require.NoError(e.t, err)
	return keys
}

// userRowKey returns the key of a user's cached value in the process's
// keyspace, failing when it is not cached.
func (e *env) userRowKey(id int) string {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(id))
	require.NoError(e.t, err)
	require.Len(e.t, keys, 1, "user %d", id)
	return keys[0]
}

// redisMillis returns the server's clock, in the scripts' milliseconds.
func (e *env) redisMillis() int64 {
	e.t.Helper()
	now, err := e.redis.Client.Time(e.ctx).Result()
	require.NoError(e.t, err)
	return now.UnixMilli()
}

// otherVersion returns key (of the form {<p>:<T>:<server>.<hash>.<epoch>:...})
// in another server epoch and schema version.
func otherVersion(key, server, hash, epoch string) string {
	head, rest, _ := strings.Cut(key, ":")
	typ, rest, _ := strings.Cut(rest, ":")
	_, rest, _ = strings.Cut(rest, ":")
	return head + ":" + typ + ":" + server + "." + hash + "." + epoch + ":" + rest
}

// TestPurgeRemovesEveryKeyOfTheType fills the keys of User in the running
// version and, by hand, in an old schema version and an old server epoch,
// with leases, a registry entry of a version gone, a running write's mark
// and watch, and keys the cache never writes; and keys of Pet and of
// another prefix. Purge removes exactly User's, but for what running
// writes and processes hold, and counts them.
func TestPurgeRemovesEveryKeyOfTheType(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	rdb := e.redis.Client
	owner := e.createUser("purge@x.io", 30)
	users := []*ent.User{owner, e.createUser("b@x.io", 30), e.createUser("c@x.io", 31)}
	_, err := e.client.User.Cached().ListByAge(ctx, 30) // a list
	require.NoError(t, err)
	pet, err := e.client.Pet.Create().SetName("rex").SetOwner(owner).Save(ctx)
	require.NoError(t, err)
	_, err = e.client.Pet.Cached().ListByName(ctx, "rex")
	require.NoError(t, err)

	p := entcachemodel.KeyPart(e.redis.Prefix)
	row0, row1, row2 := e.userRowKey(users[0].ID), e.userRowKey(users[1].ID), e.userRowKey(users[2].ID)
	now := e.redisMillis()
	old := otherVersion(row0, "0", "oldhash", "17") // an old schema version
	gone := otherVersion(row0, "99", "hash", "0")   // an old server epoch
	require.NoError(t, rdb.Set(ctx, old, "old value", 0).Err())
	require.NoError(t, rdb.Set(ctx, gone, "old value", 0).Err())
	require.NoError(t, rdb.HSet(ctx, old+":lk", "rdead", now-1000).Err()) // a dead reader's lease
	// A fill in flight on one row, a write in flight on another, a lease
	// of no data key.
	require.NoError(t, rdb.HSet(ctx, row1+":lk", "rabc.1", now+3600_000, "~", "rabc.1").Err())
	require.NoError(t, rdb.HSet(ctx, row2+":lk", "wabc.2", now+3600_000, "~", "wabc.2").Err())
	require.NoError(t, rdb.HSet(ctx, otherVersion(row0, "0", "hash", "3")+":lk", "wold", now-1000).Err())
	// The registry: the running version, and one gone an hour ago.
	registry := "{" + p + ":User}:registry"
	require.NoError(t, rdb.HSet(ctx, registry, "v:oldhash", fmt.Sprintf("17:%d", now-7200_000),
		"p:gone", fmt.Sprintf("oldhash|x|1000|%d", now-3600_000)).Err())
	// A running write's watch (it has an expiry), and a key of the watch
	// namespace that no write made.
	watch := "{" + p + ":User:w:user_pets:r1}"
	require.NoError(t, rdb.SAdd(ctx, watch, "#").Err())
	require.NoError(t, rdb.PExpire(ctx, watch, time.Hour).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+":User:w:user_pets:r2}", "not a watch", 0).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+":User:junk", "x", 0).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+":User}:junk", "x", 0).Err())
	// Keys that are not User's: another type, a type whose name starts
	// alike, another prefix whose KeyPart starts alike, the stamp.
	require.NoError(t, rdb.Set(ctx, "{"+p+":UserX:0.h.0:r:r1}", "x", 0).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+"x:User:0.h.0:r:r1}", "x", 0).Err())
	t.Cleanup(func() { rdb.Del(context.Background(), "{"+p+"x:User:0.h.0:r:r1}") })

	before := e.prefixKeys(":User")
	others := slices.DeleteFunc(e.prefixKeys(""), func(k string) bool { return slices.Contains(before, k) })
	require.Contains(t, before, registry)
	require.NotEmpty(t, e.prefixKeys(":Pet"))
	kept := []string{registry, row2 + ":lk", watch}
	slices.Sort(kept)
	// before holds the running version's rows, entries and list, and the
	// keys above; UserX's key matches ":User" too.
	userX := "{" + p + ":UserX:0.h.0:r:r1}"
	require.Contains(t, before, userX)

	n, err := e.client.User.Cached().Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(before)-1-len(kept), n, "keys removed")
	after := slices.DeleteFunc(e.prefixKeys(":User"), func(k string) bool { return k == userX })
	assert.Equal(t, kept, after, "keys of User left")
	assert.Equal(t, others, slices.DeleteFunc(e.prefixKeys(""), func(k string) bool { return slices.Contains(before, k) }),
		"keys of other types and the stamp")
	for _, k := range []string{userX, "{" + p + "x:User:0.h.0:r:r1}"} {
		exists, err := rdb.Exists(ctx, k).Result()
		require.NoError(t, err)
		assert.EqualValues(t, 1, exists, "%s: a key of UserX, or of another prefix", k)
	}
	// The registry names a live process: it stays whole (its processes use
	// what it says).
	reg, err := rdb.HKeys(ctx, registry).Result()
	require.NoError(t, err)
	assert.Contains(t, reg, "p:gone", "the registry of a running version is kept whole")
	lk, err := rdb.HGetAll(ctx, row2+":lk").Result()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"wabc.2": strconv.FormatInt(now+3600_000, 10), "~": "wabc.2"}, lk, "the running write's mark")

	// Reads work and fill again; Pet's cached values were not touched.
	e.requireConsistent(users[0].ID, users[1].ID)
	n2 := e.queries(func() {
		got, err := e.client.Pet.Cached().Get(ctx, pet.ID)
		require.NoError(t, err)
		assert.Equal(t, "rex", got.Name)
	})
	assert.Zero(t, n2, "Pet still cached")
}

// TestCachePurgeRemovesThePrefix: with every process of the prefix gone
// (their registry entries a minute old), Cache.Purge leaves only the
// server stamp, and another prefix's keys.
func TestCachePurgeRemovesThePrefix(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	rdb := e.redis.Client
	owner := e.createUser("purge@x.io", 30)
	_, err := e.client.Pet.Create().SetName("rex").SetOwner(owner).Save(ctx)
	require.NoError(t, err)
	_, err = e.client.User.Cached().ListByAge(ctx, 30)
	require.NoError(t, err)
	p := entcachemodel.KeyPart(e.redis.Prefix)
	// Every version stopped more than a minute ago.
	now := e.redisMillis()
	var registries int
	for _, k := range e.prefixKeys(":") {
		if strings.HasSuffix(k, "}:registry") {
			registries++
			hs, err := rdb.HGetAll(ctx, k).Result()
			require.NoError(t, err)
			for f, v := range hs {
				if parts := strings.Split(v, "|"); strings.HasPrefix(f, "p:") && len(parts) >= 4 {
					parts[3] = strconv.FormatInt(now-3_600_000, 10) // gone an hour ago
					require.NoError(t, rdb.HSet(ctx, k, f, strings.Join(parts, "|")).Err())
				}
			}
		}
	}
	require.Equal(t, 2, registries, "User and Pet registered")
	// A type no longer in the schema.
	require.NoError(t, rdb.Set(ctx, "{"+p+":Removed:0.h.0:r:r1}", "x", 0).Err())
	other, err := testenv.OpenRedis() // its own prefix, on the same server
	require.NoError(t, err)
	defer other.Close()
	if other.Mini != nil {
		other.Client = e.redis.Client // one embedded server
	}
	otherKey := "{" + entcachemodel.KeyPart(other.Prefix) + ":User:0.h.0:r:r1}"
	require.NoError(t, rdb.Set(ctx, otherKey, "x", 0).Err())
	t.Cleanup(func() { rdb.Del(context.Background(), otherKey) })

	before := e.prefixKeys(":")
	require.GreaterOrEqual(t, len(before), 8)
	n, err := e.cache.Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(before), n)
	assert.Empty(t, e.prefixKeys(":"))
	assert.Equal(t, []string{"{" + p + "}:servers"}, e.prefixKeys("}"), "the stamp stays")
	ex, err := rdb.Exists(ctx, otherKey).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, ex, "another prefix's key")
	e.requireConsistent(owner.ID)
}

// TestPurgeWithoutCache: a client without a cache has nothing to purge.
func TestPurgeWithoutCache(t *testing.T) {
	e := newEnv(t)
	plain := ent.NewClient(ent.Driver(e.drv))
	_, err := plain.User.Cached().Purge(e.ctx)
	assert.ErrorIs(t, err, entcachemodel.ErrNoCache)
	_, err = entcachemodel.Disabled().Purge(e.ctx)
	assert.ErrorIs(t, err, entcachemodel.ErrNoCache)
	assert.ErrorIs(t, plain.CacheAdmin().Pause(e.ctx), entcachemodel.ErrNoCache)
}

// commandCounter is a go-redis hook counting the commands sent.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// cachedRows returns how many values of User are cached.
func (e *env) cachedRows() int {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, fmt.Sprintf("{%s:User:*:r:*}", entcachemodel.KeyPart(e.redis.Prefix)))
	require.NoError(e.t, err)
	return len(keys)
}

// TestPauseReadsFollowedWithinTheVersionCheck: a pause in one process
// reaches another within its version check, at no round trip of its own;
// paused reads go to the database and store nothing; writes still
// publish; a resume serves them.
func TestPauseReadsFollowedWithinTheVersionCheck(t *testing.T) {
	const check = 300 * time.Millisecond
	e := newEnv(t, entcachemodel.WithVersionCheck(check))
	u := e.createUser("pause@x.io", 30)
	brdb := e.redis.NewClient()
	t.Cleanup(func() { brdb.Close() })
	counter := &commandCounter{}
	brdb.AddHook(counter)
	bdrv, bcache, b := e.process(brdb, entcachemodel.WithVersionCheck(time.Hour))
	bq := func(f func()) int64 {
		before := bdrv.Count()
		f()
		return bdrv.Count() - before
	}
	get := func(c *ent.Client) {
		got, err := c.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u.Email, got.Email)
	}
	assert.Zero(t, bq(func() { get(b) }), "b served from the cache")

	admin := e.client.CacheAdmin()
	require.NoError(t, admin.Pause(e.ctx))
	assert.EqualValues(t, 1, e.queries(func() { get(e.client) }), "the pausing process reads the database at once")
	// b checks every hour: it still serves, and a read costs one round trip.
	rt := counter.n.Load()
	assert.Zero(t, bq(func() { get(b) }))
	assert.EqualValues(t, 1, counter.n.Load()-rt, "round trips of a cached read")

	// A process that checks within 300ms follows within 300ms, and then
	// reads the database at no round trip of its own.
	crdb := e.redis.NewClient()
	t.Cleanup(func() { crdb.Close() })
	ccount := &commandCounter{}
	crdb.AddHook(ccount)
	cdrv, ccache, c := e.process(crdb, entcachemodel.WithVersionCheck(check))
	cq := func(f func()) int64 {
		before := cdrv.Count()
		f()
		return cdrv.Count() - before
	}
	assert.EqualValues(t, 1, cq(func() { get(c) }), "a process started while paused")
	// Its first check opened connections, which it checks once more.
	assert.EqualValues(t, 1, cq(func() { get(c) }))
	assert.True(t, ccache.ReadsPaused())
	assert.False(t, bcache.ReadsPaused())
	rt = ccount.n.Load()
	for range 3 {
		assert.EqualValues(t, 1, cq(func() { get(c) }))
	}
	assert.Zero(t, ccount.n.Load()-rt, "paused reads between checks make no Redis round trip")

	// Paused reads store nothing.
	n, err := e.client.User.Cached().Purge(e.ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	for range 2 {
		assert.EqualValues(t, 1, cq(func() { get(c) }))
		assert.EqualValues(t, 1, e.queries(func() { get(e.client) }))
	}
	_, err = c.User.Cached().GetByEmail(e.ctx, u.Email)
	require.NoError(t, err)
	_, err = c.User.Cached().ListByAge(e.ctx, 30)
	require.NoError(t, err)
	assert.Empty(t, e.prefixKeys(":User:"), "paused reads filled")

	// Writes publish as usual.
	u = u.Update().SetAge(31).SaveX(e.ctx)
	assert.Equal(t, 1, e.cachedRows(), "the write published")

	// Resume: c follows within its check, and serves the published value.
	require.NoError(t, admin.Resume(e.ctx))
	e.redis.Advance(check + 50*time.Millisecond)
	assert.Zero(t, cq(func() { get(c) }), "resumed")
	assert.False(t, ccache.ReadsPaused())
	assert.False(t, e.cache.Stats().ReadsPaused)
}

// TestWithReadsPausedSafeDefault: a process started WithReadsPaused is
// paused while Redis holds no state, resumes on ResumeReads, is paused
// again when Redis loses the state (flushed), and stays paused while
// Redis cannot be read.
func TestWithReadsPausedSafeDefault(t *testing.T) {
	const check = 300 * time.Millisecond
	e := newEnv(t, entcachemodel.WithVersionCheck(check))
	u := e.createUser("safe@x.io", 30) // published by e, which serves
	faults := &testenv.Faults{}
	prdb := e.redis.NewClient()
	t.Cleanup(func() { prdb.Close() })
	prdb.AddHook(faults)
	pdrv, pcache, pc := e.process(prdb, entcachemodel.WithReadsPaused(), entcachemodel.WithVersionCheck(check),
		entcachemodel.WithCooldown(time.Millisecond))
	pq := func() int64 {
		before := pdrv.Count()
		got, err := pc.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u.Email, got.Email)
		return pdrv.Count() - before
	}
	state, err := e.cache.ReadState(e.ctx)
	require.NoError(t, err)
	require.Equal(t, entcachemodel.ReadsUnset, state)
	assert.EqualValues(t, 1, pq(), "started paused, no state in Redis")
	assert.Zero(t, e.queries(func() { _, _ = e.client.User.Cached().Get(e.ctx, u.ID) }), "a process started without the option serves")

	require.NoError(t, e.cache.ResumeReads(e.ctx))
	e.redis.Advance(check + 50*time.Millisecond)
	assert.Zero(t, pq(), "resumed")

	// Redis loses everything (as FLUSHALL): the safe default wins.
	e.flushKeys()
	require.NoError(t, e.redis.Client.Del(e.ctx, "{"+entcachemodel.KeyPart(e.redis.Prefix)+"}:servers").Err())
	e.redis.Advance(check + 50*time.Millisecond)
	assert.EqualValues(t, 1, pq(), "paused again once the state is gone")
	assert.True(t, pcache.ReadsPaused())
	// e is not paused, but the lost stamp and registry start fresh
	// keyspaces, trusted only after the trust delay (versions.go): it reads
	// the database meanwhile.
	assert.False(t, e.cache.ReadsPaused())

	// Paused, and Redis unreachable: it stays paused, and once Redis
	// answers again with the state still missing, paused it is.
	require.NoError(t, e.cache.PauseReads(e.ctx))
	e.redis.Advance(check + 50*time.Millisecond)
	assert.EqualValues(t, 1, pq())
	faults.Down.Store(true)
	e.redis.Advance(check + 50*time.Millisecond)
	for range 3 {
		assert.EqualValues(t, 1, pq())
	}
	assert.True(t, pcache.ReadsPaused())
	faults.Down.Store(false)
	e.redis.Advance(check + 50*time.Millisecond)
	assert.EqualValues(t, 1, pq())
	assert.True(t, pcache.ReadsPaused())
}

// TestCacheCLIOnTheClient runs the admin command on the generated
// client.CacheAdmin(): stats counts the keys Redis holds for each cached
// type, purge --type removes one type's, pause and resume reach the client.
func TestCacheCLIOnTheClient(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("cli@x.io", 30)
	_, err := e.client.User.Cached().ListByAge(e.ctx, 30)
	require.NoError(t, err)
	admin := e.client.CacheAdmin()
	assert.Contains(t, admin.Types(), "User")
	assert.Contains(t, admin.Types(), "Pet")
	var stdout, stderr bytes.Buffer
	run := func(args ...string) int {
		stdout.Reset()
		stderr.Reset()
		return cachecli.Main(e.ctx, admin, args, cachecli.Output(&stdout, &stderr))
	}
	require.Equal(t, cachecli.ExitOK, run("stats"), stderr.String())
	// A row, two unique entries (email, first and last name), a list.
	assert.Regexp(t, `(?m)^User\s+1\s+2\s+1\s+0\s+0\s+0\s+\w+ running`, stdout.String())
	assert.Regexp(t, `(?m)^Pet\s+0\s+0\s+0\s+0\s+0\s+0\s+-$`, stdout.String())

	require.Equal(t, cachecli.ExitOK, run("purge", "--type", "User"), stderr.String())
	assert.Contains(t, stdout.String(), "purge User: removed 4 keys\n")
	assert.Contains(t, stdout.String(), "kept for User: the registry entries of 1 running schema versions")
	assert.Equal(t, cachecli.ExitUsage, run("purge", "--type", "Usr"))
	assert.Contains(t, stderr.String(), `unknown type "Usr"; the cached types are: CollDoc, CollName,`)

	require.Equal(t, cachecli.ExitOK, run("pause"), stderr.String())
	assert.True(t, e.cache.ReadsPaused())
	assert.EqualValues(t, 1, e.queries(func() { _, _ = e.client.User.Cached().Get(e.ctx, u.ID) }))
	require.Equal(t, cachecli.ExitOK, run("resume"), stderr.String())
	assert.EqualValues(t, 1, e.queries(func() { _, _ = e.client.User.Cached().Get(e.ctx, u.ID) }), "fills")
	assert.Zero(t, e.queries(func() { _, _ = e.client.User.Cached().Get(e.ctx, u.ID) }), "serves")
}
