// Command example walks through what entcachemodel's publish model buys:
// every committed write is published to Redis before it returns, so reads by
// id or by a published index (email, first+last name, age) are answered from
// Redis without touching the database, updates and deletes are seen at once,
// rolled-back writes never reach the cache, and a burst of misses on a cold
// key costs one database query. Its last part walks through adopting the
// cache in a running project (see adopt).
//
// Each step prints how many database statements it ran. By default the
// example uses an in-memory sqlite database and an embedded Redis
// (miniredis), so `go run ./example` needs no services; set DATABASE_URL
// (postgres://... or mysql://...) and REDIS_URL to use real servers. The example keeps its
// keys under a random prefix, and its last step deletes only those, so it is
// safe to point at a shared Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	db, err := testenv.OpenDatabase()
	if err != nil {
		return err
	}
	defer db.Close() // drops the postgres schema
	r, err := testenv.OpenRedis()
	if err != nil {
		return err
	}
	defer r.Close()
	drv, err := db.Open()
	if err != nil {
		return err
	}
	cache := entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))
	client := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
	defer client.Close()
	if err := client.Schema.Create(ctx); err != nil {
		return err
	}
	fmt.Printf("database: %s, redis: %s\n", db.Dialect, r.URL)

	// step runs f and prints its result with the database statements it
	// ran. After the first error the remaining steps are skipped.
	var failed error
	step := func(what string, f func() (string, error)) {
		if failed != nil {
			return
		}
		before := drv.Count()
		msg, err := f()
		if err != nil {
			failed = fmt.Errorf("%s: %w", what, err)
			return
		}
		fmt.Printf("  %-42s %2d queries  %s\n", what, drv.Count()-before, msg)
	}
	cached := client.User.Cached()

	fmt.Println("\n1. writes publish, so reading them back is free")
	var ada, alan, grace *ent.User
	step("create 3 users and a pet", func() (string, error) {
		users, err := client.User.CreateBulk(
			client.User.Create().SetEmail("ada@example.com").SetFirstName("Ada").SetLastName("Lovelace").SetAge(36),
			client.User.Create().SetEmail("alan@example.com").SetFirstName("Alan").SetLastName("Turing").SetAge(41),
			client.User.Create().SetEmail("grace@example.com").SetFirstName("Grace").SetLastName("Hopper").SetAge(36),
		).Save(ctx)
		if err != nil {
			return "", err
		}
		ada, alan, grace = users[0], users[1], users[2]
		pet, err := client.Pet.Create().SetName("Babbage").SetOwner(ada).Save(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("users %d, %d, %d; pet %d", ada.ID, alan.ID, grace.ID, pet.ID), nil
	})
	step("Cached().Get(ada)", func() (string, error) { return show(cached.Get(ctx, ada.ID)) })

	fmt.Println("\n2. lookups by the published indexes")
	step(`GetByEmail("alan@example.com")`, func() (string, error) {
		return show(cached.GetByEmail(ctx, "alan@example.com"))
	})
	step(`GetByFirstNameLastName("Grace", "Hopper")`, func() (string, error) {
		return show(cached.GetByFirstNameLastName(ctx, "Grace", "Hopper"))
	})
	// A list is filled by its first read; from then on writes keep it current.
	for _, what := range []string{"ListByAge(36)", "ListByAge(36) again"} {
		step(what, func() (string, error) { return showAll(cached.ListByAge(ctx, 36)) })
	}
	step("GetMany(grace, ada, alan)", func() (string, error) {
		return showAll(cached.GetMany(ctx, grace.ID, ada.ID, alan.ID))
	})

	fmt.Println("\n3. an update is seen immediately")
	step("UpdateOne(ada).SetAge(37).SetEmail(..)", func() (string, error) {
		return "updated", client.User.UpdateOne(ada).SetAge(37).SetEmail("ada@lovelace.org").Exec(ctx)
	})
	step("Cached().Get(ada)", func() (string, error) { return show(cached.Get(ctx, ada.ID)) })
	step(`GetByEmail("ada@example.com")`, func() (string, error) {
		return notFound(cached.GetByEmail(ctx, "ada@example.com"))
	})

	fmt.Println("\n4. a delete is seen immediately")
	step("DeleteOneID(alan)", func() (string, error) {
		return "deleted", client.User.DeleteOneID(alan.ID).Exec(ctx)
	})
	step("Cached().Get(alan)", func() (string, error) { return notFound(cached.Get(ctx, alan.ID)) })

	fmt.Println("\n5. a rolled-back transaction publishes nothing")
	step("in a Tx: UpdateOne(grace).SetAge(99)", func() (string, error) {
		tx, err := client.Tx(ctx)
		if err != nil {
			return "", err
		}
		if err := tx.User.UpdateOne(grace).SetAge(99).Exec(ctx); err != nil {
			return "", errors.Join(err, tx.Rollback())
		}
		return "rolled back", tx.Rollback()
	})
	step("Cached().Get(grace)", func() (string, error) { return show(cached.Get(ctx, grace.ID)) })

	const n = 50
	fmt.Printf("\n6. a cold-key burst: the cache emptied, then %d concurrent reads\n", n)
	step("delete the example's Redis keys", func() (string, error) {
		// Like FLUSHALL, but leaves other applications' keys alone.
		n, err := r.DeleteAll(ctx)
		return fmt.Sprintf("%d keys deleted", n), err
	})
	step(fmt.Sprintf("%d x Cached().Get(grace)", n), func() (string, error) {
		return "misses coalesce into one query", burst(n, func() error {
			_, err := cached.Get(ctx, grace.ID)
			return err
		})
	})
	step(fmt.Sprintf("%d x client.User.Get(grace)", n), func() (string, error) {
		return "without the cache: one query each", burst(n, func() error {
			_, err := client.User.Get(ctx, grace.ID)
			return err
		})
	})
	if failed != nil {
		return failed
	}
	if err := adopt(ctx, db.Dialect, drv, client, step); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}

	s := cache.Stats()
	fmt.Printf("\ncache stats: %d hits, %d misses, %d fills, %d publishes, %d invalidations, %d errors\n",
		s.Hits, s.Misses, s.Fills, s.Publishes, s.Invalidations, s.Errors)
	return nil
}

