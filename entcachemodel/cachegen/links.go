package cachegen

import (
	"fmt"
	"sort"

	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/entc/gen"
)

// Links is what the templates know of the writes that change rows of
// annotated types without naming them (see the runtime's Links).
type Links struct {
	// Edges are the owners' edges whose foreign keys annotated types hold.
	Edges []*LinkEdge
	// Refs are the foreign keys whose ON DELETE actions reach annotated
	// types: directly, or through CASCADE chains.
	Refs []*LinkRef
	// Targets are the annotated types that edges and refs change.
	Targets []*gen.Type
	// Owners are the types whose writes need the link hook, once each.
	Owners []*gen.Type
}

// LinkEdge is an edge of Owner whose foreign key lives in an annotated
// type's table.
type LinkEdge struct {
	Owner *gen.Type
	Edge  *gen.Edge // declared on Owner
}

// LinkRef is one foreign key with a delete action that changes its rows.
type LinkRef struct {
	Table, ID, Column, RefTable string
	OnDelete                    string // the runtime's constant
}

// links returns the links of the graph, nil when it has none.
func links(g *gen.Graph) (*Links, error) {
	cached := map[string]*gen.Type{} // by table
	byTable := map[string]*gen.Type{}
	for _, n := range g.Nodes {
		byTable[n.Table()] = n
		t, err := build(n)
		if err != nil {
			return nil, err
		}
		if t != nil {
			cached[n.Table()] = n
		}
	}
	l := &Links{}
	owners := map[*gen.Type]bool{}
	targets := map[*gen.Type]bool{}
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if cached[n.Table()] == nil {
			continue
		}
		for _, fk := range n.ForeignKeys {
			owner, e := ownerSide(n, fk)
			if e == nil || seen[owner.Name+"."+e.Name] {
				continue
			}
			seen[owner.Name+"."+e.Name] = true
			l.Edges = append(l.Edges, &LinkEdge{Owner: owner, Edge: e})
			owners[owner], targets[n] = true, true
		}
	}
	tables, err := g.Tables()
	if err != nil {
		return nil, fmt.Errorf("cachemodel: reading the tables: %w", err)
	}
	actions := map[schema.ReferenceOption]string{schema.Cascade: "Cascade", schema.SetNull: "SetNull", schema.SetDefault: "SetDefault"}
	var refs []*LinkRef
	for _, t := range tables {
		for _, fk := range t.ForeignKeys {
			if a, ok := actions[fk.OnDelete]; ok && len(fk.Columns) == 1 && len(t.PrimaryKey) == 1 {
				refs = append(refs, &LinkRef{Table: t.Name, ID: t.PrimaryKey[0].Name, Column: fk.Columns[0].Name, RefTable: fk.RefTable.Name, OnDelete: a})
			}
		}
	}
	// A delete of a table's rows reaches an annotated type when a key of
	// that type references the table, or a CASCADE key of a table that
	// reaches one does.
	reaches := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, r := range refs {
			if !reaches[r.RefTable] && (cached[r.Table] != nil || r.OnDelete == "Cascade" && reaches[r.Table]) {
				reaches[r.RefTable], changed = true, true
			}
		}
	}
	for _, r := range refs {
		if cached[r.Table] != nil || r.OnDelete == "Cascade" && reaches[r.Table] {
			l.Refs = append(l.Refs, r)
			if n := cached[r.Table]; n != nil {
				targets[n] = true
			}
			if n := byTable[r.RefTable]; n != nil {
				owners[n] = true
			}
		}
	}
	for _, n := range g.Nodes {
		if owners[n] {
			l.Owners = append(l.Owners, n)
		}
		if targets[n] {
			l.Targets = append(l.Targets, n)
		}
	}
	sort.SliceStable(l.Refs, func(i, j int) bool {
		a, b := l.Refs[i], l.Refs[j]
		return a.RefTable+" "+a.Table+" "+a.Column < b.RefTable+" "+b.Table+" "+b.Column
	})
	if len(l.Owners) == 0 {
		return nil, nil
	}
	return l, nil
}

// linkOwner reports whether creates of t may change foreign keys of cached
// rows through its edges (t is an owner of Links.Edges): its CreateBulk
// then tells its link writes where the insert runs, even if t is not
// cached itself.
func linkOwner(t *gen.Type) (bool, error) {
	nodes := []*gen.Type{t}
	for _, e := range t.Edges {
		nodes = append(nodes, e.Type)
	}
	for _, n := range nodes {
		ct, err := build(n)
		if err != nil {
			return false, err
		}
		if ct == nil {
			continue
		}
		for _, fk := range n.ForeignKeys {
			if owner, e := ownerSide(n, fk); e != nil && owner.Name == t.Name {
				return true, nil
			}
		}
	}
	return false, nil
}

// ownerSide returns the type whose writes change the foreign key fk of n
// through an edge, and that edge (declared on the returned type), or a nil
// edge when no such edge exists.
func ownerSide(n *gen.Type, fk *gen.ForeignKey) (*gen.Type, *gen.Edge) {
	e := fk.Edge // the association edge the key was made for
	switch {
	case fk.Field == n.ID:
		return nil, nil
	case !e.OwnFK():
		// Declared on the owner (edge.To), the key is in n's table: O2M,
		// or O2O with the inverse on n.
		return e.Owner, e
	case e.Bidi:
		// A symmetric O2O: setting it on one row sets the other row too.
		return n, e
	case e.Ref != nil:
		// An M2O declared on n: the owner's inverse edge writes it.
		return e.Type, e.Ref
	}
	return e.Type, nil
}
