package ent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
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

// noHints turns lookup hints off, for the tests of the entry path.
var noHints = entcachemodel.WithLookupHints(0)

// A cached unique lookup reads its entry and its row in one round trip on a
// standalone server; on a Cluster, whose slots hold them apart, in two; and
// in two where the server does not say it is standalone (the embedded one),
// or with WithOneTripLookups(false) (a sharding proxy).
func TestUniqueLookupRoundTrips(t *testing.T) {
	cases := []struct {
		name string
		opts []entcachemodel.Option
		// trips on a standalone server, on the embedded one
		real, mini int
	}{
		{"default", []entcachemodel.Option{noHints}, 1, 2},
		{"on", []entcachemodel.Option{noHints, entcachemodel.WithOneTripLookups(true)}, 1, 1},
		{"off", []entcachemodel.Option{noHints, entcachemodel.WithOneTripLookups(false)}, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCostEnv(t, tc.opts...)
			us := e.users(e.plain, 2, "look")
			for _, u := range us {
				_, err := e.cached.User.Cached().GetByEmail(e.ctx, u.Email) // fills the entry and the row
				require.NoError(t, err)
			}
			want := tc.real
			if e.redis.Mini != nil {
				want = tc.mini
			}
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
		})
	}
}

// A unique entry that names another row, or holds something the cache never
// writes, is a miss: the answer is the database's, the entry is set again
// (a foreign key is removed first), and the next lookup hits.
func TestUniqueLookupBadEntries(t *testing.T) {
	e := newEnv(t, noHints, entcachemodel.WithOneTripLookups(true))
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

	// The row is not a string.
	require.NoError(t, e.redis.Client.Del(e.ctx, ra).Err())
	require.NoError(t, e.redis.Client.RPush(e.ctx, ra, "x").Err())
	got, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	typ, err = e.redis.Client.Type(e.ctx, ra).Result()
	require.NoError(t, err)
	assert.Equal(t, "string", typ, "the foreign row is removed and filled again")

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
	e := newEnv(t, noHints, entcachemodel.WithOneTripLookups(true))
	ids := []string{"a b", "x{y}", "é", "plain-1", strings.Repeat("a", 64), strings.Repeat("b", 63) + " ",
		"a%d", "a[", "a^$", "A.B-C_D@E+F", "t1 ", "Ab"}
	for i, id := range ids {
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

// An entry whose text parses to a's id but is not the id's own text ("05",
// "+5") makes the script read another key: a stale copy of a's row there
// is never served. (Found by review: without the check of the key, the
// copy was served.)
func TestUniqueLookupIDTextVariants(t *testing.T) {
	e := newEnv(t, noHints, entcachemodel.WithOneTripLookups(true))
	a := e.createUser("a@variant.io", 3)
	_, err := e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	ka := e.uniqueEmailKey(a.Email)
	ra := e.userRowKey(a.ID)
	stale, err := e.redis.Client.Get(e.ctx, ra).Result()
	require.NoError(t, err)
	// a changes (its email stays): the planted copies are stale.
	a = e.client.User.UpdateOne(a).SetFirstName("Fresh").SaveX(e.ctx)
	id := fmt.Sprint(a.ID)
	for _, text := range []string{"0" + id, "00" + id, "+" + id, id + " ", " " + id, id} {
		plant := strings.TrimSuffix(ra, "r"+id+"}") + entcachemodel.KeyPart(text) + "}"
		if text != id {
			require.NoError(t, e.redis.Client.Set(e.ctx, plant, stale, 0).Err())
		}
		require.NoError(t, e.redis.Client.Set(e.ctx, ka, text, 0).Err())
		before := e.cache.Stats()
		got, err := e.client.User.Cached().GetByEmail(e.ctx, a.Email)
		require.NoError(t, err, "entry %q", text)
		assert.Equal(t, a.ID, got.ID, "entry %q", text)
		assert.Equal(t, "Fresh", got.FirstName, "entry %q: the stale copy under %s is not served", text, plant)
		assert.Equal(t, before.Errors, e.cache.Stats().Errors, "entry %q: no error", text)
		if text != id {
			require.NoError(t, e.redis.Client.Del(e.ctx, plant).Err())
		}
	}
}

// a's row key holding another row's value (b's, from when b had a's
// email) is not served: the id the row holds must be a's. (Found by
// review: without the id check, b was returned.)
func TestUniqueLookupRowOfAnotherID(t *testing.T) {
	e := newEnv(t, noHints, entcachemodel.WithOneTripLookups(true))
	b := e.createUser("x@another.io", 3)
	_, err := e.client.User.Cached().Get(e.ctx, b.ID)
	require.NoError(t, err)
	old, err := e.redis.Client.Get(e.ctx, e.userRowKey(b.ID)).Result()
	require.NoError(t, err)
	e.client.User.UpdateOne(b).SetEmail("y@another.io").SaveX(e.ctx)
	a := e.client.User.Create().SetEmail("x@another.io").SetFirstName("A").SetLastName("Another").SetAge(4).SaveX(e.ctx)
	_, err = e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	require.NoError(t, e.redis.Client.Set(e.ctx, e.userRowKey(a.ID), old, 0).Err())
	got, err := e.client.User.Cached().GetByEmail(e.ctx, a.Email)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID, "the value under a's key is b's: not served")
}

// A process remembers the id each unique lookup found (WithLookupHints, on
// by default): the next lookup of the value reads that row (GET and PTTL) in one round trip, on
// every server, a Cluster included, with no statement. Without hints the
// embedded server and a Cluster take two round trips.
func TestLookupHintsRoundTrips(t *testing.T) {
	e := newCostEnv(t)
	us := e.users(e.plain, 3, "hint")
	for _, u := range us {
		c := e.cost(func() {
			_, err := e.cached.User.Cached().GetByEmail(e.ctx, u.Email) // no hint yet
			require.NoError(t, err)
		})
		assert.GreaterOrEqual(t, c.trips, 1, "first lookup: %v", c)
	}
	for _, u := range us {
		var got *ent.User
		c := e.cost(func() {
			v, err := e.cached.User.Cached().GetByEmail(e.ctx, u.Email)
			require.NoError(t, err)
			got = v
		})
		t.Logf("hinted GetByEmail: %v", c)
		assert.Equal(t, 1, c.trips, "hinted GetByEmail: round trips")
		assert.Equal(t, 2, c.cmds, "hinted GetByEmail: the row's GET and PTTL")
		assert.Zero(t, c.stmts, "hinted GetByEmail: no database statement")
		assert.Equal(t, u.ID, got.ID)
		assert.Equal(t, u.Email, got.Email)
	}
}

// A hint is never trusted: when another process moves the value to another
// row, deletes the row, changes the row or gives the value to a new row,
// the lookup answers what the database answers, and the same lookup of a
// process without hints does too.
func TestLookupHintsFollowTheData(t *testing.T) {
	e := newEnv(t)
	_, _, other := e.process(e.redis.Client)             // writes, in another process
	_, _, unhinted := e.process(e.redis.Client, noHints) // the entry path, for comparison
	same := func(email string) {
		t.Helper()
		want, wantErr := e.client.User.Query().Where(user.Email(email)).Only(e.ctx)
		for _, c := range []*ent.Client{e.client, unhinted} {
			got, err := c.User.Cached().GetByEmail(e.ctx, email)
			if wantErr != nil {
				assert.True(t, ent.IsNotFound(err), "GetByEmail(%q): %v, want not found", email, err)
				continue
			}
			require.NoError(t, err, "GetByEmail(%q)", email)
			assert.Equal(t, want.ID, got.ID, "GetByEmail(%q)", email)
			assert.Equal(t, want.FirstName, got.FirstName, "GetByEmail(%q)", email)
		}
	}
	create := func(email, name string) *ent.User {
		return other.User.Create().SetEmail(email).SetFirstName(name).SetLastName("H").SetAge(4).SaveX(e.ctx)
	}
	u1, u2 := create("x@hint.io", "one"), create("y@hint.io", "two")
	same("x@hint.io") // hints x -> u1
	same("y@hint.io") // hints y -> u2

	// The value moves to another row.
	other.User.UpdateOne(u1).SetEmail("z@hint.io").ExecX(e.ctx)
	other.User.UpdateOne(u2).SetEmail("x@hint.io").ExecX(e.ctx)
	same("x@hint.io")
	same("y@hint.io")
	same("z@hint.io")

	// The row changes, keeping the value.
	other.User.UpdateOne(u2).SetFirstName("two again").ExecX(e.ctx)
	same("x@hint.io")

	// The row is deleted, then the value is given to a new row.
	other.User.DeleteOne(u2).ExecX(e.ctx)
	same("x@hint.io")
	create("x@hint.io", "three")
	same("x@hint.io")

	// The hinted row's key holds something the cache never writes: a miss,
	// and the key is removed.
	u1 = e.client.User.GetX(e.ctx, u1.ID)
	same("z@hint.io")
	rk := e.rowKey(u1.ID)
	require.NoError(t, e.redis.Client.Del(e.ctx, rk).Err())
	require.NoError(t, e.redis.Client.HSet(e.ctx, rk, "f", "v").Err())
	same("z@hint.io")
	typ, err := e.redis.Client.Type(e.ctx, rk).Result()
	require.NoError(t, err)
	assert.NotEqual(t, "hash", typ, "the foreign row key is removed")
}

// TestLookupHintsCountOnlyServedRows: a hinted row that no longer holds the
// looked-up value is read but not served, so it is no hit.
func TestLookupHintsCountOnlyServedRows(t *testing.T) {
	e := newEnv(t)
	_, _, other := e.process(e.redis.Client)
	u := other.User.Create().SetEmail("h@hint.io").SetFirstName("h").SetLastName("H").SetAge(4).SaveX(e.ctx)
	lookup := func() error { _, err := e.client.User.Cached().GetByEmail(e.ctx, "h@hint.io"); return err }
	require.NoError(t, lookup()) // hints h -> u
	before := e.cache.Stats().Hits
	require.NoError(t, lookup())
	require.Equal(t, before+1, e.cache.Stats().Hits, "a hinted row served is one hit")

	other.User.UpdateOne(u).SetEmail("moved@hint.io").ExecX(e.ctx)
	_, err := e.client.User.Cached().Get(e.ctx, u.ID) // the moved row is cached
	require.NoError(t, err)
	before = e.cache.Stats().Hits
	err = lookup()
	require.True(t, ent.IsNotFound(err), "GetByEmail of the moved value: %v", err)
	assert.Equal(t, before, e.cache.Stats().Hits, "the hinted row, read but not served, is no hit")
}

// A unique lookup of a value no row holds reads the database: a miss, with
// or without the one-trip script.
func TestLookupNotFoundCountsAMiss(t *testing.T) {
	for _, oneTrip := range []bool{true, false} {
		t.Run(fmt.Sprint("one trip ", oneTrip), func(t *testing.T) {
			e := newEnv(t, noHints, entcachemodel.WithOneTripLookups(oneTrip))
			before := e.cache.Stats()
			_, err := e.client.User.Cached().GetByEmail(e.ctx, "nobody@miss.io")
			require.True(t, ent.IsNotFound(err), "%v", err)
			after := e.cache.Stats()
			assert.Equal(t, before.Misses+1, after.Misses, "answered by the database")
			assert.Equal(t, before.Hits, after.Hits)
		})
	}
}
