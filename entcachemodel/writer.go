package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
)

// Write describes one mutation to the cache. Generated hooks fill it in.
type Write[T any, ID comparable] struct {
	// Op is the mutation's operation.
	Op ent.Op
	// IDs returns the ids an update or delete will touch. It runs before the
	// mutation, while its predicates still match, and reads rows as stored
	// (past the application's interceptors).
	IDs func(context.Context) ([]ID, error)
	// Created returns the id of the row a create inserted (or an upsert
	// updated), once it ran: the mutation's, not the returned entity's,
	// which user hooks may have replaced.
	Created func() (ID, bool)
	// Updated returns the row an UpdateOne statement read back, whole, when
	// the statement could hand it over; otherwise the row is read again
	// after the commit. The entity the mutation returns is never published:
	// user hooks may have changed it, and Select leaves out columns.
	Updated func() (T, bool)
	// Done reports whether the mutation's statement ran. A write that fails
	// after it (a user hook's error) is still published: outside a
	// transaction it committed, inside one it may.
	Done func() bool
	// Lists are the list entries the mutation moves rows into, when the
	// mutation sets their values. They are marked before the write.
	Lists []ListEntry
	// Mutation is the mutation, when it is of this type.
	Mutation ent.Mutation
	// Predict returns rows as an update will leave their listed fields,
	// from their current values. It is used, and the lists it names are
	// marked before the write, when the update changes a listed field in a
	// way Lists cannot name (AddX, ClearX, part of a composite list).
	Predict func(context.Context, []ID) ([]T, error)
	// Conflicts, when set, returns the ids of the rows a create conflicts
	// with on a unique field or index: the rows an upsert would update
	// instead of inserting. Generated for types with upserts enabled.
	Conflicts func(context.Context) ([]ID, error)
	// ConflictsAtInsert tells that the generated insert calls BeforeUpsert
	// with the mutation when it has OnConflict options: Conflicts then runs
	// there, just before the insert, and a plain create runs no conflict
	// lookup. (Hooks see the mutation, not the builder that holds the
	// options.)
	ConflictsAtInsert bool
	// Reload reads committed rows by id, outside any transaction.
	Reload func(context.Context, []ID) ([]T, error)
	// Owners, for a write from the owner's side of hidden foreign keys,
	// returns the owners whose rows it may change without naming them (it
	// clears the edge, or deletes the owners). Mutate watches them; it runs
	// first, before IDs.
	Owners func(context.Context) ([]Owner, error)
	// Moves returns the owners this write sets the hidden foreign keys of
	// its rows to. If one is watched when the write publishes, its rows are
	// held out of the cache for a lease instead (see links.go).
	Moves func() []Owner
	// Restrict limits an update or delete to the given ids (the rows its
	// predicates matched just before it ran), so that a row that comes to
	// match in between is not written behind the cache's back.
	Restrict func([]ID)
	// Driver runs the mutation's statements (its transaction's, inside one).
	// A write that cannot mark Redis records its keys in the outbox with it.
	Driver dialect.Driver
	// DB is the client's driver outside any transaction. Writes, like
	// reads, drain the outbox through it now and then.
	DB dialect.Driver
	// Tx is the transaction the mutation runs in, nil outside one.
	Tx Tx
	// TxKey identifies that transaction; writes with equal keys are
	// published together when it commits.
	TxKey any

	// note is the statement note of the create a link write runs for.
	note *stmtNote
}

// ListEntry names one entry of a non-unique index.
type ListEntry struct {
	Index string // Index.Name
	Key   string // IndexKey of the values
}

// Tx is the part of a transaction the cache needs.
type Tx interface {
	// OnEnd registers f to run once when the transaction ends, with how it
	// ended.
	OnEnd(f func(ctx context.Context, end TxEnd))
}

// TxEnd is how a transaction ended.
type TxEnd int

const (
	// TxCommitted: the commit succeeded.
	TxCommitted TxEnd = iota
	// TxRolledBack: the transaction was rolled back; it changed nothing.
	TxRolledBack
	// TxUnknown: the commit returned an error, so the transaction may or
	// may not have committed (a lost acknowledgement).
	TxUnknown
)

// Mutate runs next, the mutation, and publishes what it wrote: at once
// outside a transaction, when the transaction commits inside one. Redis
// errors never fail the mutation, unless the Cache has WithStrictWrites and
// the keys could not be marked before the write.
func (s *Schema[T, ID]) Mutate(ctx context.Context, c *Cache, w Write[T, ID], next func(context.Context) (ent.Value, error)) (ent.Value, error) {
	if !c.Enabled() {
		return next(ctx)
	}
	return s.mutate(ctx, c, s.part(c, w), w, next)
}

