package ent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	_ "unsafe" // go:linkname, for the statement notes

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/linkcat"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// cacheStmts is entcachemodel's stmts (bulk.go): the notes of the creates
// whose cache writes are running. Only its length is read, under its lock.
//
//go:linkname cacheStmts github.com/entcachemodel/entcachemodel/entcachemodel.stmts
var cacheStmts struct {
	sync.Mutex
	m map[ent.Mutation]*struct{}
}

// requireNoNotes checks that no statement note is left once every write
// returned.
func requireNoNotes(t *testing.T) {
	t.Helper()
	cacheStmts.Lock()
	n := len(cacheStmts.m)
	cacheStmts.Unlock()
	require.Zero(t, n, "statement notes left after the writes returned")
}

// needsPools skips on sqlite: its test pool has one connection, which an
// open transaction holds, so a statement of the client waits for it.
func needsPools(t *testing.T, e *env, why string) {
	t.Helper()
	if e.db.Dialect == dialect.SQLite {
		t.Skip("sqlite's pool here has one connection, which the transaction holds: " + why)
	}
}

// txEnds are the ways a test's transaction ends (endTx).
var txEnds = []string{"rollback", "commit"}

// endTx ends tx as end says.
func endTx(t *testing.T, tx *ent.Tx, end string) {
	t.Helper()
	if end == "commit" {
		require.NoError(t, tx.Commit())
	} else {
		require.NoError(t, tx.Rollback())
	}
}

// A transaction's bulk of one builder, of the client the transaction was
// opened on: the row is inserted in the transaction, so its write (outside
// it, it thinks) ends with it.
// Also of three such builders, in one list: each write's part joins the
// transaction's, with its own token on the list.
func TestBulkTxOneClientBuilder(t *testing.T) {
	for _, tc := range []struct {
		end string
		n   int
	}{{"rollback", 1}, {"commit", 1}, {"rollback", 3}, {"commit", 3}} {
		end := tc.end
		t.Run(fmt.Sprintf("%s/%d", end, tc.n), func(t *testing.T) {
			e := newEnv(t)
			e.createUser("a@bulk.io", 73)
			e.cacheAges(73)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			us, err := tx.User.CreateBulk(bulkOf(e.client, "o", tc.n, 73)...).Save(e.ctx)
			require.NoError(t, err)
			requireNoNotes(t)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requireAgeConsistent(73)
			_, err = e.client.User.Cached().Get(e.ctx, us[0].ID)
			if end == "commit" {
				require.NoError(t, err)
			} else {
				require.True(t, ent.IsNotFound(err), "rolled back: %v", err)
			}
			requireNoNotes(t)
		})
	}
}

// A write outside a transaction drains the outbox first, on the client's
// pool, when a drain is due. A client builder's write in a transaction's
// bulk takes itself to be outside the transaction, which holds sqlite's
// connection (and its write lock): the drain waits for it, and the
// transaction waits for the drain.
func TestBulkTxClientBuilderWithADrainDue(t *testing.T) {
	e := newEnv(t, entcachemodel.WithOutboxCheck(time.Millisecond))
	e.createUser("a@bulk.io", 73)
	e.cacheAges(73)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond) // a drain is due
	bs := bulkOf(tx.Client(), "d", 2, 73)
	bs[1] = e.client.User.Create().SetEmail("d1@bulk.io").SetFirstName("d1").SetLastName("B").SetAge(73)
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	_, err = tx.User.CreateBulk(bs...).Save(ctx)
	require.NoError(t, err, "the client builder's write waited for the transaction's connection")
	require.NoError(t, tx.Commit())
	e.requireNoWriterTokens()
	e.requireAgeConsistent(73)
	requireNoNotes(t)
}

