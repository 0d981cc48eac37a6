package ent_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// A reader that read the row before a write must not store it afterwards.
func TestFillNeverOverwritesNewerPublish(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("race@x.io", 1)
	e.flushKeys()

	// The reader pauses after its database read, just before storing it.
	read, release := make(chan struct{}), make(chan struct{})
	pause := &pauseScript{mode: "fill", reached: read, release: release}
	rdb := e.redis.NewClient()
	rdb.AddHook(pause)
	_, _, reader := e.process(rdb)
	done := make(chan *ent.User)
	go func() {
		got, err := reader.User.Cached().Get(e.ctx, u.ID)
		assert.NoError(t, err)
		done <- got
	}()
	<-read // the reader holds the old row and has not stored it yet
	_, err := e.client.User.UpdateOne(u).SetAge(2).Save(e.ctx)
	require.NoError(t, err)
	close(release)
	stale := <-done
	assert.Equal(t, 1, stale.Age, "the reader answers what it read")

	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age, "the late fill was refused")
	e.requireConsistent(u.ID)
}

// pauseScript is a go-redis hook that holds the first pipeline storing a
// value in the given mode ("fill" or "publish") until release is closed.
type pauseScript struct {
	mode             string
	once             sync.Once
	reached, release chan struct{}
}

func (p *pauseScript) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pauseScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pauseScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if args := c.Args(); len(args) > 0 && args[len(args)-1] == p.mode {
				p.once.Do(func() { close(p.reached); <-p.release })
			}
		}
		return next(ctx, cmds)
	}
}

// Two writers of one row whose publishes arrive in the wrong order: the
// first to commit publishes last.
func TestOutOfOrderPublishesConverge(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("order@x.io", 1)
	reached, release := make(chan struct{}), make(chan struct{})
	rdb := e.redis.NewClient()
	rdb.AddHook(&pauseScript{mode: "publish", reached: reached, release: release})
	_, _, slow := e.process(rdb)

	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := slow.User.UpdateOneID(u.ID).SetAge(10).Save(e.ctx)
		assert.NoError(t, err)
	}()
	<-reached // committed age 10, publish held back
	_, err := e.client.User.UpdateOneID(u.ID).SetAge(20).Save(e.ctx)
	require.NoError(t, err)
	close(release)
	<-done

	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 20, got.Age, "the late publish of the older write was refused")
	e.requireConsistent(u.ID)
}

// A process that dies between its commit and its publish leaves the old
// value for at most one lease: after an update, and after an upsert that
// updates an existing row (whose id ent only learns from the write).
func TestCrashAfterCommitIsBoundedByTheLease(t *testing.T) {
	writes := map[string]func(*ent.Client, *ent.User) error{
		"update": func(c *ent.Client, u *ent.User) error {
			return c.User.UpdateOneID(u.ID).SetAge(2).Exec(context.Background())
		},
		"upsert": func(c *ent.Client, u *ent.User) error {
			return c.User.Create().SetEmail(u.Email).SetFirstName("x").SetLastName("y").SetAge(2).
				OnConflictColumns(user.FieldEmail).UpdateAge().Exec(context.Background())
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			const leaseTime = 300 * time.Millisecond
			e := newEnv(t, entcachemodel.WithLease(leaseTime))
			u := e.createUser("crash@x.io", 1)

			faults := &testenv.Faults{}
			dying := e.redis.NewClient()
			dying.AddHook(faults)
			_, _, crashing := e.process(dying, entcachemodel.WithLease(leaseTime))
			crashing.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					v, err := next.Mutate(ctx, m)
					faults.Down.Store(true) // the process is gone: nothing it sends arrives
					return v, err
				})
			})
			require.NoError(t, write(crashing, u))

			got, err := e.client.User.Cached().Get(e.ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, 1, got.Age, "within the lease the old value may be served")
			e.redis.Advance(leaseTime + 100*time.Millisecond)
			got, err = e.client.User.Cached().Get(e.ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, 2, got.Age, "after the lease the next read refills")
			e.requireConsistent(u.ID)
		})
	}
}

