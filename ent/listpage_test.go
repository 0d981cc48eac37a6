package ent_test

import (
	"database/sql"
	"fmt"
	"strconv"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/colldoc"
	"github.com/entcachemodel/entcachemodel/ent/colltag"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// pageOf runs a page of ListByAge on a client without the cache.
func pageOf(t *testing.T, e *env, plain *ent.Client, age int, after *int, limit int) []*ent.User {
	t.Helper()
	q := plain.User.Query().Where(user.AgeEQ(age)).Order(user.ByID())
	if after != nil {
		q = q.Where(user.IDGT(*after))
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	rows, err := q.All(e.ctx)
	require.NoError(t, err)
	return rows
}

// Pages of a cached list equal the same query on the database, stale
// members (rows the list no longer holds) left out, and are read from
// Redis alone once the list and its rows are cached.
func TestListPagesEqualTheDatabase(t *testing.T) {
	e := newEnv(t)
	pdrv, err := e.db.Open()
	require.NoError(t, err)
	plain := ent.NewClient(ent.Driver(pdrv))
	t.Cleanup(func() { plain.Close() })
	var users []*ent.User
	for i := range 40 {
		users = append(users, e.createUser(fmt.Sprintf("p%d@x.io", i), 30+i%3))
	}
	cached := e.client.User.Cached()
	_, err = cached.ListByAge(e.ctx, 30) // fills the list
	require.NoError(t, err)
	require.Len(t, e.typeKeys("l:age:r30"), 1)
	// Rows moved out leave stale members; rows moved in are added.
	for _, u := range users[:12] {
		if u.Age == 30 {
			require.NoError(t, e.client.User.UpdateOneID(u.ID).SetAge(99).Exec(e.ctx))
		}
	}
	for _, u := range users[20:26] {
		if u.Age == 31 {
			require.NoError(t, e.client.User.UpdateOneID(u.ID).SetAge(30).Exec(e.ctx))
		}
	}
	members, err := e.redis.Client.ZCard(e.ctx, e.typeKeys("l:age:r30")[0]).Result()
	require.NoError(t, err)
	all := pageOf(t, e, plain, 30, nil, 0)
	require.Greater(t, members, int64(len(all)+1), "stale members are present")
	_, err = cached.ListByAge(e.ctx, 30) // caches every row
	require.NoError(t, err)

	notInList := users[1].ID // age 31
	afters := []*int{nil, ptr(0), ptr(-5), ptr(all[0].ID), ptr(all[3].ID), ptr(notInList), ptr(users[0].ID) /* moved out */, ptr(all[len(all)-1].ID), ptr(all[len(all)-1].ID + 1000)}
	for _, limit := range []int{0, 1, 2, 3, 5, 7, 100} {
		for _, after := range afters {
			var opts []entcachemodel.ListOption
			name := "limit " + strconv.Itoa(limit)
			if limit > 0 {
				opts = append(opts, entcachemodel.Limit(limit))
			}
			if after != nil {
				opts = append(opts, entcachemodel.AfterID(*after))
				name += " after " + strconv.Itoa(*after)
			}
			want := pageOf(t, e, plain, 30, after, limit)
			var got []*ent.User
			n := e.queries(func() {
				got, err = cached.ListByAge(e.ctx, 30, opts...)
			})
			require.NoError(t, err, name)
			assert.Equal(t, userIDs(want), userIDs(got), name)
			assert.Zero(t, n, "%s: read from Redis", name)
		}
	}
	// Paging through the whole list, page by page, gives the list.
	for _, limit := range []int{1, 4, 9} {
		var got []*ent.User
		var after *int
		for {
			opts := []entcachemodel.ListOption{entcachemodel.Limit(limit)}
			if after != nil {
				opts = append(opts, entcachemodel.AfterID(*after))
			}
			page, err := cached.ListByAge(e.ctx, 30, opts...)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), limit)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = &page[len(page)-1].ID
		}
		assert.Equal(t, userIDs(all), userIDs(got), "pages of %d", limit)
	}
	// A page of a list not cached fills it and is the database's too.
	require.NoError(t, e.redis.Client.Del(e.ctx, e.typeKeys("l:age:r30")[0]).Err())
	got, err := cached.ListByAge(e.ctx, 30, entcachemodel.Limit(3), entcachemodel.AfterID(all[1].ID))
	require.NoError(t, err)
	assert.Equal(t, userIDs(pageOf(t, e, plain, 30, &all[1].ID, 3)), userIDs(got))
	// Options the list cannot take are errors, on both paths.
	_, err = cached.ListByAge(e.ctx, 30, entcachemodel.Limit(0))
	require.Error(t, err)
	_, err = cached.ListByAge(e.ctx, 30, entcachemodel.AfterID("x"))
	require.Error(t, err)
}

func ptr[T any](v T) *T { return &v }

