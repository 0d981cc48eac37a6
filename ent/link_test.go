package ent_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/linkcat"
	"github.com/entcachemodel/entcachemodel/ent/linknode"
	"github.com/entcachemodel/entcachemodel/ent/linkowner"
	"github.com/entcachemodel/entcachemodel/ent/linktoy"
)

// same checks one cached row against the database: equal, or both missing.
// Reading it through the cache also fills it, so that a later write that
// leaves it stale is seen.
func same[T, F any](e *env, what string, id int, stored, cached func(context.Context, int) (T, error), fields func(T) F) {
	e.t.Helper()
	want, werr := stored(e.ctx, id)
	got, gerr := cached(e.ctx, id)
	if ent.IsNotFound(werr) {
		require.True(e.t, ent.IsNotFound(gerr), "%s %d is deleted, the cache has %+v (%v)", what, id, got, gerr)
		return
	}
	require.NoError(e.t, werr)
	require.NoError(e.t, gerr)
	require.Equal(e.t, fields(want), fields(got), "%s %d", what, id)
}

// sameIDs checks a cached list against the database's.
func sameIDs[T any](e *env, what string, want []T, werr error, got []T, gerr error, id func(T) int) {
	e.t.Helper()
	require.NoError(e.t, werr)
	require.NoError(e.t, gerr)
	ids := func(vs []T) []int {
		out := []int{}
		for _, v := range vs {
			out = append(out, id(v))
		}
		return out
	}
	require.Equal(e.t, ids(want), ids(got), what)
}

func (e *env) cat(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "cat", id, e.client.LinkCat.Stored, e.client.LinkCat.Cached().Get, (*ent.LinkCat).Fields)
	}
}

func (e *env) dog(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "dog", id, e.client.LinkDog.Stored, e.client.LinkDog.Cached().Get, (*ent.LinkDog).Fields)
	}
}

func (e *env) toy(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "toy", id, e.client.LinkToy.Stored, e.client.LinkToy.Cached().Get, (*ent.LinkToy).Fields)
	}
}

func (e *env) node(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "node", id, e.client.LinkNode.Stored, e.client.LinkNode.Cached().Get, (*ent.LinkNode).Fields)
	}
}

func (e *env) group(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "group", id, e.client.LinkGroup.Stored, e.client.LinkGroup.Cached().Get, (*ent.LinkGroup).Fields)
	}
}

func (e *env) badge(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		same(e, "badge", id, e.client.LinkBadge.Stored, e.client.LinkBadge.Cached().Get, (*ent.LinkBadge).Fields)
	}
}

// catsOf checks ListByOwnerID of each owner.
func (e *env) catsOf(owners ...int) {
	e.t.Helper()
	for _, o := range owners {
		want, werr := e.client.LinkCat.Query().Where(linkcat.OwnerID(o)).Order(linkcat.ByID()).All(e.ctx)
		got, gerr := e.client.LinkCat.Cached().ListByOwnerID(e.ctx, o)
		sameIDs(e, "cats of owner", want, werr, got, gerr, func(v *ent.LinkCat) int { return v.ID })
	}
}

// toysOf checks ListByCatID of each cat.
func (e *env) toysOf(cats ...int) {
	e.t.Helper()
	for _, c := range cats {
		want, werr := e.client.LinkToy.Query().Where(linktoy.CatID(c)).Order(linktoy.ByID()).All(e.ctx)
		got, gerr := e.client.LinkToy.Cached().ListByCatID(e.ctx, c)
		sameIDs(e, "toys of cat", want, werr, got, gerr, func(v *ent.LinkToy) int { return v.ID })
	}
}

// childrenOf checks ListByParentID of each node.
func (e *env) childrenOf(nodes ...int) {
	e.t.Helper()
	for _, n := range nodes {
		want, werr := e.client.LinkNode.Query().Where(linknode.ParentID(n)).Order(linknode.ByID()).All(e.ctx)
		got, gerr := e.client.LinkNode.Cached().ListByParentID(e.ctx, n)
		sameIDs(e, "children of node", want, werr, got, gerr, func(v *ent.LinkNode) int { return v.ID })
	}
}

