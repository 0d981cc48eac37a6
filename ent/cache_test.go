package ent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/pet"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// env is one test's database, Redis and client.
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *testenv.Database
	drv    *testenv.Counter
	redis  *testenv.Redis
	cache  *entcachemodel.Cache
	client *ent.Client
}

func newEnv(t *testing.T, opts ...entcachemodel.Option) *env {
	t.Helper()
	db, err := testenv.OpenDatabase()
	require.NoError(t, err)
	t.Cleanup(db.Close)
	r, err := testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	e := &env{t: t, ctx: context.Background(), db: db, redis: r}
	e.drv, e.cache, e.client = e.process(r.Client, opts...)
	require.NoError(t, e.client.Schema.Create(e.ctx))
	return e
}

// process opens another "process" on the same database and Redis: its own
// pool, Redis client, cache and ent client.
func (e *env) process(rdb redis.UniversalClient, opts ...entcachemodel.Option) (*testenv.Counter, *entcachemodel.Cache, *ent.Client) {
	drv, err := e.db.Open()
	require.NoError(e.t, err)
	cache := entcachemodel.New(rdb, append([]entcachemodel.Option{entcachemodel.WithPrefix(e.redis.Prefix)}, opts...)...)
	client := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
	e.t.Cleanup(func() { client.Close() })
	return drv, cache, client
}

// queries runs f and returns how many database statements it ran.
func (e *env) queries(f func()) int64 {
	before := e.drv.Count()
	f()
	return e.drv.Count() - before
}

func (e *env) createUser(email string, age int) *ent.User {
	e.t.Helper()
	u, err := e.client.User.Create().SetEmail(email).SetFirstName("F" + email).SetLastName("L" + email).SetAge(age).Save(e.ctx)
	require.NoError(e.t, err)
	return u
}

// requireCached checks that every cached lookup of the user answers as the
// database does.
func (e *env) requireConsistent(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		want, werr := e.client.User.Get(e.ctx, id)
		got, gerr := e.client.User.Cached().Get(e.ctx, id)
		if ent.IsNotFound(werr) {
			require.True(e.t, ent.IsNotFound(gerr), "user %d: deleted but cached: %v", id, got)
			continue
		}
		require.NoError(e.t, werr)
		require.NoError(e.t, gerr)
		require.Equal(e.t, want.Fields(), got.Fields())
		byEmail, err := e.client.User.Cached().GetByEmail(e.ctx, want.Email)
		require.NoError(e.t, err)
		require.Equal(e.t, want.Fields(), byEmail.Fields())
		byName, err := e.client.User.Cached().GetByFirstNameLastName(e.ctx, want.FirstName, want.LastName)
		require.NoError(e.t, err)
		require.Equal(e.t, want.Fields(), byName.Fields())
		wantList, err := e.client.User.Query().Where(user.Age(want.Age)).Order(user.ByID()).All(e.ctx)
		require.NoError(e.t, err)
		gotList, err := e.client.User.Cached().ListByAge(e.ctx, want.Age)
		require.NoError(e.t, err)
		require.Equal(e.t, userFields(wantList), userFields(gotList))
		wantList, err = e.client.User.Query().Where(user.RoleEQ(want.Role), user.Active(want.Active)).Order(user.ByID()).All(e.ctx)
		require.NoError(e.t, err)
		gotList, err = e.client.User.Cached().ListByRoleActive(e.ctx, want.Role, want.Active)
		require.NoError(e.t, err)
		require.Equal(e.t, userFields(wantList), userFields(gotList))
	}
}

func userFields(us []*ent.User) []ent.User {
	out := make([]ent.User, len(us))
	for i, u := range us {
		out[i] = u.Fields()
	}
	return out
}

func TestCreatePublishesBeforeReturning(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("a@x.io", 30)
	var got *ent.User
	n := e.queries(func() {
		var err error
		got, err = e.client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
	})
	assert.Zero(t, n, "a read right after Create must not query the database")
	assert.Equal(t, u.Fields(), got.Fields())

	n = e.queries(func() {
		byEmail, err := e.client.User.Cached().GetByEmail(e.ctx, "a@x.io")
		require.NoError(t, err)
		assert.Equal(t, u.ID, byEmail.ID)
		byName, err := e.client.User.Cached().GetByFirstNameLastName(e.ctx, u.FirstName, u.LastName)
		require.NoError(t, err)
		assert.Equal(t, u.ID, byName.ID)
	})
	assert.Zero(t, n, "unique lookups after Create must not query the database")
}

