package entcachemodel

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
)

// A write marks its keys in Redis before it reaches the database. When Redis
// cannot be reached, the write goes through (unless WithStrictWrites), and
// the values it makes stale stay in Redis with no expiry. The writing
// process repairs them once Redis answers, but it may die first. So the
// write also records its keys in the outbox table, in its own transaction:
// the record exists exactly when the write committed. Every process that
// uses the cache drains the outbox now and then, removing the recorded keys
// (in every live schema version) and then the records.

// OutboxTable is the name of the outbox table.
const OutboxTable = "entcachemodel_outbox"

// OutboxSchema returns the outbox table for ent's migrations. Generated code
// adds it to the migrate package's Tables, so client.Schema.Create creates
// it with the entity tables.
func OutboxSchema() *schema.Table {
	return schema.NewTable(OutboxTable).
		AddPrimary(&schema.Column{Name: "id", Type: field.TypeInt64, Increment: true}).
		AddColumn(&schema.Column{Name: "prefix", Type: field.TypeString, Size: 255}).
		AddColumn(&schema.Column{Name: "type_name", Type: field.TypeString, Size: 255}).
		AddColumn(&schema.Column{Name: "schema_hash", Type: field.TypeString, Size: 255}).
		AddColumn(&schema.Column{Name: "cache_keys", Type: field.TypeString, Size: math.MaxInt32}).
		AddColumn(&schema.Column{Name: "created_at", Type: field.TypeTime})
}

// outboxBatch is how many records one drain round reads.
const outboxBatch = 100

// outboxMaxKeys caps the keys of one record; larger writes take several.
const outboxMaxKeys = 5000

// outboxRepairKeys is about how many recorded keys one repair step removes
// before it deletes their records.
const outboxRepairKeys = 1000

// outbox records and drains the keys of writes that could not mark Redis.
type outbox struct {
	cache    *Cache
	next     atomic.Int64 // unix nanos of the next drain
	draining atomic.Bool
	warned   atomic.Bool // the table was found missing, and that was logged
	// seen holds when this process first saw each record still waiting to
	// settle, and cursor the last record of the previous batch when more
	// followed it (0 to start over). Only the one running drain touches them.
	seen   map[int64]time.Time
	cursor int64
}

