package ent_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/account"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/card"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/comment"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/tag"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// maintained is the Warm and Verify of one cached type.
type maintained struct {
	name   string
	warm   func(context.Context, *ent.Client, ...entcachemodel.RunOption) (entcachemodel.WarmReport, error)
	verify func(context.Context, *ent.Client, ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error)
}

// everyType lists the cached types of the broad schema.
func everyType() []maintained {
	return []maintained{
		{"Account", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Account.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Account.Cached().Verify(ctx, o...)
		}},
		{"Card", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Card.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Card.Cached().Verify(ctx, o...)
		}},
		{"Comment", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Comment.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Comment.Cached().Verify(ctx, o...)
		}},
		{"Counter", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Counter.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Counter.Cached().Verify(ctx, o...)
		}},
		{"Group", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Group.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Group.Cached().Verify(ctx, o...)
		}},
		{"Post", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Post.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Post.Cached().Verify(ctx, o...)
		}},
		{"Profile", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Profile.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Profile.Cached().Verify(ctx, o...)
		}},
		{"Scalar", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Scalar.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Scalar.Cached().Verify(ctx, o...)
		}},
		{"Tag", func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
			return c.Tag.Cached().Warm(ctx, o...)
		}, func(ctx context.Context, c *ent.Client, o ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
			return c.Tag.Cached().Verify(ctx, o...)
		}},
	}
}

// shadow runs every shadow check and returns what they report.
func (p *pair) shadow(ctx context.Context) []string {
	r := &recorder{}
	var wg sync.WaitGroup
	for _, c := range p.checks {
		wg.Go(func() { c.check(r, ctx, p.cached) })
	}
	wg.Wait()
	return r.errors
}

// verifyAll verifies every type and returns the reports by type.
func verifyAll(t *testing.T, ctx context.Context, c *ent.Client, opts ...entcachemodel.RunOption) map[string]entcachemodel.VerifyReport {
	t.Helper()
	out := map[string]entcachemodel.VerifyReport{}
	for _, m := range everyType() {
		rep, err := m.verify(ctx, c, opts...)
		require.NoError(t, err, m.name)
		out[m.name] = rep
	}
	return out
}

// TestWarmAndVerifyEveryPattern adopts the cache on a database that a
// client without it filled with every pattern of the broad schema (string,
// UUID and uint64 ids, Optional and Nillable fields, edge fields, hidden
// foreign keys, composite lookups, every field type, a soft-deleted row):
// Warm publishes every type, every cached lookup then answers as the
// database does, and Verify finds nothing; then writes behind the cache
// are found, repaired, and found no more.
func TestWarmAndVerifyEveryPattern(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	drv, err := p.db.Open()
	require.NoError(t, err)
	behind := ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.Disabled()))
	t.Cleanup(func() { behind.Close() })
	for i, o := range equivalenceOps {
		if strings.HasPrefix(o.name, "delete ") {
			break // the rows up to the deletes hold every pattern
		}
		if o.pending != "" {
			continue
		}
		octx := ctx
		if o.ctx != nil {
			octx = o.ctx(octx)
		}
		broadtype.SetClock(base.Add(time.Duration(i)*time.Second), uint64(i)*1000)
		_, _ = o.do(octx, behind) // some operations fail on purpose
	}

	for _, m := range everyType() {
		rep, err := m.warm(ctx, p.cached, entcachemodel.BatchSize(2))
		require.NoError(t, err, m.name)
		assert.Equal(t, rep.Rows, rep.Published, "%s: every row is published: %+v", m.name, rep)
		t.Logf("warm %s: %+v", m.name, rep)
	}
	assert.Empty(t, p.shadow(ctx), "every cached lookup answers as the database does after Warm")
	for name, rep := range verifyAll(t, ctx, p.cached, entcachemodel.BatchSize(3)) {
		assert.Zero(t, rep.Stale+rep.Orphans+rep.BadIndex+rep.Unsettled, "%s: %+v", name, rep.Divergences)
		assert.Equal(t, rep.Checked, rep.Cached, "%s: every row is cached", name)
	}

	// Writes behind the cache, on types of every id kind.
	a, err := behind.Account.Query().Where(account.Email("a@x.io")).Only(ctx)
	require.NoError(t, err)
	require.NoError(t, behind.Account.UpdateOne(a).SetAge(77).SetNickname("zz").Exec(ctx))
	require.NoError(t, behind.Card.UpdateOneID("A1").SetKind(card.KindCredit).Exec(ctx))
	cm, err := behind.Comment.Query().Where(comment.Body("c1")).Only(ctx)
	require.NoError(t, err)
	require.NoError(t, behind.Comment.UpdateOne(cm).SetLikes(9).Exec(ctx))
	require.NoError(t, behind.Tag.DeleteOneID("db").Exec(ctx))
	n, err := behind.Tag.Update().Where(tag.ID("go")).SetLabel("Golang").Save(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.NotEmpty(t, p.shadow(ctx), "the shadow check sees the writes behind the cache")

	found := verifyAll(t, ctx, p.cached, entcachemodel.BatchSize(3))
	for _, name := range []string{"Account", "Card", "Comment", "Tag"} {
		assert.Positive(t, found[name].Stale+found[name].Orphans, "%s: the write behind the cache is found: %+v", name, found[name])
	}
	assert.Equal(t, 1, found["Tag"].Orphans, "the deleted tag")
	var all []string
	for name, rep := range found {
		for _, d := range rep.Divergences {
			all = append(all, name+" "+d.Kind+" "+d.Key+" cached: "+d.Cached+" database: "+d.Database)
		}
	}
	t.Logf("found:\n%s", strings.Join(all, "\n"))
	for name, rep := range verifyAll(t, ctx, p.cached, entcachemodel.Repair()) {
		assert.Equal(t, found[name].Stale+found[name].Orphans, rep.Stale+rep.Orphans, name)
		assert.GreaterOrEqual(t, rep.Repaired, rep.Stale+rep.Orphans, name)
	}
	for name, rep := range verifyAll(t, ctx, p.cached) {
		assert.Zero(t, rep.Stale+rep.Orphans+rep.BadIndex, "%s: repaired: %+v", name, rep.Divergences)
	}
	assert.Empty(t, p.shadow(ctx), "every cached lookup answers as the database does after the repair")
}

