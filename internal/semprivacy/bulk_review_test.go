package semprivacy

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/internal/semprivacy/ent/schema"
	"github.com/entcachemodel/entcachemodel/internal/semprivacy/ent/semsecret"
)

// A bulk upsert under a policy that denies the caller's queries: its
// conflict lookups and read-backs are the cache's own, and what it
// publishes is what the database holds.
func TestReviewSemPrivacyBulkUpsert(t *testing.T) {
	c, _ := open(t, true)
	ctx := context.Background() // no viewer
	viewer := schema.ViewerContext(ctx)
	require.NoError(t, c.SemSecret.Create().SetName("b").SetLevel(3).Exec(ctx))
	for _, l := range []int{3, 4} {
		_, err := c.SemSecret.Cached().ListByLevel(viewer, l)
		require.NoError(t, err)
	}
	err := c.SemSecret.CreateBulk(
		c.SemSecret.Create().SetName("a").SetLevel(4),
		c.SemSecret.Create().SetName("b").SetLevel(4),
		c.SemSecret.Create().SetName("c").SetLevel(4),
	).OnConflictColumns(semsecret.FieldName).UpdateNewValues().Exec(ctx)
	require.NoError(t, err)
	for _, l := range []int{3, 4} {
		want, err := c.SemSecret.Query().Where(semsecret.Level(l)).Order(semsecret.ByID()).IDs(viewer)
		require.NoError(t, err)
		got, err := c.SemSecret.Cached().ListByLevel(viewer, l)
		require.NoError(t, err)
		ids := []int{}
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if len(want) == 0 {
			want = []int{}
		}
		require.Equal(t, want, ids, "level %d", l)
	}
	for _, n := range []string{"a", "b", "c"} {
		want, err := c.SemSecret.Query().Where(semsecret.Name(n)).Only(viewer)
		require.NoError(t, err)
		got, err := c.SemSecret.Cached().GetByName(viewer, n)
		require.NoError(t, err)
		require.Equal(t, [3]any{want.ID, want.Name, want.Level}, [3]any{got.ID, got.Name, got.Level})
	}
}
