package ent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
)

// The hit path's allocations, counted (testing.AllocsPerRun counts every
// allocation of the process: the tests count the cache's own as those
// beyond a raw GET of the same keys, and the absolute figure on a single
// server. The embedded Redis allocates in the process, unevenly: there
// they only log the counts).

// hitUser creates a user (with a nickname and tags when full, as the
// benchmarks' users otherwise) and returns it cached, with the Redis key
// of its value.
func hitUser(t *testing.T, e *env, i int, full bool) (*ent.User, string) {
	t.Helper()
	c := e.client.User.Create().SetEmail(fmt.Sprintf("hit%d@x.io", i)).
		SetFirstName(fmt.Sprintf("F%d", i)).SetLastName("L").SetAge(40 + i)
	if full {
		c.SetNickname("nick").SetTags([]string{"a", "b", "c"})
	}
	u, err := c.Save(e.ctx)
	require.NoError(t, err)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(u.ID))
	require.NoError(t, err)
	require.Len(t, keys, 1)
	return got, keys[0]
}

// rawGetAllocs counts the allocations of a raw go-redis GET of key.
func rawGetAllocs(t *testing.T, rdb redis.UniversalClient, ctx context.Context, key string) float64 {
	t.Helper()
	return fewestAllocs(200, func() {
		if _, err := rdb.Get(ctx, key).Result(); err != nil {
			t.Fatal(err)
		}
	})
}

type ctxKey struct{}

// allocRounds is how many times fewestAllocs counts.
const allocRounds = 3

// fewestAllocs is testing.AllocsPerRun(runs, f) counted allocRounds times,
// the fewest kept: AllocsPerRun counts the allocations of every goroutine
// of the process, and a background one (a cluster client's slot reload, a
// registry read) now and then adds to one round. An allocation of f itself
// is in every round.
func fewestAllocs(runs int, f func()) float64 {
	fewest := testing.AllocsPerRun(runs, f)
	for range allocRounds - 1 {
		fewest = min(fewest, testing.AllocsPerRun(runs, f))
	}
	return fewest
}

func TestHitAllocations(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		full bool
		// own is the most the cache may allocate beyond the raw GET: the
		// key and the entity, its nickname pointer and tags slice when it
		// has them, and a context of its own when the caller's carries
		// values.
		own float64
	}{
		{"background", context.Background(), false, 2},
		{"values", context.WithValue(context.Background(), ctxKey{}, 1), false, 3},
		{"background, every field", context.Background(), true, 4},
		{"values, every field", context.WithValue(context.Background(), ctxKey{}, 1), true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, key := hitUser(t, e, len(tc.name), tc.full)
			raw := rawGetAllocs(t, e.redis.Client, tc.ctx, key)
			hits := e.cache.Stats().Hits
			got := fewestAllocs(200, func() {
				v, err := e.client.User.Cached().Get(tc.ctx, u.ID)
				if err != nil || v.ID != u.ID {
					t.Fatalf("get %d: %v, %v", u.ID, v, err)
				}
			})
			assert.Equal(t, hits+allocRounds*201, e.cache.Stats().Hits, "every read was a hit")
			t.Logf("Cached().Get: %.0f allocations, a raw GET %.0f", got, raw)
			if e.redis.Mini != nil {
				// The embedded server allocates in this process too, and
				// not the same for every command: no count to assert.
				return
			}
			assert.LessOrEqual(t, got-raw, tc.own, "allocations beyond the raw GET")
			if _, single := e.redis.Client.(*redis.Client); single && e.redis.Mini == nil && !tc.full {
				// On a real server only the client allocates: the target,
				// for the benchmarks' users. (A cluster client's own GET
				// routes the key, for 4 more.)
				assert.LessOrEqual(t, got, 10.0, "allocations of a hit")
			}
		})
	}
}

