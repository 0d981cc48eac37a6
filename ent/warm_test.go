package ent_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// behind returns a client of the test's database that writes without
// publishing: an application before it adopts the cache, another program,
// a script.
func (e *env) behind() *ent.Client {
	e.t.Helper()
	drv, err := e.db.Open()
	require.NoError(e.t, err)
	c := ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.Disabled()))
	e.t.Cleanup(func() { c.Close() })
	return c
}

// seedUsers creates n users through c, user i with age i%ages, and returns
// their ids in order.
func (e *env) seedUsers(c *ent.Client, n, ages int) []int {
	e.t.Helper()
	ids := make([]int, 0, n)
	for start := 0; start < n; start += 200 {
		var builders []*ent.UserCreate
		for i := start; i < min(n, start+200); i++ {
			builders = append(builders, c.User.Create().
				SetEmail(fmt.Sprintf("u%d@x.io", i)).
				SetFirstName(fmt.Sprintf("F%d", i)).
				SetLastName(fmt.Sprintf("L%d", i)).
				SetAge(i%ages).
				SetActive(i%3 != 0).
				SetRole([]user.Role{user.RoleAdmin, user.RoleMember}[min(i%5, 1)]))
		}
		users, err := c.User.CreateBulk(builders...).Save(e.ctx)
		require.NoError(e.t, err)
		for _, u := range users {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

// readsHit checks that every cached lookup of the users answers without a
// database query, and as the database does.
func (e *env) readsHit(ids []int) {
	e.t.Helper()
	users, err := e.client.User.Query().Where(user.IDIn(ids...)).Order(user.ByID()).All(e.ctx)
	require.NoError(e.t, err)
	n := e.queries(func() {
		for _, u := range users {
			got, err := e.client.User.Cached().Get(e.ctx, u.ID)
			require.NoError(e.t, err)
			require.Equal(e.t, u.Fields(), got.Fields())
			got, err = e.client.User.Cached().GetByEmail(e.ctx, u.Email)
			require.NoError(e.t, err)
			require.Equal(e.t, u.ID, got.ID)
			got, err = e.client.User.Cached().GetByFirstNameLastName(e.ctx, u.FirstName, u.LastName)
			require.NoError(e.t, err)
			require.Equal(e.t, u.ID, got.ID)
			_, err = e.client.User.Cached().ListByAge(e.ctx, u.Age)
			require.NoError(e.t, err)
			_, err = e.client.User.Cached().ListByRoleActive(e.ctx, u.Role, u.Active)
			require.NoError(e.t, err)
		}
	})
	require.Zero(e.t, n, "every lookup of the warmed rows is served from the cache")
	e.requireConsistent(ids...)
}

func TestWarmFillsRowsEntriesAndLists(t *testing.T) {
	e := newEnv(t)
	const n, ages = 250, 7
	ids := e.seedUsers(e.behind(), n, ages)
	var progress []entcachemodel.Progress
	rep, err := e.client.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(40),
		entcachemodel.OnProgress(func(p entcachemodel.Progress) { progress = append(progress, p) }))
	require.NoError(t, err)
	assert.Equal(t, "User", rep.Type)
	assert.Equal(t, n, rep.Rows)
	assert.Equal(t, n, rep.Published)
	assert.Zero(t, rep.Skipped)
	assert.Zero(t, rep.Cached)
	assert.Equal(t, 2*n, rep.Entries, "an email and a name entry per row")
	assert.Equal(t, ages+4, rep.Lists, "a list per age, and per role and active flag")
	assert.Equal(t, fmt.Sprint(ids[n-1]), rep.Cursor)
	require.Len(t, progress, (n+39)/40, "a progress report after every page")
	for i, p := range progress {
		assert.Equal(t, n, p.Total)
		assert.Equal(t, min(n, 40*(i+1)), p.Done)
		assert.Equal(t, fmt.Sprint(ids[min(n, 40*(i+1))-1]), p.Cursor)
	}
	e.readsHit(ids)

	// A second run finds every row cached and changes nothing.
	rep, err = e.client.User.Cached().Warm(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, n, rep.Rows)
	assert.Equal(t, n, rep.Cached)
	assert.Zero(t, rep.Published)
	assert.Zero(t, rep.Lists)
	assert.Zero(t, rep.Entries)
}

func TestWarmResumesAfterCancel(t *testing.T) {
	e := newEnv(t)
	ids := e.seedUsers(e.behind(), 100, 5)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	pages := 0
	rep, err := e.client.User.Cached().Warm(ctx, entcachemodel.BatchSize(30), entcachemodel.OnProgress(func(entcachemodel.Progress) {
		if pages++; pages == 2 {
			cancel()
		}
	}))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 60, rep.Rows)
	assert.Equal(t, 60, rep.Published)
	assert.Equal(t, fmt.Sprint(ids[59]), rep.Cursor, "the cursor is the last row of the last page done")

	var first *entcachemodel.Progress
	rest, err := e.client.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(30), entcachemodel.StartAfter(rep.Cursor),
		entcachemodel.OnProgress(func(p entcachemodel.Progress) {
			if first == nil {
				first = &p
			}
		}))
	require.NoError(t, err)
	assert.Equal(t, 40, rest.Rows, "the run goes on after the cursor")
	assert.Equal(t, 40, rest.Published)
	assert.Zero(t, rest.Cached, "rows before the cursor are not read again")
	require.NotNil(t, first)
	assert.Equal(t, 30, first.Done, "Done counts the rows of this run")
	assert.Equal(t, 100, first.Total)
	e.readsHit(ids)

	_, err = e.client.User.Cached().Warm(e.ctx, entcachemodel.StartAfter("not-an-id"))
	assert.ErrorContains(t, err, `StartAfter("not-an-id") is not an id`)
}

