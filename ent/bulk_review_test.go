package ent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// cacheAges fills the cached age lists of ages.
func (e *env) cacheAges(ages ...int) {
	e.t.Helper()
	for _, a := range ages {
		_, err := e.client.User.Cached().ListByAge(e.ctx, a)
		require.NoError(e.t, err)
	}
}

// requireAgeConsistent checks every stored row of age, and the list.
func (e *env) requireAgeConsistent(age int) {
	e.t.Helper()
	stored, err := e.client.User.Query().Where(user.Age(age)).IDs(e.ctx)
	require.NoError(e.t, err)
	e.requireConsistent(stored...)
	want, err := e.client.User.Query().Where(user.Age(age)).Order(user.ByID()).All(e.ctx)
	require.NoError(e.t, err)
	got, err := e.client.User.Cached().ListByAge(e.ctx, age)
	require.NoError(e.t, err)
	require.Equal(e.t, userFields(want), userFields(got))
}

// swapOn installs a user hook (inside the cache hook) that runs the create
// of the row with email on a fresh mutation holding the same fields: ent
// runs the bulk's insert with the mutation the hook passed on.
func swapOn(c *ent.Client, email string) {
	c.User.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			um, ok := m.(*ent.UserMutation)
			if !ok || !um.Op().Is(ent.OpCreate) {
				return next.Mutate(ctx, m)
			}
			if v, _ := um.Email(); v != email {
				return next.Mutate(ctx, m)
			}
			fresh := c.User.Create().Mutation()
			for _, f := range um.Fields() {
				v, _ := um.Field(f)
				if err := fresh.SetField(f, v); err != nil {
					return nil, err
				}
			}
			return next.Mutate(ctx, fresh)
		})
	})
}

// TestReviewBulkSwappedMutation: a user hook hands ent another mutation for
// one row of a bulk. The bulk's notes name the mutations ent inserted, so the
// cache write of that row finds no bulk: the others must still be published
// (or removed), never left marked.
func TestReviewBulkSwappedMutation(t *testing.T) {
	for _, swapped := range []int{0, 2} {
		t.Run(fmt.Sprintf("row %d", swapped), func(t *testing.T) {
			e := newEnv(t)
			e.createUser("first@bulk.io", 40)
			e.cacheAges(40)
			swapOn(e.client, fmt.Sprintf("s%d@bulk.io", swapped))
			us, err := e.client.User.CreateBulk(bulkOf(e.client, "s", 4, 40)...).Save(e.ctx)
			require.NoError(t, err)
			e.requireNoTokens()
			// The swapped row itself is missed by the list (pre-existing:
			// TestReviewBulkSwappedRowListed); the others not.
			got, err := e.client.User.Cached().ListByAge(e.ctx, 40)
			require.NoError(t, err)
			listed := map[int]bool{}
			for _, u := range got {
				listed[u.ID] = true
			}
			for i, u := range us {
				if i != swapped {
					require.True(t, listed[u.ID], "row %d (%d) in the cached list", i, u.ID)
					e.requireSettled(e.rowKey(u.ID))
				}
			}
		})
	}
}

// TestReviewBulkHookFailsBeforeNext: a user hook fails a row before its
// statement (a privacy rule, say): nothing is inserted, nothing stays marked.
func TestReviewBulkHookFailsBeforeNext(t *testing.T) {
	for _, failing := range []int{0, 2, 3} {
		t.Run(fmt.Sprintf("row %d", failing), func(t *testing.T) {
			e := newEnv(t)
			e.createUser("first@bulk.io", 41)
			e.cacheAges(41)
			boom := errors.New("boom")
			fail := fmt.Sprintf("b%d@bulk.io", failing)
			e.client.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					if um, ok := m.(*ent.UserMutation); ok {
						if v, _ := um.Email(); v == fail {
							return nil, boom
						}
					}
					return next.Mutate(ctx, m)
				})
			})
			_, err := e.client.User.CreateBulk(bulkOf(e.client, "b", 4, 41)...).Save(e.ctx)
			require.ErrorIs(t, err, boom)
			e.requireNoTokens()
			e.requireAgeConsistent(41)
			// The client still works, a later bulk publishes.
			_, err = e.client.User.CreateBulk(bulkOf(e.client, "c", 3, 41)...).Save(e.ctx)
			require.NoError(t, err)
			e.requireNoTokens()
			e.requireAgeConsistent(41)
		})
	}
}

