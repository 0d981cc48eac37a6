// Command peer runs ariga.io/entcache v0.1.0 (the peer) and entcachemodel
// (ours) side by side on the same rows of one database and one Redis, and
// prints two figures: the cost of a cache hit of the peer over ours, taken
// in alternating short rounds, and the stale reads each serves in the
// second after another client's update.
//
// It is a module of its own so that the peer and its go-redis v8 stay out
// of the main go.mod. bench/run runs it:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 \
//	DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go run .
//
// Without the variables it uses an in-memory sqlite and miniredis.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"ariga.io/entcache"
	redisv8 "github.com/go-redis/redis/v8"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// nearOption, when set (near.go, -tags nearcache), is the option that
// turns the near cache on.
var nearOption func() entcachemodel.Option

func main() {
	rounds := flag.Int("rounds", 400, "alternating rounds of the hit comparison")
	round := flag.Int("round", 20, "reads per side and round")
	users := flag.Int("users", 1000, "rows")
	window := flag.Duration("window", time.Second, "how long after an update reads are counted")
	trials := flag.Int("trials", 3, "updates in the stale-read test, per side")
	flag.Parse()
	if err := run(*users, *rounds, *round, *window, *trials); err != nil {
		slog.Error("peer", "err", err)
		os.Exit(1)
	}
}

// env is one database and one Redis, with our client and the peer's on
// them.
type env struct {
	ctx  context.Context
	db   *testenv.Database
	rs   *testenv.Redis
	rdb8 *redisv8.Client
	ids  []int
}

// ours opens a client with our cache model on a new pool.
func (e *env) ours() (*ent.Client, error) {
	drv, err := e.db.Open()
	if err != nil {
		return nil, err
	}
	return ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.New(e.rs.Client, entcachemodel.WithPrefix(e.rs.Prefix)))), nil
}

// peer opens a plain ent client whose driver is wrapped by entcache, with
// its Redis level and the given TTL, on a new pool.
func (e *env) peer(ttl time.Duration) (*ent.Client, error) {
	drv, err := e.db.Open()
	if err != nil {
		return nil, err
	}
	// A plain client: no cache model of ours (Disabled says so, and keeps
	// the generated client from warning about unpublished writes).
	return ent.NewClient(ent.Driver(entcache.NewDriver(drv, entcache.TTL(ttl), entcache.Levels(entcache.NewRedis(e.rdb8)))),
		ent.CacheModel(entcachemodel.Disabled())), nil
}

// redisV8 opens a go-redis v8 client (the peer's) on the Redis of rs.
func redisV8(rs *testenv.Redis) (*redisv8.Client, error) {
	if rs.Mini != nil {
		return redisv8.NewClient(&redisv8.Options{Addr: rs.Mini.Addr()}), nil
	}
	if strings.Contains(rs.URL, "cluster") {
		return nil, fmt.Errorf("the peer runs on a single Redis, not %s", rs.URL)
	}
	opt, err := redisv8.ParseURL(rs.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL for go-redis v8: %w", err)
	}
	return redisv8.NewClient(opt), nil
}

func run(users, rounds, round int, window time.Duration, trials int) error {
	ctx := context.Background()
	db, err := testenv.OpenDatabase()
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := testenv.OpenRedis()
	if err != nil {
		return err
	}
	defer rs.Close()
	defer func() {
		if rs.Mini == nil {
			_, _ = rs.DeleteAll(ctx)
		}
	}()
	rdb8, err := redisV8(rs)
	if err != nil {
		return err
	}
	defer rdb8.Close()
	e := &env{ctx: ctx, db: db, rs: rs, rdb8: rdb8}

	ours, err := e.ours()
	if err != nil {
		return err
	}
	defer ours.Close()
	if err := ours.Schema.Create(ctx); err != nil {
		return err
	}
	if err := e.seed(users); err != nil {
		return err
	}
	// The hit comparison: a TTL far beyond the run, so every peer read
	// after the first is a hit, as every read of ours is.
	peer, err := e.peer(10 * time.Minute)
	if err != nil {
		return err
	}
	defer peer.Close()
	if err := e.hits(ours, peer, rounds, round); err != nil {
		return err
	}
	return e.stale(window, trials)
}

// seed inserts the rows with a plain client (nothing published).
func (e *env) seed(n int) error {
	drv, err := e.db.Open()
	if err != nil {
		return err
	}
	plain := ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.Disabled()))
	defer plain.Close()
	for start := 0; start < n; start += 250 {
		var bs []*ent.UserCreate
		for i := start; i < min(n, start+250); i++ {
			bs = append(bs, plain.User.Create().SetEmail(fmt.Sprintf("u%d@x.io", i)).
				SetFirstName(fmt.Sprintf("F%d", i)).SetLastName(fmt.Sprintf("L%d", i)).SetAge(i%50))
		}
		us, err := plain.User.CreateBulk(bs...).Save(e.ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			e.ids = append(e.ids, u.ID)
		}
	}
	return nil
}

