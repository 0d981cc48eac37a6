package ent_test

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/linkcat"
	"github.com/entcachemodel/entcachemodel/ent/linknode"
	"github.com/entcachemodel/entcachemodel/ent/linkowner"
	"github.com/entcachemodel/entcachemodel/ent/linktoy"
)

// The chaos load on links: owners whose cats (an edge field, listed by
// ListByOwnerID) are moved from both sides and deleted with them (ON DELETE
// CASCADE), the cats' toys (an edge field, listed by ListByCatID, set NULL
// by the cascade), and nodes of a tree (a self-referencing edge field,
// ListByParentID, and a hidden self-referencing key).

// chaosLinks are the ids of every link row ever created.
type chaosLinks struct {
	owners, cats, toys, nodes []int
}

func init() {
	chaosOps = append(chaosOps, chaosLinkOps...)
}

func (c *chaos) seedLinks() {
	r := rand.New(rand.NewPCG(c.seed, 1<<35))
	ctx, cl := c.e.ctx, c.e.client
	for range 4 {
		c.links.owners = append(c.links.owners, must(cl.LinkOwner.Create().Save(ctx)).ID)
	}
	for i := range 8 {
		b := cl.LinkCat.Create()
		if i%2 == 0 {
			b.SetOwnerID(c.links.owners[r.IntN(len(c.links.owners))])
		}
		c.links.cats = append(c.links.cats, must(b.Save(ctx)).ID)
	}
	for i := range 5 {
		b := cl.LinkToy.Create()
		if i < 3 {
			b.SetCatID(c.links.cats[i])
		}
		c.links.toys = append(c.links.toys, must(b.Save(ctx)).ID)
	}
	for i := range 6 {
		b := cl.LinkNode.Create()
		if i > 0 {
			b.SetParentID(c.links.nodes[0])
		}
		c.links.nodes = append(c.links.nodes, must(b.Save(ctx)).ID)
	}
}

// pickLink returns one of ids under the lock.
func (c *chaos) pickLink(r *rand.Rand, ids *[]int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*ids)[r.IntN(len(*ids))]
}

// addLink records a created id.
func (c *chaos) addLink(ids *[]int, id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*ids = append(*ids, id)
}

// lastLinkWrites ends the load with owner-side writes that decide the final
// key of many rows, each read (and so cached) first: owners clear or remove
// their cats and adopt unowned ones, parents clear or remove their children
// and adopt free nodes, a cat clears its toys and an owned cat adopts free
// ones, and that cat's owner is deleted (the cat cascades, its toys lose
// their cat). A write the cache does not follow then shows in the check,
// instead of being repaired by a later write of the row.
func (c *chaos) lastLinkWrites(r *rand.Rand, procs []*chaosProc) {
	ctx, db := c.e.ctx, c.e.client
	_ = c.checkLinks(procs) // fills what the finale changes; the run has not settled yet
	proc := func() *ent.Client { return procs[r.IntN(len(procs))].client }
	last := func(err error) { c.record("link-last", err) }
	owners := must(db.LinkOwner.Query().IDs(ctx))
	for i, o := range must(db.LinkOwner.Query().Where(linkowner.HasCats()).IDs(ctx)) {
		if i%2 == 0 {
			last(proc().LinkOwner.UpdateOneID(o).ClearCats().Exec(ctx))
		} else {
			cat := must(db.LinkCat.Query().Where(linkcat.OwnerID(o)).FirstID(ctx))
			last(proc().LinkOwner.UpdateOneID(o).RemoveCatIDs(cat).Exec(ctx))
		}
	}
	for i, cat := range must(db.LinkCat.Query().Where(linkcat.OwnerIDIsNil()).IDs(ctx)) {
		if len(owners) > 0 && i < 4 {
			last(proc().LinkOwner.UpdateOneID(owners[i%len(owners)]).AddCatIDs(cat).Exec(ctx))
		}
	}
	for i, n := range must(db.LinkNode.Query().Where(linknode.Or(linknode.HasChildren(), linknode.HasKids())).IDs(ctx)) {
		if i%2 == 0 {
			last(proc().LinkNode.UpdateOneID(n).ClearChildren().ClearKids().Exec(ctx))
		} else {
			u := proc().LinkNode.UpdateOneID(n)
			if kid, err := db.LinkNode.Query().Where(linknode.ParentID(n)).FirstID(ctx); err == nil {
				u.RemoveChildIDs(kid)
			}
			last(u.ClearKids().Exec(ctx))
		}
	}
	nodes := must(db.LinkNode.Query().IDs(ctx))
	for i, n := range must(db.LinkNode.Query().Where(linknode.ParentIDIsNil()).IDs(ctx)) {
		if i < 3 {
			last(proc().LinkNode.UpdateOneID(nodes[r.IntN(len(nodes))]).AddChildIDs(n).AddKidIDs(n).Exec(ctx))
		}
	}
	if cat, err := db.LinkCat.Query().Where(linkcat.HasToys()).FirstID(ctx); err == nil {
		last(proc().LinkCat.UpdateOneID(cat).ClearToys().Exec(ctx))
	}
	cat, err := db.LinkCat.Query().Where(linkcat.OwnerIDNotNil()).First(ctx)
	if err != nil {
		return
	}
	for _, toy := range must(db.LinkToy.Query().Where(linktoy.CatIDIsNil()).IDs(ctx)) {
		last(proc().LinkCat.UpdateOneID(cat.ID).AddToyIDs(toy).Exec(ctx))
	}
	_ = c.checkLinks(procs)
	last(proc().LinkOwner.DeleteOneID(*cat.OwnerID).Exec(ctx))
}