// mutate is Mutate with the part that buffers the write (links start their
// watches in it before the write is described).
func (s *Schema[T, ID]) mutate(ctx context.Context, c *Cache, p *part[T, ID], w Write[T, ID], next func(context.Context) (ent.Value, error)) (ent.Value, error) {
	// A create's statement may run in another transaction than the
	// write's own (a CreateBulk's rows, see bulk.go): the note tells.
	note := w.note
	if note == nil && w.Op.Is(ent.OpCreate) && w.Mutation != nil {
		note = noteStatement(w.Mutation, w.TxKey, c)
		defer note.done(w.Mutation)
	}
	if w.Tx == nil && note == nil {
		// Never inside a transaction: it holds a connection of the pool,
		// and on sqlite the write lock a drain's DELETE would wait for.
		// A create's write drains after its statement, unless that ran
		// in a transaction (below).
		c.outbox.poke(ctx, w.DB)
	}
	adopted := false // ended with the statement's transaction
	if w.Tx == nil {
		// Published or aborted below, unless an error comes first.
		defer func() {
			if adopted {
				return // the transaction's end stops them
			}
			p.mu.Lock()
			p.stopWatches()
			p.mu.Unlock()
		}()
	}
	if w.Owners != nil {
		owners, err := w.Owners(ctx)
		if err != nil {
			return nil, err
		}
		if err := p.watch(ctx, c, owners); err != nil {
			return nil, err
		}
	}
	g := s.generation(ctx, c)
	ks := g.own
	d := p.dialect
	// A create's conflicts are looked up just before its insert, and only
	// if it is an upsert, when the generated code can tell (not under
	// WithStrictWrites, whose failed marks must fail the write before any
	// statement: the insert cannot be failed from there).
	deferred := w.Op.Is(ent.OpCreate) && w.ConflictsAtInsert && w.Mutation != nil && w.Conflicts != nil && !c.strict
	var (
		ids []ID
		err error
	)
	if !deferred {
		ids, err = w.existing(ctx)
	}
	lookAfter := false // find an upsert's rows again after the write
	if err != nil {
		if !w.Op.Is(ent.OpCreate) {
			return nil, err
		}
		// A create's conflict lookup failed (a value the driver refuses, say):
		// ent's own insert decides what the caller gets, and if it succeeds,
		// the rows it may have updated are looked up after it.
		ids, lookAfter = nil, true
	}
	if w.Op.Is(ent.OpUpdateOne|ent.OpDeleteOne) && s.idRule(d) == textFolded && w.Reload != nil && len(ids) > 0 {
		// Under a collation Go does not reproduce, the id asked ("GO") may
		// name a row stored under another ("Go"), whose key the write
		// changes: find it.
		rows, err := w.Reload(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if id := s.ID(r); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if w.Op.Is(ent.OpUpdate|ent.OpDelete) && w.Restrict != nil && len(ids) <= maxRestrict {
		w.Restrict(ids)
	}
	keys := make([]string, 0, len(ids)+len(w.Lists))
	// rels names the same entries in every keyspace, and also the list
	// entries of lists this view keeps in none: for repairs, which resolve
	// them against the registry as it is when they run.
	rels := make([]string, 0, len(ids)+len(w.Lists))
	for _, id := range ids {
		keys = append(keys, ks.row(s.idText(d, id)))
		rels = append(rels, relKey(keys[len(keys)-1]))
	}
	for _, l := range w.Lists {
		if idx := s.index(l.Index); idx != nil {
			ik := s.indexKey(d, idx, l.Key)
			rels = append(rels, listRel(l.Index, ik))
			if k, _ := g.list(l.Index, ik); k != "" {
				keys = append(keys, k)
			}
		}
	}
	if w.Predict != nil && w.Op.Is(ent.OpUpdate|ent.OpUpdateOne) && len(ids) > 0 && len(ids) <= maxRestrict && s.movesLists(w.Mutation) {
		rows, err := w.Predict(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			for _, idx := range s.Indexes {
				if k, ok := idx.Key(r); ok && !idx.Unique {
					ik := s.indexKey(d, idx, k)
					rels = append(rels, listRel(idx.Name, ik))
					if lk, _ := g.list(idx.Name, ik); lk != "" {
						keys = append(keys, lk)
					}
				}
			}
		}
	}
	if err := s.markKeys(ctx, c, p, g, w, keys, rels); err != nil {
		if w.Tx == nil {
			p.abort(ctx, c, true) // no statement ran
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	upsert := !deferred // unless deferred, any create may be one
	if deferred {
		upserts.Store(w.Mutation, func() {
			upsert = true
			if tx, _, ok := note.elsewhere(); ok && w.Tx == nil && tx != nil {
				// The insert runs in a transaction this write is not in
				// (a CreateBulk's row, see bulk.go): a lookup through the
				// write's config would run outside it (and wait, on a
				// pool of one connection, for the one it holds). Until it
				// commits the rows keep their committed values; the ones
				// the insert returns are marked after it (MySQL's looked
				// up after it), before that commit.
				return
			}
			var more []ID
			more, lookAfter = s.markConflicts(ctx, c, p, g, w)
			ids = append(ids, more...)
		})
		defer upserts.Delete(w.Mutation)
	}
	v, err := next(ctx)
	stmtTx, stmtKey, elsewhere := note.elsewhere()
	if w.Tx == nil && note != nil && (!elsewhere || stmtTx == nil) {
		c.outbox.poke(ctx, w.DB)
	}
	if elsewhere && w.Tx != nil && stmtTx == nil {
		// Committed already: a rollback of the write's transaction
		// cannot undo it.
		p.mu.Lock()
		p.escaped = true
		p.mu.Unlock()
	}
	// After the write: the user hooks inside this one may have set fields.
	p.touch(w.Op, w.Mutation)
	if err != nil && (w.Done == nil || !w.Done()) {
		// The write may have changed its rows before it failed (a later
		// statement of it failed, or its commit was not acknowledged), and
		// inside a transaction the application may still commit what ran:
		// its rows' values and entries must go, never stay. (A write whose
		// statement ran, and whose error came after, from a user hook, is
		// published below.)
		if b := bulkOf(w.Mutation); b != nil && w.Op.Is(ent.OpCreate) {
			// The rows of a bulk are one INSERT: what the writes handed
			// over ends with this one.
			if b.first == w.Mutation {
				more, moreIDs := takeBulk(b, p)
				ids = append(ids, append(more, moreIDs...)...)
			} else {
				bulks.Delete(w.Mutation)
			}
		}
		switch {
		case w.Tx == nil && elsewhere && stmtTx != nil:
			p.uncertain(ids)
			s.adopt(c, stmtTx, stmtKey, p)
			adopted = true
		case w.Tx == nil:
			p.abort(ctx, c, false)
		default:
			p.uncertain(ids)
			if elsewhere && stmtTx != nil {
				s.follow(ctx, c, stmtTx, stmtKey, w, keys, ids)
			}
		}
		return v, err
	}
	if w.Moves != nil {
		p.move(c, w.Moves())
	}
	reloaded := ids // the rows the write changed, once known
	switch {
	case w.Op.Is(ent.OpCreate):
		var created []ID
		if w.Created != nil {
			if id, ok := w.Created(); ok {
				created = append(created, id)
			}
		} else if e, ok := v.(T); ok {
			created = append(created, s.ID(e))
		}
		if w.Conflicts != nil && (lookAfter || upsert && w.Driver != nil && w.Driver.Dialect() == dialect.MySQL) {
			// MySQL does not return the ids of the rows an upsert updated
			// (ent guesses a bulk upsert's as LAST_INSERT_ID()+i): find them
			// by their unique values.
			more, err := w.Conflicts(ctx)
			if err != nil {
				c.log.LogAttrs(ctx, slog.LevelError, "entcachemodel: finding the rows of an upsert failed", slog.String("type", s.Type), slog.Any("error", err))
			}
			created = append(created, more...)
		}
		if len(created) == 0 {
			// The insert ran, but its row is not known (a user hook handed
			// ent another mutation than this write holds): the lists this
			// write marked may now miss the row, so they go, not stay.
			p.mu.Lock()
			p.unsure = true
			p.mu.Unlock()
		}
		if b := bulkOf(w.Mutation); b != nil {
			// One row of a CreateBulk: the first row's write publishes them
			// all (see bulk.go).
			if b.first != w.Mutation {
				if handBulk(b, w.Mutation, p, created, ids) {
					return v, err
				}
			} else {
				more, moreIDs := takeBulk(b, p)
				created, ids = append(created, more...), append(ids, moreIDs...)
			}
		}
		// The ids are known only now. Marking after the insert and reading
		// the rows back afterwards is the fill protocol; it also publishes
		// what an upsert left in the database, not the values it was given.
		marks := make([]string, len(created))
		for i, id := range created {
			marks[i] = ks.row(s.idText(d, id))
		}
		_ = p.mark(ctx, c, marks)
		reloaded = append(created, ids...)
		p.reload(reloaded...)
		keys = append(keys, marks...)
	case w.Op.Is(ent.OpUpdateOne):
		// Inside a transaction the row ent read back may come from the
		// transaction's snapshot (REPEATABLE READ, MySQL's default), older
		// than a concurrent commit or delete: read it again after the commit.
		if e, ok := w.updated(); ok && w.Tx == nil {
			p.set(s.ID(e), e)
		} else {
			p.reload(ids...)
		}
	case w.Op.Is(ent.OpUpdate):
		p.reload(ids...)
	default: // OpDelete, OpDeleteOne
		p.remove(ids...)
	}
	switch {
	case w.Tx == nil && elsewhere && stmtTx != nil:
		s.adopt(c, stmtTx, stmtKey, p)
		adopted = true
	case w.Tx == nil:
		p.flush(ctx, c)
	case elsewhere && stmtTx != nil:
		s.follow(ctx, c, stmtTx, stmtKey, w, keys, reloaded)
	}
	return v, err
}

// updated returns the row an UpdateOne statement read back, if handed over.
func (w Write[T, ID]) updated() (T, bool) {
	if w.Updated == nil {
		var zero T
		return zero, false
	}
	return w.Updated()
}

// index returns the index named name, nil when there is none.
func (s *Schema[T, ID]) index(name string) *Index[T] {
	for _, idx := range s.Indexes {
		if idx.Name == name {
			return idx
		}
	}
	return nil
}

// dialect returns the dialect of the write's database.
func (w Write[T, ID]) dialect() string {
	switch {
	case w.DB != nil:
		return w.DB.Dialect()
	case w.Driver != nil:
		return w.Driver.Dialect()
	}
	return ""
}

// existing returns the ids of the rows that exist before the write and that
// it may change: an update's or a delete's, the rows a create conflicts
// with (an upsert updates them instead of inserting).
func (w Write[T, ID]) existing(ctx context.Context) ([]ID, error) {
	switch {
	case !w.Op.Is(ent.OpCreate):
		return w.IDs(ctx)
	case w.Conflicts != nil:
		return w.Conflicts(ctx)
	}
	return nil, nil
}

// upserts holds, by mutation, what the cache write of a create runs just
// before its insert if the insert turns out to be an upsert.
var upserts sync.Map

// BeforeUpsert runs what the cache write of m deferred to its insert: the
// generated statement code calls it just before an insert with OnConflict
// options (the rows it may update are looked up and marked then).
func BeforeUpsert(m ent.Mutation) {
	if f, ok := upserts.Load(m); ok {
		f.(func())()
	}
}

// markConflicts looks up the rows an upsert conflicts with and marks them,
// as Mutate marks the rows of an update before its statement. It runs
// inside the write, just before the insert; it reports the rows, and
// whether the lookup failed (ent's insert then decides, and the rows are
// looked up again after it).
func (s *Schema[T, ID]) markConflicts(ctx context.Context, c *Cache, p *part[T, ID], g *generation, w Write[T, ID]) ([]ID, bool) {
	ids, err := w.Conflicts(ctx)
	if err != nil {
		return nil, true
	}
	if len(ids) == 0 {
		return nil, false
	}
	keys := make([]string, 0, len(ids))
	rels := make([]string, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, g.own.row(s.idText(p.dialect, id)))
		rels = append(rels, relKey(keys[len(keys)-1]))
	}
	_ = s.markKeys(ctx, c, p, g, w, keys, rels) // never strict here (see mutate)
	return ids, false
}

// markKeys marks keys before a write, and the same rows in the other live
// encodings (a rolling deploy caches them under their own keys: marked
// too, a crash leaves them one lease at most; lists are shared by the
// versions that define them alike), and names rels for repairs. A mark
// that fails (or a guessed view, whose keys are not where the others look)
// leaves the part unmarked and the write's rels in the outbox; under
// WithStrictWrites it is returned instead, for the caller to fail the write.
func (s *Schema[T, ID]) markKeys(ctx context.Context, c *Cache, p *part[T, ID], g *generation, w Write[T, ID], keys, rels []string) error {
	all := make([]string, 0, len(keys)*(1+len(g.others)))
	all = append(all, keys...)
	for _, other := range g.others {
		for _, k := range keys {
			if !isListKey(k) {
				all = append(all, g.own.rebase(k, other))
			}
		}
	}
	p.named(rels)
	err := errGuessed
	if !g.guessed {
		err = p.mark(ctx, c, all)
	}
	if err == nil {
		return nil
	}
	if c.strict {
		return err
	}
	p.mu.Lock()
	p.unmarked = true
	p.mu.Unlock()
	c.outbox.record(ctx, w.Driver, w.Tx != nil, s.Type, s.Hash, dedupe(rels))
	return nil
}

// movesLists reports whether m changes a field that lists are keyed by in a
// way that Write.Lists cannot name: adding to it, clearing it, or setting
// part of a composite list's fields.
func (s *Schema[T, ID]) movesLists(m ent.Mutation) bool {
	if m == nil {
		return false
	}
	for _, idx := range s.Indexes {
		if idx.Unique {
			continue
		}
		fields := strings.Split(idx.Name, ",")
		set := 0
		for _, f := range fields {
			if _, ok := m.AddedField(f); ok || m.FieldCleared(f) {
				return true
			}
			if _, ok := m.Field(f); ok {
				set++
			}
		}
		if set > 0 && set < len(fields) {
			return true
		}
	}
	return false
}

// maxRestrict is the most ids an update or delete is restricted to (the
// rows its predicates matched when the cache read them); above it, the
// statement keeps only its own predicates (see the README's limits).
const maxRestrict = 10000

// reloadChunk bounds the ids of one read-back query (databases limit the
// parameters of a statement).
const reloadChunk = 500

// inChunks runs query on keys in chunks small enough for a statement's
// parameters, and returns the results one after the other.
func inChunks[K, V any](ctx context.Context, keys []K, query func(context.Context, []K) ([]V, error)) ([]V, error) {
	var out []V
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), reloadChunk)]
		keys = keys[len(chunk):]
		vs, err := query(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// errBreakerOpen reports a mark skipped because Redis failed a moment ago.
var errBreakerOpen = errors.New("entcachemodel: redis failed recently; not tried")

// errGuessed reports a mark skipped because the registry could not be read:
// the keyspaces are a guess.
var errGuessed = errors.New("entcachemodel: the schema versions are unknown; not marked")

// listRel is the keyspace rel name of a list entry (relKey of its key).
func listRel(index, key string) string { return "l:" + index + ":" + key }

// dedupe returns keys without repeats, in first-seen order.
func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// part buffers one type's writes until they are published.
type part[T any, ID comparable] struct {
	schema  *Schema[T, ID]
	dialect string
	mu      sync.Mutex
	load    func(context.Context, []ID) ([]T, error)
	tokens  map[string]string // data key -> token this part holds
	order   []string          // key texts of the ids (Schema.idText)
	rows    map[string]*pending[T, ID]
	unsure  bool // a write failed: end unused tokens by removing their data
	// rels names what the writes may change, in every keyspace (keyspace
	// rel names); unmarked tells that some of it could not be marked, so
	// repairs must resolve rels against the registry.
	rels     []string
	unmarked bool
	// touched names the fields the part's writes set, added to or
	// cleared; all tells that any field may have changed (a create, an
	// edge, a mutation not described). The index entries of fields none
	// of them touched are left as they are.
	touched map[string]bool
	all     bool
	// superseded are tokens of keys the part also holds a later token on
	// (writes of a bulk taken over, see bulk.go): released when it ends.
	superseded [][2]string
	moves      []string // watch keys of the owners the writes moved rows to
	// escaped tells that a statement of the transaction's writes ran
	// outside it (a CreateBulk saved on another client, see bulk.go): a
	// rollback leaves that statement's rows, so it ends as an unknown end.
	escaped bool
	watches []string      // watch keys of the owners whose rows they changed unnamed
	renew   chan struct{} // closed to stop renewing the watches
}

type pending[T any, ID comparable] struct {
	id      ID // as written; the stored one once known
	entity  T
	known   bool // entity is the row as committed
	deleted bool
}

// part returns the buffer for w: a new one outside a transaction, the
// transaction's one inside.
func (s *Schema[T, ID]) part(c *Cache, w Write[T, ID]) *part[T, ID] {
	newPart := func() *part[T, ID] {
		return &part[T, ID]{schema: s, dialect: w.dialect(), load: w.Reload, tokens: map[string]string{}, rows: map[string]*pending[T, ID]{}}
	}
	if w.Tx == nil {
		return newPart()
	}
	buf := c.txBuffer(w.Tx, w.TxKey)
	buf.mu.Lock()
	defer buf.mu.Unlock()
	if f, ok := buf.byType[s]; ok {
		p := f.(*part[T, ID])
		p.load = w.Reload
		return p
	}
	p := newPart()
	buf.byType[s] = p
	buf.parts = append(buf.parts, p)
	return p
}

// txBuffer returns the buffer of the transaction tx, whose key is key,
// making it (and arranging its end) on first use.
func (c *Cache) txBuffer(tx Tx, key any) *txBuffer {
	b, loaded := c.txs.LoadOrStore(key, &txBuffer{byType: map[any]flusher{}})
	buf := b.(*txBuffer)
	if !loaded {
		tx.OnEnd(func(ctx context.Context, end TxEnd) {
			c.txs.Delete(key)
			buf.end(ctx, c, end)
		})
	}
	return buf
}

// adopt hands p, the part of a write outside any transaction whose
// statement ran in tx (a CreateBulk's row, see bulk.go), to tx's buffer: it
// publishes when tx commits and ends with it otherwise, as tx's own writes
// do. It keeps its own tokens: where tx's part holds a later token on a key,
// p's publish of it is refused and the key removed (a refill, never a stale
// value).
func (s *Schema[T, ID]) adopt(c *Cache, tx Tx, key any, p *part[T, ID]) {
	buf := c.txBuffer(tx, key)
	buf.mu.Lock()
	buf.parts = append(buf.parts, p)
	buf.mu.Unlock()
}

// follow is for a write inside a transaction whose statement ran in
// another, tx (a CreateBulk's row, see bulk.go): the write's own part ends
// with its own transaction, which may be before tx commits and its rows can
// be read. A part of tx marks the write's keys again, now (a later token:
// the own part's publishes of them are refused, and remove them), and when
// tx ends it reads back ids, removes the lists and ends the marks as tx's
// own writes do.
func (s *Schema[T, ID]) follow(ctx context.Context, c *Cache, tx Tx, key any, w Write[T, ID], keys []string, ids []ID) {
	q := &part[T, ID]{schema: s, dialect: w.dialect(), load: w.Reload, tokens: map[string]string{}, rows: map[string]*pending[T, ID]{}, unsure: true, all: true}
	_ = q.mark(ctx, c, keys) // unmarked keys: the own part's publish stands
	q.reload(ids...)
	s.adopt(c, tx, key, q)
}

// mark takes a writer token on each key this part does not hold yet.
func (p *part[T, ID]) mark(ctx context.Context, c *Cache, keys []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var todo []string
	asked := make(map[string]bool, len(keys))
	for _, k := range keys {
		// A key named twice gets one token: a second would be left
		// outstanding, and once it ran out it would taint the key.
		if _, ok := p.tokens[k]; !ok && !asked[k] {
			asked[k] = true
			todo = append(todo, k)
		}
	}
	var tokens []string
	var err error
	if len(todo) > 0 && !c.redisUp() {
		// Redis failed a moment ago: do not make every write wait for a
		// timeout. The publish after the write goes to the repair queue.
		tokens, err = make([]string, len(todo)), errBreakerOpen
	} else if tokens, err = c.marks(ctx, todo); err != nil {
		c.fail(ctx, "mark", err)
	}
	if err != nil {
		// Hold nothing: a later write of this transaction to the same keys
		// tries again (and, strict, fails again) rather than passing as
		// marked. Marks that did reach Redis run out after one lease.
		return err
	}
	for i, k := range todo {
		p.tokens[k] = tokens[i]
	}
	return nil
}

// touch records the fields a write may change.
func (p *part[T, ID]) touch(op ent.Op, m ent.Mutation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.all {
		return
	}
	if op.Is(ent.OpCreate) || m == nil || len(m.AddedEdges()) > 0 || len(m.RemovedEdges()) > 0 || len(m.ClearedEdges()) > 0 {
		// A create's row is new everywhere; an edge may set a foreign key
		// an index is keyed by.
		p.all = true
		return
	}
	if p.touched == nil {
		p.touched = map[string]bool{}
	}
	for _, f := range m.Fields() {
		p.touched[f] = true
	}
	for _, f := range m.AddedFields() {
		p.touched[f] = true
	}
	for _, f := range m.ClearedFields() {
		p.touched[f] = true
	}
}

// changes reports whether the part's writes may have changed a field the
// index is keyed by; it holds p.mu.
func (p *part[T, ID]) changes(idx *Index[T]) bool {
	if p.all {
		return true
	}
	for _, f := range strings.Split(idx.Name, ",") {
		if p.touched[f] {
			return true
		}
	}
	return false
}

// named records the keyspace rel names of what a write may change.
func (p *part[T, ID]) named(rels []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rels = append(p.rels, rels...)
}

// move records the owners the part's writes moved rows to.
func (p *part[T, ID]) move(c *Cache, owners []Owner) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range owners {
		p.moves = append(p.moves, p.schema.watchKey(c, o))
	}
}

// watch starts watching the owners whose rows the part's writes change
// unnamed, and records them.
func (p *part[T, ID]) watch(ctx context.Context, c *Cache, owners []Owner) error {
	keys := make([]string, len(owners))
	for i, o := range owners {
		keys[i] = p.schema.watchKey(c, o)
	}
	if err := c.watch(ctx, keys); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watches = append(p.watches, keys...)
	if p.renew == nil {
		// The write may take longer than the watch lasts (a lock wait, a
		// long transaction): renew it until the part is published or
		// aborted.
		p.renew = make(chan struct{})
		go p.renewWatches(c, p.renew)
	}
	return nil
}

func (p *part[T, ID]) renewWatches(c *Cache, stop chan struct{}) {
	t := time.NewTicker(c.lease)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			keys := slices.Clone(p.watches)
			p.mu.Unlock()
			_ = c.watch(context.Background(), keys) // logged and counted there
		}
	}
}