// hits compares a hit of the peer (User.Get through its driver) with a
// hit of ours (User.Cached().Get) on the same rows, in alternating rounds
// of round reads each, the order flipped every round.
func (e *env) hits(ours, peer *ent.Client, rounds, round int) error {
	sides := [2]func(id int) error{
		func(id int) error { return check(ours.User.Cached().Get(e.ctx, id)) },
		func(id int) error { return check(peer.User.Get(e.ctx, id)) },
	}
	for _, id := range e.ids { // warm both
		for _, s := range sides {
			if err := s(id); err != nil {
				return err
			}
		}
	}
	var total [2]time.Duration
	ratios := make([]float64, 0, rounds)
	n := 0
	for r := range rounds {
		var took [2]time.Duration
		for k := range 2 {
			side := (k + r) % 2
			start := time.Now()
			for j := range round {
				if err := sides[side](e.ids[(r*round+j)%len(e.ids)]); err != nil {
					return err
				}
			}
			took[side] = time.Since(start)
			total[side] += took[side]
		}
		n += round
		ratios = append(ratios, float64(took[1])/float64(took[0]))
	}
	slices.Sort(ratios)
	var allocs [2]float64
	for s := range sides {
		i := 0
		allocs[s] = testing.AllocsPerRun(1000, func() { _ = sides[s](e.ids[i%len(e.ids)]); i++ })
	}
	size := func(pattern string) float64 {
		keys, err := e.rdb8.Keys(e.ctx, pattern).Result()
		if err != nil || len(keys) == 0 {
			return 0
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasSuffix(k, ":lk") })
		if len(keys) == 0 {
			return 0
		}
		var sum int64
		for _, k := range keys[:min(100, len(keys))] {
			sum += e.rdb8.StrLen(e.ctx, k).Val()
		}
		return float64(sum) / float64(min(100, len(keys)))
	}
	ns := func(s int) float64 { return float64(total[s].Nanoseconds()) / float64(n) }
	fmt.Printf("hit, %d rounds of %d reads a side, alternating (peer: entcache Redis level, TTL 10m; ours: Cached().Get)\n", rounds, round)
	fmt.Printf("%-28s %10s %8s %12s\n", "side", "ns/read", "allocs", "value bytes")
	fmt.Printf("%-28s %10.0f %8.0f %12.0f\n", "ours Cached().Get", ns(0), allocs[0], size("{"+entcachemodel.KeyPart(e.rs.Prefix)+":User:*:r:*}"))
	fmt.Printf("%-28s %10.0f %8.0f %12.0f\n", "peer entcache hit", ns(1), allocs[1], size("[0-9]*"))
	fmt.Printf("PEER-HIT-RATIO peer/ours median-of-rounds %.2fx  time-ratio %.2fx  (rounds p25 %.2fx, p75 %.2fx)\n",
		ratios[len(ratios)/2], ns(1)/ns(0), ratios[len(ratios)/4], ratios[3*len(ratios)/4])
	return nil
}

// check returns err, or an error when the user is missing.
func check(u *ent.User, err error) error {
	if err == nil && u == nil {
		return fmt.Errorf("no user")
	}
	return err
}

// stale counts, for each side, the reads by one client that return a
// row's old value in the window after another client's update of the row
// returned. The reader reads the row just before the update, so that the
// cache holds it, as a steady state would.
func (e *env) stale(window time.Duration, trials int) error {
	fmt.Printf("\nstale reads in the %v after another client's update returned (%d updates a side, one reader)\n", window, trials)
	fmt.Printf("%-34s %10s %10s %14s\n", "side", "reads", "stale", "last stale at")
	type side struct {
		name           string
		reader, writer func() (*ent.Client, error)
		read           func(c *ent.Client, id int) (*ent.User, error)
	}
	cached := func(c *ent.Client, id int) (*ent.User, error) { return c.User.Cached().Get(e.ctx, id) }
	plainGet := func(c *ent.Client, id int) (*ent.User, error) { return c.User.Get(e.ctx, id) }
	peer1 := func() (*ent.Client, error) { return e.peer(time.Second) }
	sides := []side{
		{"ours (Cached().Get)", e.ours, e.ours, cached},
		{"peer entcache, TTL 1s", peer1, peer1, plainGet},
	}
	if nearOption != nil {
		near := func() (*ent.Client, error) {
			drv, err := e.db.Open()
			if err != nil {
				return nil, err
			}
			return ent.NewClient(ent.Driver(drv), ent.CacheModel(entcachemodel.New(e.rs.Client,
				entcachemodel.WithPrefix(e.rs.Prefix), nearOption()))), nil
		}
		sides = append(sides, side{"ours, near cache (Cached().Get)", near, e.ours, cached})
	}
	for _, s := range sides {
		reader, err := s.reader()
		if err != nil {
			return err
		}
		writer, err := s.writer()
		if err != nil {
			return err
		}
		var reads, stale int
		var last time.Duration
		for t := range trials {
			id := e.ids[(t*97+13)%len(e.ids)]
			old, err := s.read(reader, id)
			if err != nil {
				return err
			}
			if err := writer.User.UpdateOneID(id).SetAge(old.Age + 1000).Exec(e.ctx); err != nil {
				return err
			}
			start := time.Now()
			for time.Since(start) < window {
				u, err := s.read(reader, id)
				if err != nil {
					return err
				}
				reads++
				if u.Age == old.Age {
					stale++
					last = time.Since(start)
				} else if u.Age != old.Age+1000 {
					return fmt.Errorf("%s: user %d has age %d, want %d", s.name, id, u.Age, old.Age+1000)
				}
			}
		}
		reader.Close()
		writer.Close()
		lastS := "-"
		if stale > 0 {
			lastS = last.Round(time.Millisecond).String()
		}
		fmt.Printf("%-34s %10d %10d %14s\n", s.name, reads/trials, stale/trials, lastS)
		if strings.HasPrefix(s.name, "ours, near") {
			fmt.Printf("STALE-NEAR %d\n", stale)
			if stale > 0 {
				fmt.Println("BUG: the near cache served a stale read after the update returned")
			}
		} else if strings.HasPrefix(s.name, "ours") {
			fmt.Printf("STALE-OURS %d\n", stale)
			if stale > 0 {
				fmt.Println("BUG: ours served a stale read after the update returned")
			}
		} else {
			fmt.Printf("STALE-PEER %d\n", stale/trials)
		}
	}
	return nil
}
