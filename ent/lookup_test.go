package ent_test

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// uniqueKey returns the Redis key of the User email entry of email.
func (e *env) uniqueEmailKey(email string) string {
	e.t.Helper()
	keys, err := e.redis.Keys(e.ctx, fmt.Sprintf("{%s:User:*:u:email:%s}", entcachemodel.KeyPart(e.redis.Prefix), entcachemodel.KeyPart(email)))
	require.NoError(e.t, err)
	require.Len(e.t, keys, 1, "the unique entry of %s", email)
	return keys[0]
}

// A cached unique lookup reads its entry and its row in one round trip on a
// single server; on a Cluster, whose slots hold them apart, in two.
func TestUniqueLookupRoundTrips(t *testing.T) {
	e := newCostEnv(t)
	us := e.users(e.plain, 2, "look")
	for _, u := range us {
		_, err := e.cached.User.Cached().GetByEmail(e.ctx, u.Email) // fills the entry and the row
		require.NoError(t, err)
	}
	want := 1
	if _, cluster := e.redis.Client.(*redis.ClusterClient); cluster {
		want = 2
	}
	for _, u := range us {
		var got *ent.User
		c := e.cost(func() {
			v, err := e.cached.User.Cached().GetByEmail(e.ctx, u.Email)
			require.NoError(t, err)
			got = v
		})
		t.Logf("GetByEmail hit: %v", c)
		assert.Equal(t, want, c.trips, "GetByEmail hit: round trips")
		assert.Zero(t, c.stmts, "GetByEmail hit: no database statement")
		assert.Equal(t, u.ID, got.ID)
		assert.Equal(t, u.Email, got.Email)
	}
}

// A unique entry that names another row, or holds something the cache never
// writes, is a miss: the answer is the database's, the entry is set again
// (a foreign key is removed first), and the next lookup hits.
func TestUniqueLookupBadEntries(t *testing.T) {
	e := newEnv(t)
	a := e.client.User.Create().SetEmail("a@look.io").SetFirstName("A").SetLastName("L").SetAge(3).SaveX(e.ctx)
	b := e.client.User.Create().SetEmail("b@look.io").SetFirstName("B").SetLastName("L").SetAge(3).SaveX(e.ctx)
	for _, u := range []*ent.User{a, b} {
		_, err := e.client.User.Cached().GetByEmail(e.ctx, u.Email)
		require.NoError(t, err)
	}
	ka := e.uniqueEmailKey(a.Email)

	// The entry of a names b (as a stale entry would after an email moved).
	require.NoError(t, e.redis.Client.Set(e.ctx, ka, fmt.Sprint(b.ID), 0).Err())
	got, err := e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID, "an entry naming another row is not trusted")
	v, err := e.redis.Client.Get(e.ctx, ka).Result()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(a.ID), v, "the entry is set again")

	// The entry is a list: not a key the cache writes.
	require.NoError(t, e.redis.Client.Del(e.ctx, ka).Err())
	require.NoError(t, e.redis.Client.RPush(e.ctx, ka, "x").Err())
	got, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	typ, err := e.redis.Client.Type(e.ctx, ka).Result()
	require.NoError(t, err)
	assert.Equal(t, "string", typ, "the foreign key is removed and the entry set again")

	// The entry holds no id.
	require.NoError(t, e.redis.Client.Set(e.ctx, ka, "not an id", 0).Err())
	got, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)

	// The row the entry names holds something else.
	ra := e.userRowKey(a.ID)
	require.NoError(t, e.redis.Client.Set(e.ctx, ra, "garbage", 0).Err())
	got, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	assert.Equal(t, a.Email, got.Email)

	// After all that, a hit again.
	n := e.queries(func() {
		got, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
		require.NoError(t, err)
	})
	assert.Equal(t, a.ID, got.ID)
	assert.Zero(t, n, "the entry and the row are cached again")
}

// Ids whose key text is encoded (not plain, as "a b") are read by the Go
// side's key: the lookup still hits, in two round trips.
func TestUniqueLookupEncodedIDs(t *testing.T) {
	e := newEnv(t)
	for i, id := range []string{"a b", "x{y}", "é", "plain-1"} {
		_, err := e.client.CollTag.Create().SetID(id).SetLabel("l").SetSlug(fmt.Sprintf("slug%d", i)).Save(e.ctx)
		require.NoError(t, err)
		_, err = e.client.CollTag.Cached().GetBySlug(e.ctx, fmt.Sprintf("slug%d", i))
		require.NoError(t, err)
		n := e.queries(func() {
			got, err := e.client.CollTag.Cached().GetBySlug(e.ctx, fmt.Sprintf("slug%d", i))
			require.NoError(t, err)
			assert.Equal(t, id, got.ID)
		})
		assert.Zero(t, n, "GetBySlug of the tag %q hits", id)
	}
}
