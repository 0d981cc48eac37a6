package entcachemodel

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// row is the entity of the fake database below.
type row struct {
	ID  int
	Age int
}

// fakeDB is a database of rows, counting its reads.
type fakeDB struct {
	mu    sync.Mutex
	rows  map[int]row
	reads int
}

func (db *fakeDB) load(_ context.Context, ids []int) ([]*row, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.reads++
	var out []*row
	for _, id := range ids {
		if r, ok := db.rows[id]; ok {
			out = append(out, &r)
		}
	}
	return out, nil
}

func rowSchema(hash string) *Schema[*row, int] {
	return &Schema[*row, int]{
		Type: "Row", Hash: hash,
		ID:        func(r *row) int { return r.ID },
		FormatID:  strconv.Itoa,
		ParseID:   strconv.Atoi,
		CompareID: cmp.Compare[int],
		Encode:    func(e *Encoder, r *row) { e.Int(int64(r.ID)); e.Int(int64(r.Age)) },
		Decode:    func(d *Decoder) *row { return &row{ID: int(d.Int()), Age: int(d.Int())} },
	}
}

// update writes a row through Mutate, as a generated hook does.
func update(t *testing.T, s *Schema[*row, int], c *Cache, db *fakeDB, id, age int) {
	t.Helper()
	_, err := s.Mutate(context.Background(), c, Write[*row, int]{
		Op:     ent.OpUpdateOne,
		IDs:    func(context.Context) ([]int, error) { return []int{id}, nil },
		Reload: db.load,
	}, func(context.Context) (ent.Value, error) {
		db.mu.Lock()
		defer db.mu.Unlock()
		r := row{ID: id, Age: age}
		db.rows[id] = r
		return &r, nil
	})
	require.NoError(t, err)
}

// Two schema versions share Redis, as in a rolling deploy: a write by either
// removes what the other cached, and a version that joins while another is
// alive reads the database until the other knows of it.
func TestVersionsInvalidateEachOther(t *testing.T) {
	m := miniredis.RunT(t)
	const check = 100 * time.Millisecond
	newCache := func() *Cache {
		return New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}), WithVersionCheck(check), WithLease(check))
	}
	db := &fakeDB{rows: map[int]row{1: {ID: 1, Age: 1}}}
	ctx := context.Background()
	oldSchema, newSchema := rowSchema("old"), rowSchema("new")
	oldCache, newCache2 := newCache(), newCache()
	oldReader := oldSchema.Reader(oldCache, nil, db.load, func(*row) {})
	newReader := newSchema.Reader(newCache2, nil, db.load, func(*row) {})

	got, err := oldReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Age)
	reads := db.reads
	_, err = oldReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, reads, db.reads, "the old version serves from its cache")

	// The new version joins while the old one is alive: not trusted yet.
	_, err = newReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.False(t, newSchema.generation(ctx, newCache2).trusted)
	update(t, newSchema, newCache2, db, 1, 2)
	got, err = oldReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age, "the new version's write removed the old version's value")

	time.Sleep(3*check + 50*time.Millisecond)
	assert.True(t, newSchema.generation(ctx, newCache2).trusted, "trusted once the others know it")
	got, err = newReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age)
	update(t, oldSchema, oldCache, db, 1, 3)
	got, err = newReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Age, "the old version's write removed the new version's value")
}

// registryGate blocks the registry script of one client while armed.
type registryGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *registryGate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *registryGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if g.armed.Load() && len(args) > 1 && (args[1] == registerScript.Hash() || strings.Contains(fmt.Sprint(args[1]), "~now")) {
			g.armed.Store(false)
			close(g.entered)
			<-g.release
		}
		return next(ctx, cmd)
	}
}

func (g *registryGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A process whose view of the versions is older than the trust delay waits
// for the refresh another goroutine runs, rather than write with a view
// that misses a version the others already trust.
func TestStaleVersionViewWaitsForTheRefresh(t *testing.T) {
	m := miniredis.RunT(t)
	const check = 100 * time.Millisecond
	ctx := context.Background()
	gate := &registryGate{entered: make(chan struct{}), release: make(chan struct{})}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	rdb.AddHook(gate)
	oldCache := New(rdb, WithVersionCheck(check), WithLease(check))
	newCache := New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}), WithVersionCheck(check), WithLease(check))
	oldSchema, newSchema := rowSchema("old"), rowSchema("new")

	require.Empty(t, oldSchema.generation(ctx, oldCache).others)
	// The old version goes idle; the new one joins and comes to be trusted.
	newSchema.generation(ctx, newCache)
	time.Sleep(3*check + 50*time.Millisecond)
	require.True(t, newSchema.generation(ctx, newCache).trusted)

	gate.armed.Store(true)
	go oldSchema.generation(ctx, oldCache) // refreshes, held at the gate
	<-gate.entered
	seen := make(chan *generation, 1)
	go func() { seen <- oldSchema.generation(ctx, oldCache) }()
	time.Sleep(50 * time.Millisecond) // let it reach the refresh lock
	close(gate.release)
	g := <-seen
	assert.Len(t, g.others, 1, "the old version would write with a view that misses the new one")
}