// TestVerifyLongIDsAndForeignValues: a long id's key names its hash, so
// Verify reads the row from the value; a value that names no row, and a
// key of another type, are reported as stale and repaired, never a panic.
func TestVerifyLongIDsAndForeignValues(t *testing.T) {
	ctx := context.Background()
	db, err := testenv.OpenDatabase()
	require.NoError(t, err)
	t.Cleanup(db.Close)
	r, err := testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	open := func(cache *entcachemodel.Cache) *ent.Client {
		drv, err := db.Open()
		require.NoError(t, err)
		c := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
		t.Cleanup(func() { c.Close() })
		return c
	}
	client := open(entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix)))
	require.NoError(t, client.Schema.Create(ctx))
	behind := open(entcachemodel.Disabled())
	long1, long2 := strings.Repeat("t", 80), strings.Repeat("u", 80)
	for _, id := range []string{long1, long2, "short"} {
		require.NoError(t, behind.Tag.Create().SetID(id).SetLabel("l").Exec(ctx))
	}
	rep, err := client.Tag.Cached().Warm(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Published)
	vr, err := client.Tag.Cached().Verify(ctx)
	require.NoError(t, err)
	require.Zero(t, vr.Stale+vr.Orphans+vr.BadIndex, "%+v", vr.Divergences)

	hashed, err := r.Keys(ctx, "{"+entcachemodel.KeyPart(r.Prefix)+":Tag:*:r:h*}")
	require.NoError(t, err)
	require.Len(t, hashed, 2, "the long ids' keys are hashes")
	short, err := r.Keys(ctx, "{"+entcachemodel.KeyPart(r.Prefix)+":Tag:*:r:rshort}")
	require.NoError(t, err)
	require.Len(t, short, 1)
	require.NoError(t, behind.Tag.DeleteOneID(long2).Exec(ctx))
	unknown := hashed[0][:len(hashed[0])-9] + "00000000}"
	require.NoError(t, r.Client.Set(ctx, unknown, "garbage", 0).Err())
	require.NoError(t, r.Client.Del(ctx, short[0]).Err())
	require.NoError(t, r.Client.SAdd(ctx, short[0], "x").Err())

	for _, repair := range []bool{false, true} {
		var opts []entcachemodel.RunOption
		if repair {
			opts = append(opts, entcachemodel.Repair())
		}
		vr, err = client.Tag.Cached().Verify(ctx, opts...)
		require.NoError(t, err)
		assert.Equal(t, 1, vr.Orphans, "the deleted long id: %+v", vr.Divergences)
		assert.Equal(t, 2, vr.Stale, "a value of no row, and a set where a value goes: %+v", vr.Divergences)
		if repair {
			assert.Equal(t, 3, vr.Repaired)
		}
	}
	vr, err = client.Tag.Cached().Verify(ctx)
	require.NoError(t, err)
	assert.Zero(t, vr.Stale+vr.Orphans+vr.BadIndex, "%+v", vr.Divergences)
	for _, id := range []string{long1, "short"} {
		got, err := client.Tag.Cached().Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, id, got.ID)
	}
	_, err = client.Tag.Cached().Get(ctx, long2)
	assert.True(t, ent.IsNotFound(err))
}