var chaosLinkOps = []chaosOp{
	{"link-owner-edge", 4, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, cl := c.e.ctx, p.client
		owner, cat := c.pickLink(r, &c.links.owners), c.pickLink(r, &c.links.cats)
		switch r.IntN(6) {
		case 0:
			return cl.LinkOwner.UpdateOneID(owner).AddCatIDs(cat).Exec(ctx)
		case 1:
			return cl.LinkOwner.UpdateOneID(owner).RemoveCatIDs(cat).Exec(ctx)
		case 2:
			return cl.LinkOwner.UpdateOneID(owner).ClearCats().Exec(ctx) // changes cats it does not name
		case 3:
			return cl.LinkOwner.Update().Where(linkowner.ID(owner)).AddCatIDs(cat).Exec(ctx)
		case 4:
			return cl.LinkCat.UpdateOneID(cat).AddToyIDs(c.pickLink(r, &c.links.toys)).Exec(ctx)
		default:
			return cl.LinkCat.UpdateOneID(cat).ClearToys().Exec(ctx)
		}
	}},
	{"link-child-side", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, cl := c.e.ctx, p.client
		switch r.IntN(4) {
		case 0:
			return cl.LinkCat.UpdateOneID(c.pickLink(r, &c.links.cats)).SetOwnerID(c.pickLink(r, &c.links.owners)).Exec(ctx)
		case 1:
			return cl.LinkCat.UpdateOneID(c.pickLink(r, &c.links.cats)).ClearOwner().Exec(ctx)
		case 2:
			return cl.LinkToy.UpdateOneID(c.pickLink(r, &c.links.toys)).SetCatID(c.pickLink(r, &c.links.cats)).Exec(ctx)
		default:
			return cl.LinkNode.UpdateOneID(c.pickLink(r, &c.links.nodes)).SetParentID(c.pickLink(r, &c.links.nodes)).Exec(ctx)
		}
	}},
	{"link-node-edge", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, cl := c.e.ctx, p.client
		u := cl.LinkNode.UpdateOneID(c.pickLink(r, &c.links.nodes))
		kid := c.pickLink(r, &c.links.nodes)
		switch r.IntN(5) {
		case 0:
			u.AddChildIDs(kid)
		case 1:
			u.RemoveChildIDs(kid)
		case 2:
			u.ClearChildren()
		case 3:
			u.AddKidIDs(kid)
		default:
			u.ClearKids()
		}
		return u.Exec(ctx)
	}},
	{"link-delete-create", 2, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, cl := c.e.ctx, p.client
		switch r.IntN(3) {
		case 0: // its cats go with it, their toys lose their cat
			if err := cl.LinkOwner.DeleteOneID(c.pickLink(r, &c.links.owners)).Exec(ctx); err != nil {
				return err
			}
			b := cl.LinkOwner.Create()
			if r.IntN(2) == 0 {
				b.AddCatIDs(c.pickLink(r, &c.links.cats)) // refused if the cat has an owner
			}
			o, err := b.Save(ctx)
			if err != nil {
				o, err = cl.LinkOwner.Create().Save(ctx)
			}
			if err == nil {
				c.addLink(&c.links.owners, o.ID)
			}
			return err
		case 1:
			cat, err := cl.LinkCat.Create().SetOwnerID(c.pickLink(r, &c.links.owners)).Save(ctx)
			if err != nil {
				cat, err = cl.LinkCat.Create().Save(ctx)
			}
			if err == nil {
				c.addLink(&c.links.cats, cat.ID)
			}
			return err
		default: // its children lose their parent
			if err := cl.LinkNode.DeleteOneID(c.pickLink(r, &c.links.nodes)).Exec(ctx); err != nil {
				return err
			}
			b := cl.LinkNode.Create()
			if r.IntN(2) == 0 {
				b.AddChildIDs(c.pickLink(r, &c.links.nodes)) // refused if the node has a parent
			}
			n, err := b.Save(ctx)
			if err != nil {
				n, err = cl.LinkNode.Create().Save(ctx)
			}
			if err == nil {
				c.addLink(&c.links.nodes, n.ID)
			}
			return err
		}
	}},
	{"read-links", 4, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, cl := c.e.ctx, p.client
		switch r.IntN(4) {
		case 0:
			id := c.pickLink(r, &c.links.cats)
			got, err := cl.LinkCat.Cached().Get(ctx, id)
			c.expect(err != nil || got.ID == id, "%s: LinkCat Get(%d) returned another cat", p, id)
			return chaosFound(err)
		case 1:
			o := c.pickLink(r, &c.links.owners)
			got, err := cl.LinkCat.Cached().ListByOwnerID(ctx, o)
			c.expect(!slices.ContainsFunc(got, func(x *ent.LinkCat) bool { return x.OwnerID == nil || *x.OwnerID != o }), "%s: ListByOwnerID(%d) returned another owner's cat", p, o)
			return err
		case 2:
			cat := c.pickLink(r, &c.links.cats)
			got, err := cl.LinkToy.Cached().ListByCatID(ctx, cat)
			c.expect(!slices.ContainsFunc(got, func(x *ent.LinkToy) bool { return x.CatID == nil || *x.CatID != cat }), "%s: ListByCatID(%d) returned another cat's toy", p, cat)
			return err
		default:
			n := c.pickLink(r, &c.links.nodes)
			got, err := cl.LinkNode.Cached().ListByParentID(ctx, n)
			c.expect(!slices.ContainsFunc(got, func(x *ent.LinkNode) bool { return x.ParentID == nil || *x.ParentID != n }), "%s: ListByParentID(%d) returned another parent's node", p, n)
			return err
		}
	}},
}

