package entcachemodel

import (
	"context"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// A foreign key lives in one table (the holder's) and names a row of another
// (the owner's). Besides the holder's own writes, two kinds of writes change
// it without naming the holder rows:
//
//   - the owner's writes through the edge: adding, removing or clearing it
//     from the owner's side (LinkEdge);
//   - deletes of owners, when the key's ON DELETE action is SET NULL, SET
//     DEFAULT or CASCADE (LinkRef). A CASCADE deletes the holder rows, whose
//     own holders the database changes in turn, to any depth.
//
// MutateLinks runs in a hook on the owner's mutations. Before the write it
// lists the cached rows the write may change, through every chain the
// schema declares, watching each owner first (see links.go); after the
// commit it republishes them (rows the database deleted are removed).

// Delete actions of foreign keys, as entsql.OnDelete names them, that change
// the rows holding the key.
const (
	Cascade    = "CASCADE"
	SetNull    = "SET NULL"
	SetDefault = "SET DEFAULT"
)

// LinkEdge is an edge whose foreign key lives in a cached type's table but
// that the owner's mutations add, remove or clear.
type LinkEdge struct {
	Owner  string // the owner's table
	Edge   string // the edge's name on the owner
	Table  string // the cached table holding the foreign key
	Column string // the foreign-key column
}

// LinkRef is a foreign key whose ON DELETE action changes or deletes the rows
// holding it when the rows it references are deleted.
type LinkRef struct {
	Table    string // the table holding the key
	ID       string // its primary-key column
	Column   string // the foreign-key column
	RefTable string // the table the key references
	OnDelete string // Cascade, SetNull or SetDefault
}

// Links describes the writes of one ent package that change rows they do not
// name. C is the package's config type. Generated code declares one.
type Links[C any] struct {
	edges   []LinkEdge
	refs    map[string][]LinkRef // by RefTable
	targets map[string]Target[C] // by table
}

// NewLinks returns the links of edges and refs to the cached tables of
// targets.
func NewLinks[C any](edges []LinkEdge, refs []LinkRef, targets ...Target[C]) *Links[C] {
	l := &Links[C]{edges: edges, refs: map[string][]LinkRef{}, targets: map[string]Target[C]{}}
	for _, r := range refs {
		l.refs[r.RefTable] = append(l.refs[r.RefTable], r)
	}
	for _, t := range targets {
		l.targets[t.table()] = t
	}
	return l
}

// Target is a cached type as links change it; see NewTarget.
type Target[C any] interface {
	table() string
	idColumn() string
	begin(c *Cache, w linkWrite[C]) linkRun
}

// NewTarget describes the cached type of s, stored in table (primary key
// column id), to links. reload reads committed rows by id with the
// package's config c.
func NewTarget[C, T any, ID comparable](s *Schema[T, ID], table, id string, reload func(ctx context.Context, c C, ids []ID) ([]T, error)) Target[C] {
	return &target[C, T, ID]{schema: s, name: table, id: id, reload: reload}
}

// OwnerWrite describes a mutation of an owner type (O its id type) to
// MutateLinks. Generated hooks fill it in.
type OwnerWrite[C any, O comparable] struct {
	// Table is the owner's table.
	Table string
	// Mutation is the owner's mutation.
	Mutation ent.Mutation
	// IDs returns the ids an update or delete will touch (before it runs).
	IDs func(context.Context) ([]O, error)
	// ID returns the id of a created owner, once it is created.
	ID func() (O, bool)
	// Restrict limits the update or delete to the owners listed.
	Restrict func([]O)
	// Committed is the config outside any transaction.
	Committed C
	// Driver runs the mutation's statements; DB is the driver outside any
	// transaction.
	Driver, DB dialect.Driver
	// Tx and TxKey are the mutation's transaction, nil outside one.
	Tx    Tx
	TxKey any
}

// linkWrite is what a target needs of an owner's write.
type linkWrite[C any] struct {
	committed  C
	driver, db dialect.Driver
	tx         Tx
	txKey      any
	note       *stmtNote // a create's: where its statement ran
}

// linkRun collects what one owner write does to one cached type.
type linkRun interface {
	// watch starts watching owners of column before their rows are listed.
	watch(ctx context.Context, column string, owners []any) error
	// add names rows the write may change.
	add(ids []any)
	// moveTo records that the write moves rows to the owners (the ids
	// func is called after the write).
	moveTo(column string, owners func() []any)
	// listsOf marks the lists of column's owners the rows move into.
	listsOf(column string, owners []any)
	mutate(ctx context.Context, next func(context.Context) (ent.Value, error)) (ent.Value, error)
	// stop ends the watches of a write that failed before it ran.
	stop()
}

// MutateLinks runs next, a write of an owner type, and republishes the cached
// rows it changes without naming them: through the edges of l it adds,
// removes or clears, and, for a delete, through every ON DELETE chain.
func MutateLinks[C any, O comparable](ctx context.Context, l *Links[C], c *Cache, w OwnerWrite[C, O], next func(context.Context) (ent.Value, error)) (ent.Value, error) {
	if !c.Enabled() {
		return next(ctx) // Disabled(): nothing to publish
	}
	m := w.Mutation
	deleting := m.Op().Is(ent.OpDelete | ent.OpDeleteOne)
	creating := m.Op().Is(ent.OpCreate)
	var edges []LinkEdge
	if !deleting {
		for _, e := range l.edges {
			if e.Owner == w.Table && (len(m.AddedIDs(e.Edge)) > 0 || len(m.RemovedIDs(e.Edge)) > 0 || m.EdgeCleared(e.Edge)) {
				edges = append(edges, e)
			}
		}
	}
	if len(edges) == 0 && (!deleting || len(l.refs[w.Table]) == 0) {
		return next(ctx)
	}
	lw := linkWrite[C]{committed: w.Committed, driver: w.Driver, db: w.DB, tx: w.Tx, txKey: w.TxKey}
	if creating {
		// A CreateBulk's row may be inserted in another transaction than
		// its own (see bulk.go).
		lw.note = noteStatement(m, w.TxKey, nil)
		defer lw.note.done(m)
	}
	runs := map[string]linkRun{}
	var order []linkRun
	run := func(table string) linkRun {
		if r, ok := runs[table]; ok {
			return r
		}
		t, ok := l.targets[table]
		if !ok {
			return nil
		}
		r := t.begin(c, lw)
		runs[table] = r
		order = append(order, r)
		return r
	}
	fail := func(err error) (ent.Value, error) {
		for _, r := range order {
			r.stop()
		}
		return nil, err
	}
	q := linkLister{driver: w.Driver, db: w.DB, both: w.Tx != nil && w.Driver.Dialect() != dialect.SQLite}
	var owners []any
	if !creating {
		ids, err := w.IDs(ctx)
		if err != nil {
			return nil, err
		}
		if len(ids) <= maxRestrict {
			// The write changes the owners whose rows are listed, no others.
			w.Restrict(ids)
		}
		for _, id := range ids {
			owners = append(owners, id)
		}
	}
	if deleting {
		if err := l.cascade(ctx, q, run, w.Table, owners); err != nil {
			return fail(err)
		}
	}
	for _, e := range edges {
		r := run(e.Table)
		if r == nil {
			continue
		}
		added := m.AddedIDs(e.Edge)
		r.add(values(added))
		r.add(values(m.RemovedIDs(e.Edge)))
		if creating {
			if len(added) > 0 {
				// The new owner, or the one an upsert updated.
				r.moveTo(e.Column, func() []any {
					if id, ok := w.ID(); ok {
						return []any{id}
					}
					return nil
				})
			}
			continue
		}
		if m.EdgeCleared(e.Edge) {
			if err := r.watch(ctx, e.Column, owners); err != nil {
				return fail(err)
			}
		}
		// Setting a unique edge may replace the row that held it.
		held, err := q.ids(ctx, e.Table, l.targets[e.Table].idColumn(), e.Column, owners)
		if err != nil {
			return fail(err)
		}
		r.add(held)
		if len(added) > 0 {
			r.moveTo(e.Column, func() []any { return owners })
			r.listsOf(e.Column, owners)
		}
	}
	call := next
	for i := len(order) - 1; i >= 0; i-- {
		r, inner := order[i], call
		call = func(ctx context.Context) (ent.Value, error) { return r.mutate(ctx, inner) }
	}
	return call(ctx)
}

// cascade lists, before a delete of ids in table, the cached rows that the
// database changes or deletes through ON DELETE actions, to any depth, and
// watches their owners first.
func (l *Links[C]) cascade(ctx context.Context, q linkLister, run func(string) linkRun, table string, ids []any) error {
	type level struct {
		table string
		ids   []any
	}
	seen := map[string]map[string]bool{}
	fresh := func(table string, ids []any) []any {
		s := seen[table]
		if s == nil {
			s = map[string]bool{}
			seen[table] = s
		}
		var out []any
		for _, id := range ids {
			if k := fmt.Sprint(id); !s[k] {
				s[k] = true
				out = append(out, id)
			}
		}
		return out
	}
	queue := []level{{table, fresh(table, ids)}}
	for len(queue) > 0 {
		lv := queue[0]
		queue = queue[1:]
		if len(lv.ids) == 0 {
			continue
		}
		for _, ref := range l.refs[lv.table] {
			r := run(ref.Table)
			if r == nil && ref.OnDelete != Cascade {
				continue
			}
			if r != nil {
				if err := r.watch(ctx, ref.Column, lv.ids); err != nil {
					return err
				}
			}
			held, err := q.ids(ctx, ref.Table, ref.ID, ref.Column, lv.ids)
			if err != nil {
				return err
			}
			if r != nil {
				r.add(held)
			}
			if ref.OnDelete == Cascade {
				queue = append(queue, level{ref.Table, fresh(ref.Table, held)})
			}
		}
	}
	return nil
}

func values(vs []ent.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// linkLister lists the rows that hold foreign keys.
type linkLister struct {
	driver, db dialect.Driver
	// both lists the committed rows too: a transaction may read a snapshot
	// older than the rows its statement changes (REPEATABLE READ).
	both bool
}

// ids returns the ids of the rows of table whose column is one of owners.
func (q linkLister) ids(ctx context.Context, table, id, column string, owners []any) ([]any, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	list := func(drv dialect.Driver) ([]any, error) {
		return inChunks(ctx, owners, func(ctx context.Context, owners []any) ([]any, error) {
			b := sql.Dialect(drv.Dialect())
			query, args := b.Select(id).From(b.Table(table)).Where(sql.In(column, owners...)).Query()
			var rows sql.Rows
			if err := drv.Query(ctx, query, args, &rows); err != nil {
				return nil, fmt.Errorf("entcachemodel: listing %s by %s: %w", table, column, err)
			}
			defer rows.Close()
			var out []any
			for rows.Next() {
				var v any
				if err := rows.Scan(&v); err != nil {
					return nil, fmt.Errorf("entcachemodel: listing %s by %s: %w", table, column, err)
				}
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				out = append(out, v)
			}
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("entcachemodel: listing %s by %s: %w", table, column, err)
			}
			return out, nil
		})
	}
	out, err := list(q.driver)
	if err == nil && q.both {
		var more []any
		more, err = list(q.db)
		out = append(out, more...)
	}
	return out, err
}

type target[C, T any, ID comparable] struct {
	schema *Schema[T, ID]
	name   string
	id     string
	reload func(context.Context, C, []ID) ([]T, error)
}

func (t *target[C, T, ID]) table() string    { return t.name }
func (t *target[C, T, ID]) idColumn() string { return t.id }

func (t *target[C, T, ID]) begin(c *Cache, lw linkWrite[C]) linkRun {
	r := &targetRun[C, T, ID]{t: t, c: c, seen: map[ID]bool{}}
	r.w = Write[T, ID]{
		Op:     ent.OpUpdate,
		Driver: lw.driver,
		DB:     lw.db,
		Tx:     lw.tx,
		TxKey:  lw.txKey,
		note:   lw.note,
		IDs:    func(context.Context) ([]ID, error) { return r.ids, nil },
		Reload: func(ctx context.Context, ids []ID) ([]T, error) { return t.reload(ctx, lw.committed, ids) },
		Moves: func() []Owner {
			var owners []Owner
			for _, mv := range r.moves {
				owners = append(owners, Owners(mv.column, mv.owners())...)
			}
			return owners
		},
	}
	r.p = t.schema.part(c, r.w)
	return r
}

type targetRun[C, T any, ID comparable] struct {
	t     *target[C, T, ID]
	c     *Cache
	p     *part[T, ID]
	w     Write[T, ID]
	ids   []ID
	seen  map[ID]bool
	moves []struct {
		column string
		owners func() []any
	}
}

func (r *targetRun[C, T, ID]) watch(ctx context.Context, column string, owners []any) error {
	return r.p.watch(ctx, r.c, Owners(column, owners))
}

func (r *targetRun[C, T, ID]) add(ids []any) {
	for _, v := range ids {
		id, ok := v.(ID)
		if !ok {
			var err error
			if id, err = r.t.schema.ParseID(fmt.Sprint(v)); err != nil {
				continue // not an id of this type
			}
		}
		if !r.seen[id] {
			r.seen[id] = true
			r.ids = append(r.ids, id)
		}
	}
}

func (r *targetRun[C, T, ID]) moveTo(column string, owners func() []any) {
	r.moves = append(r.moves, struct {
		column string
		owners func() []any
	}{column, owners})
}

func (r *targetRun[C, T, ID]) listsOf(column string, owners []any) {
	for _, idx := range r.t.schema.Indexes {
		if idx.Unique || idx.Name != column {
			continue
		}
		for _, o := range owners {
			r.w.Lists = append(r.w.Lists, ListEntry{Index: idx.Name, Key: IndexKey(fmt.Sprint(o))})
		}
	}
}

func (r *targetRun[C, T, ID]) mutate(ctx context.Context, next func(context.Context) (ent.Value, error)) (ent.Value, error) {
	return r.t.schema.mutate(ctx, r.c, r.p, r.w, next)
}

func (r *targetRun[C, T, ID]) stop() {
	if r.w.Tx == nil {
		r.p.mu.Lock()
		r.p.stopWatches()
		r.p.mu.Unlock()
	}
}