func TestGetManyAllocations(t *testing.T) {
	e := newEnv(t)
	const n = 100
	var ids []int
	var keys []string
	for i := range n {
		u, k := hitUser(t, e, i, true)
		ids, keys = append(ids, u.ID), append(keys, k)
	}
	raw := fewestAllocs(20, func() {
		pipe := e.redis.Client.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.Get(e.ctx, k)
		}
		if _, err := pipe.Exec(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if _, err := c.Result(); err != nil {
				t.Fatal(err)
			}
		}
	})
	got := fewestAllocs(20, func() {
		us, err := e.client.User.Cached().GetMany(e.ctx, ids...)
		if err != nil || len(us) != n {
			t.Fatalf("get many: %d users, %v", len(us), err)
		}
	})
	t.Logf("GetMany(%d): %.0f allocations, a raw pipeline %.0f", n, got, raw)
	if e.redis.Mini != nil {
		return // the embedded server's allocations count too
	}
	// Per id: the key, the entity, its nickname and its tags; and a few
	// for the call (the slices of keys, values and rows, the map of keys).
	assert.LessOrEqual(t, got-raw, 4*n+15.0, "allocations beyond the raw pipeline")
}

// GetMany answers ids asked twice, missing ids and ids not cached yet in
// the order asked, from one pipeline and one fill.
func TestGetManyDuplicatesAndMisses(t *testing.T) {
	e := newEnv(t)
	a, _ := hitUser(t, e, 1, true)
	b, err := e.client.User.Create().SetEmail("b@x.io").SetFirstName("B").SetLastName("B").Save(e.ctx)
	require.NoError(t, err)
	c, err := e.client.User.Create().SetEmail("c@x.io").SetFirstName("C").SetLastName("C").Save(e.ctx)
	require.NoError(t, err)
	// b and c were published by their creates: drop c's value so that it
	// is read from the database.
	keys, err := e.redis.Keys(e.ctx, e.rowPattern(c.ID))
	require.NoError(t, err)
	for _, k := range keys {
		require.NoError(t, e.redis.Client.Del(e.ctx, k).Err())
	}
	const missing = 1 << 30
	for round := range 2 {
		got, err := e.client.User.Cached().GetMany(e.ctx, a.ID, b.ID, a.ID, missing, c.ID, b.ID, c.ID)
		require.NoError(t, err)
		var ids []int
		for _, u := range got {
			ids = append(ids, u.ID)
			want, err := e.client.User.Get(e.ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, want.Fields(), u.Fields(), "round %d", round)
			// Bound to the client: edge queries work.
			_, err = u.QueryPets().All(e.ctx)
			require.NoError(t, err)
		}
		assert.Equal(t, []int{a.ID, b.ID, a.ID, c.ID, b.ID, c.ID}, ids, "round %d", round)
	}
	n := e.queries(func() {
		_, err := e.client.User.Cached().GetMany(e.ctx, c.ID, a.ID, c.ID)
		require.NoError(t, err)
	})
	assert.Zero(t, n, "c was filled by the first round")
}

// Cached().Get under every kind of context: values, a cancellable one, a
// deadline sooner than the cache's timeout, one already cancelled.
func TestGetContexts(t *testing.T) {
	e := newEnv(t)
	u, _ := hitUser(t, e, 1, false)
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	soon, cancelSoon := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelSoon()
	for name, ctx := range map[string]context.Context{
		"values":      context.WithValue(context.Background(), ctxKey{}, 1),
		"cancellable": cancellable,
		"deadline":    soon,
		"todo":        context.TODO(),
	} {
		hits := e.cache.Stats().Hits
		got, err := e.client.User.Cached().Get(ctx, u.ID)
		require.NoError(t, err, name)
		assert.Equal(t, u.Fields(), got.Fields(), name)
		assert.Equal(t, hits+1, e.cache.Stats().Hits, name)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	_, err := e.client.User.Cached().Get(done, u.ID)
	assert.ErrorIs(t, err, context.Canceled, "a cancelled caller is not answered")
}
