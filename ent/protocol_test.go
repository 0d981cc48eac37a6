package ent_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// rowKey returns the Redis key of a user's cached value.
func (e *env) rowKey(id int) string {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(id))
	require.NoError(e.t, err)
	require.Len(e.t, keys, 1, "one cached value of user %d", id)
	return keys[0]
}

// requireSettled checks that a cached value has no expiry and that no token
// is outstanding on it.
func (e *env) requireSettled(key string) {
	e.t.Helper()
	ttl, err := e.redis.Client.PTTL(e.ctx, key).Result()
	require.NoError(e.t, err)
	assert.Equal(e.t, time.Duration(-1), ttl, "%s has no expiry", key)
	fields, err := e.redis.Client.HKeys(e.ctx, key+":lk").Result()
	require.NoError(e.t, err)
	assert.Empty(e.t, fields, "no token outstanding on %s", key)
}

// On MySQL a create of a type with a unique field finds its own row again
// after the write (an upsert's rows have no ids there); the id was marked
// twice, and the second token, never ended, expired the value after a lease.
func TestCreateLeavesNoTokenBehind(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("once@x.io", 3)
	e.requireSettled(e.rowKey(u.ID))
	us, err := e.client.User.CreateBulk(
		e.client.User.Create().SetEmail("b1@x.io").SetFirstName("b1"),
		e.client.User.Create().SetEmail("b2@x.io").SetFirstName("b2"),
	).Save(e.ctx)
	require.NoError(t, err)
	for _, u := range us {
		e.requireSettled(e.rowKey(u.ID))
	}
}

// lostAck is a driver whose commits commit and then report an error, as
// when the acknowledgement of a commit is lost.
type lostAck struct {
	dialect.Driver
	lose atomic.Bool
}

func (d *lostAck) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &lostAckTx{Tx: tx, d: d}, nil
}

type lostAckTx struct {
	dialect.Tx
	d *lostAck
}

func (t *lostAckTx) Commit() error {
	if err := t.Tx.Commit(); err != nil || !t.d.lose.Load() {
		return err
	}
	return errors.New("connection reset: commit acknowledgement lost")
}

// requireAge checks the age of a user in the database and in the cache.
func (e *env) requireAge(c *ent.Client, id, age int) {
	e.t.Helper()
	db, err := e.client.User.Get(e.ctx, id)
	require.NoError(e.t, err)
	require.Equal(e.t, age, db.Age, "the database")
	got, err := c.User.Cached().Get(e.ctx, id)
	require.NoError(e.t, err)
	assert.Equal(e.t, age, got.Age, "the cache answers as the database")
}

// A write whose outcome is uncertain must remove what it marked: keeping
// the value (ending its tokens with a release) kept the old row.
func TestUncertainWritesRemoveTheirKeys(t *testing.T) {
	t.Run("a failed mutation inside a committed transaction", func(t *testing.T) {
		e := newEnv(t)
		u := e.createUser("half@x.io", 1)
		e.requireAge(e.client, u.ID, 1)
		tx, err := e.client.Tx(e.ctx)
		require.NoError(t, err)
		// The row's UPDATE runs, then adding a pet that does not exist fails.
		err = tx.User.UpdateOneID(u.ID).SetAge(30).AddPetIDs(987654).Exec(e.ctx)
		require.Error(t, err)
		require.NoError(t, tx.Commit())
		e.requireAge(e.client, u.ID, 30)
		e.requireConsistent(u.ID)
	})
	t.Run("a commit whose acknowledgement is lost", func(t *testing.T) {
		e := newEnv(t)
		drv := &lostAck{Driver: e.drv}
		client := ent.NewClient(ent.Driver(drv), ent.CacheModel(e.cache))
		u := e.createUser("ack@x.io", 1)
		e.requireAge(client, u.ID, 1)
		drv.lose.Store(true)
		tx, err := client.Tx(e.ctx)
		require.NoError(t, err)
		require.NoError(t, tx.User.UpdateOneID(u.ID).SetAge(30).Exec(e.ctx))
		require.Error(t, tx.Commit())
		e.requireAge(client, u.ID, 30)
		// UpdateOne outside a transaction runs in one of ent's own.
		require.Error(t, client.User.UpdateOneID(u.ID).SetAge(31).Exec(e.ctx))
		e.requireAge(client, u.ID, 31)
		e.requireConsistent(u.ID)
	})
	t.Run("a rolled back transaction keeps the value", func(t *testing.T) {
		e := newEnv(t)
		u := e.createUser("kept@x.io", 1)
		e.requireAge(e.client, u.ID, 1)
		tx, err := e.client.Tx(e.ctx)
		require.NoError(t, err)
		require.NoError(t, tx.User.UpdateOneID(u.ID).SetAge(30).Exec(e.ctx))
		require.NoError(t, tx.Rollback())
		n := e.queries(func() { e.requireAge(e.client, u.ID, 1) })
		assert.Equal(t, int64(1), n, "only requireAge's own database read: the value stayed cached")
	})
}