// A page of a long list costs two round trips on hits (its members with
// the list's state, then its rows) and reads a page's worth of members,
// not the whole list.
func TestListPageReadsOnlyThePage(t *testing.T) {
	e := newCostEnv(t)
	var users []*ent.User
	for i := range 30 {
		u, err := e.cached.User.Create().SetEmail(fmt.Sprintf("l%d@x.io", i)).SetFirstName("F").SetLastName(strconv.Itoa(i)).SetAge(40).Save(e.ctx)
		require.NoError(t, err)
		users = append(users, u)
	}
	cached := e.cached.User.Cached()
	_, err := cached.ListByAge(e.ctx, 40)
	require.NoError(t, err)
	key := e.typeKeys("l:age:r40")[0]
	// The list grows to 100,000 members: ids after every row.
	const long = 100_000
	base := users[len(users)-1].ID + 1
	for i := 0; i < long; i += 10_000 {
		zs := make([]redis.Z, 10_000)
		for j := range zs {
			id := base + i + j
			zs[j] = redis.Z{Score: float64(id), Member: strconv.Itoa(id)}
		}
		require.NoError(t, e.redis.Client.ZAdd(e.ctx, key, zs...).Err())
	}
	card, err := e.redis.Client.ZCard(e.ctx, key).Result()
	require.NoError(t, err)
	require.Greater(t, card, int64(long))
	var page []*ent.User
	c := e.cost(func() {
		page, err = cached.ListByAge(e.ctx, 40, entcachemodel.Limit(10), entcachemodel.AfterID(users[4].ID))
	})
	require.NoError(t, err)
	assert.Equal(t, userIDs(users[5:15]), userIDs(page))
	assert.Equal(t, 2, c.trips, "round trips of a page: %v", c)
	assert.Zero(t, c.stmts, "no statement: %v", c)
	e.trips.mu.Lock()
	defer e.trips.mu.Unlock()
	replied := 0
	for _, cmd := range e.trips.cmds {
		if s, ok := cmd.(*redis.StringSliceCmd); ok {
			replied += len(s.Val())
		}
	}
	assert.LessOrEqual(t, replied, 30, "members Redis returned for a page of 10")
}

// A list key of the wrong type (the set an earlier version stored, under
// the same key) is a miss: it is removed and filled again as a sorted set.
func TestListOfTheOldFormatIsRefilled(t *testing.T) {
	e := newEnv(t)
	a := e.createUser("o1@x.io", 50)
	b := e.createUser("o2@x.io", 50)
	cached := e.client.User.Cached()
	_, err := cached.ListByAge(e.ctx, 50)
	require.NoError(t, err)
	key := e.typeKeys("l:age:r50")[0]
	require.NoError(t, e.redis.Client.Del(e.ctx, key).Err())
	require.NoError(t, e.redis.Client.SAdd(e.ctx, key, "#", "="+strconv.Itoa(a.ID)).Err())
	for _, opts := range [][]entcachemodel.ListOption{nil, {entcachemodel.Limit(5)}} {
		got, err := cached.ListByAge(e.ctx, 50, opts...)
		require.NoError(t, err)
		assert.Equal(t, []int{a.ID, b.ID}, userIDs(got))
		typ, err := e.redis.Client.Type(e.ctx, key).Result()
		require.NoError(t, err)
		assert.Equal(t, "zset", typ)
		ms, err := e.redis.Client.ZRange(e.ctx, key, 0, -1).Result()
		require.NoError(t, err)
		assert.Equal(t, []string{"#", strconv.Itoa(a.ID), strconv.Itoa(b.ID)}, ms)
		require.NoError(t, e.redis.Client.Del(e.ctx, key).Err())
		require.NoError(t, e.redis.Client.SAdd(e.ctx, key, "#", "="+strconv.Itoa(a.ID)).Err())
	}
}