// record writes the keys that a write of one schema version (type and hash)
// leaves stale, relative to its keyspace (keyspace.rel), through the write's driver: inside its
// transaction when inTx. A failure is logged and does not fail the write;
// inside a transaction a savepoint keeps the transaction usable.
func (o *outbox) record(ctx context.Context, drv dialect.Driver, inTx bool, typ, hash string, keys []string) {
	if drv == nil || len(keys) == 0 {
		return
	}
	err := func() (err error) {
		if inTx {
			if err := drv.Exec(ctx, "SAVEPOINT entcachemodel_outbox", []any{}, nil); err != nil {
				return err
			}
			defer func() {
				if err != nil {
					_ = drv.Exec(ctx, "ROLLBACK TO SAVEPOINT entcachemodel_outbox", []any{}, nil)
					return
				}
				err = drv.Exec(ctx, "RELEASE SAVEPOINT entcachemodel_outbox", []any{}, nil)
			}()
		}
		for len(keys) > 0 {
			chunk := keys[:min(len(keys), outboxMaxKeys)]
			keys = keys[len(chunk):]
			query, args := entsql.Dialect(drv.Dialect()).
				Insert(OutboxTable).
				Columns("prefix", "type_name", "schema_hash", "cache_keys", "created_at").
				Values(o.cache.prefix, typ, hash, strings.Join(chunk, "\n"), time.Now().UTC()).
				Query()
			if err := drv.Exec(ctx, query, args, nil); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		o.cache.log.LogAttrs(ctx, slog.LevelError, "entcachemodel: recording a write in the outbox failed; only this process can repair the keys it left stale",
			slog.String("table", OutboxTable), slog.Any("error", err))
		return
	}
	o.cache.stats.outboxRecords.Add(1)
}

// poke drains the outbox through db, when a drain is due and Redis
// answers. It runs in the caller's goroutine, before the caller's own
// statements, never beside them: the cache runs no query of its own
// concurrently with the application's on the application's pool, where a
// valid setup could notice (an in-memory sqlite database without
// cache=shared is one database per connection, so a second connection
// opened for a background drain would be an empty database; a pool of one
// connection would make the application wait). A drain of an empty outbox
// is one indexed SELECT every outboxCheck, paid by one call; a drain reads
// one batch of records at most, and a full batch leaves the next one due.
func (o *outbox) poke(ctx context.Context, db dialect.Driver) {
	o.pokeAt(ctx, db, time.Now())
}

// pokeAt is poke at the time now; it reports whether it drained.
func (o *outbox) pokeAt(ctx context.Context, db dialect.Driver, at time.Time) bool {
	if db == nil || !o.cache.redisUpAt(at) {
		return false
	}
	now, next := at.UnixNano(), o.next.Load()
	if now < next || !o.next.CompareAndSwap(next, now+int64(o.cache.outboxCheck)) {
		return false
	}
	if !o.draining.CompareAndSwap(false, true) {
		return false
	}
	defer o.draining.Store(false)
	if err := o.drain(ctx, db); err != nil {
		// Try again soon: the keys stay stale until the drain succeeds.
		o.next.Store(time.Now().Add(o.cache.cooldown).UnixNano())
	}
	return true
}

// drain removes the keys of the settled records of this cache's prefix in
// the next batch, then the records. A record settles one lease after this
// process first saw it. Outside a transaction it is written before its
// write, so it may be seen while the write still runs; removing the keys
// then would let a fill store the old row again just before the write
// commits. The lease is the same bound as a mark's: a writer that takes
// longer than a lease and dies may leave a stale value (see the README's
// limits).
func (o *outbox) drain(ctx context.Context, db dialect.Driver) error {
	c := o.cache
	now := time.Now()
	from := o.cursor
	recs, err := o.load(ctx, db, from)
	if err != nil {
		if !o.warned.Swap(true) {
			c.log.LogAttrs(ctx, slog.LevelWarn, "entcachemodel: the outbox table cannot be read (run the migration that creates it); writes made while Redis was unreachable are repaired only by their own process",
				slog.String("table", OutboxTable), slog.Any("error", err))
		}
		return err
	}
	o.warned.Store(false)
	full := len(recs) == outboxBatch
	reached := int64(math.MaxInt64) // the last record this batch covers
	if full {
		reached = recs[len(recs)-1].id
	}
	seen := map[int64]time.Time{} // records waiting to settle, as of this batch
	defer func() {
		// Keep the records this batch did not cover; forget the others,
		// deleted since or drained by this batch.
		for id, t := range o.seen {
			if id <= from || id > reached {
				seen[id] = t
			}
		}
		o.seen = seen
	}()
	var wake time.Time // when the first waiting record settles
	var settled []outboxRecord
	for _, r := range recs {
		first, ok := o.seen[r.id]
		if !ok {
			first = now
		}
		if now.Sub(first) >= c.lease {
			settled = append(settled, r)
			continue
		}
		seen[r.id] = first
		if at := first.Add(c.lease); wake.IsZero() || at.Before(wake) {
			wake = at
		}
	}
	// Repair a few records at a time, so that a drain that fails part way
	// still leaves fewer records behind.
	for len(settled) > 0 {
		n, keys := 0, 0
		for n < len(settled) {
			size := strings.Count(settled[n].keys, "\n") + 1
			if n > 0 && keys+size > outboxRepairKeys {
				break
			}
			keys += size
			n++
		}
		if err := o.repair(ctx, db, settled[:n]); err != nil {
			for _, r := range settled {
				seen[r.id] = o.seen[r.id] // still settled next time
			}
			return err
		}
		settled = settled[n:]
	}
	if full {
		// More records follow: the next call drains them.
		o.cursor = reached
		o.next.Store(0)
		return nil
	}
	o.cursor = 0
	if !wake.IsZero() && wake.UnixNano() < o.next.Load() {
		o.next.Store(wake.UnixNano())
	}
	return nil
}

// repair removes the keys of recs, in every live schema version, then
// deletes the records.
func (o *outbox) repair(ctx context.Context, db dialect.Driver, recs []outboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	c := o.cache
	var keys []string
	byVersion := map[[2]string]spaces{}
	ids := make([]any, len(recs))
	for i, r := range recs {
		ids[i] = r.id
		id := [2]string{r.typ, r.hash}
		if _, ok := byVersion[id]; !ok {
			sp, err := c.keyspaces(ctx, r.typ, r.hash)
			if err != nil {
				c.fail(ctx, "outbox", err)
				return err
			}
			byVersion[id] = sp
		}
		for _, k := range strings.Split(r.keys, "\n") {
			keys = append(keys, byVersion[id].keys(k)...)
		}
	}
	if err := c.remove(ctx, keys); err != nil {
		c.fail(ctx, "outbox", err)
		return err
	}
	query, args := entsql.Dialect(db.Dialect()).
		Delete(OutboxTable).
		Where(entsql.In("id", ids...)).
		Query()
	if err := db.Exec(ctx, query, args, nil); err != nil {
		return fmt.Errorf("entcachemodel: deleting outbox records: %w", err)
	}
	c.stats.outboxRepairs.Add(uint64(len(recs)))
	return nil
}

type outboxRecord struct {
	id              int64
	typ, hash, keys string
}

// load reads the next records of this cache's prefix, by id, after the
// given one.
func (o *outbox) load(ctx context.Context, db dialect.Driver, after int64) ([]outboxRecord, error) {
	query, args := entsql.Dialect(db.Dialect()).
		Select("id", "type_name", "schema_hash", "cache_keys").
		From(entsql.Table(OutboxTable)).
		Where(entsql.And(entsql.EQ("prefix", o.cache.prefix), entsql.GT("id", after))).
		OrderBy("id").
		Limit(outboxBatch).
		Query()
	var rows entsql.Rows
	if err := db.Query(ctx, query, args, &rows); err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []outboxRecord
	for rows.Next() {
		var r outboxRecord
		var keys sql.NullString
		if err := rows.Scan(&r.id, &r.typ, &r.hash, &keys); err != nil {
			return nil, err
		}
		r.keys = keys.String
		recs = append(recs, r)
	}
	return recs, rows.Err()
}
