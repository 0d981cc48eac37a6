package ent_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
)

// bulkOf returns n user creates of one age on c, emails tagged by tag.
func bulkOf(c *ent.Client, tag string, n, age int) []*ent.UserCreate {
	bs := make([]*ent.UserCreate, n)
	for i := range bs {
		bs[i] = c.User.Create().SetEmail(fmt.Sprintf("%s%d@bulk.io", tag, i)).SetFirstName(fmt.Sprintf("%s%d", tag, i)).SetLastName("B").SetAge(age)
	}
	return bs
}

// TestCreateBulkPublishesOnce: the rows of a CreateBulk are published
// together by the first row's write (bulk.go). Rows that share a list each
// marked it before the insert; the latest token publishes, the others are
// released, so the cached list is kept up to date rather than removed by
// the older tokens' refused publishes, and no token is left outstanding.
func TestCreateBulkPublishesOnce(t *testing.T) {
	e := newEnv(t)
	e.createUser("first@bulk.io", 33)
	_, err := e.client.User.Cached().ListByAge(e.ctx, 33) // cache the list
	require.NoError(t, err)

	us, err := e.client.User.CreateBulk(bulkOf(e.client, "p", 5, 33)...).Save(e.ctx)
	require.NoError(t, err)
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
		e.requireSettled(e.rowKey(u.ID))
	}
	n := e.queries(func() {
		got, err := e.client.User.Cached().ListByAge(e.ctx, 33)
		require.NoError(t, err)
		assert.Len(t, got, 6, "the cached list holds the bulk's rows")
		_, err = e.client.User.Cached().GetMany(e.ctx, ids...)
		require.NoError(t, err)
	})
	assert.Zero(t, n, "the list and the rows are served from Redis")
	e.requireNoTokens()
	keys, err := e.ownKeys("*:l:age:*")
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		if !isLeaseKey(k) {
			e.requireSettled(k)
		}
	}
	e.requireConsistent(ids...)
}

// ownKeys returns this test's keys (under its prefix, on every node) that
// match pattern: other packages' tests share the Redis database.
func (e *env) ownKeys(pattern string) ([]string, error) {
	return e.redis.Keys(e.ctx, "{"+entcachemodel.KeyPart(e.redis.Prefix)+":"+pattern)
}

func isLeaseKey(k string) bool { return len(k) > 3 && k[len(k)-3:] == ":lk" }

// requireNoTokens checks that no token is outstanding on any key: every
// write ended what it marked.
func (e *env) requireNoTokens() {
	e.t.Helper()
	keys, err := e.ownKeys("*:lk")
	require.NoError(e.t, err)
	for _, k := range keys {
		fields, err := e.redis.Client.HKeys(e.ctx, k).Result()
		require.NoError(e.t, err)
		for _, f := range fields {
			assert.Equal(e.t, "~", f, "no token outstanding on %s", k)
		}
	}
}

// TestCreateBulkFailingHook: a user hook fails one row of a bulk after the
// insert, so the bulk returns its error while every row is in the database.
// What the rows' writes marked ends removed, never kept, and the cache
// answers as the database does.
func TestCreateBulkFailingHook(t *testing.T) {
	for _, failing := range []int{0, 2, 4} {
		t.Run(fmt.Sprintf("row %d", failing), func(t *testing.T) {
			e := newEnv(t)
			e.createUser("first@bulk.io", 34)
			_, err := e.client.User.Cached().ListByAge(e.ctx, 34)
			require.NoError(t, err)
			boom := errors.New("boom")
			fail := fmt.Sprintf("f%d@bulk.io", failing)
			e.client.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					v, err := next.Mutate(ctx, m)
					if um, ok := m.(*ent.UserMutation); ok && err == nil && um.Op().Is(ent.OpCreate) {
						if email, _ := um.Email(); email == fail {
							return v, boom
						}
					}
					return v, err
				})
			})
			_, err = e.client.User.CreateBulk(bulkOf(e.client, "f", 5, 34)...).Save(e.ctx)
			require.ErrorIs(t, err, boom)
			stored, err := e.client.User.Query().Where(user.Age(34)).IDs(e.ctx)
			require.NoError(t, err)
			require.Len(t, stored, 6, "the insert committed")
			e.requireNoTokens()
			e.requireConsistent(stored...)
		})
	}
}

// TestCreateBulkInTransaction: a bulk's rows inside a transaction are
// published when it commits, and not at all when it rolls back.
func TestCreateBulkInTransaction(t *testing.T) {
	e := newEnv(t)
	e.createUser("first@bulk.io", 35)
	_, err := e.client.User.Cached().ListByAge(e.ctx, 35)
	require.NoError(t, err)

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	_, err = tx.User.CreateBulk(bulkOf(tx.Client(), "r", 3, 35)...).Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	got, err := e.client.User.Cached().ListByAge(e.ctx, 35)
	require.NoError(t, err)
	assert.Len(t, got, 1, "a rolled back bulk publishes nothing")

	tx, err = e.client.Tx(e.ctx)
	require.NoError(t, err)
	us, err := tx.User.CreateBulk(bulkOf(tx.Client(), "c", 3, 35)...).Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	ids := []int{}
	for _, u := range us {
		ids = append(ids, u.ID)
		e.requireSettled(e.rowKey(u.ID))
	}
	e.requireConsistent(ids...)
}