// A swapping user hook (inside the cache hook) on a client builder of a
// transaction's bulk: ent inserts the swapped mutation, which no note is
// kept for, so the builder's write cannot learn that the row was inserted
// in the transaction. It removes the lists the row joins at once, outside
// the transaction, and a read before the commit fills them again without
// the row: the list must not stay without it after the commit.
func TestBulkTxSwappedClientBuilder(t *testing.T) {
	e := newEnv(t)
	needsPools(t, e, "the read between the bulk and the commit")
	t.Skip("BUG (not fixed): the cached age-73 list misses the swapped row after the commit; BeginBulk is told only the swapped mutation, which no note is kept for, so the builder's write removes the list outside the transaction, before its commit; see the review report")
	e.createUser("a@bulk.io", 73)
	e.createUser("b@bulk.io", 74)
	e.cacheAges(73, 74)
	swapOn(e.client, "s1@bulk.io")
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	bs := bulkOf(tx.Client(), "s", 2, 74)
	bs[1] = e.client.User.Create().SetEmail("s1@bulk.io").SetFirstName("s1").SetLastName("B").SetAge(73)
	_, err = tx.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(t, err)
	requireNoNotes(t)
	e.cacheAges(73) // before the commit: the row is not there yet
	require.NoError(t, tx.Commit())
	e.requireNoWriterTokens()
	e.requireAgeConsistent(74)
	e.requireAgeConsistent(73)
}

// An upsert in a transaction's bulk mixing builders: the client builder's
// row conflicts with a row the transaction changed (its e-mail) or with a
// committed one it did not touch, and the upsert moves it to another age.
// A lookup of its conflicts through the builder's config would run outside
// the transaction (on sqlite, waiting for the connection it holds; on
// PostgreSQL missing the changed row): the rows the insert returns are
// marked after it, before the transaction commits.
func TestBulkTxMixedUpsert(t *testing.T) {
	for _, tc := range []struct{ end, conflict string }{
		{"rollback", "changed"}, {"commit", "changed"}, {"rollback", "committed"}, {"commit", "committed"},
	} {
		end := tc.end
		t.Run(end+"/"+tc.conflict, func(t *testing.T) {
			e := newEnv(t)
			a := e.createUser("a@bulk.io", 72)
			e.createUser("b@bulk.io", 73)
			e.cacheAges(72, 73)
			e.requireConsistent(a.ID)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			email := "a@bulk.io"
			if tc.conflict == "changed" {
				email = "u1@bulk.io"
				require.NoError(t, tx.User.UpdateOneID(a.ID).SetEmail(email).Exec(e.ctx))
			}
			bs := bulkOf(tx.Client(), "u", 2, 73)
			bs[1] = e.client.User.Create().SetEmail(email).SetFirstName("u1").SetLastName("B").SetAge(73)
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			defer cancel()
			err = tx.User.CreateBulk(bs...).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(ctx)
			require.NoError(t, err, "on sqlite: the lookup waited for the transaction's connection")
			requireNoNotes(t)
			if e.db.Dialect != dialect.SQLite {
				e.requireConsistent(a.ID) // not yet committed
			}
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requireConsistent(a.ID)
			e.requireAgeConsistent(72)
			e.requireAgeConsistent(73)
		})
	}
}

// The same upsert, the other way: a client's bulk with a transaction's
// builder, whose row conflicts with a committed one; the insert updates it
// outside the transaction, at once.
func TestBulkClientMixedUpsertTxBuilder(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			needsPools(t, e, "ent's own insert")
			a := e.createUser("v1@bulk.io", 72)
			e.cacheAges(72, 73)
			e.requireConsistent(a.ID)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(e.client, "v", 2, 73)
			bs[1] = tx.User.Create().SetEmail("v1@bulk.io").SetFirstName("v1").SetLastName("B").SetAge(73)
			err = e.client.User.CreateBulk(bs...).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(e.ctx)
			require.NoError(t, err)
			requireNoNotes(t)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requireConsistent(a.ID)
			e.requireAgeConsistent(72)
			e.requireAgeConsistent(73)
		})
	}
}

