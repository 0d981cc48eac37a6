package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
)

// This file holds the vocabulary of the maintenance runs (Warm, Verify) that
// generated code exposes on every cached type: their options and reports.

// RunOption configures a Warm or Verify run.
type RunOption func(*runConfig)

type runConfig struct {
	batch      int
	startAfter string
	rate       float64
	progress   func(Progress)
	repair     bool
	sample     float64
}

func newRunConfig(opts []RunOption) runConfig {
	rc := runConfig{batch: 1000, sample: 1}
	for _, o := range opts {
		o(&rc)
	}
	if rc.batch <= 0 {
		rc.batch = 1000
	}
	if rc.sample <= 0 || rc.sample > 1 {
		rc.sample = 1
	}
	return rc
}

// BatchSize sets the rows read per page (default 1000).
func BatchSize(n int) RunOption { return func(rc *runConfig) { rc.batch = n } }

// StartAfter resumes a run after the cursor a previous run returned.
func StartAfter(cursor string) RunOption { return func(rc *runConfig) { rc.startAfter = cursor } }

// RowsPerSecond throttles a run to about n rows a second (0: no limit), for
// a busy database.
func RowsPerSecond(n float64) RunOption { return func(rc *runConfig) { rc.rate = n } }

// OnProgress calls f after every page, on the run's own goroutine, before
// the run returns.
func OnProgress(f func(Progress)) RunOption { return func(rc *runConfig) { rc.progress = f } }

// Repair makes Verify remove (or republish) every key it finds differing
// from the database.
func Repair() RunOption { return func(rc *runConfig) { rc.repair = true } }

// Sample makes Verify check about the fraction f of the rows (default 1).
func Sample(f float64) RunOption { return func(rc *runConfig) { rc.sample = f } }

// Progress is what a run has done so far.
type Progress struct {
	Type    string        // the ent type
	Done    int           // rows read so far in this run
	Total   int           // the table's row count when the run started
	Cursor  string        // where a run resumed with StartAfter would go on
	Elapsed time.Duration // since the run started
}

// WarmReport is what a Warm run did.
type WarmReport struct {
	Type      string
	Rows      int    // rows read from the database
	Published int    // rows stored in the cache (entries and lists are extra)
	Skipped   int    // rows a newer write owned: left to it
	Cursor    string // the last row reached, for StartAfter
	Cached    int    // rows already in the cache: left as they are
	Entries   int    // unique entries stored
	Lists     int    // lists stored, each complete
	// Untrusted is set when the type's schema version was not trusted (a
	// rolling deploy: another version is live and this one serves from
	// the database for a while): nothing was published, and Warm returned
	// ErrUntrusted.
	Untrusted bool
}

// VerifyReport is what a Verify run found.
type VerifyReport struct {
	Type     string
	Checked  int // database rows compared
	Cached   int // of them, cached
	Stale    int // cached values that differ from the database
	Orphans  int // cached values of rows the database no longer holds
	BadIndex int // unique entries or lists that answer wrongly
	Repaired int // keys removed or republished (with Repair)
	// Divergences are the first 20 differences found.
	Divergences []Divergence
	Cursor      string // the last row reached, for StartAfter
	// Unsettled counts differences that writes kept in flight through
	// every recheck (a key marked again and again for two leases): they
	// are not counted as divergences, and a later run looks again.
	Unsettled int
	// Untrusted is set when the type's schema version was not trusted
	// (see WarmReport): reads do not use the keys compared yet.
	Untrusted bool
}

// Divergence is one difference between the cache and the database.
type Divergence struct {
	Key      string // the Redis key
	Kind     string // "stale", "orphan" or "index"
	Cached   string // what the cache holds, printable
	Database string // what the database holds, printable
}

// maxDivergences is how many divergences a VerifyReport lists.
const maxDivergences = 20

// ErrNoCache is returned by the maintenance calls (Warm, Verify, Purge,
// PauseReads, ...) on a client without a cache: made without
// ent.CacheModel, with Disabled(), or a transaction's.
var ErrNoCache = errors.New("entcachemodel: no cache (the client has no ent.CacheModel, or it is Disabled)")