func TestWarmStopsAtARedisOutage(t *testing.T) {
	e := newEnv(t)
	ids := e.seedUsers(e.behind(), 90, 5)
	rdb := e.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	faults, count := &testenv.Faults{}, &trips{}
	rdb.AddHook(count)
	rdb.AddHook(faults)
	_, _, client := e.process(rdb, entcachemodel.WithLease(100*time.Millisecond))
	tried := 0
	rep, err := client.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(30), entcachemodel.OnProgress(func(p entcachemodel.Progress) {
		if p.Done == 30 {
			faults.Down.Store(true)
			tried = count.n.get()
		}
	}))
	require.ErrorIs(t, err, testenv.ErrInjected)
	// The stores of the page read before the fault, the next page's first
	// round trip, and the check of the servers that a new connection
	// calls for: the run ends at its first failures.
	assert.LessOrEqual(t, count.n.get()-tried, 3, "the run ends at the first failed round trips")
	assert.Equal(t, 30, rep.Rows)
	assert.Equal(t, fmt.Sprint(ids[29]), rep.Cursor)
	assert.ErrorContains(t, err, fmt.Sprintf("after %q", rep.Cursor), "the error names the cursor")

	// The leases of the page read before the fault, which its stores could
	// not end, run out (they would make a run that resumes at once skip
	// those rows, as held by another reader).
	faults.Down.Store(false)
	e.redis.Advance(200 * time.Millisecond)
	rest, err := client.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(30), entcachemodel.StartAfter(rep.Cursor))
	require.NoError(t, err)
	assert.Equal(t, 60, rest.Rows)
	e.readsHit(ids)
}

func TestWarmRoundTripsPerPage(t *testing.T) {
	const n, batch = 4000, 1000
	// The embedded server runs a script in about a millisecond: a long
	// timeout lets a pipeline hold a whole page there too.
	e := newEnv(t, entcachemodel.WithTimeout(time.Minute))
	ids := e.seedUsers(e.behind(), n, 50)
	rdb := e.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	count := &trips{}
	rdb.AddHook(count)
	_, _, client := e.process(rdb, entcachemodel.WithTimeout(time.Minute), entcachemodel.WithVersionCheck(time.Hour))
	var at []int // round trips at each progress report
	rep, err := client.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(batch), entcachemodel.OnProgress(func(entcachemodel.Progress) {
		at = append(at, count.n.get())
	}))
	require.NoError(t, err)
	require.Equal(t, n, rep.Published)
	require.Len(t, at, n/batch)
	t.Logf("round trips: %d in all for %d rows; at each page's end: %v", count.n.get(), n, at)
	// The first page also loads the scripts, registers the schema version
	// and grows the pipelines to a page's size; a new connection has the
	// servers checked once (see failover.go).
	pages := len(at) - 1
	assert.LessOrEqual(t, at[pages]-at[0], 3*pages,
		"round trips of the pages after the first: 1,000 rows each, with two unique entries and two lists a row")
	e.readsHit(ids[:100])
}

