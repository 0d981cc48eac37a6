package ent_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// The benchmarks compare cached reads with the same reads on the database,
// and writes of a client with a cache model with those of a plain client.
// Each sub-benchmark opens its own database and Redis (testenv: sqlite and
// miniredis by default, DATABASE_URL and REDIS_URL when set). bench/run runs
// them and prints the ratios.

// benchEnv is one benchmark's database, Redis and client.
type benchEnv struct {
	b      *testing.B
	ctx    context.Context
	drv    *testenv.Counter
	client *ent.Client
	// redis is the cache's Redis (nil without a cache).
	redis *testenv.Redis
	// seed is a client without cache model on the same pool: it inserts
	// the rows quickly, without publishing them.
	seed *ent.Client
}

// newBenchEnv opens a fresh database with the schema and a client on it,
// with a cache model on a fresh Redis prefix when cached is set.
func newBenchEnv(b *testing.B, cached bool) *benchEnv {
	b.Helper()
	db, err := testenv.OpenDatabase()
	require.NoError(b, err)
	b.Cleanup(db.Close)
	drv, err := db.Open()
	require.NoError(b, err)
	opts := []ent.Option{ent.Driver(drv)}
	var rs *testenv.Redis
	if cached {
		r, err := testenv.OpenRedis()
		require.NoError(b, err)
		b.Cleanup(r.Close)
		rs = r
		if r.Mini == nil {
			// A real server outlives the benchmark: drop its keys (the
			// cleanups run last registered first, so before r.Close).
			b.Cleanup(func() { dropKeys(b, r) })
		}
		opts = append(opts, ent.CacheModel(entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))))
	}
	client := ent.NewClient(opts...)
	b.Cleanup(func() { client.Close() })
	e := &benchEnv{b: b, ctx: context.Background(), drv: drv, client: client, redis: rs, seed: ent.NewClient(ent.Driver(drv))}
	require.NoError(b, client.Schema.Create(e.ctx))
	return e
}

// dropKeys deletes the keys of r's prefix, on every node of a cluster.
func dropKeys(b *testing.B, r *testenv.Redis) {
	if _, err := r.DeleteAll(context.Background()); err != nil {
		b.Logf("drop keys of %s: %v", r.Prefix, err)
	}
}