// A user hook of the transaction's client fails after the insert of a
// mixed bulk: the application may still commit what ran (the rows exist),
// or roll back. The client builder's write ends with the transaction.
func TestBulkTxMixedHookFailsAfterTheInsert(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			e.createUser("a@bulk.io", 73)
			e.cacheAges(73)
			boom := errors.New("boom")
			e.client.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					v, err := next.Mutate(ctx, m)
					if um, ok := m.(*ent.UserMutation); ok && err == nil {
						if email, _ := um.Email(); email == "h0@bulk.io" {
							return nil, boom
						}
					}
					return v, err
				})
			})
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(tx.Client(), "h", 3, 73)
			bs[1] = e.client.User.Create().SetEmail("h1@bulk.io").SetFirstName("h1").SetLastName("B").SetAge(73)
			_, err = tx.User.CreateBulk(bs...).Save(e.ctx)
			require.ErrorIs(t, err, boom)
			requireNoNotes(t)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requireAgeConsistent(73)
			n, err := e.client.User.Query().Where(user.EmailHasPrefix("h")).Count(e.ctx)
			require.NoError(t, err)
			if end == "commit" {
				require.Equal(t, 3, n)
			} else {
				require.Zero(t, n)
			}
		})
	}
}

// A transaction's bulk whose client builder adds an unowned cat (owner
// side, the cat's owner_id changes): the cat and the owners' lists follow
// the transaction's end.
func TestBulkTxClientBuilderMovesACat(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			c := e.client
			o1 := must(c.LinkOwner.Create().SetName("o1").Save(e.ctx))
			cat := must(c.LinkCat.Create().SetName("cat").Save(e.ctx))
			e.cat(cat.ID)
			e.catsOf(o1.ID)
			tx, err := c.Tx(e.ctx)
			require.NoError(t, err)
			os, err := tx.LinkOwner.CreateBulk(
				tx.LinkOwner.Create().SetName("t0"),
				c.LinkOwner.Create().SetName("c1").AddCatIDs(cat.ID),
			).Save(e.ctx)
			require.NoError(t, err)
			requireNoNotes(t)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.cat(cat.ID)
			e.catsOf(o1.ID, os[1].ID)
			got := must(c.LinkCat.Query().Where(linkcat.ID(cat.ID)).Only(e.ctx))
			if end == "commit" {
				require.Equal(t, os[1].ID, *got.OwnerID)
			} else {
				require.Nil(t, got.OwnerID)
			}
		})
	}
}

// A client's bulk with a transaction's builder that adds a pet: ent moves
// the pet outside the transaction, at once; the transaction's rollback does
// not move it back, so its cached row must follow the database.
func TestBulkClientTxBuilderMovesAPet(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			needsPools(t, e, "ent's own insert")
			p := must(e.client.Pet.Create().SetName("rex").Save(e.ctx))
			e.requirePet(p.ID, nil)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(e.client, "q", 2, 42)
			bs[1] = tx.User.Create().SetEmail("q1@bulk.io").SetFirstName("q1").SetLastName("B").SetAge(42).AddPetIDs(p.ID)
			us, err := e.client.User.CreateBulk(bs...).Save(e.ctx)
			require.NoError(t, err)
			requireNoNotes(t)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requirePet(p.ID, &us[1].ID)
			e.requireAgeConsistent(42)
		})
	}
}

// Redis fails while a transaction's mixed bulk marks its keys: the client
// builder's write records its keys in the outbox, on its own driver, while
// the transaction holds sqlite's one connection.
func TestBulkTxMixedRedisDown(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			const lease = 200 * time.Millisecond
			e := newEnv(t, entcachemodel.WithLease(lease))
			if e.db.Dialect == dialect.SQLite {
				t.Skip("BUG (not fixed): on sqlite the bulk waits for its deadline: the client builder's write, whose marks failed, records its keys in the outbox on the client's pool, outside the transaction that holds its one connection; see the review report")
			}
			faults := &testenv.Faults{}
			rdb := e.redis.NewClient()
			rdb.AddHook(faults)
			t.Cleanup(func() { rdb.Close() })
			_, cache, client := e.process(rdb, entcachemodel.WithCooldown(10*time.Millisecond), entcachemodel.WithLease(lease))
			e.createUser("a@bulk.io", 73)
			e.cacheAges(73)
			tx, err := client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(tx.Client(), "r", 2, 73)
			bs[1] = client.User.Create().SetEmail("r1@bulk.io").SetFirstName("r1").SetLastName("B").SetAge(73)
			faults.Down.Store(true)
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			defer cancel()
			_, err = tx.User.CreateBulk(bs...).Save(ctx)
			faults.Down.Store(false)
			require.NoError(t, err)
			requireNoNotes(t)
			e.cacheAges(73) // another process, before the end
			endTx(t, tx, end)
			require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
			e.redis.Advance(lease + 100*time.Millisecond)
			// Drain what the outbox holds, as a later write would.
			time.Sleep(lease + 100*time.Millisecond)
			e.createUser("z@bulk.io", 99)
			e.requireAgeConsistent(73)
		})
	}
}