// TestReviewBulkUpsertMixed: a bulk upsert whose rows partly conflict with
// cached rows (moving them to another list) and partly insert.
func TestReviewBulkUpsertMixed(t *testing.T) {
	e := newEnv(t)
	a := e.createUser("u0@bulk.io", 42)
	b := e.createUser("u2@bulk.io", 42)
	e.cacheAges(42, 43)
	e.requireConsistent(a.ID, b.ID)
	bs := bulkOf(e.client, "u", 4, 43)
	err := e.client.User.CreateBulk(bs...).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(e.ctx)
	require.NoError(t, err)
	e.requireNoTokens()
	e.requireAgeConsistent(42)
	e.requireAgeConsistent(43)
	got, err := e.client.User.Cached().Get(e.ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, 43, got.Age)
}

// TestReviewBulkTxFailingHookCommit: inside a transaction a user hook fails
// a middle row after the insert; the application commits anyway.
func TestReviewBulkTxFailingHookCommit(t *testing.T) {
	for _, failing := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("row %d", failing), func(t *testing.T) {
			e := newEnv(t)
			e.createUser("first@bulk.io", 44)
			e.cacheAges(44)
			boom := errors.New("boom")
			fail := fmt.Sprintf("t%d@bulk.io", failing)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			tx.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					v, err := next.Mutate(ctx, m)
					if um, ok := m.(*ent.UserMutation); ok && err == nil {
						if email, _ := um.Email(); email == fail {
							return v, boom
						}
					}
					return v, err
				})
			})
			_, err = tx.User.CreateBulk(bulkOf(tx.Client(), "t", 4, 44)...).Save(e.ctx)
			require.ErrorIs(t, err, boom)
			require.NoError(t, tx.Commit())
			e.requireNoTokens()
			e.requireAgeConsistent(44)
		})
	}
}

// TestReviewBulkOwnerEdges: rows of a bulk that take pets (hidden foreign
// keys on Pet) next to rows that do not.
func TestReviewBulkOwnerEdges(t *testing.T) {
	e := newEnv(t)
	e.createUser("first@bulk.io", 45)
	e.cacheAges(45)
	p1 := e.client.Pet.Create().SetName("p1").SaveX(e.ctx)
	p2 := e.client.Pet.Create().SetName("p2").SaveX(e.ctx)
	bs := bulkOf(e.client, "o", 4, 45)
	bs[0].AddPets(p1)
	bs[2].AddPets(p2)
	us, err := e.client.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(t, err)
	e.requireNoTokens()
	e.requireAgeConsistent(45)
	e.requirePet(p1.ID, &us[0].ID)
	e.requirePet(p2.ID, &us[2].ID)
}

// requireNoWriterTokens is requireNoTokens for writers' marks only: a list
// fill whose query fails (fillList returns before its fill) leaves its
// reader lease to run out.
func (e *env) requireNoWriterTokens() {
	e.t.Helper()
	keys, err := e.ownKeys("*:lk")
	require.NoError(e.t, err)
	for _, k := range keys {
		fields, err := e.redis.Client.HKeys(e.ctx, k).Result()
		require.NoError(e.t, err)
		for _, f := range fields {
			require.False(e.t, strings.HasPrefix(f, "w"), "writer token %s outstanding on %s", f, k)
		}
	}
}

