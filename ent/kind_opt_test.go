package ent_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/kindopt"
)

// optFields returns the entities without their client binding.
func optFields(vs []*ent.KindOpt) []ent.KindOpt {
	out := make([]ent.KindOpt, len(vs))
	for i, v := range vs {
		out[i] = v.Fields()
	}
	return out
}

// requireOptLookups checks every lookup of KindOpt, for every value that
// rows hold and the zero values, against ent's own query: lists against
// Where(FieldEQ(v)) by id, unique lookups against Only. Each lookup runs
// twice, so the second answers from what the first cached.
func (e *env) requireOptLookups(tag uuid.UUID) {
	e.t.Helper()
	db, c := e.client.KindOpt, e.client.KindOpt.Cached()
	list := func(name string, want func() ([]*ent.KindOpt, error), got func() ([]*ent.KindOpt, error)) {
		e.t.Helper()
		w, err := want()
		require.NoError(e.t, err)
		for range 2 {
			g, err := got()
			require.NoError(e.t, err, name)
			require.Equal(e.t, optFields(w), optFields(g), name)
		}
	}
	one := func(name string, want func() (*ent.KindOpt, error), got func() (*ent.KindOpt, error)) {
		e.t.Helper()
		w, werr := want()
		for range 2 {
			g, gerr := got()
			if werr != nil {
				require.Error(e.t, gerr, name)
				require.Equal(e.t, ent.IsNotFound(werr), ent.IsNotFound(gerr), "%s: %v, cache %v", name, werr, gerr)
				require.Equal(e.t, ent.IsNotSingular(werr), ent.IsNotSingular(gerr), "%s: %v, cache %v", name, werr, gerr)
				continue
			}
			require.NoError(e.t, gerr, name)
			require.Equal(e.t, w.Fields(), g.Fields(), name)
		}
	}
	ctx := e.ctx
	q := func() *ent.KindOptQuery { return db.Query().Order(kindopt.ByID()) }
	for _, v := range []int{0, 1, 2, 3, 5, 7} {
		list("ListByOwnerID", func() ([]*ent.KindOpt, error) { return q().Where(kindopt.OwnerIDEQ(v)).All(ctx) },
			func() ([]*ent.KindOpt, error) { return c.ListByOwnerID(ctx, v) })
		list("ListByCounter", func() ([]*ent.KindOpt, error) { return q().Where(kindopt.CounterEQ(v)).All(ctx) },
			func() ([]*ent.KindOpt, error) { return c.ListByCounter(ctx, v) })
		list("ListByGroupSlot", func() ([]*ent.KindOpt, error) {
			return q().Where(kindopt.GroupEQ("g"), kindopt.SlotEQ(v)).All(ctx)
		}, func() ([]*ent.KindOpt, error) { return c.ListByGroupSlot(ctx, "g", v) })
		for _, team := range []string{"t", "u"} {
			one("GetByTeamSeat", func() (*ent.KindOpt, error) {
				return db.Query().Where(kindopt.TeamEQ(team), kindopt.SeatEQ(v)).Only(ctx)
			}, func() (*ent.KindOpt, error) { return c.GetByTeamSeat(ctx, team, v) })
		}
	}
	for _, h := range []string{"", "h", "x"} {
		one("GetByHandle", func() (*ent.KindOpt, error) { return db.Query().Where(kindopt.HandleEQ(h)).Only(ctx) },
			func() (*ent.KindOpt, error) { return c.GetByHandle(ctx, h) })
	}
	for _, f := range []bool{false, true} {
		list("ListByFlag", func() ([]*ent.KindOpt, error) { return q().Where(kindopt.FlagEQ(f)).All(ctx) },
			func() ([]*ent.KindOpt, error) { return c.ListByFlag(ctx, f) })
	}
	for _, u := range []uuid.UUID{{}, tag} {
		list("ListByTag", func() ([]*ent.KindOpt, error) { return q().Where(kindopt.TagEQ(u)).All(ctx) },
			func() ([]*ent.KindOpt, error) { return c.ListByTag(ctx, u) })
	}
}

