package ent_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/linkcat"
	"github.com/entcachemodel/entcachemodel/ent/linkgroup"
	"github.com/entcachemodel/entcachemodel/ent/linknode"
	"github.com/entcachemodel/entcachemodel/ent/linkowner"
	"github.com/entcachemodel/entcachemodel/ent/linktoy"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
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
// edge field (parent_id, published), a hidden key (mom/kids), a hidden key
// declared from the child's side (boss/staff), a one-to-one chain
// (prev/next, hidden) and a symmetric one-to-one (twin, hidden), each from
// the parent's side: add
// (also on create), remove, clear, bulk, and deleting the parent.
func TestSelfReferencesFollowParentWrites(t *testing.T) {
	type edge struct {
		add    func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne
		remove func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne
		clear  func(u *ent.LinkNodeUpdateOne) *ent.LinkNodeUpdateOne
		bulk   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate
		create func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate
	}
	edges := map[string]edge{
		"edge field": {
			add: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.AddChildren(kid) },
			remove: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne {
				return u.RemoveChildIDs(kid.ID)
			},
			clear:  (*ent.LinkNodeUpdateOne).ClearChildren,
			bulk:   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate { return u.AddChildIDs(kid.ID) },
			create: func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate { return c.AddChildren(kid) },
		},
		"hidden key": {
			add: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.AddKids(kid) },
			remove: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne {
				return u.RemoveKidIDs(kid.ID)
			},
			clear:  (*ent.LinkNodeUpdateOne).ClearKids,
			bulk:   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate { return u.AddKidIDs(kid.ID) },
			create: func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate { return c.AddKids(kid) },
		},
		"declared on the child": {
			add: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.AddStaff(kid) },
			remove: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne {
				return u.RemoveStaffIDs(kid.ID)
			},
			clear:  (*ent.LinkNodeUpdateOne).ClearStaff,
			bulk:   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate { return u.AddStaffIDs(kid.ID) },
			create: func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate { return c.AddStaff(kid) },
		},
		"symmetric one-to-one": {
			add:    func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.SetTwin(kid) },
			remove: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.ClearTwin() },
			clear:  (*ent.LinkNodeUpdateOne).ClearTwin,
			bulk:   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate { return u.SetTwinID(kid.ID) },
			create: func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate { return c.SetTwin(kid) },
		},
		"one-to-one": {
			add:    func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.SetNext(kid) },
			remove: func(u *ent.LinkNodeUpdateOne, kid *ent.LinkNode) *ent.LinkNodeUpdateOne { return u.ClearNext() },
			clear:  (*ent.LinkNodeUpdateOne).ClearNext,
			bulk:   func(u *ent.LinkNodeUpdate, kid *ent.LinkNode) *ent.LinkNodeUpdate { return u.SetNextID(kid.ID) },
			create: func(c *ent.LinkNodeCreate, kid *ent.LinkNode) *ent.LinkNodeCreate { return c.SetNext(kid) },
		},
	}
	for name, ed := range edges {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client
			p := must(c.LinkNode.Create().SetName("p").Save(e.ctx))
			q := must(c.LinkNode.Create().SetName("q").Save(e.ctx))
			kid := must(c.LinkNode.Create().SetName("kid").Save(e.ctx))
			check := func(parents ...int) {
				t.Helper()
				e.node(kid.ID, p.ID, q.ID)
				e.childrenOf(parents...)
			}
			check(p.ID, q.ID)
			require.NoError(t, ed.add(p.Update(), kid).Exec(e.ctx))
			check(p.ID, q.ID)
			require.NoError(t, ed.remove(p.Update(), kid).Exec(e.ctx))
			check(p.ID, q.ID)
			require.NoError(t, ed.bulk(c.LinkNode.Update().Where(linknode.Name("q")), kid).Exec(e.ctx))
			check(p.ID, q.ID)
			require.NoError(t, ed.clear(q.Update()).Exec(e.ctx))
			check(p.ID, q.ID)
			r := must(ed.create(c.LinkNode.Create().SetName("r"), kid).Save(e.ctx))
			check(p.ID, q.ID, r.ID)
			require.NoError(t, c.LinkNode.DeleteOne(r).Exec(e.ctx))
			check(p.ID, q.ID, r.ID)
		})
	}
}

