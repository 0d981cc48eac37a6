package ent_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/hook"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// tripCounter is a go-redis hook that counts round trips (a command or a
// pipeline is one) and records the keys the commands name.
type tripCounter struct {
	mu    sync.Mutex
	trips int
	cmds  []redis.Cmder
}

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		h.cmds = append(h.cmds, cmd)
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		h.cmds = append(h.cmds, cmds...)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// writeCost is what one write cost: Redis round trips and commands, the
// commands that name a unique entry or a list, and database statements.
type writeCost struct {
	trips, cmds, uniques, lists int
	stmts                       int64
}

func (c writeCost) String() string {
	return fmt.Sprintf("%d trips, %d commands (%d unique entries, %d lists), %d statements", c.trips, c.cmds, c.uniques, c.lists, c.stmts)
}

// costEnv is a cached client whose Redis traffic is counted, and a plain
// client on the same database, for ent's own statements.
type costEnv struct {
	*env
	trips  *tripCounter
	cdrv   *testenv.Counter
	cached *ent.Client
	pdrv   *testenv.Counter
	plain  *ent.Client
}

func newCostEnv(t *testing.T, opts ...entcachemodel.Option) *costEnv {
	e := newEnv(t)
	h := &tripCounter{}
	// Pipelines grow while a round trip takes a small part of the client's
	// read timeout: on an embedded server under the race detector, Lua is
	// slow enough for the default 3s to stop them early.
	rdb := e.redis.NewClient()
	switch r := rdb.(type) {
	case *redis.Client:
		o := *r.Options()
		o.ReadTimeout, o.WriteTimeout = time.Minute, time.Minute
		r.Close()
		rdb = redis.NewClient(&o)
	case *redis.ClusterClient:
		o := *r.Options()
		o.ReadTimeout, o.WriteTimeout = time.Minute, time.Minute
		r.Close()
		rdb = redis.NewClusterClient(&o)
	}
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(h)
	// A long timeout: the embedded server runs scripts slowly, and the
	// write pipelines grow only while they take a small part of it.
	cdrv, _, cached := e.process(rdb, append([]entcachemodel.Option{entcachemodel.WithTimeout(time.Minute),
		// The counts are of the writes alone: no periodic registry read or
		// watch renewal falls in a write, however slow the run.
		entcachemodel.WithVersionCheck(time.Hour), entcachemodel.WithLease(10 * time.Minute)}, opts...)...)
	pdrv, err := e.db.Open()
	require.NoError(t, err)
	plain := ent.NewClient(ent.Driver(pdrv))
	t.Cleanup(func() { plain.Close() })
	return &costEnv{env: e, trips: h, cdrv: cdrv, cached: cached, pdrv: pdrv, plain: plain}
}

// cost runs f and returns what it cost on the counted Redis client and on
// the cached client's driver.
func (e *costEnv) cost(f func()) writeCost {
	e.t.Helper()
	e.trips.mu.Lock()
	e.trips.trips, e.trips.cmds = 0, nil
	e.trips.mu.Unlock()
	before := e.cdrv.Count()
	f()
	e.trips.mu.Lock()
	defer e.trips.mu.Unlock()
	c := writeCost{trips: e.trips.trips, cmds: len(e.trips.cmds), stmts: e.cdrv.Count() - before}
	for _, cmd := range e.trips.cmds {
		for _, a := range cmd.Args() {
			s, ok := a.(string)
			if !ok || !strings.HasPrefix(s, "{") {
				continue
			}
			switch {
			case strings.Contains(s, ":u:"):
				c.uniques++
			case strings.Contains(s, ":l:"):
				c.lists++
			}
			break // the command's first key
		}
	}
	return c
}

// plainStmts runs f and returns the statements the plain client ran.
func (e *costEnv) plainStmts(f func()) int64 {
	before := e.pdrv.Count()
	f()
	return e.pdrv.Count() - before
}

func (e *costEnv) users(c *ent.Client, n int, tag string) []*ent.User {
	e.t.Helper()
	var out []*ent.User
	for start := 0; start < n; start += 1000 {
		bs := make([]*ent.UserCreate, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			bs = append(bs, c.User.Create().SetEmail(fmt.Sprintf("%s%d@x.io", tag, i)).
				SetFirstName(fmt.Sprintf("F%s%d", tag, i)).SetLastName("L").SetAge(7))
		}
		us, err := c.User.CreateBulk(bs...).Save(e.ctx)
		require.NoError(e.t, err)
		out = append(out, us...)
	}
	return out
}