// createUsers inserts n users, user i with age i%ages, and returns their
// ids in order. The rows are not published: warm the cache with reads.
// (Publishing a bulk create runs a script per row, which takes seconds on
// miniredis.)
func (e *benchEnv) createUsers(n, ages int) []int {
	e.b.Helper()
	const chunk = 250
	ids := make([]int, 0, n)
	for start := 0; start < n; start += chunk {
		builders := make([]*ent.UserCreate, 0, chunk)
		for i := start; i < n && i < start+chunk; i++ {
			builders = append(builders, newUser(e.seed, i, i%ages))
		}
		users, err := e.seed.User.CreateBulk(builders...).Save(e.ctx)
		require.NoError(e.b, err)
		for _, u := range users {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

// warmRows reads the rows through the cache, filling it, when there is one.
func (e *benchEnv) warmRows(ids []int) {
	e.b.Helper()
	for start := 0; start < len(ids); start += 100 {
		_, err := e.client.User.Cached().GetMany(e.ctx, ids[start:min(start+100, len(ids))]...)
		require.NoError(e.b, err)
	}
}

// newUser builds the create of user i on c: unique email and name.
func newUser(c *ent.Client, i, age int) *ent.UserCreate {
	return c.User.Create().
		SetEmail(fmt.Sprintf("u%d@x.io", i)).
		SetFirstName(fmt.Sprintf("F%d", i)).
		SetLastName(fmt.Sprintf("L%d", i)).
		SetAge(age)
}

// loop runs op once per iteration (b.Loop: the setup before it is not
// timed) and reports the database statements per operation.
func (e *benchEnv) loop(op func(i int)) {
	e.b.Helper()
	e.b.ReportAllocs()
	before := e.drv.Count()
	n := 0
	for e.b.Loop() {
		op(n)
		n++
	}
	e.b.ReportMetric(float64(e.drv.Count()-before)/float64(n), "db-queries/op")
}

const (
	benchUsers = 1000
	benchAges  = benchUsers / 20 // 20 users per age
)

// rowKeys returns the Redis keys of the cached users ids, which must all
// be cached: what a raw GET of the same value reads.
func (e *benchEnv) rowKeys(ids []int) []string {
	e.b.Helper()
	keys, err := e.redis.Keys(e.ctx, "{"+entcachemodel.KeyPart(e.redis.Prefix)+":User:*:r:*}")
	require.NoError(e.b, err)
	byID := make(map[int]string, len(keys))
	for _, k := range keys {
		if strings.HasSuffix(k, ":lk") {
			continue
		}
		i := strings.LastIndex(k, ":r:r")
		id, err := strconv.Atoi(strings.TrimSuffix(k[i+len(":r:r"):], "}"))
		require.NoError(e.b, err, k)
		byID[id] = k
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
		require.NotEmpty(e.b, out[i], "user %d is not cached", id)
	}
	return out
}

// rawGet reads a key as a plain go-redis client would.
func (e *benchEnv) rawGet(key string) error {
	_, err := e.redis.Client.Get(e.ctx, key).Bytes()
	return err
}

// rawPipeline reads keys in one pipeline of GETs, as a plain go-redis
// client would.
func (e *benchEnv) rawPipeline(keys []string) error {
	pipe := e.redis.Client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(e.ctx, k)
	}
	if _, err := pipe.Exec(e.ctx); err != nil {
		return err
	}
	for _, c := range cmds {
		if _, err := c.Bytes(); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkGet(b *testing.B) {
	read := map[string]func(e *benchEnv, id int) (*ent.User, error){
		"cached":   func(e *benchEnv, id int) (*ent.User, error) { return e.client.User.Cached().Get(e.ctx, id) },
		"database": func(e *benchEnv, id int) (*ent.User, error) { return e.client.User.Get(e.ctx, id) },
	}
	for _, name := range []string{"cached", "database", "raw-get"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			ids := e.createUsers(benchUsers, benchAges)
			e.warmRows(ids) // warm every key, as a steady state would
			if name == "raw-get" {
				keys := e.rowKeys(ids)
				e.loop(func(i int) {
					if err := e.rawGet(keys[i%len(keys)]); err != nil {
						b.Fatalf("get %s: %v", keys[i%len(keys)], err)
					}
				})
				return
			}
			for _, id := range ids {
				_, err := read[name](e, id)
				require.NoError(b, err)
			}
			e.loop(func(i int) {
				id := ids[i%len(ids)]
				u, err := read[name](e, id)
				if err != nil || u.ID != id {
					b.Fatalf("get %d: %v, %v", id, u, err)
				}
			})
		})
	}
}

func BenchmarkGetByEmail(b *testing.B) {
	read := map[string]func(e *benchEnv, email string) (*ent.User, error){
		"cached": func(e *benchEnv, email string) (*ent.User, error) {
			return e.client.User.Cached().GetByEmail(e.ctx, email)
		},
		"database": func(e *benchEnv, email string) (*ent.User, error) {
			return e.client.User.Query().Where(user.Email(email)).Only(e.ctx)
		},
	}
	for _, name := range []string{"cached", "database"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			e.createUsers(benchUsers, benchAges)
			emails := make([]string, benchUsers)
			for i := range emails {
				emails[i] = fmt.Sprintf("u%d@x.io", i)
				_, err := read[name](e, emails[i]) // warm
				require.NoError(b, err)
			}
			e.loop(func(i int) {
				email := emails[i%len(emails)]
				u, err := read[name](e, email)
				if err != nil || u.Email != email {
					b.Fatalf("get %s: %v, %v", email, u, err)
				}
			})
		})
	}
}

