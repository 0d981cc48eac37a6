package ent_test

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// The maintenance benchmarks compare Warm and Verify of a whole table
// (WARM_ROWS users, 100,000 by default) with a bare loop doing the same
// work without the cache's protocol: a keyset scan of the same pages (the
// same ent query) and pipelined plain commands of the same bytes. One
// operation is one run over the table; bench/run runs them with
// -benchtime=1x and prints the ratios of rows per second.

// maintRows is the size of the table.
func maintRows(b *testing.B) int {
	if s := os.Getenv("WARM_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		return n
	}
	return 100_000
}

// maintEnv is one maintenance benchmark's database, Redis and clients.
type maintEnv struct {
	b      *testing.B
	ctx    context.Context
	redis  *testenv.Redis
	trips  *trips
	client *ent.Client
	rows   int
}

func newMaintEnv(b *testing.B) *maintEnv {
	b.Helper()
	db, err := testenv.OpenDatabase()
	require.NoError(b, err)
	b.Cleanup(db.Close)
	drv, err := db.Open()
	require.NoError(b, err)
	r, err := testenv.OpenRedis()
	require.NoError(b, err)
	b.Cleanup(r.Close)
	if r.Mini == nil {
		b.Cleanup(func() { dropKeys(b, r) })
	}
	count := &trips{}
	r.Client.AddHook(count)
	// The embedded server runs a script in about a millisecond: a long
	// timeout lets a pipeline hold a page there too.
	cache := entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix), entcachemodel.WithTimeout(time.Minute))
	e := &maintEnv{b: b, ctx: context.Background(), redis: r, trips: count, rows: maintRows(b),
		client: ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))}
	b.Cleanup(func() { e.client.Close() })
	require.NoError(b, e.client.Schema.Create(e.ctx))
	seed := ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.Disabled()))
	for start := 0; start < e.rows; start += 500 {
		builders := make([]*ent.UserCreate, 0, 500)
		for i := start; i < min(e.rows, start+500); i++ {
			builders = append(builders, newUser(seed, i, i%benchAges))
		}
		require.NoError(b, seed.User.CreateBulk(builders...).Exec(e.ctx))
	}
	return e
}

// flush empties the cache of the benchmark's keys.
func (e *maintEnv) flush() {
	e.b.Helper()
	_, err := e.redis.DeleteAll(e.ctx)
	require.NoError(e.b, err)
}

// page reads the page after the id after, as Warm and Verify do.
func (e *maintEnv) page(after int) []*ent.User {
	q := e.client.User.Query().Order(user.ByID()).Limit(1000)
	if after > 0 {
		q.Where(user.IDGT(after))
	}
	rows, err := q.All(e.ctx)
	require.NoError(e.b, err)
	return rows
}

// bareKey is a key of the bare baselines.
func (e *maintEnv) bareKey(kind, part string) string {
	return "{" + entcachemodel.KeyPart(e.redis.Prefix) + ":bare:" + kind + ":" + part + "}"
}

// bareWarm writes what Warm writes, with plain pipelined commands: the row
// values, the unique entries and the list members.
func (e *maintEnv) bareWarm() {
	for after := 0; ; {
		rows := e.page(after)
		if len(rows) == 0 {
			return
		}
		pipe := e.redis.Client.Pipeline()
		for _, u := range rows {
			id := strconv.Itoa(u.ID)
			pipe.Set(e.ctx, e.bareKey("r", id), ent.EncodeUser(u), 0)
			pipe.Set(e.ctx, e.bareKey("email", entcachemodel.KeyPart(u.Email)), id, 0)
			pipe.Set(e.ctx, e.bareKey("name", entcachemodel.KeyPart(u.FirstName)+":"+entcachemodel.KeyPart(u.LastName)), id, 0)
			pipe.ZAdd(e.ctx, e.bareKey("age", strconv.Itoa(u.Age)), redis.Z{Score: float64(u.ID), Member: id})
			pipe.ZAdd(e.ctx, e.bareKey("role", string(u.Role)+":"+strconv.FormatBool(u.Active)), redis.Z{Score: float64(u.ID), Member: id})
		}
		_, err := pipe.Exec(e.ctx)
		require.NoError(e.b, err)
		after = rows[len(rows)-1].ID
	}
}