// Deleting a node deletes its kids, theirs, and so on (ON DELETE CASCADE on
// a self-reference): every cached node of the subtree is removed, and the
// nodes whose parent_id pointed into it are republished.
func TestSelfReferencingCascade(t *testing.T) {
	e := newEnv(t)
	c := e.client
	top := must(c.LinkNode.Create().SetName("top").Save(e.ctx))
	ids := []int{top.ID}
	mom := top
	for range 4 {
		mom = must(c.LinkNode.Create().SetName("kid").SetMom(mom).Save(e.ctx))
		ids = append(ids, mom.ID)
	}
	orphan := must(c.LinkNode.Create().SetName("orphan").SetParentID(mom.ID).Save(e.ctx))
	ids = append(ids, orphan.ID)
	e.node(ids...)
	e.childrenOf(mom.ID)
	require.NoError(t, c.LinkNode.DeleteOne(top).Exec(e.ctx))
	require.Equal(t, 1, must(c.LinkNode.Query().Count(e.ctx)), "the database deleted the subtree")
	e.node(ids...)
	e.childrenOf(mom.ID)
	for _, id := range ids[:5] {
		_, err := c.LinkNode.Cached().Get(e.ctx, id)
		require.True(t, ent.IsNotFound(err))
	}
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
				e.toy(toys...)
				e.toysOf(cats...)
				e.cat(cats...)
				e.catsOf(owners...)
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

// Edges declared on either side: a many-to-one declared on the cached
// LinkGroup (its key in LinkGroup's table) that LinkInfo writes through its
// inverse edge, one with no edge back (only deleting the LinkTag changes the
// group), and a one-to-one whose key is in LinkBadge's table.
func TestEdgesDeclaredOnEitherSide(t *testing.T) {
	e := newEnv(t)
	c := e.client
	g := must(c.LinkGroup.Create().SetName("g").Save(e.ctx))
	h := must(c.LinkGroup.Create().SetName("h").Save(e.ctx))
	info := must(c.LinkInfo.Create().SetName("i").Save(e.ctx))
	tag := must(c.LinkTag.Create().SetName("t").Save(e.ctx))
	badge := must(c.LinkBadge.Create().SetName("b").Save(e.ctx))
	check := func() {
		t.Helper()
		e.group(g.ID, h.ID)
		e.badge(badge.ID)
	}
	check()

	require.NoError(t, info.Update().AddGroups(g, h).Exec(e.ctx))
	check()
	require.NoError(t, info.Update().RemoveGroups(h).Exec(e.ctx))
	check()
	require.NoError(t, info.Update().ClearGroups().Exec(e.ctx))
	check()
	info2 := must(c.LinkInfo.Create().SetName("i2").AddGroups(h).Save(e.ctx))
	check()
	require.NoError(t, c.LinkInfo.DeleteOne(info2).Exec(e.ctx)) // SET NULL
	check()
	require.NoError(t, g.Update().SetTag(tag).SetInfo(info).Exec(e.ctx))
	check()
	require.NoError(t, c.LinkTag.DeleteOne(tag).Exec(e.ctx)) // SET NULL
	check()

	require.NoError(t, g.Update().SetBadge(badge).Exec(e.ctx))
	check()
	require.NoError(t, g.Update().ClearBadge().Exec(e.ctx))
	check()
	require.NoError(t, c.LinkGroup.Update().Where(linkgroup.Name("h")).SetBadge(badge).Exec(e.ctx))
	check()
	require.NoError(t, c.LinkGroup.DeleteOne(h).Exec(e.ctx)) // SET NULL
	check()
	_, err := c.LinkGroup.Cached().Get(e.ctx, h.ID)
	require.True(t, ent.IsNotFound(err))
}

// The watch protocol covers edge fields and cascades: a row moved to an
// owner by another process after the unnamed write listed the owner's rows,
// and before its statement ran, is changed unseen (its key cleared, or the
// row deleted with its owner), and must not stay cached as the mover
// published it.
func TestLinkRaceWithAnUnnamedWrite(t *testing.T) {
	type world struct {
		owner *ent.LinkOwner
		cat   *ent.LinkCat // the owner's: the toy's owner in the cascade
		other *ent.LinkCat // no one's
		dog   *ent.LinkDog
		toy   *ent.LinkToy
	}
	cases := map[string]struct {
		write func(e *env, w world) error
		move  func(c *ent.Client, ctx context.Context, w world) error
		check func(e *env, w world)
	}{
		"clear cats/cat side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.UpdateOne(w.owner).ClearCats().Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkCat.Create().SetName("late").SetOwnerID(w.owner.ID).Exec(ctx)
			},
			check: func(e *env, w world) {
				ids := must(e.client.LinkCat.Query().IDs(e.ctx))
				e.cat(ids...)
				e.catsOf(w.owner.ID)
			},
		},
		"clear dogs/owner side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.UpdateOne(w.owner).ClearDogs().Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkOwner.UpdateOneID(w.owner.ID).AddDogIDs(w.dog.ID).Exec(ctx)
			},
			check: func(e *env, w world) { e.dog(w.dog.ID) },
		},
		"delete owner, dogs set null/dog side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.DeleteOne(w.owner).Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkDog.UpdateOneID(w.dog.ID).SetOwnerID(w.owner.ID).Exec(ctx)
			},
			check: func(e *env, w world) { e.dog(w.dog.ID) },
		},
		"delete owner, cats cascade/cat side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.DeleteOne(w.owner).Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkCat.UpdateOneID(w.other.ID).SetOwnerID(w.owner.ID).Exec(ctx)
			},
			check: func(e *env, w world) {
				e.cat(w.cat.ID, w.other.ID)
				e.catsOf(w.owner.ID)
			},
		},
		"delete owner, toys of its cats set null/toy side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.DeleteOne(w.owner).Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkToy.UpdateOneID(w.toy.ID).SetCatID(w.cat.ID).Exec(ctx)
			},
			check: func(e *env, w world) {
				e.toy(w.toy.ID)
				e.toysOf(w.cat.ID)
			},
		},
		"delete owner, toys of its cats set null/cat side": {
			write: func(e *env, w world) error { return e.client.LinkOwner.DeleteOne(w.owner).Exec(e.ctx) },
			move: func(c *ent.Client, ctx context.Context, w world) error {
				return c.LinkCat.UpdateOneID(w.cat.ID).AddToyIDs(w.toy.ID).Exec(ctx)
			},
			check: func(e *env, w world) {
				e.toy(w.toy.ID)
				e.toysOf(w.cat.ID)
			},
		},
	}
	for name, tc := range cases {
		for _, slow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/slow=%v", name, slow), func(t *testing.T) {
				const leaseTime = 300 * time.Millisecond
				e := newEnv(t, entcachemodel.WithLease(leaseTime))
				c := e.client
				var w world
				w.owner = must(c.LinkOwner.Create().SetName("o").Save(e.ctx))
				w.cat = must(c.LinkCat.Create().SetOwner(w.owner).Save(e.ctx))
				w.other = must(c.LinkCat.Create().Save(e.ctx))
				w.dog = must(c.LinkDog.Create().Save(e.ctx))
				w.toy = must(c.LinkToy.Create().Save(e.ctx))
				tc.check(e, w) // fills the cache
				_, _, other := e.process(e.redis.NewClient(), entcachemodel.WithLease(leaseTime))

				var once sync.Once
				c.LinkOwner.Use(func(next ent.Mutator) ent.Mutator {
					return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
						once.Do(func() {
							require.NoError(t, tc.move(other, ctx, w))
							if slow {
								// The unnamed write waits longer than a lease, and
								// readers fill the rows as they are meanwhile.
								e.redis.Advance(leaseTime + 100*time.Millisecond)
								tc.check(e, w)
							}
						})
						return next.Mutate(ctx, m)
					})
				})
				require.NoError(t, tc.write(e, w))
				e.redis.Advance(leaseTime + 100*time.Millisecond)
				tc.check(e, w)
			})
		}
	}
}