// TestReviewBulkRace: bulks into one list race updates and deletes of the
// list's rows and readers filling it; after quiescence cache equals database.
func TestReviewBulkRace(t *testing.T) {
	e := newEnv(t)
	seed := make([]*ent.User, 6)
	for i := range seed {
		seed[i] = e.createUser(fmt.Sprintf("seed%d@bulk.io", i), 46)
	}
	_, _, other := e.process(e.redis.Client)
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				_, _ = e.client.User.CreateBulk(bulkOf(e.client, fmt.Sprintf("r%d-%d-", w, i), 3, 46+i%2)...).Save(e.ctx)
			}
		}(w)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 24; i++ {
			u := seed[i%len(seed)]
			_ = other.User.UpdateOneID(u.ID).SetAge(46 + (i+1)%2).Exec(e.ctx)
			if i%7 == 6 {
				_ = other.User.Update().Where(user.EmailHasPrefix("r1-")).SetAge(47).Exec(e.ctx)
				_, _ = other.User.Delete().Where(user.EmailHasPrefix("r2-" + fmt.Sprint(i%8))).Exec(e.ctx)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 60; i++ {
			// A read may fail (sqlite: "table is locked"); its fill lease
			// is then left to run out (see requireNoWriterTokens).
			_, _ = other.User.Cached().ListByAge(e.ctx, 46+i%2)
			_, _ = e.client.User.Cached().ListByAge(e.ctx, 46+i%2)
		}
	}()
	wg.Wait()
	e.requireNoWriterTokens()
	e.requireAgeConsistent(46)
	e.requireAgeConsistent(47)
}

// TestReviewBulkSwappedRowListed: the row whose mutation a user hook
// swapped in a bulk is inserted from the new mutation (ent's bulk Save sets
// builder.mutation to what reaches it), while the cache write holds the
// original, whose id ent never sets: Created reports none, the write
// publishes no row and releases its list marks, and the cached list lacks
// the row until another write of the list. Already so before 45060f7 (a
// single Create inserts from its builder's mutation: no such miss there).
func TestReviewBulkSwappedRowListed(t *testing.T) {
	// Fixed: a create whose row is not known removes the lists it marked.
	e := newEnv(t)
	e.createUser("first@bulk.io", 48)
	e.cacheAges(48)
	swapOn(e.client, "w1@bulk.io")
	_, err := e.client.User.CreateBulk(bulkOf(e.client, "w", 3, 48)...).Save(e.ctx)
	require.NoError(t, err)
	e.requireNoTokens()
	e.requireAgeConsistent(48)
}

// TestReviewBulkRedisFaults: Redis fails during a bulk, at chosen points of
// the rows' hooks (a user hook runs inside the cache hook: after the row's
// mark, before its statement; and after it, before the row's publish).
// Once Redis is back and the repairs are done, no token is outstanding and
// the cache answers as the database does.
func TestReviewBulkRedisFaults(t *testing.T) {
	type at struct {
		row  int
		post bool
	}
	cases := map[string]struct{ down, up at }{
		"mark of row 2 fails":           {down: at{1, false}, up: at{2, false}},
		"marks of rows 1..3 fail":       {down: at{0, false}, up: at{3, true}},
		"publish fails":                 {down: at{0, true}, up: at{-1, false}},
		"marks of last and publish":     {down: at{2, false}, up: at{-1, false}},
		"middle rows' returns are down": {down: at{3, true}, up: at{1, true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			const lease = 200 * time.Millisecond
			e := newEnv(t, entcachemodel.WithLease(lease))
			e.createUser("first@bulk.io", 50)
			// Row 1 conflicts: the upsert moves it from 51 to 50.
			_, err := e.client.User.Create().SetEmail("x1@bulk.io").SetFirstName("x1").SetLastName("B").SetAge(51).Save(e.ctx)
			require.NoError(t, err)
			e.cacheAges(50, 51)
			faults := &testenv.Faults{}
			rdb := e.redis.NewClient()
			rdb.AddHook(faults)
			t.Cleanup(func() { rdb.Close() })
			_, cache, client := e.process(rdb, entcachemodel.WithCooldown(10*time.Millisecond), entcachemodel.WithLease(lease))
			_, err = client.User.Cached().ListByAge(e.ctx, 50)
			require.NoError(t, err)
			client.User.Use(func(next ent.Mutator) ent.Mutator {
				return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
					um, ok := m.(*ent.UserMutation)
					row := -2
					if email, _ := um.Email(); ok {
						fmt.Sscanf(email, "x%d@", &row)
					}
					set := func(post bool) {
						if tc.down == (at{row, post}) {
							faults.Down.Store(true)
						}
						if tc.up == (at{row, post}) {
							faults.Down.Store(false)
						}
					}
					set(false)
					v, err := next.Mutate(ctx, m)
					set(true)
					return v, err
				})
			})
			bs := bulkOf(client, "x", 4, 50)
			bs[3].SetAge(51)
			err = client.User.CreateBulk(bs...).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(e.ctx)
			require.NoError(t, err)
			faults.Down.Store(false)
			require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
			// Marks taken before a publish that failed (or that the open
			// breaker sent to the repairs) are left to run out, by design.
			e.redis.Advance(lease + 100*time.Millisecond)
			e.requireAgeConsistent(50)
			e.requireAgeConsistent(51)
		})
	}
}

