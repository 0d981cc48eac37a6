package ent_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// trips is a go-redis hook that counts round trips (a command alone or a
// pipeline) and can watch the pipelines.
type trips struct {
	n    atomicInt
	pipe func(cmds []redis.Cmder) // after each pipeline, when set
	one  func(cmd redis.Cmder)    // after each command alone, when set
}

type atomicInt struct {
	mu sync.Mutex
	v  int
}

func (a *atomicInt) add() {
	a.mu.Lock()
	a.v++
	a.mu.Unlock()
}

func (a *atomicInt) get() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.v
}

func (h *trips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.add()
		err := next(ctx, cmd)
		if h.one != nil {
			h.one(cmd)
		}
		return err
	}
}

func (h *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.add()
		err := next(ctx, cmds)
		if h.pipe != nil {
			h.pipe(cmds)
		}
		return err
	}
}

// rawSQL runs a statement on the test's database behind every client.
func (e *env) rawSQL(b entsql.Querier) {
	e.t.Helper()
	query, args := b.Query()
	require.NoError(e.t, e.drv.Exec(e.ctx, query, args, nil))
}

// kinds counts the divergences of a report by kind.
func kinds(rep entcachemodel.VerifyReport) map[string]int {
	out := map[string]int{}
	for _, d := range rep.Divergences {
		out[d.Kind]++
	}
	return out
}

func TestVerifyFindsWhatWritesBehindTheCacheDid(t *testing.T) {
	e := newEnv(t)
	ids := e.seedUsers(e.behind(), 40, 4)
	_, err := e.client.User.Cached().Warm(e.ctx)
	require.NoError(t, err)
	rep, err := e.client.User.Cached().Verify(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, entcachemodel.VerifyReport{Type: "User", Checked: 40, Cached: 40, Cursor: fmt.Sprint(ids[39])}, rep,
		"a warmed cache holds what the database holds")

	// A list cached before the writes: the rows that move to it behind the
	// cache are missing from it.
	got, err := e.client.User.Cached().ListByAge(e.ctx, 99)
	require.NoError(t, err)
	require.Empty(t, got)
	u1, u2, u3, u4, u5 := ids[1], ids[2], ids[3], ids[4], ids[5]
	old2, err := e.client.User.Get(e.ctx, u2)
	require.NoError(t, err)
	old5, err := e.client.User.Get(e.ctx, u5)
	require.NoError(t, err)
	d := entsql.Dialect(e.db.Dialect)
	e.rawSQL(d.Update(user.Table).Set(user.FieldAge, 99).Where(entsql.EQ(user.FieldID, u1)))
	e.rawSQL(d.Update(user.Table).Set(user.FieldEmail, "moved@x.io").Where(entsql.EQ(user.FieldID, u2)))
	e.rawSQL(d.Delete(user.Table).Where(entsql.EQ(user.FieldID, u3)))
	require.NoError(t, e.redis.Client.Set(e.ctx, e.rowKey(u4), "garbage", 0).Err())
	require.NoError(t, e.behind().User.UpdateOneID(u5).SetFirstName("Renamed").Exec(e.ctx))

	// What the cache answers wrongly now.
	stale, err := e.client.User.Cached().GetByEmail(e.ctx, old2.Email)
	require.NoError(t, err)
	require.Equal(t, u2, stale.ID)

	for _, repair := range []bool{false, true} {
		var opts []entcachemodel.RunOption
		if repair {
			opts = append(opts, entcachemodel.Repair())
		}
		rep, err = e.client.User.Cached().Verify(e.ctx, opts...)
		require.NoError(t, err)
		assert.Equal(t, 39, rep.Checked)
		assert.Equal(t, 39, rep.Cached)
		assert.Equal(t, 4, rep.Stale, "u1, u2 and u5 changed, u4 corrupt")
		assert.Equal(t, 1, rep.Orphans, "u3 deleted")
		// The list of age 99 lacks u1; the list of u1's old age, the
		// entry of u2's old email and that of u5's old name answer with
		// their stale rows, and u3's two entries and two lists with the
		// deleted row.
		assert.Equal(t, 8, rep.BadIndex)
		assert.Equal(t, map[string]int{"stale": 4, "orphan": 1, "index": 8}, kinds(rep))
		assert.Zero(t, rep.Unsettled)
		if repair {
			assert.Equal(t, 6, rep.Repaired, "four rows, the orphan and the list")
		} else {
			assert.Zero(t, rep.Repaired)
		}
	}
	for _, dv := range rep.Divergences {
		assert.Contains(t, dv.Key, "{"+entcachemodel.KeyPart(e.redis.Prefix)+":User:")
		assert.NotEmpty(t, dv.Cached)
		assert.NotEmpty(t, dv.Database)
	}
	rep, err = e.client.User.Cached().Verify(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Stale+rep.Orphans+rep.BadIndex, "nothing differs after the repair: %+v", rep.Divergences)
	_, err = e.client.User.Cached().GetByEmail(e.ctx, old2.Email)
	assert.True(t, ent.IsNotFound(err), "the old email answers as the database: %v", err)
	_, err = e.client.User.Cached().GetByFirstNameLastName(e.ctx, old5.FirstName, old5.LastName)
	assert.True(t, ent.IsNotFound(err), "the old name answers as the database: %v", err)
	list, err := e.client.User.Cached().ListByAge(e.ctx, 99)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, u1, list[0].ID)
	e.requireConsistent(ids...)
}