// An owner-side add marks, before the write, the rows it moves and the
// lists they move into: a crash between the commit and the publish leaves
// them stale for one lease at most.
func TestCrashAfterAnOwnerSideAddIsBoundedByTheLease(t *testing.T) {
	const leaseTime = 300 * time.Millisecond
	e := newEnv(t, entcachemodel.WithLease(leaseTime))
	o := must(e.client.LinkOwner.Create().SetName("o").Save(e.ctx))
	there := must(e.client.LinkCat.Create().SetOwner(o).Save(e.ctx))
	cat := must(e.client.LinkCat.Create().Save(e.ctx))
	e.cat(cat.ID, there.ID)
	e.catsOf(o.ID) // cached, without cat

	faults := &testenv.Faults{}
	dying := e.redis.NewClient()
	dying.AddHook(faults)
	_, _, crashing := e.process(dying, entcachemodel.WithLease(leaseTime))
	crashing.LinkOwner.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			faults.Down.Store(true) // the process is gone: nothing it sends arrives
			return v, err
		})
	})
	require.NoError(t, crashing.LinkOwner.UpdateOneID(o.ID).AddCatIDs(cat.ID).Exec(e.ctx))

	e.redis.Advance(leaseTime + 100*time.Millisecond)
	e.cat(cat.ID)
	e.catsOf(o.ID)
}

// TestDisabledCacheWritesEdgesFromTheOwnerSide: a client made with
// ent.CacheModel(entcachemodel.Disabled()) writes edges from the owner's
// side, and deletes owners, as a plain client does (it panicked, reaching
// for the outbox of a cache that has none).
func TestDisabledCacheWritesEdgesFromTheOwnerSide(t *testing.T) {
	e := newEnv(t)
	c := e.behind()
	u, err := c.User.Create().SetEmail("owner@x.io").Save(e.ctx)
	require.NoError(t, err)
	p, err := c.Pet.Create().SetName("rex").Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, c.User.UpdateOne(u).AddPets(p).Exec(e.ctx))
	require.NoError(t, c.User.UpdateOne(u).ClearPets().Exec(e.ctx))
	require.NoError(t, c.User.DeleteOne(u).Exec(e.ctx))
}