// Pages of lists of text and UUID ids equal the database's, under every
// collation of the test schema: served from Redis where the database
// orders the ids by their bytes, from the database otherwise.
func TestListPagesOfTextIDsEqualTheDatabase(t *testing.T) {
	e := newEnv(t)
	e.collRows()
	pdrv, err := e.db.Open()
	require.NoError(t, err)
	plain := ent.NewClient(ent.Driver(pdrv))
	t.Cleanup(func() { plain.Close() })
	docs, err := plain.CollDoc.Query().Order(colldoc.ByID()).All(e.ctx)
	require.NoError(t, err)
	for _, k := range []string{"x", "go", "nothing"} {
		_, err := e.client.CollDoc.Cached().ListByKind(e.ctx, k) // fills
		require.NoError(t, err)
		for _, limit := range []int{0, 1, 2, 5} {
			afters := []*uuid.UUID{nil, ptr(uuid.Nil), ptr(uuid.MustParse("ffffffff-ffff-ffff-ffff-ffffffffffff"))}
			for _, d := range docs {
				afters = append(afters, ptr(d.ID))
			}
			for _, after := range afters {
				var opts []entcachemodel.ListOption
				q := plain.CollDoc.Query().Where(colldoc.KindEQ(k)).Order(colldoc.ByID())
				if limit > 0 {
					opts, q = append(opts, entcachemodel.Limit(limit)), q.Limit(limit)
				}
				if after != nil {
					opts, q = append(opts, entcachemodel.AfterID(*after)), q.Where(colldoc.IDGT(*after))
				}
				want, err := q.IDs(e.ctx)
				require.NoError(t, err)
				got, err := e.client.CollDoc.Cached().ListByKind(e.ctx, k, opts...)
				require.NoError(t, err)
				var gotIDs []uuid.UUID
				for _, g := range got {
					gotIDs = append(gotIDs, g.ID)
				}
				assert.Equal(t, want, gotIDs, "kind %q limit %d after %v", k, limit, after)
			}
		}
	}
	tags, err := plain.CollTag.Query().Order(colltag.ByID()).IDs(e.ctx)
	require.NoError(t, err)
	for _, label := range []string{"x", "X", "nothing"} {
		_, err := e.client.CollTag.Cached().ListByLabel(e.ctx, label) // fills
		require.NoError(t, err)
		for _, limit := range []int{0, 1, 3} {
			afters := []*string{nil, ptr(""), ptr("zz")}
			for _, id := range tags {
				afters = append(afters, ptr(id))
			}
			for _, after := range afters {
				var opts []entcachemodel.ListOption
				q := plain.CollTag.Query().Where(colltag.LabelEQ(label)).Order(colltag.ByID())
				if limit > 0 {
					opts, q = append(opts, entcachemodel.Limit(limit)), q.Limit(limit)
				}
				if after != nil {
					opts, q = append(opts, entcachemodel.AfterID(*after)), q.Where(colltag.IDGT(*after))
				}
				want, err := q.IDs(e.ctx)
				require.NoError(t, err)
				got, err := e.client.CollTag.Cached().ListByLabel(e.ctx, label, opts...)
				require.NoError(t, err)
				var gotIDs []string
				for _, g := range got {
					gotIDs = append(gotIDs, g.ID)
				}
				assert.Equal(t, want, gotIDs, "label %q limit %d after %v", label, limit, after)
			}
		}
	}
}

// An integer id beyond 2^53, which no score holds exactly, keeps its list
// out of Redis: its fill is not stored, and a write that moves such a row
// into a cached list removes the list. Reads equal the database.
func TestListsOfIDsBeyondScoresAreNotStored(t *testing.T) {
	e := newEnv(t)
	small := e.createUser("s1@x.io", 70)
	big := e.createUser("b1@x.io", 71)
	const bigID = 1<<53 + 3
	pdrv, err := e.db.Open()
	require.NoError(t, err)
	t.Cleanup(func() { pdrv.Close() })
	q := "UPDATE users SET id = ? WHERE id = ?"
	if pdrv.Dialect() == dialect.Postgres {
		q = "UPDATE users SET id = $1 WHERE id = $2"
	}
	var res sql.Result
	require.NoError(t, pdrv.Exec(e.ctx, q, []any{bigID, big.ID}, &res))
	cached := e.client.User.Cached()
	got, err := cached.ListByAge(e.ctx, 71)
	require.NoError(t, err)
	assert.Equal(t, []int{bigID}, userIDs(got))
	assert.Empty(t, e.typeKeys("l:age:r71"), "a list holding an id beyond 2^53 is not stored")
	got, err = cached.ListByAge(e.ctx, 71, entcachemodel.Limit(1), entcachemodel.AfterID(0))
	require.NoError(t, err)
	assert.Equal(t, []int{bigID}, userIDs(got))
	// A cached list that such a row moves into is removed.
	got, err = cached.ListByAge(e.ctx, 70)
	require.NoError(t, err)
	assert.Equal(t, []int{small.ID}, userIDs(got))
	require.Len(t, e.typeKeys("l:age:r70"), 1)
	require.NoError(t, e.client.User.UpdateOneID(bigID).SetAge(70).Exec(e.ctx))
	assert.Empty(t, e.typeKeys("l:age:r70"), "the list is removed")
	for _, c := range []struct {
		opts []entcachemodel.ListOption
		want []int
	}{
		{nil, []int{small.ID, bigID}},
		{[]entcachemodel.ListOption{entcachemodel.Limit(5)}, []int{small.ID, bigID}},
		{[]entcachemodel.ListOption{entcachemodel.AfterID(small.ID)}, []int{bigID}},
	} {
		got, err = cached.ListByAge(e.ctx, 70, c.opts...)
		require.NoError(t, err)
		assert.Equal(t, c.want, userIDs(got))
	}
	assert.Empty(t, e.typeKeys("l:age:r70"), "the list is not stored again")
	// Warm neither stores such a list nor counts it as filled (every list
	// here holds the row: its age's, and its role and active flag's).
	rep, err := cached.Warm(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Lists, "Warm reports no list filled")
	assert.Empty(t, e.typeKeys("l:age:r70"), "Warm does not store the list")
}