func TestEveryFieldRoundTrips(t *testing.T) {
	e := newEnv(t)
	owner := e.createUser("owner@x.io", 40)
	joined := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	u, err := e.client.User.Create().
		SetEmail("all@x.io").SetFirstName("Ünï").SetLastName("cödé:{x}").SetAge(-7).
		SetNickname("").SetPassword("s3cret").SetTags([]string{"a", "b:c"}).
		SetRole(user.RoleAdmin).SetScore(3.25).SetAvatar([]byte{0, 1, 2}).
		SetJoinedAt(joined).SetActive(false).Save(e.ctx)
	require.NoError(t, err)
	created, err := e.client.Pet.Create().SetName("rex").SetOwner(owner).Save(e.ctx)
	require.NoError(t, err)

	want, err := e.client.User.Get(e.ctx, u.ID)
	require.NoError(t, err)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, want.Fields(), got.Fields())
	assert.Equal(t, "s3cret", got.Password, "Sensitive fields are cached")
	require.NotNil(t, got.Nickname)

	wantPet, err := e.client.Pet.Query().Where(pet.ID(created.ID)).WithOwner().Only(e.ctx)
	require.NoError(t, err)
	gotPet, err := e.client.Pet.Cached().Get(e.ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, wantPet.Fields(), gotPet.Fields())
	require.NotNil(t, gotPet.OwnerID(), "the hidden foreign key is cached")

	// A cached entity is bound to the client: edges and updates work.
	gotOwner, err := gotPet.QueryOwner().Only(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, owner.ID, gotOwner.ID)
	_, err = got.Update().SetAge(8).Save(e.ctx)
	require.NoError(t, err)
	e.requireConsistent(u.ID, owner.ID)
}

func TestUpdateSeenImmediatelyAndIndexesFollow(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("old@x.io", 20)
	_, err := e.client.User.Cached().ListByAge(e.ctx, 20) // cache the list
	require.NoError(t, err)

	updated, err := u.Update().SetEmail("new@x.io").SetAge(21).Save(e.ctx)
	require.NoError(t, err)
	n := e.queries(func() {
		got, err := e.client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, updated.Fields(), got.Fields())
	})
	assert.Zero(t, n)

	_, err = e.client.User.Cached().GetByEmail(e.ctx, "old@x.io")
	assert.True(t, ent.IsNotFound(err), "the old email no longer answers: %v", err)
	got, err := e.client.User.Cached().GetByEmail(e.ctx, "new@x.io")
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
	old, err := e.client.User.Cached().ListByAge(e.ctx, 20)
	require.NoError(t, err)
	assert.Empty(t, old)
	e.requireConsistent(u.ID)
}

// UpdateOne with Select reads back only the selected columns; the cache
// must still publish the whole row.
func TestUpdateOneWithSelectPublishesTheWholeRow(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("select@x.io", 30)
	e.requireConsistent(u.ID)

	_, err := e.client.User.UpdateOneID(u.ID).SetAge(31).Select(user.FieldAge).Save(e.ctx)
	require.NoError(t, err)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, "select@x.io", got.Email)
	assert.Equal(t, 31, got.Age)
	e.requireConsistent(u.ID)
}

