// Package semprivacy tests the cache under an ent privacy policy.
package semprivacy

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/semprivacy/ent"
	_ "github.com/entcachemodel/entcachemodel/internal/semprivacy/ent/runtime" // the policy
	"github.com/entcachemodel/entcachemodel/internal/semprivacy/ent/schema"
	"github.com/entcachemodel/entcachemodel/internal/semprivacy/ent/semsecret"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// open returns a client on a fresh database, with the cache or with a
// Disabled one, and the counter of its statements.
func open(t *testing.T, cached bool) (*ent.Client, *testenv.Counter) {
	t.Helper()
	db, err := testenv.OpenDatabase()
	require.NoError(t, err)
	t.Cleanup(db.Close)
	drv, err := db.Open()
	require.NoError(t, err)
	cache := entcachemodel.Disabled()
	if cached {
		r, err := testenv.OpenRedis()
		require.NoError(t, err)
		t.Cleanup(r.Close)
		cache = entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))
	}
	client := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
	t.Cleanup(func() { client.Close() })
	require.NoError(t, client.Schema.Create(context.Background()))
	return client, drv
}

// result normalizes a call's result: entities without their client
// binding, errors as their text.
func result(v any, err error) any {
	if s, ok := v.(*ent.SemSecret); ok && s != nil {
		v = [3]any{s.ID, s.Name, s.Level}
	}
	if err != nil {
		return [2]any{v, fmt.Sprint(err)}
	}
	return [2]any{v, nil}
}

// A policy that denies the caller's queries does not deny the cache's own
// reads: writes behave as without the cache, and what is cached is the row
// as stored.
func TestSemPrivacyPolicyDoesNotFilterTheCache(t *testing.T) {
	var runs [2][]any
	for i, cached := range []bool{true, false} {
		c, _ := open(t, cached)
		ctx := context.Background() // no viewer: queries are denied
		add := func(v any, err error) { runs[i] = append(runs[i], result(v, err)) }
		add(c.SemSecret.Create().SetName("a").Save(ctx))
		add(c.SemSecret.Create().SetName("b").SetLevel(1).Save(ctx))
		add(c.SemSecret.Query().All(ctx))
		add(c.SemSecret.Update().Where(semsecret.Name("a")).SetLevel(2).Save(ctx))
		add(c.SemSecret.UpdateOneID(2).AddLevel(1).Save(ctx))
		add(c.SemSecret.Create().SetName("a").OnConflictColumns(semsecret.FieldName).UpdateNewValues().ID(ctx))
		add(c.SemSecret.Delete().Where(semsecret.Name("b")).Exec(ctx))
		add(c.SemSecret.Get(schema.ViewerContext(ctx), 1))
		add(c.SemSecret.Get(ctx, 1))
	}
	for i := range runs[0] {
		if !reflect.DeepEqual(runs[0][i], runs[1][i]) {
			t.Errorf("call %d: with the cache %v, without %v", i, runs[0][i], runs[1][i])
		}
	}
	require.Len(t, runs[0], len(runs[1]))
}

// Cached reads serve rows as stored, whoever asks: the policy does not
// filter them (see the README).
func TestSemPrivacyCachedReadsServeRowsAsStored(t *testing.T) {
	c, drv := open(t, true)
	ctx := context.Background()
	s, err := c.SemSecret.Create().SetName("a").SetLevel(3).Save(ctx)
	require.NoError(t, err)
	_, err = c.SemSecret.Get(ctx, s.ID)
	require.ErrorIs(t, err, privacy.Deny)

	before := drv.Count()
	got, err := c.SemSecret.Cached().Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, before, drv.Count(), "the create published the row")
	assert.Equal(t, 3, got.Level)

	_, err = c.SemSecret.Update().Where(semsecret.ID(s.ID)).SetLevel(4).Save(ctx)
	require.NoError(t, err)
	got, err = c.SemSecret.Cached().GetByName(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, 4, got.Level)
	list, err := c.SemSecret.Cached().ListByLevel(ctx, 4)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// Other features' parts of UpdateOne's spec (here sql/modifier's) are
// complete before the cache runs the statement.
func TestSemUpdateOneKeepsModifiers(t *testing.T) {
	c, _ := open(t, true)
	ctx := context.Background()
	s, err := c.SemSecret.Create().SetName("a").Save(ctx)
	require.NoError(t, err)
	got, err := c.SemSecret.UpdateOne(s).SetName("b").Modify(func(u *sql.UpdateBuilder) {
		u.Set(semsecret.FieldLevel, 9)
	}).Save(ctx)
	require.NoError(t, err)
	assert.Equal(t, 9, got.Level)
	cached, err := c.SemSecret.Cached().Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, [2]any{"b", 9}, [2]any{cached.Name, cached.Level})
}

// Warm and Verify read rows as stored: a policy that denies the caller's
// queries denies neither.
func TestSemPrivacyWarmAndVerifyReadRowsAsStored(t *testing.T) {
	c, _ := open(t, true)
	ctx := context.Background() // no viewer: queries are denied
	for i := range 5 {
		_, err := c.SemSecret.Create().SetName(fmt.Sprint("s", i)).SetLevel(i % 2).Save(ctx)
		require.NoError(t, err)
	}
	_, err := c.SemSecret.Query().All(ctx)
	require.Error(t, err, "the caller's queries are denied")
	rep, err := c.SemSecret.Cached().Warm(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Rows)
	assert.Equal(t, 5, rep.Cached, "the creates published every row")
	vr, err := c.SemSecret.Cached().Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, vr.Checked)
	assert.Equal(t, 5, vr.Cached)
	assert.Zero(t, vr.Stale+vr.Orphans+vr.BadIndex, "%+v", vr.Divergences)
}