// ErrUntrusted is returned, wrapped, by Warm when the type's schema
// version is not trusted yet: during a rolling deploy, a version that
// joins while another is live reads the database and publishes nothing
// for two version checks (see WithVersionCheck). Run Warm again then.
var ErrUntrusted = errors.New("entcachemodel: this schema version is not trusted yet (another version of the type is live); nothing is published")

// Source is what Warm and Verify read from the database, rows as stored
// (past the client's interceptors and privacy rules). Generated code
// fills it in for every cached type.
type Source[T any, ID comparable] struct {
	// DB is the client's driver, outside any transaction.
	DB dialect.Driver
	// Count returns the number of rows of the table.
	Count func(ctx context.Context) (int, error)
	// Keys returns up to n rows ordered by id, after the id after (from
	// the first when nil), with only their id and the fields of the
	// non-unique indexes read: WHERE id > after ORDER BY id LIMIT n.
	Keys func(ctx context.Context, after *ID, n int) ([]T, error)
	// Rows is Keys reading whole rows.
	Rows func(ctx context.Context, after *ID, n int) ([]T, error)
	// Range reads up to n whole rows ordered by id, after the id after
	// (from the first when nil) and up to the id last, included.
	Range func(ctx context.Context, after *ID, last ID, n int) ([]T, error)
	// Load reads whole rows by id, leaving out those that do not exist.
	Load func(ctx context.Context, ids []ID) ([]T, error)
	// Exist returns the ids of those rows of ids that exist.
	Exist func(ctx context.Context, ids []ID) ([]ID, error)
	// Members returns the rows, with their id and the fields of the
	// non-unique index idx read, whose values of idx equal those of one of
	// vs. Nil for a type without non-unique indexes.
	Members func(ctx context.Context, idx *Index[T], vs []T) ([]T, error)
}

// runKeys are the keys of one type that a maintenance run reads and
// writes: those of its own schema version, in the current server epoch.
// Warm and Verify build every key through it.
type runKeys struct {
	ks      keyspace
	trusted bool // reads use the keys, and runs may store
	g       *generation
}

// runKeys returns the keys a maintenance run uses now.
func (s *Schema[T, ID]) runKeys(ctx context.Context, c *Cache) runKeys {
	g := s.generation(ctx, c)
	return runKeys{ks: g.own, trusted: g.trusted, g: g}
}

func (k runKeys) row(text string) string          { return k.ks.row(text) }
func (k runKeys) unique(index, key string) string { return k.ks.unique(index, key) }

// list returns the key of a list entry a run may fill and compare; "" for a
// list that is not served now (not every live version keeps it, or its
// namespace is not trusted yet): runs leave it alone.
func (k runKeys) list(index, key string) string {
	if lk, ok := k.g.list(index, key); ok {
		return lk
	}
	return ""
}

// rowPattern matches every row key of the keyspace, and no lease (a SCAN
// MATCH pattern: key parts hold no glob character).
func (k runKeys) rowPattern() string { return "{" + k.ks.base + ":r:*}" }

// rowText returns the id's key text of a row key that rowPattern matched,
// false when the key does not name it (a long id's part is a hash).
func (k runKeys) rowText(key string) (string, bool) {
	part, ok := strings.CutPrefix(key, "{"+k.ks.base+":r:")
	if !ok {
		return "", false
	}
	part, ok = strings.CutSuffix(part, "}")
	if !ok {
		return "", false
	}
	return decodePart(part)
}

// valueID returns the id text a cached value starts with (every value
// starts with its id, see Schema.Encode), false when the value is corrupt.
// A value that fails to decode further (a field whose Value failed) still
// names its row.
func valueID(data []byte) (string, bool) {
	d := NewDecoder(data)
	id := d.String()
	if d.err != nil {
		return "", false
	}
	return id, true
}

