package ent_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/semaccount"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// Ent's behaviour with the cache on must be its behaviour without it: user
// hooks, Select, interceptors and the application's pool see the same calls
// and return the same values.

// semScrub is a user hook that blanks the password of every SemAccount it
// returns, as a service does before an entity leaves it.
func semScrub(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		v, err := next.Mutate(ctx, m)
		if a, ok := v.(*ent.SemAccount); ok && a != nil {
			a.Password = ""
		}
		return v, err
	})
}

// semStored reads the account as stored, past every hook and interceptor
// of the client (a client on the same driver without them).
func (e *env) semStored(id int) ent.SemAccount {
	e.t.Helper()
	plain := ent.NewClient(ent.Driver(e.drv))
	a, err := plain.SemAccount.Get(e.ctx, id)
	require.NoError(e.t, err)
	return a.Fields()
}

// requireSemCached checks that the cache serves the account as stored.
func (e *env) requireSemCached(id int) {
	e.t.Helper()
	got, err := e.client.SemAccount.Cached().Get(e.ctx, id)
	require.NoError(e.t, err)
	require.Equal(e.t, e.semStored(id), got.Fields())
}

// A hook that scrubs the returned entity changes what the caller gets, not
// what the cache publishes.
func TestSemHookScrubbedEntityIsNotPublished(t *testing.T) {
	e := newEnv(t)
	e.client.SemAccount.Use(semScrub)
	a, err := e.client.SemAccount.Create().SetEmail("a@x.io").SetPassword("secret").Save(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, a.Password, "the hook scrubbed the returned entity")
	e.requireSemCached(a.ID)

	a, err = e.client.SemAccount.UpdateOne(a).SetName("Ann").Save(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, a.Password)
	got, err := e.client.SemAccount.Cached().Get(e.ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "secret", got.Password, "the cache holds the row as stored")
	e.requireSemCached(a.ID)
}

// A user hook that fails after its statement ran: the write committed, so
// the cache must publish it, and the caller still gets the hook's error.
func TestSemHookErrorAfterTheWriteStillPublishes(t *testing.T) {
	e := newEnv(t)
	errAfter := errors.New("after the write")
	fail := false
	e.client.SemAccount.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if fail {
				return nil, errAfter
			}
			return v, err
		})
	})
	a, err := e.client.SemAccount.Create().SetEmail("a@x.io").Save(e.ctx)
	require.NoError(t, err)
	e.requireSemCached(a.ID)

	fail = true
	_, err = e.client.SemAccount.UpdateOneID(a.ID).SetName("one").Save(e.ctx)
	require.ErrorIs(t, err, errAfter)
	e.requireSemCached(a.ID)
	err = e.client.SemAccount.Update().Where(semaccount.ID(a.ID)).SetName("many").Exec(e.ctx)
	require.ErrorIs(t, err, errAfter)
	e.requireSemCached(a.ID)

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	_, err = tx.SemAccount.UpdateOneID(a.ID).SetName("in a transaction").Save(e.ctx)
	require.ErrorIs(t, err, errAfter)
	require.NoError(t, tx.Commit())
	e.requireSemCached(a.ID)

	b, err := e.client.SemAccount.Create().SetEmail("b@x.io").Save(e.ctx)
	require.ErrorIs(t, err, errAfter)
	require.Nil(t, b)
	fail = false
	b, err = e.client.SemAccount.Query().Where(semaccount.Email("b@x.io")).Only(e.ctx)
	require.NoError(t, err)
	e.requireSemCached(b.ID)

	fail = true
	_, err = e.client.SemAccount.Delete().Where(semaccount.ID(b.ID)).Exec(e.ctx)
	require.ErrorIs(t, err, errAfter)
	_, err = e.client.SemAccount.Cached().Get(e.ctx, b.ID)
	require.True(t, ent.IsNotFound(err), "deleted, yet cached: %v", err)
}