// TestReviewBulkUpsertEdgeCases: bulk upserts whose rows conflict with each
// other, or are ignored (DoNothing), next to rows that insert, and a bulk
// of builders of two clients (two caches on one Redis).
func TestReviewBulkUpsertEdgeCases(t *testing.T) {
	t.Run("rows conflicting with each other", func(t *testing.T) {
		e := newEnv(t)
		e.createUser("d1@bulk.io", 60)
		e.cacheAges(60, 61, 62)
		bs := bulkOf(e.client, "d", 3, 61)
		bs = append(bs, e.client.User.Create().SetEmail("d2@bulk.io").SetFirstName("dd").SetLastName("B").SetAge(62))
		err := e.client.User.CreateBulk(bs...).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(e.ctx)
		if err != nil {
			t.Logf("the database refuses: %v", err)
		}
		e.requireNoTokens()
		for _, a := range []int{60, 61, 62} {
			e.requireAgeConsistent(a)
		}
	})
	t.Run("do nothing", func(t *testing.T) {
		e := newEnv(t)
		e.createUser("n1@bulk.io", 63)
		e.cacheAges(63, 64)
		err := e.client.User.CreateBulk(bulkOf(e.client, "n", 4, 64)...).OnConflictColumns(user.FieldEmail).DoNothing().Exec(e.ctx)
		if err != nil {
			t.Logf("ent refuses: %v", err)
		}
		e.requireNoTokens()
		e.requireAgeConsistent(63)
		e.requireAgeConsistent(64)
	})
	t.Run("two clients", func(t *testing.T) {
		e := newEnv(t)
		e.createUser("first@bulk.io", 65)
		e.cacheAges(65)
		_, _, other := e.process(e.redis.Client)
		bs := bulkOf(e.client, "m", 4, 65)
		bs[1] = other.User.Create().SetEmail("m1@bulk.io").SetFirstName("m1").SetLastName("B").SetAge(65)
		_, err := e.client.User.CreateBulk(bs...).Save(e.ctx)
		require.NoError(t, err)
		e.requireNoTokens()
		e.requireAgeConsistent(65)
	})
}