func TestVerifyIgnoresAWriteInFlight(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("flight@x.io", 30)
	// A write that has committed and not published yet: its transaction
	// waits in a commit hook that runs inside the cache's.
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(u.ID).SetAge(31).Exec(e.ctx))
	committed, release := make(chan struct{}), make(chan struct{})
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			close(committed)
			<-release
			return err
		})
	})
	done := make(chan error, 1)
	go func() { done <- tx.Commit() }()
	<-committed

	// Another process verifies. Its first look finds the difference; the
	// writer publishes only after Verify has asked three times for a lease
	// on the key to look again, which the write's mark refuses.
	rdb := e.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	var once sync.Once
	var asked atomicInt
	rdb.AddHook(&trips{pipe: func(cmds []redis.Cmder) {
		for _, c := range cmds {
			if strings.EqualFold(c.Name(), "evalsha") {
				if asked.add(); asked.get() == 3 {
					once.Do(func() { close(release) })
				}
				return
			}
		}
	}})
	_, _, other := e.process(rdb)
	rep, err := other.User.Cached().Verify(e.ctx)
	once.Do(func() { close(release) })
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, 1, rep.Cached)
	assert.Zero(t, rep.Stale, "a write in flight is not a divergence: %+v", rep.Divergences)
	assert.Zero(t, rep.Unsettled)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 31, got.Age)
}

func TestVerifyResumesAfterCancel(t *testing.T) {
	e := newEnv(t)
	ids := e.seedUsers(e.behind(), 100, 5)
	_, err := e.client.User.Cached().Warm(e.ctx)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	pages := 0
	rep, err := e.client.User.Cached().Verify(ctx, entcachemodel.BatchSize(30), entcachemodel.OnProgress(func(p entcachemodel.Progress) {
		assert.Equal(t, 100, p.Total)
		if pages++; pages == 2 {
			cancel()
		}
	}))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 60, rep.Checked)
	assert.Equal(t, fmt.Sprint(ids[59]), rep.Cursor)
	rest, err := e.client.User.Cached().Verify(e.ctx, entcachemodel.BatchSize(30), entcachemodel.StartAfter(rep.Cursor))
	require.NoError(t, err)
	assert.Equal(t, 40, rest.Checked)
	assert.Equal(t, 40, rest.Cached)

	// A sample checks about the fraction asked.
	sampled, err := e.client.User.Cached().Verify(e.ctx, entcachemodel.Sample(0.5))
	require.NoError(t, err)
	assert.Greater(t, sampled.Checked, 10)
	assert.Less(t, sampled.Checked, 90)
}