// A crash between commit and publish is bounded by the lease for lists too,
// when the update does not name the list it moves a row into: AddAge, or
// setting one field of a composite list.
func TestCrashAfterCommitIsBoundedByTheLeaseForLists(t *testing.T) {
	cases := map[string]struct {
		write func(*ent.Client, *ent.User) error
		list  func(*ent.Client) ([]*ent.User, error)
	}{
		"add": {
			write: func(c *ent.Client, u *ent.User) error {
				return c.User.UpdateOneID(u.ID).AddAge(1).Exec(context.Background())
			},
			list: func(c *ent.Client) ([]*ent.User, error) { return c.User.Cached().ListByAge(context.Background(), 2) },
		},
		"part of a composite": {
			write: func(c *ent.Client, u *ent.User) error {
				return c.User.UpdateOneID(u.ID).SetRole(user.RoleAdmin).Exec(context.Background())
			},
			list: func(c *ent.Client) ([]*ent.User, error) {
				return c.User.Cached().ListByRoleActive(context.Background(), user.RoleAdmin, true)
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			const leaseTime = 300 * time.Millisecond
			e := newEnv(t, entcachemodel.WithLease(leaseTime))
			u := e.createUser("mover@x.io", 1)
			other, err := e.client.User.Create().SetEmail("there@x.io").SetAge(2).SetRole(user.RoleAdmin).Save(e.ctx)
			require.NoError(t, err)
			before, err := tc.list(e.client) // the list is cached, without u
			require.NoError(t, err)
			require.Equal(t, []int{other.ID}, userIDs(before))

			faults := &testenv.Faults{}
			dying := e.redis.NewClient()
			dying.AddHook(faults)
			_, _, crashing := e.process(dying, entcachemodel.WithLease(leaseTime))
			crashing.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					v, err := next.Mutate(ctx, m)
					faults.Down.Store(true) // the process is gone: nothing it sends arrives
					return v, err
				})
			})
			require.NoError(t, tc.write(crashing, u))

			e.redis.Advance(leaseTime + 100*time.Millisecond)
			after, err := tc.list(e.client)
			require.NoError(t, err)
			assert.Equal(t, []int{u.ID, other.ID}, userIDs(after), "after the lease the list holds the row it gained")
			e.requireConsistent(u.ID, other.ID)
		})
	}
}

func userIDs(us []*ent.User) []int {
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// A cold hot key read by several processes at once costs at most one
// database query per process.
func TestColdKeyAcrossProcesses(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("herd@x.io", 1)
	e.flushKeys()
	type proc struct {
		drv    *testenv.Counter
		client *ent.Client
	}
	var procs []proc
	for range 4 {
		drv, _, client := e.process(e.redis.NewClient())
		procs = append(procs, proc{drv, client})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, p := range procs {
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := p.client.User.Cached().Get(e.ctx, u.ID)
				assert.NoError(t, err)
				assert.Equal(t, u.ID, got.ID)
			}()
		}
	}
	close(start)
	wg.Wait()
	var total int64
	for _, p := range procs {
		assert.LessOrEqual(t, p.drv.Count(), int64(1), "one query per process at most")
		total += p.drv.Count()
	}
	t.Logf("40 readers in 4 processes: %d database queries", total)
}

// Writes during a Redis outage go through; when Redis is back the cache
// heals without further writes.
func TestRedisOutageHeals(t *testing.T) {
	faults := &testenv.Faults{}
	e := newEnv(t, entcachemodel.WithTimeout(200*time.Millisecond), entcachemodel.WithCooldown(50*time.Millisecond))
	u := e.createUser("outage@x.io", 1)
	rdb := e.redis.NewClient()
	rdb.AddHook(faults)
	_, cache, client := e.process(rdb, entcachemodel.WithTimeout(200*time.Millisecond), entcachemodel.WithCooldown(50*time.Millisecond))
	_, err := client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)

	faults.Down.Store(true)
	_, err = client.User.UpdateOneID(u.ID).SetAge(2).Save(e.ctx)
	require.NoError(t, err, "the database write goes through")
	got, err := client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age, "reads fall back to the database")
	assert.Positive(t, cache.Stats().Pending, "the failed publish waits for repair")

	faults.Down.Store(false)
	require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
	e.requireConsistent(u.ID)
}

// When Redis answers again, a process does not read it before its repairs
// are done: the values it left stale are still there until then.
func TestNoStaleReadBeforeTheRepair(t *testing.T) {
	faults := &testenv.Faults{}
	e := newEnv(t)
	u := e.createUser("repair@x.io", 1)
	rdb := e.redis.NewClient()
	rdb.AddHook(faults)
	_, cache, client := e.process(rdb, entcachemodel.WithCooldown(10*time.Millisecond))
	_, err := client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)

	faults.Down.Store(true)
	require.NoError(t, client.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	require.Positive(t, cache.Stats().Pending)
	// Let the repair's retries back off to their longest wait, then bring
	// Redis back: reads come before the next retry.
	time.Sleep(2 * time.Second)
	faults.Down.Store(false)
	for range 20 {
		got, err := client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, 2, got.Age, "a read served the value the outage left stale")
	}
	require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
	e.requireConsistent(u.ID)
}