// run paces one maintenance run: progress reports and the throttle.
type run struct {
	rc    runConfig
	typ   string
	total int
	start time.Time
	units int // rows and keys handled, for the throttle
	// now and sleep are the clock (tests replace them).
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newRun(rc runConfig, typ string, total int) *run {
	return &run{rc: rc, typ: typ, total: total, start: time.Now(), now: time.Now, sleep: sleepCtx}
}

// sleepCtx waits for d, or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// page reports a page done (done rows so far, cursor the last reached),
// having handled units more rows or keys, and waits as long as the
// throttle asks: a run handles RowsPerSecond units a second on average
// since it started. It returns ctx's error when ctx ends while it waits.
func (r *run) page(ctx context.Context, done int, cursor string, units int) error {
	r.units += units
	if r.rc.progress != nil {
		r.rc.progress(Progress{Type: r.typ, Done: done, Total: r.total, Cursor: cursor, Elapsed: r.now().Sub(r.start)})
	}
	if r.rc.rate <= 0 {
		return nil
	}
	due := r.start.Add(time.Duration(float64(r.units) / r.rc.rate * float64(time.Second)))
	if wait := due.Sub(r.now()); wait > 0 {
		return r.sleep(ctx, wait)
	}
	return nil
}

// cursor parses a StartAfter cursor: nil for none.
func (s *Schema[T, ID]) cursor(text string) (*ID, error) {
	if text == "" {
		return nil, nil
	}
	id, err := s.ParseID(text)
	if err != nil {
		return nil, fmt.Errorf("entcachemodel: %s: StartAfter(%q) is not an id: %w", s.Type, text, err)
	}
	return &id, nil
}

// listsServed returns the non-unique indexes whose lists ListBy serves
// from the cache on the source's database (others are read from it).
func (s *Schema[T, ID]) listsServed(ctx context.Context, c *Cache, db dialect.Driver) ([]*Index[T], error) {
	var lists []*Index[T]
	for _, idx := range s.Indexes {
		if !idx.Unique && !s.folded(db.Dialect(), idx) {
			lists = append(lists, idx)
		}
	}
	if len(lists) == 0 {
		return nil, nil
	}
	order, err := s.order(ctx, c, db)
	if err != nil {
		return nil, err
	}
	if order == nil {
		return nil, nil
	}
	return lists, nil
}

// Pipelines of a run start at scriptBatch commands and grow (up to
// maxPipe) while a round trip takes under an eighth of the timeout, so
// that on a real server a page of 1,000 rows costs one round trip per
// step, and on a slow one (an embedded server) each still fits in it.
const maxPipe = 16384

// pipes runs the round trips of one maintenance run (of its goroutines).
type pipes struct {
	c    *Cache
	size atomic.Int64
}

func newPipes(c *Cache) *pipes {
	p := &pipes{c: c}
	p.size.Store(scriptBatch)
	return p
}

// run runs n commands in pipelines, each bounded by the timeout. A command
// that Redis refuses for its key's type (WRONGTYPE) has its error in its
// Cmd; any other failure stops the run and is returned.
func (p *pipes) run(ctx context.Context, n int, build func(redis.Pipeliner, int) *redis.Cmd) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, n)
	for start := 0; start < n; {
		size := int(p.size.Load())
		end := min(n, start+size)
		began := time.Now()
		err := p.batch(ctx, cmds[start:end], func(pipe redis.Pipeliner, i int) *redis.Cmd { return build(pipe, start+i) })
		if err != nil {
			if ctx.Err() == nil { // a run cancelled is no Redis failure
				p.c.fail(ctx, "maintenance", err)
			}
			return cmds, err
		}
		switch took := time.Since(began); {
		case took < p.c.timeout/8 && end-start == size:
			p.size.Store(int64(min(4*size, maxPipe)))
		case took > p.c.timeout/3:
			p.size.Store(int64(max(size/2, 10)))
		}
		start = end
	}
	return cmds, nil
}

// batch runs one pipeline. When Redis does not know a script (first use,
// restart, SCRIPT FLUSH), it loads them all and runs the refused ones once
// more.
func (p *pipes) batch(ctx context.Context, cmds []*redis.Cmd, build func(redis.Pipeliner, int) *redis.Cmd) error {
	c := p.c
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	exec := func(which []int) error {
		pipe := c.rdb.Pipeline()
		for _, i := range which {
			cmds[i] = build(pipe, i)
		}
		acked := c.waitReplicas(ctx, pipe)
		_, _ = pipe.Exec(ctx) // each command's error is looked at below
		for _, i := range which {
			if err := cmds[i].Err(); err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) && !redis.HasErrorPrefix(err, "NOSCRIPT") {
				return err
			}
		}
		return acked()
	}
	all := make([]int, len(cmds))
	for i := range all {
		all[i] = i
	}
	if err := exec(all); err != nil {
		return err
	}
	c.outage.answered(ctx)
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	for _, s := range allScripts {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return err
		}
	}
	return exec(again)
}