// UpdateOne with Select returns only the selected fields, as without the
// cache; the cache still publishes the whole row.
func TestSemUpdateOneSelectReturnsTheSelectedFields(t *testing.T) {
	e := newEnv(t)
	plain := ent.NewClient(ent.Driver(e.drv))
	a, err := e.client.SemAccount.Create().SetEmail("a@x.io").SetPassword("pw").SetAge(3).Save(e.ctx)
	require.NoError(t, err)
	e.requireSemCached(a.ID)

	got, err := e.client.SemAccount.UpdateOne(a).SetName("Ann").Select(semaccount.FieldName).Save(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, ent.SemAccount{ID: a.ID, Name: "Ann"}, got.Fields(), "only the id and the selected field")
	want, err := plain.SemAccount.UpdateOne(a).SetName("Ann").Select(semaccount.FieldName).Save(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, want.Fields(), got.Fields(), "as ent returns it without the cache")
	e.requireSemCached(a.ID)

	n := e.queries(func() {
		got, err = e.client.SemAccount.UpdateOne(a).SetName("Bob").Select(semaccount.FieldAge, semaccount.FieldEmail).Save(e.ctx)
		require.NoError(t, err)
	})
	assert.Equal(t, ent.SemAccount{ID: a.ID, Age: 3, Email: "a@x.io"}, got.Fields())
	assert.Equal(t, int64(2), n, "UPDATE and its SELECT: the cache reads no more")
	e.requireSemCached(a.ID)
}

// A Pet's UpdateOne publishes the row it read back, hidden foreign key
// included, with no statement of the cache's own outside a transaction.
func TestSemPetUpdateOneReadsItsForeignKeyInItsStatement(t *testing.T) {
	e := newEnv(t)
	plain := ent.NewClient(ent.Driver(e.drv))
	owner := e.createUser("owner@x.io", 30)
	p, err := e.client.Pet.Create().SetName("Rex").SetOwner(owner).Save(e.ctx)
	require.NoError(t, err)

	without := e.queries(func() {
		_, err := plain.Pet.UpdateOne(p).SetName("Rex2").Save(e.ctx)
		require.NoError(t, err)
	})
	var got *ent.Pet
	with := e.queries(func() {
		got, err = e.client.Pet.UpdateOne(p).SetName("Rex3").Save(e.ctx)
		require.NoError(t, err)
	})
	assert.Equal(t, without, with, "statements of UpdateOne with the cache and without")
	assert.Nil(t, got.OwnerID(), "UpdateOne returns no hidden foreign key, as without the cache")
	var cached *ent.Pet
	reads := e.queries(func() {
		cached, err = e.client.Pet.Cached().Get(e.ctx, p.ID)
		require.NoError(t, err)
	})
	assert.Zero(t, reads, "the update published the pet")
	require.NotNil(t, cached.OwnerID())
	assert.Equal(t, owner.ID, *cached.OwnerID())
	assert.Equal(t, "Rex3", cached.Name)
}

// semCountQueries is an interceptor that counts the queries it sees.
func semCountQueries(n *atomic.Int64) ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			n.Add(1)
			return next.Query(ctx, q)
		})
	})
}

// semHideDeleted is a soft-delete interceptor: queries see no deleted
// accounts.
var semHideDeleted = ent.TraverseFunc(func(ctx context.Context, q ent.Query) error {
	if q, ok := q.(*ent.SemAccountQuery); ok {
		q.Where(semaccount.Deleted(false))
	}
	return nil
})

type semAllowKey struct{}

// semDenyQueries is a privacy-like interceptor and hook pair: queries fail
// unless the context allows them; the hook allows every write.
var semDenyQueries = ent.InterceptFunc(func(next ent.Querier) ent.Querier {
	return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
		if ctx.Value(semAllowKey{}) == nil {
			return nil, errors.New("denied")
		}
		return next.Query(ctx, q)
	})
})

func semAllowWrites(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		return next.Mutate(context.WithValue(ctx, semAllowKey{}, true), m)
	})
}

// semConvert is an interceptor that hands the application's queries a value
// of its own type, as ent's hooks suite does: a query of the cache's that
// went through it would fail to convert.
type semConverted []string

var semConvert = ent.InterceptFunc(func(next ent.Querier) ent.Querier {
	return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
		v, err := next.Query(ctx, q)
		if as, ok := v.([]*ent.SemAccount); ok {
			out := semConverted{}
			for _, a := range as {
				out = append(out, a.Email)
			}
			return out, err
		}
		return v, err
	})
})

