package ent_test

import (
	"context"
	"fmt"
	"testing"

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
	if cached {
		r, err := testenv.OpenRedis()
		require.NoError(b, err)
		b.Cleanup(r.Close)
		if r.Mini == nil {
			// A real server outlives the benchmark: drop its keys (the
			// cleanups run last registered first, so before r.Close).
			b.Cleanup(func() { dropKeys(b, r) })
		}
		opts = append(opts, ent.CacheModel(entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))))
	}
	client := ent.NewClient(opts...)
	b.Cleanup(func() { client.Close() })
	e := &benchEnv{b: b, ctx: context.Background(), drv: drv, client: client, seed: ent.NewClient(ent.Driver(drv))}
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

func BenchmarkGet(b *testing.B) {
	read := map[string]func(e *benchEnv, id int) (*ent.User, error){
		"cached":   func(e *benchEnv, id int) (*ent.User, error) { return e.client.User.Cached().Get(e.ctx, id) },
		"database": func(e *benchEnv, id int) (*ent.User, error) { return e.client.User.Get(e.ctx, id) },
	}
	for _, name := range []string{"cached", "database"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			ids := e.createUsers(benchUsers, benchAges)
			for _, id := range ids { // warm every key, as a steady state would
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
	for _, name := range []string{"cached", "database"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, true)
			ids := e.createUsers(benchUsers, benchAges)
			batches := len(ids) / batch
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