// During an outage, writes after the first failure do not wait on Redis at
// all (the breaker is open); their keys are repaired when Redis is back.
func TestOutageBreakerSkipsRedisOnWrites(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("breaker@x.io", 1)
	faults := &testenv.Faults{}
	rdb := e.redis.NewClient()
	rdb.AddHook(faults)
	_, cache, client := e.process(rdb, entcachemodel.WithCooldown(time.Hour))
	_, err := client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)

	faults.Down.Store(true)
	require.NoError(t, client.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	failed := cache.Stats().Errors
	require.Positive(t, failed)
	// Let the repair queue retry meanwhile (it first waits 50 ms): its
	// failures are its own, not the caller's.
	time.Sleep(300 * time.Millisecond)
	for age := 3; age < 8; age++ {
		require.NoError(t, client.User.UpdateOneID(u.ID).SetAge(age).Exec(e.ctx))
		got, err := client.User.Cached().Get(e.ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, age, got.Age)
	}
	// Every attempt would have failed and been counted; the repair queue's
	// own retries are not errors of the caller.
	assert.Equal(t, failed, cache.Stats().Errors, "no write or read tried Redis while the breaker was open")
	faults.Down.Store(false)
	require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
	e.requireConsistent(u.ID)
}

// Many processes writing the same rows at once: once they stop, every
// lookup answers as the database does.
func TestConcurrentWritersConverge(t *testing.T) {
	e := newEnv(t)
	var ids []int
	for i := range 4 {
		ids = append(ids, e.createUser("c"+string(rune('a'+i))+"@x.io", i).ID)
	}
	var clients []*ent.Client
	for range 3 {
		_, _, c := e.process(e.redis.NewClient())
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	var ops atomic.Int64
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := ids[(w+i)%len(ids)]
				var err error
				switch i % 3 {
				case 0:
					err = c.User.UpdateOneID(id).SetAge(i % 3).Exec(e.ctx)
				case 1:
					_, err = c.User.Update().SetNickname("w").AddAge(1).Save(e.ctx)
				case 2:
					_, err = c.User.Cached().Get(e.ctx, id)
				}
				if err != nil && !isBusy(err) {
					assert.NoError(t, err)
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d operations", ops.Load())
	e.requireConsistent(ids...)
}

// isBusy reports a sqlite lock conflict, which concurrent writers may hit.
func isBusy(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "deadlock"))
}

// A row that comes to match a bulk update's predicates between the cache's
// id query and the UPDATE is not written behind the cache's back.
func TestBulkUpdateRacingARowIntoItsPredicate(t *testing.T) {
	e := newEnv(t)
	u1, u2 := e.createUser("in@x.io", 1), e.createUser("out@x.io", 9)
	drv, _, writer := e.process(e.redis.NewClient())
	var once sync.Once
	drv.Before = func(_ context.Context, q string) {
		if strings.HasPrefix(q, "UPDATE") {
			once.Do(func() {
				require.NoError(t, e.client.User.UpdateOneID(u2.ID).SetAge(2).Exec(e.ctx))
			})
		}
	}
	_, err := writer.User.Update().Where(user.AgeLT(5)).SetNickname("bulk").Save(e.ctx)
	require.NoError(t, err)
	e.requireConsistent(u1.ID, u2.ID)
}

// Under REPEATABLE READ (MySQL's default), ent reads the row back from the
// transaction's snapshot, which can predate a write committed meanwhile, or
// a delete. What the transaction publishes is the row read after the commit.
func TestTransactionPublishesTheCommittedRow(t *testing.T) {
	e := newEnv(t)
	if e.db.Dialect == dialect.SQLite {
		t.Skip("sqlite runs one writer at a time: this interleaving needs a server database")
	}
	_, _, other := e.process(e.redis.NewClient())
	changed := e.createUser("changed@x.io", 10)
	deleted := e.createUser("deleted@x.io", 10)
	e.requireConsistent(changed.ID, deleted.ID)

	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	_, err = tx.User.Query().Count(e.ctx) // the snapshot, under REPEATABLE READ
	require.NoError(t, err)
	require.NoError(t, other.User.UpdateOneID(changed.ID).SetScore(5).Exec(e.ctx))
	require.NoError(t, other.User.DeleteOneID(deleted.ID).Exec(e.ctx))
	require.NoError(t, tx.User.UpdateOneID(changed.ID).SetAge(10).Exec(e.ctx))
	if err := tx.User.UpdateOneID(deleted.ID).SetAge(11).Exec(e.ctx); err != nil {
		require.True(t, ent.IsNotFound(err), "%v", err)
	}
	require.NoError(t, tx.Commit())
	got, err := e.client.User.Cached().Get(e.ctx, changed.ID)
	require.NoError(t, err)
	assert.Equal(t, 5.0, got.Score, "the other process's write is kept")
	e.requireConsistent(changed.ID, deleted.ID)
}