// checkLinks compares every cached link lookup of the readers with the
// database: Get of every row ever created, and the lists of every owner.
func (c *chaos) checkLinks(readers []*chaosProc) []string {
	ctx := c.e.ctx
	var diffs []string
	diff := func(what string, want, got any, werr, gerr error) {
		switch {
		case werr != nil && !ent.IsNotFound(werr):
			require.NoError(c.t, werr)
		case ent.IsNotFound(werr) && ent.IsNotFound(gerr):
		case gerr != nil:
			diffs = append(diffs, fmt.Sprintf("%s: error %v, database %+v", what, gerr, want))
		case !assert.ObjectsAreEqual(want, got):
			diffs = append(diffs, fmt.Sprintf("%s: cache %v, database %v", what, got, want))
		}
	}
	get := func(proc string, what string, id int, stored, cached func() (any, error)) {
		want, werr := stored()
		got, gerr := cached()
		diff(fmt.Sprintf("%s %s Get(%d)", proc, what, id), want, got, werr, gerr)
	}
	idsOf := func(n int, id func(int) int) []int {
		out := []int{}
		for i := range n {
			out = append(out, id(i))
		}
		return out
	}
	for _, p := range readers {
		cl := p.client
		for _, id := range c.links.cats {
			get(p.name, "LinkCat", id,
				func() (any, error) {
					v, err := c.e.client.LinkCat.Stored(ctx, id)
					return fieldsOf(v, err, (*ent.LinkCat).Fields)
				},
				func() (any, error) {
					v, err := cl.LinkCat.Cached().Get(ctx, id)
					return fieldsOf(v, err, (*ent.LinkCat).Fields)
				})
		}
		for _, id := range c.links.toys {
			get(p.name, "LinkToy", id,
				func() (any, error) {
					v, err := c.e.client.LinkToy.Stored(ctx, id)
					return fieldsOf(v, err, (*ent.LinkToy).Fields)
				},
				func() (any, error) {
					v, err := cl.LinkToy.Cached().Get(ctx, id)
					return fieldsOf(v, err, (*ent.LinkToy).Fields)
				})
		}
		for _, id := range c.links.nodes {
			get(p.name, "LinkNode", id,
				func() (any, error) {
					v, err := c.e.client.LinkNode.Stored(ctx, id)
					return fieldsOf(v, err, (*ent.LinkNode).Fields)
				},
				func() (any, error) {
					v, err := cl.LinkNode.Cached().Get(ctx, id)
					return fieldsOf(v, err, (*ent.LinkNode).Fields)
				})
		}
		for _, o := range c.links.owners {
			want, werr := c.e.client.LinkCat.Query().Where(linkcat.OwnerID(o)).Order(linkcat.ByID()).All(ctx)
			got, gerr := cl.LinkCat.Cached().ListByOwnerID(ctx, o)
			diff(fmt.Sprintf("%s ListByOwnerID(%d)", p.name, o),
				idsOf(len(want), func(i int) int { return want[i].ID }), idsOf(len(got), func(i int) int { return got[i].ID }), werr, gerr)
		}
		for _, cat := range c.links.cats {
			want, werr := c.e.client.LinkToy.Query().Where(linktoy.CatID(cat)).Order(linktoy.ByID()).All(ctx)
			got, gerr := cl.LinkToy.Cached().ListByCatID(ctx, cat)
			diff(fmt.Sprintf("%s ListByCatID(%d)", p.name, cat),
				idsOf(len(want), func(i int) int { return want[i].ID }), idsOf(len(got), func(i int) int { return got[i].ID }), werr, gerr)
		}
		for _, n := range c.links.nodes {
			want, werr := c.e.client.LinkNode.Query().Where(linknode.ParentID(n)).Order(linknode.ByID()).All(ctx)
			got, gerr := cl.LinkNode.Cached().ListByParentID(ctx, n)
			diff(fmt.Sprintf("%s ListByParentID(%d)", p.name, n),
				idsOf(len(want), func(i int) int { return want[i].ID }), idsOf(len(got), func(i int) int { return got[i].ID }), werr, gerr)
		}
	}
	return diffs
}

// fieldsOf returns the fields of v, or the error.
func fieldsOf[T, F any](v T, err error, fields func(T) F) (any, error) {
	if err != nil {
		return nil, err
	}
	return chaosRow[F]{fields(v), fmt.Sprint(v)}, nil
}

// chaosRow is a row's fields (compared) and its text (printed).
type chaosRow[F any] struct {
	fields F
	text   string
}

func (r chaosRow[F]) String() string { return r.text }