// bareVerify compares every row with its value, read with pipelined GETs.
func (e *maintEnv) bareVerify() {
	for after := 0; ; {
		rows := e.page(after)
		if len(rows) == 0 {
			return
		}
		pipe := e.redis.Client.Pipeline()
		cmds := make([]*redis.StringCmd, len(rows))
		for i, u := range rows {
			cmds[i] = pipe.Get(e.ctx, e.bareKey("r", strconv.Itoa(u.ID)))
		}
		_, err := pipe.Exec(e.ctx)
		require.NoError(e.b, err)
		for i, u := range rows {
			if v, _ := cmds[i].Bytes(); !bytes.Equal(v, ent.EncodeUser(u)) {
				e.b.Fatalf("user %d differs", u.ID)
			}
		}
		after = rows[len(rows)-1].ID
	}
}

// run times op once per iteration, each after prepare (not timed), and
// reports rows per second, Redis round trips per 1,000 rows and the
// largest heap seen.
func (e *maintEnv) run(prepare, op func(), heap *uint64) {
	e.b.Helper()
	e.b.ReportAllocs()
	var elapsed time.Duration
	trips := 0
	e.b.ResetTimer()
	for i := 0; i < e.b.N; i++ {
		e.b.StopTimer()
		prepare()
		runtime.GC()
		before := e.trips.n.get()
		e.b.StartTimer()
		start := time.Now()
		op()
		elapsed += time.Since(start)
		trips += e.trips.n.get() - before
	}
	e.b.ReportMetric(float64(e.rows*e.b.N)/elapsed.Seconds(), "rows/s")
	e.b.ReportMetric(float64(trips)/float64(e.b.N)/float64(e.rows)*1000, "redis-trips/1000rows")
	if heap != nil {
		e.b.ReportMetric(float64(*heap)/(1<<20), "peak-heap-MB")
	}
}

// peak records the largest heap in use, for OnProgress.
func peak(heap *uint64) entcachemodel.RunOption {
	return entcachemodel.OnProgress(func(entcachemodel.Progress) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		*heap = max(*heap, m.HeapInuse)
	})
}

func BenchmarkWarm(b *testing.B) {
	b.Run("warm", func(b *testing.B) {
		e := newMaintEnv(b)
		var heap uint64
		e.run(e.flush, func() {
			rep, err := e.client.User.Cached().Warm(e.ctx, peak(&heap))
			require.NoError(b, err)
			if rep.Published != e.rows {
				b.Fatalf("published %d of %d rows", rep.Published, e.rows)
			}
		}, &heap)
	})
	b.Run("bare", func(b *testing.B) {
		e := newMaintEnv(b)
		e.run(e.flush, e.bareWarm, nil)
	})
}

func BenchmarkVerify(b *testing.B) {
	b.Run("verify", func(b *testing.B) {
		e := newMaintEnv(b)
		_, err := e.client.User.Cached().Warm(e.ctx)
		require.NoError(b, err)
		var heap uint64
		e.run(func() {}, func() {
			rep, err := e.client.User.Cached().Verify(e.ctx, peak(&heap))
			require.NoError(b, err)
			if rep.Checked != e.rows || rep.Cached != e.rows || rep.Stale+rep.Orphans+rep.BadIndex != 0 {
				b.Fatalf("verify: %+v", rep)
			}
		}, &heap)
	})
	b.Run("bare", func(b *testing.B) {
		e := newMaintEnv(b)
		e.bareWarm()
		e.run(func() {}, e.bareVerify, nil)
	})
}
