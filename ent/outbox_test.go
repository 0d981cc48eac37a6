package ent_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// outboxRecords counts the outbox table's records. On sqlite a background
// drain may hold the table's lock for a moment: it tries again then.
func (e *env) outboxRecords() int {
	e.t.Helper()
	count := func() (int, error) {
		var rows entsql.Rows
		if err := e.drv.Query(e.ctx, "SELECT COUNT(*) FROM "+entcachemodel.OutboxTable, []any{}, &rows); err != nil {
			return 0, err
		}
		defer rows.Close()
		return entsql.ScanInt(rows)
	}
	n, err := count()
	for try := 0; err != nil && strings.Contains(err.Error(), "locked") && try < 100; try++ {
		time.Sleep(10 * time.Millisecond)
		n, err = count()
	}
	require.NoError(e.t, err)
	return n
}

// drainSoon gives a process a short lease, so that the outbox records it
// sees settle soon.
var drainSoon = entcachemodel.WithLease(300 * time.Millisecond)

// partitioned opens a process that cannot reach Redis at all, and whose
// in-memory repairs therefore never run: as if it died after its writes.
func (e *env) partitioned() (*entcachemodel.Cache, *ent.Client) {
	_, cache, client := e.process(testenv.DeadRedis(),
		entcachemodel.WithTimeout(100*time.Millisecond), entcachemodel.WithLogger(slog.New(slog.DiscardHandler)))
	return cache, client
}

// A process that writes while it cannot reach Redis, and dies before it can
// repair what it left stale, leaves a record in the outbox; another process
// repairs the keys once it drains the outbox.
func TestOutboxRepairsWhenTheWriterDies(t *testing.T) {
	// This process drains the outbox once, at its first read, then not for
	// an hour: it shows the value that stays stale without a drain.
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Hour))
	u := e.createUser("outbox@x.io", 1)
	e.requireConsistent(u.ID)

	cache, client := e.partitioned()
	_, err := client.User.UpdateOneID(u.ID).SetAge(2).SetEmail("moved@x.io").Save(e.ctx)
	require.NoError(t, err, "the database write goes through")
	assert.Equal(t, uint64(1), cache.Stats().OutboxRecords)
	assert.Equal(t, 1, e.outboxRecords(), "the write left its keys in the outbox")

	stale, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, stale.Age, "until the outbox is drained, the cache holds the old row")

	// Another process starts: its reads drain the outbox, once the record
	// has settled (a lease after they first see it).
	_, other, otherClient := e.process(e.redis.NewClient(), drainSoon)
	require.Eventually(t, func() bool {
		got, err := otherClient.User.Cached().Get(e.ctx, u.ID)
		return err == nil && got.Age == 2
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, uint64(1), other.Stats().OutboxRepairs)
	assert.Zero(t, e.outboxRecords(), "drained records are deleted")
	e.requireConsistent(u.ID)
	_, err = e.client.User.Cached().GetByEmail(e.ctx, "outbox@x.io")
	assert.True(t, ent.IsNotFound(err), "the old email no longer finds the row: %v", err)
}

// A process that only writes drains the outbox too: a fleet whose readers
// are elsewhere, or idle, still repairs what a dead writer left stale.
func TestOutboxDrainedByWriters(t *testing.T) {
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Hour))
	u := e.createUser("drained@x.io", 1)
	v := e.createUser("writer@x.io", 1)
	e.requireConsistent(u.ID, v.ID)

	_, dead := e.partitioned()
	require.NoError(t, dead.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	require.Equal(t, 1, e.outboxRecords())

	// A new process keeps writing another row, and reads nothing.
	_, writer, writerClient := e.process(e.redis.NewClient(), drainSoon)
	age := 3
	require.Eventually(t, func() bool {
		age++
		require.NoError(t, writerClient.User.UpdateOneID(v.ID).SetAge(age).Exec(e.ctx))
		return e.outboxRecords() == 0
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, uint64(1), writer.Stats().OutboxRepairs)
	got, err := e.client.User.Cached().Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Age, "the stale value was removed; the read refilled it")
	e.requireConsistent(u.ID, v.ID)
}