// The cache's own queries never run through the application's interceptors.
func TestSemInterceptorsSeeOnlyTheApplicationsQueries(t *testing.T) {
	e := newEnv(t)
	var n atomic.Int64
	e.client.Intercept(semCountQueries(&n))
	a, err := e.client.SemAccount.Create().SetEmail("a@x.io").Save(e.ctx)
	require.NoError(t, err)
	b, err := e.client.SemAccount.Create().SetEmail("b@x.io").SetAge(1).Save(e.ctx)
	require.NoError(t, err)
	_, err = e.client.SemAccount.UpdateOne(a).SetAge(2).Save(e.ctx)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Update().Where(semaccount.ID(b.ID)).AddAge(1).Save(e.ctx)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Cached().Get(e.ctx, a.ID)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Cached().ListByAge(e.ctx, 2)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Delete().Where(semaccount.ID(b.ID)).Exec(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, n.Load(), "the application ran no query")

	e.client.Intercept(semConvert)
	_, err = e.client.SemAccount.UpdateOne(a).SetAge(3).Save(e.ctx)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Update().Where(semaccount.ID(a.ID)).SetName("x").Save(e.ctx)
	require.NoError(t, err)
	e.requireSemCached(a.ID)
	// The application's own query goes through both.
	_, err = e.client.SemAccount.Query().All(e.ctx)
	require.ErrorContains(t, err, "unexpected type")
	assert.Equal(t, int64(1), n.Load())
}

// A soft-delete filter hides rows from queries, not from the statements of
// writes: the cache must find, restrict and read back rows as stored.
func TestSemSoftDeleteFilterDoesNotNarrowWrites(t *testing.T) {
	e := newEnv(t)
	e.client.Intercept(semHideDeleted)
	gone, err := e.client.SemAccount.Create().SetEmail("gone@x.io").SetDeleted(true).Save(e.ctx)
	require.NoError(t, err)
	e.requireSemCached(gone.ID)

	// Ent's UPDATE sees no interceptor: it changes the hidden row.
	n, err := e.client.SemAccount.Update().Where(semaccount.Email("gone@x.io")).SetName("renamed").Save(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "rows the UPDATE changed")
	assert.Equal(t, "renamed", e.semStored(gone.ID).Name)
	e.requireSemCached(gone.ID)

	_, err = e.client.SemAccount.Get(e.ctx, gone.ID)
	assert.True(t, ent.IsNotFound(err), "the application's queries do not see it")

	n, err = e.client.SemAccount.Delete().Where(semaccount.Deleted(true)).Exec(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = e.client.SemAccount.Cached().Get(e.ctx, gone.ID)
	assert.True(t, ent.IsNotFound(err), "deleted, yet cached: %v", err)
}

// A privacy-like rule that denies queries (an interceptor, and a hook that
// allows the writes) must not fail writes with the cache on.
func TestSemDeniedQueriesDoNotFailWrites(t *testing.T) {
	e := newEnv(t)
	e.client.Intercept(semDenyQueries)
	e.client.SemAccount.Use(semAllowWrites)
	deny := e.ctx // the caller is not allowed to query
	a, err := e.client.SemAccount.Create().SetEmail("a@x.io").Save(deny)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Query().All(deny)
	require.EqualError(t, err, "denied")

	err = e.client.SemAccount.Update().Where(semaccount.Email("a@x.io")).SetAge(7).Exec(deny)
	require.NoError(t, err)
	err = e.client.SemAccount.UpdateOneID(a.ID).SetName("Ann").Exec(deny)
	require.NoError(t, err)
	// Cached reads serve rows as stored, whoever asks (see the README).
	e.requireSemCached(a.ID)
	_, err = e.client.SemAccount.Delete().Where(semaccount.ID(a.ID)).Exec(deny)
	require.NoError(t, err)
	_, err = e.client.SemAccount.Cached().Get(deny, a.ID)
	assert.True(t, ent.IsNotFound(err), "%v", err)
}

// In-memory sqlite without cache=shared is one database per connection: a
// query of the cache's run beside the application's on its pool makes the
// pool open a second, empty, database. The application must never see it.
func TestSemNoQueryBesideTheApplicationsOnItsPool(t *testing.T) {
	r, err := testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	ctx := context.Background()
	for i := range 20 {
		db, err := sql.Open("sqlite3", fmt.Sprintf("file:sem%s?mode=memory&_fk=1", testenv.RandomName()))
		require.NoError(t, err)
		// Every call is due to drain the outbox.
		cache := entcachemodel.New(r.Client, entcachemodel.WithPrefix(fmt.Sprintf("%s%d", r.Prefix, i)),
			entcachemodel.WithOutboxCheck(time.Nanosecond))
		client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)), ent.CacheModel(cache))
		require.NoError(t, client.Schema.Create(ctx))
		for j := range 10 {
			a, err := client.SemAccount.Create().SetEmail(fmt.Sprintf("%d@x.io", j)).Save(ctx)
			require.NoError(t, err, "run %d.%d", i, j)
			_, err = client.SemAccount.UpdateOne(a).SetAge(j).Save(ctx)
			require.NoError(t, err, "run %d.%d", i, j)
			n, err := client.SemAccount.Query().Count(ctx)
			require.NoError(t, err, "run %d.%d", i, j)
			require.Equal(t, j+1, n)
			got, err := client.SemAccount.Cached().Get(ctx, a.ID)
			require.NoError(t, err, "run %d.%d", i, j)
			require.Equal(t, j, got.Age)
		}
		client.Close()
	}
}