// must returns v, and fails the test (by a panic) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Edge fields are foreign keys too: the owner's writes through the edge
// (add, remove, clear, bulk, create, delete under SET NULL) change them
// without naming the rows, which must follow, by Get and by the lists.
func TestEdgeFieldsFollowOwnerWrites(t *testing.T) {
	e := newEnv(t)
	c := e.client
	o1 := must(c.LinkOwner.Create().SetName("o1").Save(e.ctx))
	o2 := must(c.LinkOwner.Create().SetName("o2").Save(e.ctx))
	cat := must(c.LinkCat.Create().SetName("cat").Save(e.ctx))
	dog := must(c.LinkDog.Create().SetName("dog").Save(e.ctx))
	check := func(owners ...int) {
		t.Helper()
		e.cat(cat.ID)
		e.dog(dog.ID)
		e.catsOf(owners...)
	}
	check(o1.ID, o2.ID)

	require.NoError(t, o1.Update().AddCats(cat).AddDogs(dog).Exec(e.ctx))
	check(o1.ID, o2.ID)
	require.NoError(t, o1.Update().RemoveCats(cat).RemoveDogs(dog).Exec(e.ctx))
	check(o1.ID, o2.ID)
	n, err := c.LinkOwner.Update().Where(linkowner.Name("o2")).AddCatIDs(cat.ID).AddDogIDs(dog.ID).Save(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	check(o1.ID, o2.ID)
	require.NoError(t, c.LinkOwner.UpdateOne(o2).ClearCats().ClearDogs().Exec(e.ctx))
	check(o1.ID, o2.ID)
	o3 := must(c.LinkOwner.Create().SetName("o3").AddCats(cat).AddDogs(dog).Save(e.ctx))
	check(o1.ID, o2.ID, o3.ID)
	// A row attached elsewhere is refused, and nothing changes.
	require.Error(t, o1.Update().AddCats(cat).Exec(e.ctx))
	check(o1.ID, o3.ID)

	// Deleting the owner: its dogs keep living unowned (SET NULL), its cats
	// are deleted (CASCADE).
	require.NoError(t, c.LinkOwner.DeleteOne(o3).Exec(e.ctx))
	check(o3.ID)
	_, err = c.LinkCat.Cached().Get(e.ctx, cat.ID)
	require.True(t, ent.IsNotFound(err), "the cascade deleted the cat")
}

// A transaction's owner-side writes are published when it commits.
func TestEdgeFieldsFollowOwnerWritesInATransaction(t *testing.T) {
	e := newEnv(t)
	c := e.client
	o := must(c.LinkOwner.Create().SetName("o").Save(e.ctx))
	cat := must(c.LinkCat.Create().SetName("cat").Save(e.ctx))
	dog := must(c.LinkDog.Create().SetName("dog").SetOwner(o).Save(e.ctx))
	e.cat(cat.ID)
	e.dog(dog.ID)
	e.catsOf(o.ID)
	tx := must(c.Tx(e.ctx))
	require.NoError(t, tx.LinkOwner.UpdateOne(o).AddCats(cat).ClearDogs().Exec(e.ctx))
	require.NoError(t, tx.Commit())
	e.cat(cat.ID)
	e.dog(dog.ID)
	e.catsOf(o.ID)
}

// Self-references: the parent's writes change its children's keys, for an
// edge field (parent_id, published), a hidden key (mom/kids) and a
// one-to-one chain (prev/next).
func TestSelfReferencesFollowParentWrites(t *testing.T) {
	e := newEnv(t)
	c := e.client
	p := must(c.LinkNode.Create().SetName("p").Save(e.ctx))
	q := must(c.LinkNode.Create().SetName("q").Save(e.ctx))
	kid := must(c.LinkNode.Create().SetName("kid").Save(e.ctx))
	check := func(parents ...int) {
		t.Helper()
		e.node(p.ID, q.ID, kid.ID)
		e.childrenOf(parents...)
	}
	check(p.ID, q.ID)

	require.NoError(t, p.Update().AddChildren(kid).Exec(e.ctx))
	check(p.ID, q.ID)
	require.NoError(t, p.Update().RemoveChildIDs(kid.ID).AddKids(kid).SetNext(kid).Exec(e.ctx))
	check(p.ID, q.ID)
	require.NoError(t, c.LinkNode.Update().Where(linknode.Name("q")).AddChildIDs(kid.ID).Exec(e.ctx))
	check(p.ID, q.ID)
	require.NoError(t, c.LinkNode.UpdateOne(q).ClearChildren().Exec(e.ctx))
	require.NoError(t, c.LinkNode.UpdateOne(p).ClearKids().ClearNext().Exec(e.ctx))
	check(p.ID, q.ID)
	r := must(c.LinkNode.Create().SetName("r").AddChildren(kid).AddKids(kid).SetNext(kid).Save(e.ctx))
	check(p.ID, q.ID, r.ID)
	// Deleting the parent sets every key NULL.
	require.NoError(t, c.LinkNode.DeleteOne(r).Exec(e.ctx))
	check(p.ID, q.ID, r.ID)
}

// Deleting an owner cascades: its cats are deleted (CASCADE), which sets
// their toys' cat_id NULL; its boxes, an uncached type, are deleted too,
// which sets the toys' hidden box key NULL.
func TestCascadesFollowEveryChain(t *testing.T) {
	for _, name := range []string{"delete one", "delete many", "in a transaction"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client
			var owners, cats, toys []int
			for i := range 2 {
				o := must(c.LinkOwner.Create().SetName("o").Save(e.ctx))
				cat := must(c.LinkCat.Create().SetOwner(o).Save(e.ctx))
				box := must(c.LinkBox.Create().SetOwner(o).Save(e.ctx))
				toy := must(c.LinkToy.Create().SetCat(cat).SetBox(box).SetName(string(rune('a' + i))).Save(e.ctx))
				owners, cats, toys = append(owners, o.ID), append(cats, cat.ID), append(toys, toy.ID)
			}
			check := func() {
				t.Helper()
				e.cat(cats...)
				e.toy(toys...)
				e.catsOf(owners...)
				e.toysOf(cats...)
			}
			check()
			switch name {
			case "delete one":
				require.NoError(t, c.LinkOwner.DeleteOneID(owners[0]).Exec(e.ctx))
			case "delete many":
				_, err := c.LinkOwner.Delete().Where(linkowner.Name("o")).Exec(e.ctx)
				require.NoError(t, err)
			default:
				tx := must(c.Tx(e.ctx))
				require.NoError(t, tx.LinkOwner.DeleteOneID(owners[1]).Exec(e.ctx))
				require.NoError(t, tx.Commit())
			}
			got := must(c.LinkToy.Stored(e.ctx, toys[0]))
			if name != "in a transaction" {
				require.Nil(t, got.CatID, "the database cascaded")
			}
			check()
		})
	}
}