func TestBulkUpdateAndDelete(t *testing.T) {
	e := newEnv(t)
	var ids []int
	for i := range 5 {
		ids = append(ids, e.createUser(fmt.Sprintf("u%d@x.io", i), 10+i%2).ID)
	}
	_, err := e.client.User.Cached().ListByAge(e.ctx, 10)
	require.NoError(t, err)
	n, err := e.client.User.Update().Where(user.Age(11)).SetAge(10).SetNickname("bulk").Save(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	list, err := e.client.User.Cached().ListByAge(e.ctx, 10)
	require.NoError(t, err)
	assert.Len(t, list, 5)
	e.requireConsistent(ids...)

	n, err = e.client.User.Delete().Where(user.IDIn(ids[:3]...)).Exec(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.NoError(t, e.client.User.DeleteOneID(ids[3]).Exec(e.ctx))
	for _, id := range ids[:4] {
		_, err := e.client.User.Cached().Get(e.ctx, id)
		assert.True(t, ent.IsNotFound(err), "deleted user %d: %v", id, err)
	}
	_, err = e.client.User.Cached().GetByEmail(e.ctx, "u0@x.io")
	assert.True(t, ent.IsNotFound(err))
	list, err = e.client.User.Cached().ListByAge(e.ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, ids[4], list[0].ID)
	e.requireConsistent(ids...)
}

func TestCreateBulkAndGetMany(t *testing.T) {
	e := newEnv(t)
	users, err := e.client.User.CreateBulk(
		e.client.User.Create().SetEmail("b1@x.io").SetFirstName("b").SetLastName("1"),
		e.client.User.Create().SetEmail("b2@x.io").SetFirstName("b").SetLastName("2"),
		e.client.User.Create().SetEmail("b3@x.io").SetFirstName("b").SetLastName("3"),
	).Save(e.ctx)
	require.NoError(t, err)
	var got []*ent.User
	n := e.queries(func() {
		got, err = e.client.User.Cached().GetMany(e.ctx, users[2].ID, users[0].ID, users[1].ID)
		require.NoError(t, err)
	})
	assert.Zero(t, n, "bulk-created rows are published")
	n = e.queries(func() {
		got, err = e.client.User.Cached().GetMany(e.ctx, users[2].ID, 999999, users[0].ID, users[1].ID)
		require.NoError(t, err)
	})
	assert.Equal(t, int64(1), n, "only the unknown id goes to the database")
	require.Len(t, got, 3)
	assert.Equal(t, []int{users[2].ID, users[0].ID, users[1].ID}, []int{got[0].ID, got[1].ID, got[2].ID})
}

func TestUpsertPublishesTheRow(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("up@x.io", 11)
	_, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	// On conflict, keep the row but take the new age: the database has
	// age 12 and the old names, not the values given to Create.
	id, err := e.client.User.Create().SetEmail("up@x.io").SetFirstName("other").SetLastName("name").SetAge(12).
		OnConflictColumns(user.FieldEmail).Update(func(s *ent.UserUpsert) { s.UpdateAge() }).ID(e.ctx)
	require.NoError(t, err)
	require.Equal(t, u.ID, id)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 12, got.Age)
	assert.Equal(t, u.FirstName, got.FirstName)
	e.requireConsistent(u.ID)

	require.NoError(t, e.client.User.CreateBulk(
		e.client.User.Create().SetEmail("up@x.io").SetAge(13),
		e.client.User.Create().SetEmail("up2@x.io").SetFirstName("u").SetLastName("2").SetAge(13),
	).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(e.ctx))
	got, err = e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 13, got.Age)
	e.requireConsistent(u.ID)
}

func TestTransactionPublishesOnCommitOnly(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("tx@x.io", 1)

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOne(u).SetAge(100).Exec(e.ctx))
	require.NoError(t, tx.User.UpdateOne(u).SetAge(200).Exec(e.ctx))
	created, err := tx.User.Create().SetEmail("tx2@x.io").SetFirstName("t").SetLastName("2").Save(e.ctx)
	require.NoError(t, err)
	inTx, err := tx.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 200, inTx.Age, "a transaction reads its own writes")
	// Nothing uncommitted is in Redis: the cached value is still the old one.
	raw := e.redisValue(u.ID)
	require.NotNil(t, raw)
	assert.Nil(t, e.redisValue(created.ID))
	require.NoError(t, tx.Commit())

	n := e.queries(func() {
		got, err := e.client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, 200, got.Age, "last write in the transaction wins")
		_, err = e.client.User.Cached().Get(e.ctx, created.ID)
		require.NoError(t, err)
	})
	assert.Zero(t, n)

	tx, err = e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOne(u).SetAge(300).Exec(e.ctx))
	rolledBack, err := tx.User.Create().SetEmail("tx3@x.io").SetFirstName("t").SetLastName("3").Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 200, got.Age)
	_, err = e.client.User.Cached().Get(e.ctx, rolledBack.ID)
	assert.True(t, ent.IsNotFound(err))
	e.requireConsistent(u.ID, created.ID)
}