// TestWriteCosts counts the Redis round trips and database statements of
// each kind of write, so that a regression shows without timing anything.
func TestWriteCosts(t *testing.T) {
	e := newCostEnv(t)
	ctx := e.ctx
	// Warm up: scripts loaded, the registry read, the outbox checked.
	warm := e.users(e.cached, 3, "warm")
	require.NoError(t, e.cached.User.UpdateOne(warm[0]).SetAge(8).Exec(ctx))
	require.NoError(t, e.cached.User.DeleteOne(warm[1]).Exec(ctx))

	row := e.users(e.plain, 2, "row")
	for _, u := range row {
		_, err := e.cached.User.Cached().Get(ctx, u.ID) // cached, as a steady state would be
		require.NoError(t, err)
	}
	costs := map[string]writeCost{}
	check := func(name string, c writeCost) writeCost {
		t.Helper()
		costs[name] = c
		t.Logf("%-34s %v", name, c)
		return c
	}

	// UpdateOne that moves the row to another age list.
	want := e.plainStmts(func() { require.NoError(t, e.plain.User.UpdateOne(row[1]).SetAge(40).Exec(ctx)) })
	c := check("UpdateOne SetAge", e.cost(func() {
		require.NoError(t, e.cached.User.UpdateOne(row[0]).SetAge(40).Exec(ctx))
	}))
	assert.LessOrEqual(t, c.trips, 2, "UpdateOne: mark and publish")
	assert.Equal(t, want, c.stmts, "UpdateOne: ent's own statements only")
	assert.Zero(t, c.uniques, "UpdateOne SetAge: the unique entries did not change")

	// UpdateOneID setting a field no index is keyed by.
	want = e.plainStmts(func() { require.NoError(t, e.plain.User.UpdateOneID(row[1].ID).SetNickname("n").Exec(ctx)) })
	c = check("UpdateOneID SetNickname", e.cost(func() {
		require.NoError(t, e.cached.User.UpdateOneID(row[0].ID).SetNickname("n").Exec(ctx))
	}))
	assert.LessOrEqual(t, c.trips, 2)
	assert.Equal(t, want, c.stmts)
	assert.Zero(t, c.uniques+c.lists, "no index changed: no unique entry or list is touched")

	// Create without OnConflict.
	want = e.plainStmts(func() {
		require.NoError(t, e.plain.User.Create().SetEmail("p@x.io").SetFirstName("P").SetAge(3).Exec(ctx))
	})
	c = check("Create", e.cost(func() {
		require.NoError(t, e.cached.User.Create().SetEmail("c@x.io").SetFirstName("C").SetAge(3).Exec(ctx))
	}))
	// ent's insert, and the read-back of the row after it (see the README's
	// limits: the insert does not know what the database stored).
	assert.Equal(t, want+1, c.stmts, "Create without OnConflict: no conflict lookup")
	assert.LessOrEqual(t, c.trips, 3, "Create: lists marked before the insert, the row after it, the publish")

	// An upsert that updates a cached row looks its conflict up.
	want = e.plainStmts(func() {
		require.NoError(t, e.plain.User.Create().SetEmail("p@x.io").SetFirstName("P").SetAge(4).
			OnConflictColumns(user.FieldEmail).UpdateNewValues().Exec(ctx))
	})
	c = check("Create OnConflict", e.cost(func() {
		require.NoError(t, e.cached.User.Create().SetEmail("c@x.io").SetFirstName("C").SetAge(4).
			OnConflictColumns(user.FieldEmail).UpdateNewValues().Exec(ctx))
	}))
	extra := int64(2) // the conflict lookup, the read-back
	if e.cdrv.Dialect() == dialect.MySQL {
		extra++ // MySQL does not return the id of the row an upsert updated: looked up again
	}
	assert.Equal(t, want+extra, c.stmts, "an upsert: ent's insert, the conflict lookup, the read-back")

	// Bulk creates. (ent inserts a bulk in one statement: 2,000 users of
	// 12 columns stay under sqlite's and PostgreSQL's parameter limits.)
	for _, n := range []int{100, 2000} {
		var bs []*ent.UserCreate
		for i := range n {
			bs = append(bs, e.cached.User.Create().SetEmail(fmt.Sprintf("b%d-%d@x.io", n, i)).SetFirstName(fmt.Sprintf("B%d-%d", n, i)).SetAge(9))
		}
		c = check(fmt.Sprintf("CreateBulk %d", n), e.cost(func() {
			_, err := e.cached.User.CreateBulk(bs...).Save(ctx)
			require.NoError(t, err)
		}))
		// ent runs each row's hooks before the next row's, so each row
		// marks its lists before the insert in a round trip of its own (not
		// the target: README, limits); after it, the first row's write
		// marks, reads back and publishes them all (bulk.go): a few round
		// trips, and one query per 500 rows. A bulk without OnConflict runs
		// no conflict lookup.
		assert.LessOrEqual(t, c.trips, n+20, "CreateBulk of %d: a round trip per row before the insert, a few after", n)
		assert.Equal(t, int64(1+(n+499)/500), c.stmts, "CreateBulk of %d: the insert, and the rows read back 500 at a time", n)
	}

	// Bulk update of 10,000 cached rows.
	bulk := e.users(e.plain, 10000, "bulk")
	ids := make([]int, len(bulk))
	for i, u := range bulk {
		ids[i] = u.ID
	}
	for start := 0; start < len(ids); start += 100 {
		_, err := e.cached.User.Cached().GetMany(ctx, ids[start:start+100]...)
		require.NoError(t, err)
	}
	c = check("Update 10,000 SetAge", e.cost(func() {
		n, err := e.cached.User.Update().Where(user.EmailHasPrefix("bulk")).SetAge(11).Save(ctx)
		require.NoError(t, err)
		require.Equal(t, 10000, n)
	}))
	assert.LessOrEqual(t, c.trips, 20, "bulk update: round trips grow with batches, not rows")
	assert.Zero(t, c.uniques, "bulk update SetAge: the unique entries did not change")

	c = check("Delete 10,000", e.cost(func() {
		n, err := e.cached.User.Delete().Where(user.EmailHasPrefix("bulk")).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, 10000, n)
	}))
	assert.LessOrEqual(t, c.trips, 20, "bulk delete: round trips grow with batches, not rows")

	// A user owns pets through a hidden foreign key (ON DELETE SET NULL):
	// its delete also watches them (README, the watch protocol), two round
	// trips more. A pet owns nothing.
	want = e.plainStmts(func() { require.NoError(t, e.plain.User.DeleteOne(row[1]).Exec(ctx)) })
	c = check("DeleteOne (an owner)", e.cost(func() { require.NoError(t, e.cached.User.DeleteOne(row[0]).Exec(ctx)) }))
	assert.LessOrEqual(t, c.trips, 4, "DeleteOne of an owner: mark, watch, read the watch, publish")
	assert.Equal(t, want+1, c.stmts, "DeleteOne: ent's statement and the ids it deletes")
	pets := make([]*ent.Pet, 2)
	for i := range pets {
		var err error
		pets[i], err = e.plain.Pet.Create().SetName(fmt.Sprintf("p%d", i)).Save(ctx)
		require.NoError(t, err)
	}
	_, err := e.cached.Pet.Cached().Get(ctx, pets[0].ID)
	require.NoError(t, err)
	want = e.plainStmts(func() { require.NoError(t, e.plain.Pet.DeleteOne(pets[1]).Exec(ctx)) })
	c = check("DeleteOne", e.cost(func() { require.NoError(t, e.cached.Pet.DeleteOne(pets[0]).Exec(ctx)) }))
	assert.LessOrEqual(t, c.trips, 2, "DeleteOne: mark and publish")
	assert.Equal(t, want, c.stmts, "DeleteOne of a row that owns nothing: ent's statement only")

	// An edge write.
	owner := e.users(e.cached, 1, "owner")[0]
	pet, err := e.cached.Pet.Create().SetName("rex").Save(ctx)
	require.NoError(t, err)
	c = check("UpdateOne AddPets", e.cost(func() {
		require.NoError(t, e.cached.User.UpdateOne(owner).AddPets(pet).Exec(ctx))
	}))
	_ = c

	for _, u := range []*ent.User{owner} {
		e.requireConsistent(u.ID)
	}
}