// TestReviewBulkLinks: a bulk of cats (owned, cached lists by owner) that
// take free toys (hidden foreign keys moved on LinkToy), while another
// process clears another cat's toys and gives one of them away.
func TestReviewBulkLinks(t *testing.T) {
	e := newEnv(t)
	o1 := e.client.LinkOwner.Create().SaveX(e.ctx)
	o2 := e.client.LinkOwner.Create().SaveX(e.ctx)
	old := e.client.LinkCat.Create().SetName("old").SetOwner(o1).SaveX(e.ctx)
	toys := e.client.LinkToy.CreateBulk(
		e.client.LinkToy.Create(), e.client.LinkToy.Create(),
		e.client.LinkToy.Create(), e.client.LinkToy.Create().SetCat(old),
	).SaveX(e.ctx)
	toyIDs := []int{toys[0].ID, toys[1].ID, toys[2].ID, toys[3].ID}
	e.catsOf(o1.ID, o2.ID)
	e.toysOf(old.ID)
	e.toy(toyIDs...)
	_, _, other := e.process(e.redis.Client)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = other.LinkCat.UpdateOneID(old.ID).ClearToys().Exec(e.ctx)
		_ = other.LinkToy.UpdateOneID(toys[3].ID).SetCatID(old.ID).Exec(e.ctx)
	}()
	cats, err := e.client.LinkCat.CreateBulk(
		e.client.LinkCat.Create().SetName("a").SetOwner(o1).AddToys(toys[0]),
		e.client.LinkCat.Create().SetName("b").SetOwner(o2),
		e.client.LinkCat.Create().SetName("c").SetOwner(o2).AddToys(toys[1], toys[2]),
	).Save(e.ctx)
	require.NoError(t, err)
	wg.Wait()
	// (A toy moved to a watched cat is held out of the cache by marks
	// left to run out, links.go: writer tokens may be outstanding.)
	catIDs := []int{old.ID}
	for _, c := range cats {
		catIDs = append(catIDs, c.ID)
	}
	e.cat(catIDs...)
	e.toy(toyIDs...)
	e.catsOf(o1.ID, o2.ID)
	e.toysOf(catIDs...)
}

// TestReviewBulkTxMixed: inside one transaction, writes to the lists a bulk
// joins come before and after it (one part: the bulk's writes share it).
func TestReviewBulkTxMixed(t *testing.T) {
	e := newEnv(t)
	a := e.createUser("a@bulk.io", 70)
	b := e.createUser("b@bulk.io", 71)
	e.cacheAges(70, 71)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(a.ID).SetAge(71).Exec(e.ctx))
	us, err := tx.User.CreateBulk(bulkOf(tx.Client(), "x", 3, 71)...).Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.User.UpdateOneID(us[1].ID).SetAge(70).Exec(e.ctx))
	_, err = tx.User.Delete().Where(user.ID(b.ID)).Exec(e.ctx)
	require.NoError(t, err)
	us2, err := tx.User.CreateBulk(bulkOf(tx.Client(), "y", 2, 70)...).Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	e.requireNoWriterTokens()
	e.requireAgeConsistent(70)
	e.requireAgeConsistent(71)
	e.requireConsistent(us2[0].ID, us2[1].ID, b.ID)
}

// clientBuilderInTxBulk caches the age lists 72 and 73, opens a
// transaction that moves a user from 72 to 73, and saves in it a bulk of
// three users of age 73 whose first builder is the client's (k0..k2).
func (e *env) clientBuilderInTxBulk() *ent.Tx {
	e.t.Helper()
	a := e.createUser("a@bulk.io", 72)
	e.cacheAges(72, 73)
	e.requireConsistent(a.ID)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(e.t, err)
	require.NoError(e.t, tx.User.UpdateOneID(a.ID).SetAge(73).Exec(e.ctx))
	bs := bulkOf(tx.Client(), "k", 3, 73)
	bs[0] = e.client.User.Create().SetEmail("k0@bulk.io").SetFirstName("k0").SetLastName("B").SetAge(73)
	_, err = tx.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(e.t, err)
	return tx
}

// TestReviewBulkTxAndClientBuilders: a transaction's bulk whose builders
// come from the transaction's client and from the client it was opened on
// (one cache: the bulk is noted). ent inserts every row in the
// transaction; the write of the client's builder runs outside it, so
// taking the transaction's part over would publish the transaction's
// writes before its commit, reading them back as they were, and leave
// nothing to publish when it commits.
func TestReviewBulkTxAndClientBuilders(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.clientBuilderInTxBulk().Commit())
	e.requireNoWriterTokens()
	e.requireAgeConsistent(72)
	e.requireAgeConsistent(73)
}