// Mixed bulks in transactions, concurrently, with -race: every note goes,
// and the lists end as the database.
func TestBulkTxMixedConcurrent(t *testing.T) {
	e := newEnv(t)
	needsPools(t, e, "concurrent transactions")
	e.createUser("a@bulk.io", 80)
	e.cacheAges(80, 81)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				tx, err := e.client.Tx(e.ctx)
				if err != nil {
					t.Error(err)
					return
				}
				tag := fmt.Sprintf("c%d-%d-", w, i)
				bs := bulkOf(tx.Client(), tag, 3, 80+i%2)
				bs[i%3] = e.client.User.Create().SetEmail(tag + "x@bulk.io").SetFirstName(tag + "x").SetLastName("B").SetAge(80 + (i+1)%2)
				if _, err := tx.User.CreateBulk(bs...).Save(e.ctx); err != nil {
					t.Error(err)
					_ = tx.Rollback()
					return
				}
				if w%2 == 0 {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Error(err)
				}
				_, _ = e.client.User.Cached().ListByAge(e.ctx, 80+w%2)
			}
		}()
	}
	wg.Wait()
	requireNoNotes(t)
	e.requireNoWriterTokens()
	e.requireAgeConsistent(80)
	e.requireAgeConsistent(81)
}

// The commit of a transaction holding a mixed bulk succeeds, but a commit
// hook of the application (inside the cache's) then fails: the outcome is
// unknown to the cache, so what the writes marked goes, the client
// builder's included.
func TestBulkTxMixedCommitError(t *testing.T) {
	e := newEnv(t)
	e.createUser("a@bulk.io", 73)
	e.cacheAges(73)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	bs := bulkOf(tx.Client(), "f", 3, 73)
	bs[0] = e.client.User.Create().SetEmail("f0@bulk.io").SetFirstName("f0").SetLastName("B").SetAge(73)
	_, err = tx.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(t, err)
	// Registered after the cache's hook (on the first write): it runs
	// inside it, and the cache sees its error.
	failed := errors.New("commit hook failed")
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			return failed
		})
	})
	require.ErrorIs(t, tx.Commit(), failed)
	requireNoNotes(t)
	e.requireNoWriterTokens()
	e.requireAgeConsistent(73)
	n, err := e.client.User.Query().Where(user.EmailHasPrefix("f")).Count(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// A builder of a transaction that has ended, in a client's bulk: ent
// inserts its row outside the transaction, and it succeeds; the builder's
// write buffers itself in the ended transaction, whose end never comes.
// The list the row joins must not stay without it.
func TestBulkClientEndedTxBuilder(t *testing.T) {
	const lease = 200 * time.Millisecond
	e := newEnv(t, entcachemodel.WithLease(lease))
	e.createUser("a@bulk.io", 73)
	e.cacheAges(73)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	late := tx.User.Create().SetEmail("e1@bulk.io").SetFirstName("e1").SetLastName("B").SetAge(73)
	require.NoError(t, tx.Commit())
	bs := bulkOf(e.client, "e", 2, 73)
	bs[1] = late
	_, err = e.client.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(t, err)
	requireNoNotes(t)
	e.cacheAges(73)
	e.redis.Advance(lease + 100*time.Millisecond)
	e.requireNoWriterTokens() // ran out
	e.requireAgeConsistent(73)
}