// typeKeys returns the keys of the user type matching a pattern after the
// keyspace ("r:r1", "l:age:r3", ...).
func (e *env) typeKeys(rel string) []string {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, fmt.Sprintf("{%s:User:*:%s}*", entcachemodel.KeyPart(e.redis.Prefix), rel))
	require.NoError(e.t, err)
	return keys
}

// Keys of a type the cache never writes stopped the protocol: a lease that
// is a string made every script on its key fail (and the breaker kept the
// writer's process off Redis), while plain reads served the old value.
func TestKeysOfTheWrongTypeAreRemoved(t *testing.T) {
	overwrite := map[string]func(e *env, key string){
		"string": func(e *env, key string) {
			require.NoError(e.t, e.redis.Client.Set(e.ctx, key, "junk", 0).Err())
		},
		"hash": func(e *env, key string) {
			require.NoError(e.t, e.redis.Client.Del(e.ctx, key).Err())
			require.NoError(e.t, e.redis.Client.HSet(e.ctx, key, "f", "v").Err())
		},
		"set": func(e *env, key string) {
			require.NoError(e.t, e.redis.Client.Del(e.ctx, key).Err())
			require.NoError(e.t, e.redis.Client.SAdd(e.ctx, key, "=1").Err())
		},
		"list": func(e *env, key string) {
			require.NoError(e.t, e.redis.Client.Del(e.ctx, key).Err())
			require.NoError(e.t, e.redis.Client.RPush(e.ctx, key, "x").Err())
		},
	}
	for _, target := range []string{"row", "row lease", "list", "list lease", "unique entry"} {
		for kind, write := range overwrite {
			t.Run(target+" as a "+kind, func(t *testing.T) {
				e := newEnv(t)
				u := e.createUser("typed@x.io", 7)
				e.requireConsistent(u.ID) // fills the lists and entries
				var key string
				switch target {
				case "row":
					key = e.rowKey(u.ID)
				case "row lease":
					key = e.rowKey(u.ID) + ":lk"
				case "list":
					key = e.typeKeys("l:age:r7")[0]
				case "list lease":
					key = e.typeKeys("l:age:r7")[0] + ":lk"
				case "unique entry":
					key = e.typeKeys("u:email:*")[0]
				}
				write(e, key)
				errs := e.cache.Stats().Errors
				e.requireConsistent(u.ID)
				require.NoError(t, e.client.User.UpdateOneID(u.ID).SetAge(8).Exec(e.ctx))
				e.requireConsistent(u.ID)
				require.NoError(t, e.client.User.UpdateOneID(u.ID).SetAge(7).Exec(e.ctx))
				e.requireConsistent(u.ID)
				assert.Equal(t, errs, e.cache.Stats().Errors, "no Redis error: the foreign key was removed")
				e.requireSettled(e.rowKey(u.ID))
			})
		}
	}
}

// A valid value under another row's key was served as that row.
func TestAnotherRowsValueIsAMiss(t *testing.T) {
	e := newEnv(t)
	a := e.createUser("a@x.io", 5)
	b := e.createUser("b@x.io", 5)
	require.NoError(t, e.redis.Client.Set(e.ctx, e.rowKey(a.ID), e.redisValue(b.ID), 0).Err())
	got, err := e.client.User.Cached().Get(e.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	require.NoError(t, e.redis.Client.Set(e.ctx, e.rowKey(a.ID), e.redisValue(b.ID), 0).Err())
	list, err := e.client.User.Cached().ListByAge(e.ctx, 5)
	require.NoError(t, err)
	assert.Equal(t, []int{a.ID, b.ID}, userIDs(list))
	e.requireConsistent(a.ID, b.ID)
}