// A record is not drained as soon as it is seen: outside a transaction it is
// written before its write, which may still be running. It waits one lease.
func TestOutboxRecordSettlesBeforeItIsDrained(t *testing.T) {
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Hour))
	u := e.createUser("settle@x.io", 1)
	e.requireConsistent(u.ID)
	_, dead := e.partitioned()
	require.NoError(t, dead.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	require.Equal(t, 1, e.outboxRecords())

	_, drainer, client := e.process(e.redis.NewClient(), entcachemodel.WithLease(time.Second), entcachemodel.WithOutboxCheck(10*time.Millisecond))
	read := func() {
		_, err := client.User.Cached().Get(e.ctx, u.ID) // reads drain the outbox when due
		require.NoError(t, err)
	}
	read()
	// For a while (well under the lease), the drains that reads keep
	// starting leave the record alone.
	for range 20 {
		time.Sleep(10 * time.Millisecond)
		read()
	}
	assert.Zero(t, drainer.Stats().OutboxRepairs, "a record was drained before it settled")
	assert.Equal(t, 1, e.outboxRecords())
	require.Eventually(t, func() bool { read(); return e.outboxRecords() == 0 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, uint64(1), drainer.Stats().OutboxRepairs)
	e.requireConsistent(u.ID)
}

// The outbox record is part of the write's transaction: a rollback leaves
// none, a commit leaves one, and the repair covers every write of it.
func TestOutboxRecordIsTransactional(t *testing.T) {
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Hour))
	a := e.createUser("tx-a@x.io", 1)
	b := e.createUser("tx-b@x.io", 1)
	e.requireConsistent(a.ID, b.ID)
	_, client := e.partitioned()

	tx, err := client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(a.ID).SetAge(5).Exec(e.ctx))
	require.NoError(t, tx.Rollback())
	assert.Zero(t, e.outboxRecords(), "a rolled back write leaves no record")

	tx, err = client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(a.ID).SetAge(6).Exec(e.ctx))
	require.NoError(t, tx.User.UpdateOneID(b.ID).SetAge(7).Exec(e.ctx))
	require.NoError(t, tx.Commit())
	assert.Equal(t, 2, e.outboxRecords(), "each write of the committed transaction left a record")

	_, _, otherClient := e.process(e.redis.NewClient(), drainSoon)
	require.Eventually(t, func() bool {
		got, err := otherClient.User.Cached().GetMany(e.ctx, a.ID, b.ID)
		return err == nil && len(got) == 2 && got[0].Age == 6 && got[1].Age == 7
	}, 10*time.Second, 20*time.Millisecond)
	e.requireConsistent(a.ID, b.ID)
}

// Without the outbox table (a database not migrated yet), writes while Redis
// is unreachable still go through, inside transactions too.
func TestOutboxMissingNeverBlocksWrites(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("no-outbox@x.io", 1)
	require.NoError(t, e.drv.Exec(e.ctx, "DROP TABLE "+entcachemodel.OutboxTable, []any{}, nil))
	cache, client := e.partitioned()

	require.NoError(t, client.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	tx, err := client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(u.ID).SetAge(3).Exec(e.ctx))
	require.NoError(t, tx.User.UpdateOneID(u.ID).SetNickname("still usable").Exec(e.ctx), "the failed record did not spoil the transaction")
	require.NoError(t, tx.Commit())
	got, err := e.client.User.Get(e.ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Age)
	assert.Zero(t, cache.Stats().OutboxRecords)
}

// A process that cannot reach Redis from its start (it never read the
// version registry) still records the lists its write moves rows into: the
// drain finds their namespaces in the registry and removes them.
func TestOutboxRecordsListsOfAWriterThatNeverReachedRedis(t *testing.T) {
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Hour))
	u := e.createUser("lists@x.io", 1)
	e.requireConsistent(u.ID)
	before, err := e.client.User.Cached().ListByAge(e.ctx, 2)
	require.NoError(t, err)
	require.Empty(t, before) // cached, without u

	_, dead := e.partitioned()
	require.NoError(t, dead.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	require.Equal(t, 1, e.outboxRecords())

	_, _, other := e.process(e.redis.NewClient(), drainSoon)
	require.Eventually(t, func() bool {
		_, err := other.User.Cached().Get(e.ctx, u.ID)
		return err == nil && e.outboxRecords() == 0
	}, 10*time.Second, 20*time.Millisecond)
	got, err := e.client.User.Cached().ListByAge(e.ctx, 2)
	require.NoError(t, err)
	require.Len(t, got, 1, "ListByAge(2) misses the row the unreachable process moved into it")
	e.requireConsistent(u.ID)
}