// semWarned records that TestSemUncachedWritesWarnOnce ran: it warns once
// per process (go test -count=2 runs it twice in one).
var semWarned atomic.Bool

// semLog captures slog.Default's records while a test runs.
type semLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *semLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *semLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// A client made without the cache that writes a cached type warns once per
// process and type; one made with entcachemodel.Disabled() does not.
func TestSemUncachedWritesWarnOnce(t *testing.T) {
	if semWarned.Swap(true) {
		t.Skip("the warning is logged once per process")
	}
	e := newEnv(t)
	log := &semLog{}
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(log, nil)))

	keys := func() int {
		ks, err := e.redis.Keys(e.ctx, e.redis.Prefix+"*")
		require.NoError(t, err)
		return len(ks)
	}
	disabled := ent.NewClient(ent.Driver(e.drv), ent.CacheModel(entcachemodel.Disabled()))
	note, err := disabled.SemNote.Create().SetText("a").Save(e.ctx)
	require.NoError(t, err)
	_, err = disabled.SemNote.UpdateOne(note).SetText("b").Save(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, log.count("without ent.CacheModel"), "Disabled is an explicit choice: %s", log.buf.String())
	_, err = disabled.SemNote.Cached().Get(e.ctx, note.ID)
	require.NoError(t, err)
	assert.Zero(t, keys(), "a disabled cache touches no Redis key")

	plain := ent.NewClient(ent.Driver(e.drv))
	_, err = plain.SemNote.UpdateOne(note).SetText("c").Save(e.ctx)
	require.NoError(t, err)
	_, err = plain.SemNote.Create().SetText("d").Save(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, log.count("without ent.CacheModel"), "once: %s", log.buf.String())
	assert.Equal(t, 1, log.count("type=SemNote"), "%s", log.buf.String())
	// The cached client's writes log nothing.
	_, err = e.client.SemNote.UpdateOne(note).SetText("e").Save(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, log.count("level="), "%s", log.buf.String())
}

// semResult normalizes one call's result for comparison: entities without
// their client binding, errors as their type and text (the rows' ids are
// the same in both databases; a driver's error may name its schema).
func semResult(v any, err error) any {
	var out any
	switch v := v.(type) {
	case *ent.SemAccount:
		if v != nil {
			out = v.Fields()
		}
	case []*ent.SemAccount:
		fs := make([]ent.SemAccount, len(v))
		for i, a := range v {
			fs[i] = a.Fields()
		}
		out = fs
	default:
		out = v
	}
	if err != nil {
		return [2]any{out, fmt.Sprintf("%T: %v", err, err)}
	}
	return [2]any{out, nil}
}