// rowPattern matches the Redis key of a user's cached value.
func (e *env) rowPattern(id int) string {
	return fmt.Sprintf("{%s:User:*:r:r%d}", entcachemodel.KeyPart(e.redis.Prefix), id)
}

// flushKeys deletes every key of the test, as FLUSHALL would on a server of
// its own, on every kind of server.
func (e *env) flushKeys() {
	e.t.Helper()
	_, err := e.redis.DeleteAll(e.ctx)
	require.NoError(e.t, err)
}

// redisValue returns the raw cached value of a user, nil when absent.
func (e *env) redisValue(id int) []byte {
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(id))
	require.NoError(e.t, err)
	for _, k := range keys {
		if b, err := e.redis.Client.Get(e.ctx, k).Bytes(); err == nil {
			return b
		}
	}
	return nil
}

func TestMissFillsAndCoalesces(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("cold@x.io", 5)
	e.flushKeys() // a cold cache
	var wg sync.WaitGroup
	n := e.queries(func() {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := e.client.User.Cached().Get(e.ctx, u.ID)
				assert.NoError(t, err)
				assert.Equal(t, u.ID, got.ID)
			}()
		}
		wg.Wait()
	})
	assert.Equal(t, int64(1), n, "concurrent misses of one key run one query")
	n = e.queries(func() {
		_, err := e.client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
	})
	assert.Zero(t, n, "the miss filled the cache")
	_, err := e.client.User.Cached().Get(e.ctx, 424242)
	assert.True(t, ent.IsNotFound(err))
	e.requireConsistent(u.ID)
}

func TestNoCacheReadsTheDatabase(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("plain@x.io", 3)
	drv, err := e.db.Open()
	require.NoError(t, err)
	plain := ent.NewClient(ent.Driver(drv))
	defer plain.Close()
	got, err := plain.User.Cached().GetByEmail(e.ctx, "plain@x.io")
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
	_, err = plain.User.Cached().Get(e.ctx, 0)
	assert.True(t, ent.IsNotFound(err))
	require.NoError(t, plain.User.UpdateOneID(u.ID).SetAge(4).Exec(e.ctx))
}

func TestCorruptValueIsAMiss(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("bad@x.io", 3)
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(u.ID))
	require.NoError(t, err)
	require.Len(t, keys, 1)
	for _, v := range []string{"", "garbage", "\xec\x01trailing", string(e.redisValue(u.ID)[:10])} {
		require.NoError(t, e.redis.Client.Set(e.ctx, keys[0], v, 0).Err())
		got, err := e.client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.Fields(), got.Fields())
	}
}

func TestRedisDownNeverBlocksWrites(t *testing.T) {
	e := newEnv(t, entcachemodel.WithTimeout(200*time.Millisecond), entcachemodel.WithCooldown(50*time.Millisecond))
	u := e.createUser("down@x.io", 3)
	broken := ent.NewClient(ent.Driver(e.drv), ent.CacheModel(entcachemodel.New(
		testenv.DeadRedis(), entcachemodel.WithPrefix(e.redis.Prefix), entcachemodel.WithTimeout(100*time.Millisecond))))
	got, err := broken.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err, "reads fall back to the database")
	assert.Equal(t, u.ID, got.ID)
	updated, err := broken.User.UpdateOne(u).SetAge(4).Save(e.ctx)
	require.NoError(t, err, "the database write goes through")
	assert.Equal(t, 4, updated.Age)

	strict := ent.NewClient(ent.Driver(e.drv), ent.CacheModel(entcachemodel.New(
		testenv.DeadRedis(), entcachemodel.WithStrictWrites(), entcachemodel.WithTimeout(100*time.Millisecond))))
	err = strict.User.UpdateOne(u).SetAge(5).Exec(e.ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, entcachemodel.ErrUnavailable))
	fresh, err := e.client.User.Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, fresh.Age, "a strict write that cannot mark the cache never reaches the database")

	// Inside a transaction, trying the same write again is refused again.
	tx, err := strict.Tx(e.ctx)
	require.NoError(t, err)
	for try := range 2 {
		err = tx.User.UpdateOne(u).SetAge(6).Exec(e.ctx)
		assert.ErrorIs(t, err, entcachemodel.ErrUnavailable, "try %d", try)
	}
	require.NoError(t, tx.Commit())
	fresh, err = e.client.User.Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, fresh.Age, "no try of the strict write reached the database")
}