func BenchmarkGetMany100(b *testing.B) {
	const batch = 100
	read := map[string]func(e *benchEnv, ids []int) ([]*ent.User, error){
		"cached": func(e *benchEnv, ids []int) ([]*ent.User, error) {
			return e.client.User.Cached().GetMany(e.ctx, ids...)
		},
		"database": func(e *benchEnv, ids []int) ([]*ent.User, error) {
			return e.client.User.Query().Where(user.IDIn(ids...)).All(e.ctx)
		},
	}
	for _, name := range []string{"cached", "database", "raw-pipeline"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			ids := e.createUsers(benchUsers, benchAges)
			batches := len(ids) / batch
			if name == "raw-pipeline" {
				e.warmRows(ids)
				keys := e.rowKeys(ids)
				e.loop(func(i int) {
					start := (i % batches) * batch
					if err := e.rawPipeline(keys[start : start+batch]); err != nil {
						b.Fatalf("pipeline at %d: %v", start, err)
					}
				})
				return
			}
			for i := range batches { // warm
				_, err := read[name](e, ids[i*batch:(i+1)*batch])
				require.NoError(b, err)
			}
			e.loop(func(i int) {
				start := (i % batches) * batch
				us, err := read[name](e, ids[start:start+batch])
				if err != nil || len(us) != batch {
					b.Fatalf("get many at %d: %d users, %v", start, len(us), err)
				}
			})
		})
	}
}

func BenchmarkListByAge(b *testing.B) {
	read := map[string]func(e *benchEnv, age int) ([]*ent.User, error){
		"cached": func(e *benchEnv, age int) ([]*ent.User, error) {
			return e.client.User.Cached().ListByAge(e.ctx, age)
		},
		"database": func(e *benchEnv, age int) ([]*ent.User, error) {
			return e.client.User.Query().Where(user.Age(age)).Order(user.ByID()).All(e.ctx)
		},
	}
	for _, name := range []string{"cached", "database"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			e.createUsers(benchUsers, benchAges)
			for age := range benchAges {
				_, err := read[name](e, age)
				require.NoError(b, err)
			}
			e.loop(func(i int) {
				age := i % benchAges
				us, err := read[name](e, age)
				if err != nil || len(us) != benchUsers/benchAges {
					b.Fatalf("list age %d: %d users, %v", age, len(us), err)
				}
			})
		})
	}
}

// writeVariants are the clients the write benchmarks compare.
var writeVariants = []struct {
	name   string
	cached bool
}{{"with-cache", true}, {"without-cache", false}}

func BenchmarkUpdateOne(b *testing.B) {
	for _, v := range writeVariants {
		b.Run(v.name, func(b *testing.B) {
			e := newBenchEnv(b, v.cached)
			ids := e.createUsers(benchUsers, benchAges)
			// Warm the rows and the age lists the updates move them out of.
			e.warmRows(ids)
			for age := range benchAges {
				_, err := e.client.User.Cached().ListByAge(e.ctx, age)
				require.NoError(b, err)
			}
			e.loop(func(i int) {
				// A new age each time: the row and its age lists change.
				id := ids[i%len(ids)]
				if err := e.client.User.UpdateOneID(id).SetAge(benchAges + i).Exec(e.ctx); err != nil {
					b.Fatalf("update %d: %v", id, err)
				}
			})
		})
	}
}

func BenchmarkCreate(b *testing.B) {
	for _, v := range writeVariants {
		b.Run(v.name, func(b *testing.B) {
			e := newBenchEnv(b, v.cached)
			e.loop(func(i int) {
				if err := newUser(e.client, i, i%benchAges).Exec(e.ctx); err != nil {
					b.Fatalf("create %d: %v", i, err)
				}
			})
		})
	}
}

// BenchmarkBulkUpdate updates 10,000 cached rows in one statement
// (Update().Where(...)): each operation moves them all to a new age list.
// Run it with a small -benchtime (5x): one operation writes 10,000 rows.
func BenchmarkBulkUpdate(b *testing.B) {
	const rows = 10000
	for _, v := range writeVariants {
		b.Run(v.name, func(b *testing.B) {
			e := newBenchEnv(b, v.cached)
			ids := e.createUsers(rows, 1)
			e.warmRows(ids)
			e.loop(func(i int) {
				n, err := e.client.User.Update().Where(user.AgeGTE(0)).SetAge(1 + i).Save(e.ctx)
				if err != nil || n != rows {
					b.Fatalf("bulk update: %d rows, %v", n, err)
				}
			})
		})
	}
}