func TestWarmPublishesNothingWhileUntrusted(t *testing.T) {
	e := newEnv(t)
	ids := e.seedUsers(e.behind(), 20, 5)
	// Another version of User is live, as during a rolling deploy: this
	// one joins now, and is not trusted for two version checks.
	other := &entcachemodel.Schema[*ent.User, int]{
		Type: "User", Hash: "0123456789ab", // another row encoding
		ID:        func(u *ent.User) int { return u.ID },
		FormatID:  strconv.Itoa,
		ParseID:   strconv.Atoi,
		CompareID: cmp.Compare[int],
		Encode:    func(e *entcachemodel.Encoder, u *ent.User) { e.String(strconv.Itoa(u.ID)) },
		Decode:    func(d *entcachemodel.Decoder) *ent.User { return nil },
	}
	otherCache := entcachemodel.New(e.redis.NewClient(), entcachemodel.WithPrefix(e.redis.Prefix), entcachemodel.WithVersionCheck(time.Hour))
	_, err := other.Reader(otherCache, nil, func(context.Context, []int) ([]*ent.User, error) { return nil, nil }, func(*ent.User) {}).GetMany(e.ctx, ids[0])
	require.NoError(t, err) // the other version registers
	rdb := e.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	_, _, client := e.process(rdb, entcachemodel.WithVersionCheck(time.Hour))
	rep, err := client.User.Cached().Warm(e.ctx)
	require.ErrorIs(t, err, entcachemodel.ErrUntrusted)
	assert.True(t, rep.Untrusted)
	assert.Zero(t, rep.Published)
	keys, err := e.redis.Keys(e.ctx, fmt.Sprintf("{%s:User:*:r:*", entcachemodel.KeyPart(e.redis.Prefix)))
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing is published")
	vr, err := client.User.Cached().Verify(e.ctx)
	require.NoError(t, err, "Verify still compares")
	assert.True(t, vr.Untrusted)
	assert.Equal(t, len(ids), vr.Checked)
}

func TestWarmWithoutACache(t *testing.T) {
	e := newEnv(t)
	_, err := e.behind().User.Cached().Warm(e.ctx)
	assert.ErrorIs(t, err, entcachemodel.ErrNoCache)
	_, err = e.behind().User.Cached().Verify(e.ctx)
	assert.ErrorIs(t, err, entcachemodel.ErrNoCache)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.User.Cached().Warm(e.ctx)
	assert.ErrorIs(t, err, entcachemodel.ErrNoCache, "a transaction's client reads the database only")
}

// TestWarmWhileTheApplicationWrites runs Warm, with its reads slowed down,
// while writers update, delete and create rows through the cache: no value
// Warm stores may be older than a write, and every list it stores must be
// complete.
func TestWarmWhileTheApplicationWrites(t *testing.T) {
	e := newEnv(t)
	const ages = 6
	pool := e.seedUsers(e.behind(), 300, ages)
	var mu sync.Mutex
	all := append([]int(nil), pool...)
	// Warm runs in another process (its own cache), on the same pool (on
	// sqlite, connections of two pools lock each other out), whose reads
	// take a while.
	rdb := e.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	warmer := ent.NewClient(ent.Driver(e.drv), ent.CacheModel(entcachemodel.New(rdb, entcachemodel.WithPrefix(e.redis.Prefix))))
	e.drv.After = func(ctx context.Context, query string) {
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
	}
	stop := make(chan struct{})
	var cursor atomic.Int64 // the last id of the last page Warm did
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Mostly rows of the page Warm works on.
				mu.Lock()
				id := all[r.IntN(len(all))]
				if next := int(cursor.Load()) + 1 + r.IntN(25); r.IntN(5) > 0 && next <= pool[len(pool)-1] {
					id = next
				}
				mu.Unlock()
				var err error
				switch op := r.IntN(10); {
				case op < 4:
					err = e.client.User.UpdateOneID(id).SetAge(r.IntN(ages)).Exec(e.ctx)
				case op < 6:
					err = e.client.User.UpdateOneID(id).SetEmail(fmt.Sprintf("w%d-%d@x.io", w, i)).Exec(e.ctx)
				case op < 7:
					err = e.client.User.UpdateOneID(id).SetFirstName(fmt.Sprintf("W%d-%d", w, i)).SetActive(r.IntN(2) == 0).Exec(e.ctx)
				case op < 8:
					err = e.client.User.DeleteOneID(id).Exec(e.ctx)
				default:
					var u *ent.User
					u, err = e.client.User.Create().SetEmail(fmt.Sprintf("c%d-%d@x.io", w, i)).
						SetFirstName(fmt.Sprintf("C%d-%d", w, i)).SetAge(r.IntN(ages)).Save(e.ctx)
					if err == nil {
						mu.Lock()
						all = append(all, u.ID)
						mu.Unlock()
					}
				}
				if err != nil && !ent.IsNotFound(err) {
					t.Errorf("write: %v", err)
					return
				}
				writes.Add(1)
			}
		})
	}
	rep, err := warmer.User.Cached().Warm(e.ctx, entcachemodel.BatchSize(25), entcachemodel.OnProgress(func(p entcachemodel.Progress) {
		id, _ := strconv.Atoi(p.Cursor)
		cursor.Store(int64(id))
	}))
	close(stop)
	wg.Wait()
	e.drv.After = nil
	require.NoError(t, err)
	t.Logf("warm: %+v, %d writes meanwhile", rep, writes.Load())
	require.Positive(t, writes.Load())
	assert.Positive(t, rep.Published)
	e.requireConsistent(all...)
	vr, err := e.client.User.Cached().Verify(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, vr.Stale+vr.Orphans+vr.BadIndex, "%+v", vr.Divergences)
}
