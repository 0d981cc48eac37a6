package ent_test

import (
	"database/sql"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/kindall"
	"github.com/entcachemodel/entcachemodel/internal/kindtype"
)

// requireKindAllList checks a cached list against ent's query, twice (the
// second answers from what the first cached).
func (e *env) requireKindAllList(name string, want *ent.KindAllQuery, got func() ([]*ent.KindAll, error)) {
	e.t.Helper()
	w, err := want.Order(kindall.ByID()).All(e.ctx)
	require.NoError(e.t, err, name)
	wf := make([]ent.KindAll, len(w))
	for i, v := range w {
		wf[i] = v.Fields()
	}
	for range 2 {
		g, err := got()
		require.NoError(e.t, err, name)
		gf := make([]ent.KindAll, len(g))
		for i, v := range g {
			gf[i] = v.Fields()
		}
		require.Equal(e.t, wf, gf, name)
	}
}

// Lookups by every kind of published field (sized and unsigned integers, a
// Nillable UUID, GoTypes with Scan and Value, named types, Go enums) answer
// as ent's own query, through writes that move rows between entries.
func TestKindAllLookups(t *testing.T) {
	e := newEnv(t)
	c := e.client.KindAll.Cached()
	ref := uuid.New()
	mk := func(i int, f func(*ent.KindAllCreate)) *ent.KindAll {
		t.Helper()
		b := e.client.KindAll.Create().SetFInt(i).SetFInt32(int32(i)).SetFInt64(int64(i)).SetFUint(uint(i)).SetFUint64(uint64(i)).
			SetFFloat32(0).SetFString("").SetFCode(&kindtype.Code{S: "c"})
		f(b)
		v, err := b.Save(e.ctx)
		require.NoError(t, err)
		return v
	}
	a := mk(1, func(b *ent.KindAllCreate) {
		b.SetFInt8(-128).SetFInt16(-3).SetFUint8(255).SetFUint16(65535).SetFUint32(4294967295).SetFUUIDPtr(ref).
			SetFNull(kindtype.NullText{Text: "n", Valid: true}).SetFNullstr(sql.NullString{String: "s", Valid: true}).
			SetFLevel(3).SetFLabel("l").SetFColor(kindtype.Red).SetFEnum(kindall.FEnumB).SetFBool(true)
	})
	b := mk(2, func(b *ent.KindAllCreate) {
		b.SetFInt8(-128).SetFUint8(0).SetFUUIDPtr(ref).SetFCode(&kindtype.Code{S: "d"}).
			SetFNull(kindtype.NullText{Valid: true}).SetFLabel("")
	})
	mk(3, func(*ent.KindAllCreate) {})
	check := func() {
		t.Helper()
		for _, v := range []int8{-128, 0, 1} {
			e.requireKindAllList("FInt8", e.client.KindAll.Query().Where(kindall.FInt8EQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFInt8(e.ctx, v) })
		}
		for _, v := range []int16{-3, 0} {
			e.requireKindAllList("FInt16", e.client.KindAll.Query().Where(kindall.FInt16EQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFInt16(e.ctx, v) })
		}
		for _, v := range []int{1, 2, 3} {
			e.requireKindAllList("FInt", e.client.KindAll.Query().Where(kindall.FIntEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFInt(e.ctx, v) })
			e.requireKindAllList("FInt32", e.client.KindAll.Query().Where(kindall.FInt32EQ(int32(v))), func() ([]*ent.KindAll, error) { return c.ListByFInt32(e.ctx, int32(v)) })
			e.requireKindAllList("FInt64", e.client.KindAll.Query().Where(kindall.FInt64EQ(int64(v))), func() ([]*ent.KindAll, error) { return c.ListByFInt64(e.ctx, int64(v)) })
			e.requireKindAllList("FUint", e.client.KindAll.Query().Where(kindall.FUintEQ(uint(v))), func() ([]*ent.KindAll, error) { return c.ListByFUint(e.ctx, uint(v)) })
			e.requireKindAllList("FUint64", e.client.KindAll.Query().Where(kindall.FUint64EQ(uint64(v))), func() ([]*ent.KindAll, error) { return c.ListByFUint64(e.ctx, uint64(v)) })
		}
		for _, v := range []uint8{0, 250, 255} {
			e.requireKindAllList("FUint8", e.client.KindAll.Query().Where(kindall.FUint8EQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFUint8(e.ctx, v) })
		}
		for _, v := range []uint16{0, 65534, 65535} {
			e.requireKindAllList("FUint16", e.client.KindAll.Query().Where(kindall.FUint16EQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFUint16(e.ctx, v) })
		}
		for _, v := range []uint32{7, 4294967295} {
			e.requireKindAllList("FUint32", e.client.KindAll.Query().Where(kindall.FUint32EQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFUint32(e.ctx, v) })
		}
		for _, v := range []uuid.UUID{ref, {}} {
			e.requireKindAllList("FUUIDPtr", e.client.KindAll.Query().Where(kindall.FUUIDPtrEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFUUIDPtr(e.ctx, v) })
		}
		for _, v := range []string{"c", "d", ""} {
			code := &kindtype.Code{S: v}
			e.requireKindAllList("FCode", e.client.KindAll.Query().Where(kindall.FCodeEQ(code)), func() ([]*ent.KindAll, error) { return c.ListByFCode(e.ctx, code) })
		}
		for _, v := range []kindtype.NullText{{Text: "n", Valid: true}, {Valid: true}, {}} {
			e.requireKindAllList("FNull", e.client.KindAll.Query().Where(kindall.FNullEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFNull(e.ctx, v) })
		}
		for _, v := range []sql.NullString{{String: "s", Valid: true}, {}} {
			e.requireKindAllList("FNullstr", e.client.KindAll.Query().Where(kindall.FNullstrEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFNullstr(e.ctx, v) })
		}
		for _, v := range []kindtype.Level{1, 3} {
			e.requireKindAllList("FLevel", e.client.KindAll.Query().Where(kindall.FLevelEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFLevel(e.ctx, v) })
		}
		for _, v := range []kindtype.Label{"l", ""} {
			e.requireKindAllList("FLabel", e.client.KindAll.Query().Where(kindall.FLabelEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFLabel(e.ctx, v) })
		}
		for _, v := range []kindtype.Color{kindtype.Red, kindtype.Green, ""} {
			e.requireKindAllList("FColor", e.client.KindAll.Query().Where(kindall.FColorEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFColor(e.ctx, v) })
		}
		for _, v := range []bool{false, true} {
			e.requireKindAllList("FEnumFBool", e.client.KindAll.Query().Where(kindall.FEnumEQ(kindall.FEnumB), kindall.FBoolEQ(v)), func() ([]*ent.KindAll, error) { return c.ListByFEnumFBool(e.ctx, kindall.FEnumB, v) })
		}
	}
	check()
	for i, step := range []func() error{
		func() error { return e.client.KindAll.UpdateOneID(a.ID).AddFUint8(-5).AddFUint16(-1).Exec(e.ctx) }, // 255-5, 65535-1
		func() error {
			return e.client.KindAll.UpdateOneID(b.ID).AddFUint8(100).AddFUint8(-1).ClearFUUIDPtr().Exec(e.ctx)
		},
		func() error {
			return e.client.KindAll.UpdateOneID(a.ID).SetFCode(&kindtype.Code{S: "d"}).ClearFNull().ClearFColor().SetFBool(false).Exec(e.ctx)
		},
		func() error {
			return e.client.KindAll.Update().Where(kindall.FInt8EQ(-128)).AddFInt8(1).ClearFNullstr().SetFLevel(3).SetFLabel("l").Exec(e.ctx)
		},
		func() error { return e.client.KindAll.Update().Where(kindall.FIntEQ(1)).ClearFInt16().Exec(e.ctx) },
		func() error { return e.client.KindAll.Update().Where(kindall.FIntEQ(3)).AddFInt16(-3).Exec(e.ctx) }, // NULL - 3
	} {
		require.NoError(t, step(), "step %d", i)
		check()
	}
}