// requirePet checks the cached pet against the database, hidden foreign key
// included.
func (e *env) requirePet(id int, owner *int) {
	e.t.Helper()
	want, err := e.client.Pet.Query().Where(pet.ID(id)).WithOwner().Only(e.ctx)
	require.NoError(e.t, err)
	got, err := e.client.Pet.Cached().Get(e.ctx, id)
	require.NoError(e.t, err)
	require.Equal(e.t, want.Fields(), got.Fields())
	require.Equal(e.t, owner, got.OwnerID())
}

// A write that clears an owner's edge, or deletes the owner, changes the
// hidden key of rows it does not name. A pet moved to that owner by another
// process after the clearing write listed the owner's pets, and before its
// statement ran, is changed unseen: it must not stay cached with the owner
// it no longer has.
func TestHiddenForeignKeyRaceWithAnUnnamedWrite(t *testing.T) {
	unseen := map[string]func(e *env, owner *ent.User) error{
		"clear":  func(e *env, owner *ent.User) error { return e.client.User.UpdateOne(owner).ClearPets().Exec(e.ctx) },
		"delete": func(e *env, owner *ent.User) error { return e.client.User.DeleteOne(owner).Exec(e.ctx) },
	}
	movers := map[string]func(c *ent.Client, ctx context.Context, owner *ent.User, p *ent.Pet) error{
		"pet side": func(c *ent.Client, ctx context.Context, owner *ent.User, p *ent.Pet) error {
			return c.Pet.UpdateOneID(p.ID).SetOwnerID(owner.ID).Exec(ctx)
		},
		"owner side": func(c *ent.Client, ctx context.Context, owner *ent.User, p *ent.Pet) error {
			return c.User.UpdateOneID(owner.ID).AddPetIDs(p.ID).Exec(ctx)
		},
		"owner upsert": func(c *ent.Client, ctx context.Context, owner *ent.User, p *ent.Pet) error {
			return c.User.Create().SetEmail(owner.Email).SetFirstName(owner.FirstName).SetLastName(owner.LastName).
				AddPetIDs(p.ID).OnConflictColumns(user.FieldEmail).UpdateNewValues().Exec(ctx)
		},
	}
	for name, write := range unseen {
		for moverName, move := range movers {
			for _, slow := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/slow=%v", name, moverName, slow), func(t *testing.T) {
					const leaseTime = 300 * time.Millisecond
					e := newEnv(t, entcachemodel.WithLease(leaseTime))
					owner := e.createUser("owner@x.io", 1)
					p, err := e.client.Pet.Create().SetName("late").Save(e.ctx)
					require.NoError(t, err)
					e.requirePet(p.ID, nil)
					_, _, other := e.process(e.redis.NewClient(), entcachemodel.WithLease(leaseTime))

					// Between our listing of the owner's pets and the statement,
					// another process moves the pet to the owner, and publishes it.
					var once sync.Once
					e.client.User.Use(func(next ent.Mutator) ent.Mutator {
						return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
							once.Do(func() {
								require.NoError(t, move(other, ctx, owner, p))
								if slow {
									// The clearing write waits longer than a lease
									// (a lock, a long transaction), and a reader
									// fills the row as it still is meanwhile.
									e.redis.Advance(leaseTime + 100*time.Millisecond)
									e.requirePet(p.ID, &owner.ID)
								}
							})
							return next.Mutate(ctx, m)
						})
					})
					require.NoError(t, write(e, owner))

					got, err := e.client.Pet.Query().Where(pet.ID(p.ID)).WithOwner().Only(e.ctx)
					require.NoError(t, err)
					require.Nil(t, got.Edges.Owner, "the database: the unnamed write cleared the key")
					// At most one lease later, the cache agrees.
					e.redis.Advance(leaseTime + 100*time.Millisecond)
					e.requirePet(p.ID, nil)
				})
			}
		}
	}
}