// stopWatches ends the renewal of the part's watches; it holds p.mu.
func (p *part[T, ID]) stopWatches() {
	if p.renew != nil {
		close(p.renew)
		p.renew = nil
	}
}

// row returns the pending write of the row with key text t.
func (p *part[T, ID]) row(t string) *pending[T, ID] {
	r, ok := p.rows[t]
	if !ok {
		r = &pending[T, ID]{}
		p.rows[t] = r
		p.order = append(p.order, t)
	}
	return r
}

func (p *part[T, ID]) set(id ID, e T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.row(p.schema.idText(p.dialect, id)) = pending[T, ID]{id: id, entity: e, known: true}
}

func (p *part[T, ID]) reload(ids ...ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		*p.row(p.schema.idText(p.dialect, id)) = pending[T, ID]{id: id}
	}
}

func (p *part[T, ID]) remove(ids ...ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		*p.row(p.schema.idText(p.dialect, id)) = pending[T, ID]{id: id, deleted: true}
	}
}

// uncertain records that a write of the part failed inside its
// transaction, after its statements may have changed ids: if the
// transaction commits, their values and every key the part marked are
// removed, not kept.
func (p *part[T, ID]) uncertain(ids []ID) {
	p.mu.Lock()
	p.unsure = true
	p.mu.Unlock()
	p.remove(ids...)
}