// The paired benchmarks compare a cached read with the raw Redis commands
// that read the same keys, on one database, one Redis and one set of keys,
// in alternating short rounds (the order flipped every round), so that the
// noise of a shared machine falls on both sides alike. They report each
// side's time per operation (for several goroutines: wall time over all
// operations, the inverse of throughput), their ratio, and the median of
// the rounds' ratios, which a burst of load on the machine moves least.
// bench/run prints them.

// pairRound is how many operations each goroutine runs per side and round.
const pairRound = 20

// pair runs sides[0] and sides[1] in alternating rounds of pairRound
// operations on each of goroutines goroutines, and reports their times.
// An operation is given a number that runs through the keys.
func (e *benchEnv) pair(goroutines int, sides [2]func(i int) error) {
	e.b.Helper()
	var total [2]time.Duration
	var ops [2]int
	var ratios []float64 // of each round: a burst of load on the machine falls on both its sides
	var failed sync.Once
	fail := func(err error) { failed.Do(func() { e.b.Error(err) }) }
	round := 0
	for e.b.Loop() {
		var took [2]time.Duration
		for k := range 2 {
			side := (k + round) % 2
			start := time.Now()
			if goroutines == 1 {
				for j := range pairRound {
					if err := sides[side](round*pairRound + j); err != nil {
						fail(err)
					}
				}
			} else {
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						for j := range pairRound {
							if err := sides[side]((round*goroutines+g)*pairRound + j); err != nil {
								fail(err)
							}
						}
					})
				}
				wg.Wait()
			}
			took[side] = time.Since(start)
			total[side] += took[side]
			ops[side] += pairRound * goroutines
		}
		ratios = append(ratios, float64(took[0])/float64(took[1]))
		round++
	}
	slices.Sort(ratios)
	ns := func(side int) float64 { return float64(total[side].Nanoseconds()) / float64(ops[side]) }
	e.b.ReportMetric(0, "ns/op") // an iteration is a round: its time says nothing
	e.b.ReportMetric(ns(0), "cached-ns/op")
	e.b.ReportMetric(ns(1), "raw-ns/op")
	e.b.ReportMetric(ns(0)/ns(1), "time-ratio")
	e.b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
}

// BenchmarkPairedGet compares Cached().Get with a raw GET of the same key,
// from 1 to 64 goroutines.
func BenchmarkPairedGet(b *testing.B) {
	e := newBenchEnv(b, true)
	ids := e.createUsers(benchUsers, benchAges)
	e.warmRows(ids)
	keys := e.rowKeys(ids)
	for _, goroutines := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines-%d", goroutines), func(b *testing.B) {
			e.b = b
			e.pair(goroutines, [2]func(int) error{
				func(i int) error {
					id := ids[i%len(ids)]
					u, err := e.client.User.Cached().Get(e.ctx, id)
					if err == nil && u.ID != id {
						err = fmt.Errorf("get %d: got user %d", id, u.ID)
					}
					return err
				},
				func(i int) error { return e.rawGet(keys[i%len(keys)]) },
			})
		})
	}
}

// BenchmarkPairedGetMany100 compares GetMany of 100 ids with one raw
// pipeline of 100 GETs of the same keys.
func BenchmarkPairedGetMany100(b *testing.B) {
	const batch = 100
	e := newBenchEnv(b, true)
	ids := e.createUsers(benchUsers, benchAges)
	e.warmRows(ids)
	keys := e.rowKeys(ids)
	batches := len(ids) / batch
	e.pair(1, [2]func(int) error{
		func(i int) error {
			start := (i % batches) * batch
			us, err := e.client.User.Cached().GetMany(e.ctx, ids[start:start+batch]...)
			if err == nil && len(us) != batch {
				err = fmt.Errorf("get many at %d: %d users", start, len(us))
			}
			return err
		},
		func(i int) error {
			start := (i % batches) * batch
			return e.rawPipeline(keys[start : start+batch])
		},
	})
}