// A clearing write in a transaction that stays open longer than its watch
// would last: the watch is renewed until the write publishes, and the pet
// moved meanwhile, and filled by a reader, is removed then.
func TestHiddenForeignKeyWatchOutlivesALongTransaction(t *testing.T) {
	const leaseTime = 100 * time.Millisecond
	e := newEnv(t, entcachemodel.WithLease(leaseTime))
	if e.db.Dialect == dialect.SQLite {
		t.Skip("sqlite runs one writer at a time: this interleaving needs a server database")
	}
	owner := e.createUser("long@x.io", 1)
	p, err := e.client.Pet.Create().SetName("late").Save(e.ctx)
	require.NoError(t, err)
	_, _, other := e.process(e.redis.NewClient(), entcachemodel.WithLease(leaseTime))
	var once sync.Once
	e.client.User.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			once.Do(func() { require.NoError(t, other.Pet.UpdateOneID(p.ID).SetOwnerID(owner.ID).Exec(ctx)) })
			return next.Mutate(ctx, m)
		})
	})

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOne(owner).ClearPets().Exec(e.ctx))
	// The transaction stays open for more than the watch's life, and the
	// pet is read (and filled, with the owner it has until the commit).
	for range 15 {
		e.redis.Advance(leaseTime)
	}
	e.requirePet(p.ID, &owner.ID)
	require.NoError(t, tx.Commit())
	e.redis.Advance(leaseTime + 50*time.Millisecond)
	e.requirePet(p.ID, nil)
}

// On REPEATABLE READ (MySQL's default), a clearing write in a transaction
// lists the owner's pets from a snapshot taken before another process moved
// a pet there; its statement still changes that pet.
func TestHiddenForeignKeyClearFromASnapshot(t *testing.T) {
	e := newEnv(t)
	if e.db.Dialect == dialect.SQLite {
		t.Skip("sqlite runs one writer at a time: this interleaving needs a server database")
	}
	owner := e.createUser("snap@x.io", 1)
	p, err := e.client.Pet.Create().SetName("late").Save(e.ctx)
	require.NoError(t, err)
	_, _, other := e.process(e.redis.NewClient())

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	_, err = tx.Pet.Query().Count(e.ctx) // the snapshot starts
	require.NoError(t, err)
	require.NoError(t, other.Pet.UpdateOneID(p.ID).SetOwnerID(owner.ID).Exec(e.ctx))
	e.requirePet(p.ID, &owner.ID)
	require.NoError(t, tx.User.UpdateOne(owner).ClearPets().Exec(e.ctx))
	require.NoError(t, tx.Commit())
	e.requirePet(p.ID, nil)
}

// Edge writes from either side keep the hidden foreign key of cached pets.
func TestHiddenForeignKeysFollowEdgeWrites(t *testing.T) {
	e := newEnv(t)
	a, b := e.createUser("a@x.io", 1), e.createUser("b@x.io", 1)
	p1, err := e.client.Pet.Create().SetName("p1").SetOwner(a).Save(e.ctx)
	require.NoError(t, err)
	p2, err := e.client.Pet.Create().SetName("p2").Save(e.ctx)
	require.NoError(t, err)
	e.requirePet(p1.ID, &a.ID)

	require.NoError(t, e.client.Pet.UpdateOne(p1).SetName("p1b").Exec(e.ctx))
	e.requirePet(p1.ID, &a.ID) // UpdateOne's own result lacks the key

	require.NoError(t, e.client.User.UpdateOne(b).AddPets(p2).Exec(e.ctx))
	e.requirePet(p2.ID, &b.ID)
	require.NoError(t, e.client.User.UpdateOne(b).RemovePets(p2).Exec(e.ctx))
	e.requirePet(p2.ID, nil)
	c, err := e.client.User.Create().SetEmail("c@x.io").AddPets(p2).Save(e.ctx)
	require.NoError(t, err)
	e.requirePet(p2.ID, &c.ID)
	require.NoError(t, e.client.User.UpdateOne(c).ClearPets().Exec(e.ctx))
	e.requirePet(p2.ID, nil)

	require.NoError(t, e.client.User.DeleteOne(a).Exec(e.ctx))
	e.requirePet(p1.ID, nil) // ON DELETE SET NULL
}