// abort ends every token without publishing. With keep the write is known
// to have changed nothing (no statement ran, or its transaction rolled
// back), so the data stays; otherwise its outcome is unknown and the data
// is removed.
func (p *part[T, ID]) abort(ctx context.Context, c *Cache, keep bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.nearEvict(c, nil)
	p.stopWatches()
	keys := make([]string, 0, len(p.tokens)+len(p.superseded))
	tokens := make([]string, 0, len(p.tokens)+len(p.superseded))
	for k, t := range p.tokens {
		keys = append(keys, k)
		tokens = append(tokens, t)
	}
	for _, kt := range p.superseded {
		keys = append(keys, kt[0])
		tokens = append(tokens, kt[1])
	}
	if !keep {
		if err := c.removeHeld(ctx, keys, tokens); err != nil {
			c.fail(ctx, "remove", err)
			c.repair.add(keys...)
		}
		if p.unmarked {
			// What could not be marked is in no token: remove it in every
			// version, once Redis answers.
			c.repair.addRel(p.schema.Type, p.schema.Hash, dedupe(p.rels)...)
		}
		return
	}
	if err := c.release(ctx, keys, tokens); err != nil {
		// The marks expire by themselves; the data they guard is unchanged.
		c.fail(ctx, "release", err)
	}
}