// A transaction's bulk holding a builder of the client it was opened on,
// rolled back: the rows never existed, and what the builder's write marked
// (outside the transaction, it thinks) ends with the rollback: no token
// left, nothing published.
func TestBulkClientBuilderInRolledBackTransaction(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.clientBuilderInTxBulk().Rollback())
	e.requireNoWriterTokens()
	e.requireAgeConsistent(72)
	e.requireAgeConsistent(73)
	n, err := e.client.User.Query().Where(user.EmailHasPrefix("k")).Count(e.ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// A client's bulk holding a builder of a transaction: ent inserts every row
// outside the transaction, at once; that builder's write takes itself to be
// the transaction's. Its rollback does not undo the rows, so the cached list
// must take them (or go), never keep its old members.
func TestBulkTransactionBuilderOnTheClient(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			needsPools(t, e, "ent's own insert would wait for it")
			e.createUser("a@bulk.io", 73)
			e.cacheAges(73)
			tx, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(e.client, "t", 3, 73)
			bs[1] = tx.User.Create().SetEmail("t1@bulk.io").SetFirstName("t1").SetLastName("B").SetAge(73)
			_, err = e.client.User.CreateBulk(bs...).Save(e.ctx)
			require.NoError(t, err)
			endTx(t, tx, end)
			e.requireNoWriterTokens()
			e.requireAgeConsistent(73)
			n, err := e.client.User.Query().Where(user.EmailHasPrefix("t")).Count(e.ctx)
			require.NoError(t, err)
			require.Equal(t, 3, n, "the rows were inserted outside the transaction")
		})
	}
}

// A transaction's bulk whose client builder (the row's write outside the
// transaction) adds a pet: the pet's hidden key changes in the transaction,
// so the link write that republishes the pet must wait for its commit, not
// read it back, unchanged, before.
func TestBulkClientBuilderMovesAPetInTransaction(t *testing.T) {
	e := newEnv(t)
	p, err := e.client.Pet.Create().SetName("rex").Save(e.ctx)
	require.NoError(t, err)
	e.requirePet(p.ID, nil)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	bs := bulkOf(tx.Client(), "p", 2, 41)
	bs[0] = e.client.User.Create().SetEmail("p0@bulk.io").SetFirstName("p0").SetLastName("B").SetAge(41).AddPetIDs(p.ID)
	us, err := tx.User.CreateBulk(bs...).Save(e.ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	e.requireNoWriterTokens()
	e.requirePet(p.ID, &us[0].ID)
	e.requireAgeConsistent(41)
}

// A bulk saved in one transaction holding a builder of another: the row is
// inserted in the saving transaction, while its cache write belongs to the
// other, which here commits first (before the row is visible). The row's
// list must take it when the inserting transaction commits, not stay
// published without it.
func TestBulkBuilderOfAnotherTransaction(t *testing.T) {
	for _, end := range txEnds {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			needsPools(t, e, "two transactions cannot be open at once")
			e.createUser("a@bulk.io", 73)
			e.cacheAges(73)
			own, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			inserting, err := e.client.Tx(e.ctx)
			require.NoError(t, err)
			bs := bulkOf(inserting.Client(), "o", 2, 73)
			bs[0] = own.User.Create().SetEmail("o0@bulk.io").SetFirstName("o0").SetLastName("B").SetAge(73)
			_, err = inserting.User.CreateBulk(bs...).Save(e.ctx)
			require.NoError(t, err)
			require.NoError(t, own.Commit())
			e.requireAgeConsistent(73) // the rows are not committed yet
			endTx(t, inserting, end)
			e.requireNoWriterTokens()
			e.requireAgeConsistent(73)
		})
	}
}