// While the breaker is open, refreshing the versions does not try Redis:
// an outage costs one timeout, not one per write.
func TestVersionRefreshWaitsForTheBreaker(t *testing.T) {
	const check = 10 * time.Millisecond
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1}),
		WithVersionCheck(check), WithCooldown(time.Hour), WithLogger(slog.New(slog.DiscardHandler)))
	s := rowSchema("v")
	ctx := context.Background()
	require.True(t, s.generation(ctx, c).trusted)
	m.Close()
	for range 5 {
		time.Sleep(2 * check)
		s.generation(ctx, c)
	}
	assert.Equal(t, uint64(1), c.Stats().Errors, "only the first refresh tried Redis")
}

// During a rolling deploy, a process of one version that dies between its
// commit and its publish leaves the other version's cached value for at
// most one lease too: its marks cover every live version's keys.
func TestCrashDuringADeployIsBoundedByTheLease(t *testing.T) {
	m := miniredis.RunT(t)
	const check, leaseDur = 50 * time.Millisecond, 200 * time.Millisecond
	newCache := func() *Cache {
		return New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}),
			WithVersionCheck(check), WithLease(leaseDur))
	}
	db := &fakeDB{rows: map[int]row{1: {ID: 1, Age: 1}}}
	ctx := context.Background()
	oldSchema, newSchema := rowSchema("old"), rowSchema("new")
	oldCache, newCache2 := newCache(), newCache()
	oldReader := oldSchema.Reader(oldCache, nil, db.load, func(*row) {})
	_, err := oldReader.Get(ctx, 1)
	require.NoError(t, err)
	require.Len(t, newSchema.generation(ctx, newCache2).others, 1)

	assert.Panics(t, func() {
		_, _ = newSchema.Mutate(ctx, newCache2, Write[*row, int]{
			Op:     ent.OpUpdateOne,
			IDs:    func(context.Context) ([]int, error) { return []int{1}, nil },
			Reload: db.load,
		}, func(context.Context) (ent.Value, error) {
			db.mu.Lock()
			db.rows[1] = row{ID: 1, Age: 2}
			db.mu.Unlock()
			panic("the process dies after its commit")
		})
	})
	time.Sleep(leaseDur + 50*time.Millisecond)
	m.FastForward(leaseDur + 50*time.Millisecond)
	got, err := oldReader.Get(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age, "the old version still serves the row from before the write")
}

// A type first used while the breaker is open gets a guessed view of the
// versions; it is replaced as soon as Redis may be used again, not a
// cooldown later.
func TestGuessedVersionViewEndsWithTheOutage(t *testing.T) {
	m := miniredis.RunT(t)
	newCache := func() *Cache {
		return New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}), WithCooldown(time.Hour))
	}
	ctx := context.Background()
	oldSchema, newSchema := rowSchema("old"), rowSchema("new")
	oldSchema.generation(ctx, newCache())

	c := newCache()
	c.openTill.Store(time.Now().Add(time.Hour).UnixNano()) // Redis failed a moment ago
	g := newSchema.generation(ctx, c)
	assert.True(t, g.guessed)
	assert.False(t, g.trusted)
	assert.Empty(t, g.others)

	c.openTill.Store(0) // the breaker closes
	g = newSchema.generation(ctx, c)
	assert.False(t, g.guessed)
	assert.Len(t, g.others, 1, "the other version is known before this process writes again")
}

// TestLivenessRuleIsOneRule: the registry's scripts (luaLive) and the Go
// side (processLive, used by the admin's report) count a process live for
// exactly the same times, at and around the boundary.
func TestLivenessRuleIsOneRule(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	ctx := context.Background()
	script := redis.NewScript(luaLive + `
if live(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])) then return 1 end
return 0`)
	for _, period := range []int64{1, 300, 5000, 65000} {
		boundary := 3*period + 1000
		for _, age := range []int64{0, boundary - 1, boundary, boundary + 1, 10 * boundary} {
			seen := int64(1_700_000_000_000)
			got, err := script.Run(ctx, rdb, nil, period, seen, seen+age).Int()
			require.NoError(t, err)
			assert.Equal(t, processLive(period, seen, seen+age), got == 1, "period %d, age %d", period, age)
		}
		assert.True(t, processLive(period, 0, boundary), "live at the boundary")
		assert.False(t, processLive(period, 0, boundary+1), "gone past it")
	}
}