// BenchmarkPairedGetByEmail compares GetByEmail with a raw GET of the row
// key of the user it finds: the floor of any lookup that returns the row.
func BenchmarkPairedGetByEmail(b *testing.B) {
	e := newBenchEnv(b, true)
	ids := e.createUsers(benchUsers, benchAges)
	emails := make([]string, len(ids))
	for i := range emails {
		emails[i] = fmt.Sprintf("u%d@x.io", i)
		_, err := e.client.User.Cached().GetByEmail(e.ctx, emails[i]) // warm
		require.NoError(b, err)
	}
	keys := e.rowKeys(ids)
	e.pair(1, [2]func(int) error{
		func(i int) error {
			email := emails[i%len(emails)]
			u, err := e.client.User.Cached().GetByEmail(e.ctx, email)
			if err == nil && u.Email != email {
				err = fmt.Errorf("get by email %s: got %s", email, u.Email)
			}
			return err
		},
		func(i int) error { return e.rawGet(keys[i%len(keys)]) },
	})
}

// BenchmarkWritePairs compares writes through the cached client with the
// same writes through a client without the cache on the same pool, in
// alternating rounds (pair): UpdateOne moving a cached row to another age
// list, and Create. Each side writes rows of its own, so the cached side's
// rows stay cached. BulkUpdate is Update() of 10,000 rows, one per side and
// iteration: run it with a small -benchtime (3x). bench/run runs them in a
// stage of their own.
func BenchmarkWritePairs(b *testing.B) {
	b.Run("UpdateOne", func(b *testing.B) {
		e := newBenchEnv(b, true)
		ids := e.createUsers(2*benchUsers, benchAges)
		mine, theirs := ids[:benchUsers], ids[benchUsers:]
		e.warmRows(mine)
		for age := range benchAges {
			_, err := e.client.User.Cached().ListByAge(e.ctx, age)
			require.NoError(b, err)
		}
		e.pair(1, [2]func(int) error{
			func(i int) error {
				return e.client.User.UpdateOneID(mine[i%len(mine)]).SetAge(benchAges + i).Exec(e.ctx)
			},
			func(i int) error {
				return e.seed.User.UpdateOneID(theirs[i%len(theirs)]).SetAge(benchAges + i).Exec(e.ctx)
			},
		})
	})
	b.Run("Create", func(b *testing.B) {
		e := newBenchEnv(b, true)
		e.pair(1, [2]func(int) error{
			func(i int) error { return newUser(e.client, 2*i, i%benchAges).Exec(e.ctx) },
			func(i int) error { return newUser(e.seed, 2*i+1, i%benchAges).Exec(e.ctx) },
		})
	})
	b.Run("BulkUpdate", benchmarkBulkUpdatePair)
}

// benchmarkBulkUpdatePair compares Update() of 10,000 cached rows with the
// same update of 10,000 other rows through a client without the cache, one
// of each per iteration, the order flipped every iteration.
func benchmarkBulkUpdatePair(b *testing.B) {
	const rows = 10000
	e := newBenchEnv(b, true)
	ids := e.createUsers(2*rows, 1)
	split := ids[rows-1]
	e.warmRows(ids[:rows])
	sides := [2]func(i int) error{
		func(i int) error {
			_, err := e.client.User.Update().Where(user.IDLTE(split)).SetAge(2 + i).Save(e.ctx)
			return err
		},
		func(i int) error {
			_, err := e.seed.User.Update().Where(user.IDGT(split)).SetAge(2 + i).Save(e.ctx)
			return err
		},
	}
	var total [2]time.Duration
	var ratios []float64
	round := 0
	for b.Loop() {
		var took [2]time.Duration
		for k := range 2 {
			side := (k + round) % 2
			start := time.Now()
			if err := sides[side](round); err != nil {
				b.Fatal(err)
			}
			took[side] = time.Since(start)
			total[side] += took[side]
		}
		ratios = append(ratios, float64(took[0])/float64(took[1]))
		round++
	}
	slices.Sort(ratios)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total[0].Nanoseconds())/float64(round), "cached-ns/op")
	b.ReportMetric(float64(total[1].Nanoseconds())/float64(round), "raw-ns/op")
	b.ReportMetric(float64(total[0])/float64(total[1]), "time-ratio")
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
}