// show describes a user read.
func show(u *ent.User, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s, %s, age %d", u.FirstName, u.LastName, u.Email, u.Age), nil
}

// showAll describes a list of users read.
func showAll(us []*ent.User, err error) (string, error) {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.FirstName
	}
	return fmt.Sprintf("%d users: %s", len(us), strings.Join(names, ", ")), err
}

// notFound expects a read to find nothing.
func notFound(u *ent.User, err error) (string, error) {
	if !ent.IsNotFound(err) {
		return "", fmt.Errorf("want not found, got %v, %v", u, err)
	}
	return "not found (absent keys are checked in the database)", nil
}

// burst runs f in n goroutines released at once and returns the first error.
func burst(n int, f func() error) error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// adopt walks through the README's migration guide on rows written before
// the cache existed: warm them, verify them, find and repair a raw SQL
// write, and pause reads.
func adopt(ctx context.Context, dialect string, drv *testenv.Counter, client *ent.Client,
	step func(string, func() (string, error))) error {
	fmt.Println("\n7. adopting the cache in a running project")
	// The project before adoption: a client without the cache (Disabled
	// says so on purpose; an old replica simply has no ent.CacheModel).
	plain := ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.Disabled()))
	var ids []int
	step("a plain client writes 500 users", func() (string, error) {
		var bulk []*ent.UserCreate
		for i := range 500 {
			bulk = append(bulk, plain.User.Create().SetEmail(fmt.Sprintf("old%d@example.com", i)).
				SetFirstName("Old").SetLastName(fmt.Sprint(i)).SetAge(20+i%50))
		}
		users, err := plain.User.CreateBulk(bulk...).Save(ctx)
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		return "not in Redis: they were written before adoption", err
	})
	if len(ids) == 0 {
		return nil // the step failed
	}
	cached := client.User.Cached()
	step("Cached().Warm(BatchSize(200), OnProgress)", func() (string, error) {
		rep, err := cached.Warm(ctx, entcachemodel.BatchSize(200), entcachemodel.OnProgress(func(p entcachemodel.Progress) {
			fmt.Printf("    warm %s: %d/%d rows, cursor %s\n", p.Type, p.Done, p.Total, p.Cursor)
		}))
		return fmt.Sprintf("%d rows published, %d already cached, %d lists", rep.Published, rep.Cached, rep.Lists), err
	})
	step("Cached().Get(a warmed row)", func() (string, error) { return show(cached.Get(ctx, ids[7])) })
	verify := func(opts ...entcachemodel.RunOption) (string, error) {
		vr, err := cached.Verify(ctx, opts...)
		msg := fmt.Sprintf("%d rows checked, %d stale, %d orphans, %d bad index, %d repaired",
			vr.Checked, vr.Stale, vr.Orphans, vr.BadIndex, vr.Repaired)
		for _, d := range vr.Divergences {
			msg += fmt.Sprintf("\n    %s %s", d.Kind, d.Key)
		}
		return msg, err
	}
	step("Cached().Verify()", func() (string, error) { return verify() })

	// A fix typed into psql: the cache cannot see it.
	step("raw SQL: UPDATE users SET age = 99", func() (string, error) {
		query, args := entsql.Dialect(dialect).Update(user.Table).Set(user.FieldAge, 99).
			Where(entsql.EQ(user.FieldID, ids[7])).Query()
		_, err := drv.Driver.(*entsql.Driver).DB().ExecContext(ctx, query, args...)
		return fmt.Sprintf("user %d, with db.ExecContext, behind the cache", ids[7]), err
	})
	step("Cached().Get(it): stale", func() (string, error) { return show(cached.Get(ctx, ids[7])) })
	step("Cached().Verify(Repair())", func() (string, error) { return verify(entcachemodel.Repair()) })
	step("Cached().Get(it): refilled", func() (string, error) { return show(cached.Get(ctx, ids[7])) })

	cache := client.CacheModel
	step("PauseReads, then Cached().Get", func() (string, error) {
		if err := cache.PauseReads(ctx); err != nil {
			return "", err
		}
		return show(cached.Get(ctx, ids[7]))
	})
	step("ResumeReads, then Cached().Get", func() (string, error) {
		if err := cache.ResumeReads(ctx); err != nil {
			return "", err
		}
		return show(cached.Get(ctx, ids[7]))
	})
	return nil
}