// TestUntouchedIndexesFollowUserHooks: a write skips the index entries of
// fields it did not touch, judged after the write, so a field a user hook
// (inside the cache's) sets is a touched one: the row joins the list of its
// new value.
func TestUntouchedIndexesFollowUserHooks(t *testing.T) {
	e := newCostEnv(t)
	ctx := e.ctx
	e.cached.User.Use(func(next ent.Mutator) ent.Mutator {
		return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
			if _, ok := m.Nickname(); ok && m.Op().Is(ent.OpUpdateOne) {
				m.SetAge(99) // a nickname change also moves the user (say, a "renamed" cohort)
			}
			return next.Mutate(ctx, m)
		})
	})
	u := e.users(e.cached, 1, "hooked")[0]
	got, err := e.cached.User.Cached().ListByAge(ctx, 99)
	require.NoError(t, err)
	require.Empty(t, got) // the empty list is cached
	require.NoError(t, e.cached.User.UpdateOne(u).SetNickname("n").Exec(ctx))
	got, err = e.cached.User.Cached().ListByAge(ctx, 99)
	require.NoError(t, err)
	require.Len(t, got, 1, "the row the user hook moved is in its new list")
	assert.Equal(t, u.ID, got[0].ID)
	e.requireConsistent(u.ID)
}