// The same calls on a client with the cache and on one without (each on a
// fresh database of the same kind, with the same hooks and interceptors)
// return the same values and errors, and the hooks and interceptors see the
// same calls.
func TestSemSameResultsWithAndWithoutTheCache(t *testing.T) {
	with := newEnv(t)
	without := newEnv(t)
	without.client = ent.NewClient(ent.Driver(without.drv), ent.CacheModel(entcachemodel.Disabled()))
	type run struct {
		results []any
		queries atomic.Int64
		hooks   atomic.Int64
	}
	var runs [2]run
	for i, e := range []*env{with, without} {
		r := &runs[i]
		c := e.client
		c.Intercept(semCountQueries(&r.queries), semHideDeleted)
		c.SemAccount.Use(semScrub, func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				r.hooks.Add(1)
				return next.Mutate(ctx, m)
			})
		})
		ctx := e.ctx
		add := func(v any, err error) {
			r.results = append(r.results, semResult(v, err))
			// What the cache serves after each call.
			for id := 1; id <= 5; id++ {
				a, err := c.SemAccount.Cached().Get(ctx, id)
				r.results = append(r.results, semResult(a, err))
			}
		}
		a, err := c.SemAccount.Create().SetEmail("a@x.io").SetPassword("pw").SetAge(1).Save(ctx)
		add(a, err)
		add(c.SemAccount.CreateBulk(
			c.SemAccount.Create().SetEmail("b@x.io").SetAge(1),
			c.SemAccount.Create().SetEmail("c@x.io").SetDeleted(true),
		).Save(ctx))
		add(c.SemAccount.Create().SetEmail("a@x.io").Save(ctx)) // a constraint error
		add(c.SemAccount.UpdateOne(a).SetName("Ann").Select(semaccount.FieldName).Save(ctx))
		add(c.SemAccount.UpdateOne(a).AddAge(1).Save(ctx))
		add(c.SemAccount.UpdateOneID(a.ID).Where(semaccount.Age(100)).SetAge(3).Save(ctx))
		add(c.SemAccount.UpdateOneID(1000).SetAge(3).Save(ctx))
		add(c.SemAccount.Update().Where(semaccount.EmailIn("a@x.io", "c@x.io")).SetName("n").Save(ctx))
		add(c.SemAccount.Update().Where(semaccount.Deleted(true)).AddAge(5).Save(ctx))
		add(c.SemAccount.Query().Order(semaccount.ByID()).All(ctx))
		add(c.SemAccount.Get(ctx, 3))
		for id := 1; id <= 4; id++ {
			add(c.SemAccount.Cached().Get(ctx, id))
		}
		add(c.SemAccount.Cached().GetByEmail(ctx, "c@x.io"))
		add(c.SemAccount.Cached().ListByAge(ctx, 1))
		tx, err := c.Tx(ctx)
		require.NoError(t, err)
		// Inside the transaction, reads outside it would wait for its
		// connection (sqlite's pool has one): results only.
		inTx := func(v any, err error) { r.results = append(r.results, semResult(v, err)) }
		inTx(tx.SemAccount.UpdateOneID(1).SetName("tx").Select(semaccount.FieldName).Save(ctx))
		inTx(tx.SemAccount.Update().Where(semaccount.Deleted(true)).SetPassword("tx").Save(ctx))
		inTx(tx.SemAccount.Create().SetEmail("d@x.io").SetPassword("d").Save(ctx))
		inTx(tx.SemAccount.Cached().Get(ctx, 1))
		add(nil, tx.Commit())
		add(c.SemAccount.Delete().Where(semaccount.Deleted(true)).Exec(ctx))
		add(nil, c.SemAccount.DeleteOneID(2).Exec(ctx))
		add(nil, c.SemAccount.DeleteOneID(2).Exec(ctx))
		add(c.SemAccount.Query().Order(semaccount.ByID()).All(ctx))
	}
	for i := range runs[0].results {
		if !reflect.DeepEqual(runs[0].results[i], runs[1].results[i]) {
			t.Errorf("call %d: with the cache %+v, without %+v", i, runs[0].results[i], runs[1].results[i])
		}
	}
	assert.Equal(t, len(runs[1].results), len(runs[0].results))
	assert.Equal(t, runs[1].queries.Load(), runs[0].queries.Load(), "queries the interceptor saw")
	assert.Equal(t, runs[1].hooks.Load(), runs[0].hooks.Load(), "mutations the hook saw")
}