// Optional fields that are not Nillable (ent's edge-field pattern) can be
// published: the entity holds the zero value for NULL, so zero-valued rows
// are in no entry and a lookup by the zero value reads the database; every
// answer is ent's own, through writes that set, clear and add to them.
func TestKindOptionalLookups(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tag := uuid.New()
	create := func(f func(*ent.KindOptCreate)) *ent.KindOpt {
		t.Helper()
		c := e.client.KindOpt.Create().SetTeam("t").SetGroup("g")
		f(c)
		v, err := c.Save(ctx)
		require.NoError(t, err)
		return v
	}
	null := create(func(*ent.KindOptCreate) {}) // every optional field NULL
	zero := create(func(c *ent.KindOptCreate) {
		c.SetOwnerID(0).SetHandle("").SetSeat(0).SetSlot(0).SetFlag(false).SetTag(uuid.UUID{}).SetCounter(0)
	})
	set := create(func(c *ent.KindOptCreate) {
		c.SetOwnerID(5).SetHandle("h").SetSeat(1).SetSlot(1).SetFlag(true).SetTag(tag).SetCounter(3)
	})
	other := create(func(c *ent.KindOptCreate) { c.SetTeam("u").SetSeat(0).SetOwnerID(5).SetSlot(1) })
	e.requireOptLookups(tag)

	steps := []func() error{
		func() error { return e.client.KindOpt.UpdateOneID(null.ID).SetOwnerID(5).Exec(ctx) },
		func() error { return e.client.KindOpt.UpdateOneID(set.ID).ClearOwnerID().ClearSlot().Exec(ctx) },
		func() error { return e.client.KindOpt.UpdateOneID(null.ID).AddCounter(2).Exec(ctx) },            // NULL + 2
		func() error { return e.client.KindOpt.UpdateOneID(set.ID).AddCounter(-3).Exec(ctx) },            // 3 - 3 = 0
		func() error { return e.client.KindOpt.UpdateOneID(other.ID).SetOwnerID(0).Exec(ctx) },           // to zero
		func() error { return e.client.KindOpt.UpdateOneID(zero.ID).SetOwnerID(7).SetSlot(3).Exec(ctx) }, // from zero
		func() error { return e.client.KindOpt.Update().Where(kindopt.GroupEQ("g")).ClearSlot().Exec(ctx) },
		func() error { return e.client.KindOpt.Update().Where(kindopt.OwnerIDEQ(5)).AddCounter(1).Exec(ctx) },
		func() error {
			return e.client.KindOpt.UpdateOneID(zero.ID).ClearHandle().ClearFlag().ClearTag().Exec(ctx)
		},
		func() error {
			return e.client.KindOpt.UpdateOneID(set.ID).SetHandle("").SetFlag(false).ClearTag().Exec(ctx)
		},
		func() error {
			return e.client.KindOpt.UpdateOneID(null.ID).SetTag(tag).SetFlag(true).SetSeat(2).Exec(ctx)
		},
		func() error { return e.client.KindOpt.UpdateOneID(other.ID).ClearSeat().SetTeam("t").Exec(ctx) },
		func() error { return e.client.KindOpt.DeleteOneID(zero.ID).Exec(ctx) },
	}
	for i, step := range steps {
		require.NoError(t, step(), "step %d", i)
		e.requireOptLookups(tag)
	}
}

// cachemodel.Publish caches a type by id alone.
func TestKindPublishOnly(t *testing.T) {
	e := newEnv(t)
	v, err := e.client.KindBare.Create().SetName("a").Save(e.ctx)
	require.NoError(t, err)
	_, err = e.client.KindBare.Cached().Get(e.ctx, v.ID)
	require.NoError(t, err)
	var got []*ent.KindBare
	n := e.queries(func() { got, err = e.client.KindBare.Cached().GetMany(e.ctx, v.ID) })
	require.NoError(t, err)
	require.Zero(t, n, "served from the cache")
	require.Len(t, got, 1)
	require.Equal(t, v.Fields(), got[0].Fields())
	require.NoError(t, e.client.KindBare.UpdateOneID(v.ID).SetName("b").Exec(e.ctx))
	got1, err := e.client.KindBare.Cached().Get(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, "b", got1.Name)
}