// flush publishes the buffered writes in one pipeline: rows by value (or
// removed), unique index entries, and list memberships.
func (p *part[T, ID]) flush(ctx context.Context, c *Cache) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.schema
	g := s.generation(ctx, c)
	ks := g.own
	d := p.dialect
	defer p.nearEvict(c, g) // read-own-writes: before the write returns
	var reload []ID
	var reloadTexts []string
	reloadFailed := false
	for _, t := range p.order {
		if r := p.rows[t]; !r.known && !r.deleted {
			reload = append(reload, r.id)
			reloadTexts = append(reloadTexts, t)
		}
	}
	for len(reload) > 0 {
		chunk := reload[:min(len(reload), reloadChunk)]
		chunkTexts := reloadTexts[:len(chunk)]
		reload, reloadTexts = reload[len(chunk):], reloadTexts[len(chunk):]
		var rows []T
		var err error
		for try := 0; try < 3; try++ {
			if rows, err = p.load(context.WithoutCancel(ctx), chunk); err == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 20 * time.Millisecond)
		}
		if err != nil {
			reloadFailed = true
			c.log.LogAttrs(ctx, slog.LevelError, "entcachemodel: reading rows back after commit failed; removing them from the cache",
				slog.String("type", s.Type), slog.Any("error", err))
		}
		// A row read back by an id that it matches only under the
		// column's collation is not its key's: that key is removed.
		for _, e := range rows {
			if r, ok := p.rows[s.idText(d, s.ID(e))]; ok {
				r.id, r.entity, r.known = s.ID(e), e, true
			}
		}
		for _, t := range chunkTexts {
			if r := p.rows[t]; !r.known {
				r.deleted = true
			}
		}
	}
	// A write that may change these rows unseen is running: it will remove
	// them after its commit; meanwhile hold them out of the cache (marks
	// never ended), and only remove them.
	held := false
	if len(p.moves) > 0 && c.redisUp() {
		var rowKeys []string
		for _, t := range p.order {
			rowKeys = append(rowKeys, ks.row(t))
			for _, other := range g.others {
				rowKeys = append(rowKeys, other.row(t))
			}
		}
		if held = c.join(ctx, p.moves, rowKeys); held {
			if _, err := c.marks(ctx, rowKeys); err != nil {
				c.fail(ctx, "hold", err)
			}
		}
	}
	// Rows that other writes moved to the owners this one changed unnamed
	// may have been changed by it: remove them.
	p.stopWatches()
	var joined []string
	if len(p.watches) > 0 && c.redisUp() {
		var err error
		if joined, err = c.joined(ctx, p.watches); err != nil {
			c.fail(ctx, "watched rows", err)
		}
	}
	type op struct {
		key, token string
		value      []byte // nil: remove
		member     string // list add
		score      string // of member
	}
	var ops []op
	var hints []string // key, id pairs
	used := map[string]bool{}
	changed := make([]bool, len(s.Indexes)) // by the part's writes, the same for every row
	for i, idx := range s.Indexes {
		changed[i] = p.changes(idx)
	}
	for _, t := range p.order {
		r, key := p.rows[t], ks.row(t)
		used[key] = true
		if r.deleted || held {
			ops = append(ops, op{key: key, token: p.tokens[key]})
			if r.deleted {
				continue
			}
		} else {
			ops = append(ops, op{key: key, token: p.tokens[key], value: s.encode(r.entity)})
		}
		for i, idx := range s.Indexes {
			if !changed[i] {
				// The row's entry is where it was: a unique entry already
				// points at it, a list already holds it (if cached).
				continue
			}
			ik, ok := idx.Key(r.entity)
			if !ok {
				continue
			}
			ik = s.indexKey(d, idx, ik)
			if idx.Unique {
				hints = append(hints, ks.unique(idx.Name, ik), s.FormatID(r.id))
				continue
			}
			lk, served := g.list(idx.Name, ik)
			if lk == "" {
				continue // not every live version keeps this list: none is served
			}
			used[lk] = true
			o := op{key: lk, token: p.tokens[lk]}
			if served {
				// An id no score holds exactly removes the list: it is
				// not stored (see listEntry).
				if m, sc, ok := s.listEntry(r.id); ok {
					o.member, o.score = m, sc
				}
			}
			ops = append(ops, o)
		}
	}
	if !g.trusted {
		// Other processes may not know this version yet: remove, never store.
		for i := range ops {
			ops[i].value, ops[i].member = nil, ""
		}
		hints = nil
	}
	// What other encodings cached for these rows is now stale: remove it,
	// ending the marks taken on it before the write.
	var stale []string
	for _, other := range g.others {
		for _, t := range p.order {
			stale = append(stale, other.row(t))
		}
	}
	for _, k := range stale {
		used[k] = true
		ops = append(ops, op{key: k, token: p.tokens[k]})
	}
	for _, j := range joined {
		// A mover names the row in the keyspaces its view knows; this
		// write's view may know more (a version that joined since).
		same := []string{j}
		if rel := relKey(j); strings.HasPrefix(rel, "r:") {
			same = append(same, ks.at(rel))
			for _, other := range g.others {
				same = append(same, other.at(rel))
			}
		}
		for _, k := range same {
			if !used[k] {
				used[k] = true
				ops = append(ops, op{key: k})
			}
		}
	}
	var unused []op
	for k, t := range p.tokens {
		switch {
		case used[k]:
		case p.unsure || reloadFailed && isListKey(k):
			// A failed write of the transaction may have changed what the
			// key holds, or a row this write moved into the list could not
			// be read back: the list may now miss it.
			ops = append(ops, op{key: k, token: t})
		case t != "":
			unused = append(unused, op{key: k, token: t})
		}
	}
	// Older tokens on keys the part publishes with a later one go first:
	// a publish keeps the data's expiry while other tokens are out.
	early := make([]op, 0, len(p.superseded))
	for _, kt := range p.superseded {
		early = append(early, op{key: kt[0], token: kt[1]})
	}
	ops = append(early, ops...)
	repair := func() {
		keys := make([]string, 0, len(ops))
		for _, o := range ops {
			keys = append(keys, o.key)
		}
		c.repair.add(keys...)
		// The view these keys come from may be older than the registry, or
		// a guess: the same entries go in every version it names when the
		// repair runs, with the lists the rows are in now.
		rels := slices.Clone(p.rels)
		for _, t := range p.order {
			rels = append(rels, relKey(ks.row(t)))
			r := p.rows[t]
			if r.deleted {
				continue
			}
			for _, idx := range s.Indexes {
				if ik, ok := idx.Key(r.entity); ok && !idx.Unique {
					rels = append(rels, listRel(idx.Name, s.indexKey(d, idx, ik)))
				}
			}
		}
		c.repair.addRel(s.Type, s.Hash, dedupe(rels)...)
	}
	if !c.redisUp() || g.guessed {
		// A guess names keys no other process looks at: the repair finds
		// them in the registry.
		repair()
		return
	}
	wctx := context.WithoutCancel(ctx)
	n := len(ops) + len(unused) + len(hints)/2
	cmds, err := c.runScripts(wctx, n, func(pipe redis.Pipeliner, i int) *redis.Cmd {
		if i >= len(ops)+len(unused) {
			j := 2 * (i - len(ops) - len(unused))
			return pipe.Do(wctx, "SET", hints[j], hints[j+1])
		}
		if i >= len(ops) {
			o := unused[i-len(ops)]
			return releaseScript.EvalSha(wctx, pipe, []string{o.key, lease(o.key)}, o.token)
		}
		o, keys := ops[i], []string{ops[i].key, lease(ops[i].key)}
		switch {
		case i < len(early):
			return releaseScript.EvalSha(wctx, pipe, keys, o.token)
		case o.member != "":
			return listAddScript.EvalSha(wctx, pipe, keys, o.token, o.score, o.member)
		case o.value != nil:
			return setScript.EvalSha(wctx, pipe, keys, o.token, o.value, "publish")
		default:
			return removeScript.EvalSha(wctx, pipe, keys, o.token)
		}
	})
	if err != nil {
		c.fail(ctx, "publish", err)
		repair()
		return
	}
	for i, o := range ops[len(early):] {
		switch n, _ := cmds[len(early)+i].Int(); {
		case o.member != "":
		case o.value != nil && n == 1:
			c.stats.publishes.Add(1)
		default:
			c.stats.invalidations.Add(1)
		}
	}
}

// flusher is a part of any type.
type flusher interface {
	flush(context.Context, *Cache)
	abort(ctx context.Context, c *Cache, keep bool)
	isEscaped() bool
}

// isEscaped reports whether a statement of p's writes ran outside their
// transaction (see part.escaped).
func (p *part[T, ID]) isEscaped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.escaped
}

// txBuffer collects a transaction's writes, by type in first-write order.
type txBuffer struct {
	mu     sync.Mutex
	parts  []flusher
	byType map[any]flusher
}

func (b *txBuffer) end(ctx context.Context, c *Cache, end TxEnd) {
	b.mu.Lock()
	parts := b.parts
	b.mu.Unlock()
	for _, p := range parts {
		switch end {
		case TxCommitted:
			p.flush(ctx, c)
		case TxRolledBack:
			p.abort(ctx, c, !p.isEscaped())
		default:
			// The commit may have happened: what the writes marked goes.
			p.abort(ctx, c, false)
		}
	}
}
