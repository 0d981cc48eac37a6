// Command chart measures the curves of the cache (throughput from 1 to 64
// goroutines, latency against the size of a row) and the Redis memory of
// its keys, prints them, and draws the curves with gonum/plot into a PNG.
//
// It is a module of its own so that gonum/plot and its dependencies stay
// out of the main go.mod. bench/run runs it:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 \
//	DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go run . -png ../curves.png
//
// Every point compares its sides in alternating short rounds, the order
// flipped every round, so that the noise of a shared machine falls on all
// of them alike. Built with -tags nearcache, it adds a series with the
// near cache on (entcachemodel.WithNearCache).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// nearOption, when set (near.go, -tags nearcache), is the option that
// turns the near cache on.
var nearOption func() entcachemodel.Option

func main() {
	png := flag.String("png", "", "write the curves to this PNG")
	rounds := flag.Int("rounds", 20, "alternating rounds per throughput point")
	perG := flag.Int("per-goroutine", 20, "reads per goroutine, side and round")
	prounds := flag.Int("payload-rounds", 100, "alternating rounds per payload size")
	flag.Parse()
	if err := run(*png, *rounds, *perG, *prounds); err != nil {
		slog.Error("chart", "err", err)
		os.Exit(1)
	}
}

// side is one series: how it reads row i of a set.
type side struct {
	name string
	read func(ctx context.Context, i int) error
}

type env struct {
	ctx  context.Context
	db   *testenv.Database
	rs   *testenv.Redis
	ours *ent.Client
	near *ent.Client // nil without the near cache
	// rowUsage is the MEMORY USAGE of the rows of each payload size.
	rowUsage []rowUsage
	seed     *ent.Client
}

func run(png string, rounds, perG, prounds int) error {
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
	e := &env{ctx: ctx, db: db, rs: rs}
	open := func(opts ...ent.Option) (*ent.Client, error) {
		drv, err := db.Open()
		if err != nil {
			return nil, err
		}
		return ent.NewClient(append([]ent.Option{ent.Driver(drv)}, opts...)...), nil
	}
	if e.ours, err = open(ent.CacheModel(entcachemodel.New(rs.Client, entcachemodel.WithPrefix(rs.Prefix)))); err != nil {
		return err
	}
	defer e.ours.Close()
	if nearOption != nil {
		if e.near, err = open(ent.CacheModel(entcachemodel.New(rs.Client, entcachemodel.WithPrefix(rs.Prefix), nearOption()))); err != nil {
			return err
		}
		defer e.near.Close()
	}
	if e.seed, err = open(ent.CacheModel(entcachemodel.Disabled())); err != nil {
		return err
	}
	defer e.seed.Close()
	if err := e.ours.Schema.Create(ctx); err != nil {
		return err
	}

	ids, err := e.create(1000, 50, "")
	if err != nil {
		return err
	}
	tp, err := e.throughput(ids, rounds, perG)
	if err != nil {
		return err
	}
	pl, err := e.payloads(prounds)
	if err != nil {
		return err
	}
	if err := e.memory(ids); err != nil {
		return err
	}
	if png != "" {
		if err := drawChart(png, tp, pl); err != nil {
			return err
		}
		fmt.Printf("\nchart: %s\n", png)
	}
	return nil
}

// create inserts n users (ages 0..ages-1, nickname nick when not empty)
// without publishing them, reads them through the cache, and returns
// their ids.
func (e *env) create(n, ages int, nick string) ([]int, error) {
	tag := fmt.Sprintf("%d-%d", len(nick), time.Now().UnixNano())
	var ids []int
	for start := 0; start < n; start += 250 {
		var bs []*ent.UserCreate
		for i := start; i < min(n, start+250); i++ {
			c := e.seed.User.Create().SetEmail(fmt.Sprintf("u%d-%s@x.io", i, tag)).
				SetFirstName(fmt.Sprintf("F%d-%s", i, tag)).SetLastName(fmt.Sprintf("L%d", i)).SetAge(i % ages)
			if nick != "" {
				c.SetNickname(nick)
			}
			bs = append(bs, c)
		}
		us, err := e.seed.User.CreateBulk(bs...).Save(e.ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			ids = append(ids, u.ID)
		}
	}
	for start := 0; start < len(ids); start += 100 {
		if _, err := e.ours.User.Cached().GetMany(e.ctx, ids[start:min(start+100, len(ids))]...); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// sides returns the series read on the rows ids: Cached().Get, a raw GET
// of the row's key, the database, and with the near cache Cached().Get
// through it.
func (e *env) sides(ids []int) ([]side, error) {
	keys, err := e.rowKeys(ids)
	if err != nil {
		return nil, err
	}
	get := func(c *ent.Client) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			id := ids[i%len(ids)]
			u, err := c.User.Cached().Get(ctx, id)
			if err == nil && u.ID != id {
				err = fmt.Errorf("get %d: got user %d", id, u.ID)
			}
			return err
		}
	}
	s := []side{
		{"cached Get", get(e.ours)},
		{"raw GET", func(ctx context.Context, i int) error { return e.rs.Client.Get(ctx, keys[i%len(keys)]).Err() }},
		{"database Get", func(ctx context.Context, i int) error {
			_, err := e.ours.User.Get(ctx, ids[i%len(ids)])
			return err
		}},
	}
	if e.near != nil {
		s = append(s, side{"near-cache Get", get(e.near)})
		for _, id := range ids {
			if _, err := e.near.User.Cached().Get(e.ctx, id); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// rowKeys returns the Redis keys of the cached rows ids.
func (e *env) rowKeys(ids []int) ([]string, error) {
	keys, err := e.rs.Keys(e.ctx, "{"+entcachemodel.KeyPart(e.rs.Prefix)+":User:*:r:*}")
	if err != nil {
		return nil, err
	}
	byID := map[string]string{}
	for _, k := range keys {
		if strings.HasSuffix(k, ":lk") {
			continue
		}
		i := strings.LastIndex(k, ":r:")
		byID[strings.TrimSuffix(k[i+len(":r:"):], "}")] = k
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = byID[entcachemodel.KeyPart(fmt.Sprint(id))]
		if out[i] == "" {
			return nil, fmt.Errorf("user %d is not cached", id)
		}
	}
	return out, nil
}

// series is one curve: y at each x.
type series struct {
	name string
	x, y []float64
}

// alternate runs the sides in rounds, each side running ops reads on
// goroutines goroutines, the order rotated every round, and returns each
// side's total time and the reads it ran.
func alternate(ctx context.Context, sides []side, rounds, goroutines, ops int) ([]time.Duration, int, error) {
	total := make([]time.Duration, len(sides))
	var mu sync.Mutex
	var firstErr error
	for r := range rounds {
		for k := range sides {
			s := (k + r) % len(sides)
			start := time.Now()
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for j := range ops {
						if err := sides[s].read(ctx, (r*goroutines+g)*ops+j); err != nil {
							mu.Lock()
							firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", sides[s].name, err))
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			total[s] += time.Since(start)
		}
	}
	return total, rounds * goroutines * ops, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

var goroutineCounts = []int{1, 2, 4, 8, 16, 32, 64}

// throughput measures reads per second of each side from 1 to 64
// goroutines.
func (e *env) throughput(ids []int, rounds, perG int) ([]series, error) {
	sides, err := e.sides(ids)
	if err != nil {
		return nil, err
	}
	out := make([]series, len(sides))
	for i, s := range sides {
		out[i].name = s.name
	}
	fmt.Printf("throughput, reads/s (%d alternating rounds of %d reads per goroutine and side)\n", rounds, perG)
	fmt.Printf("%-11s", "goroutines")
	for _, s := range sides {
		fmt.Printf(" %15s", s.name)
	}
	fmt.Printf(" %18s\n", "cached/raw time")
	for _, g := range goroutineCounts {
		total, n, err := alternate(e.ctx, sides, rounds, g, perG)
		if err != nil {
			return nil, err
		}
		fmt.Printf("%-11d", g)
		for i := range sides {
			rps := float64(n) / total[i].Seconds()
			out[i].x = append(out[i].x, float64(g))
			out[i].y = append(out[i].y, rps)
			fmt.Printf(" %15.0f", rps)
		}
		fmt.Printf(" %17.2fx\n", total[0].Seconds()/total[1].Seconds())
	}
	return out, nil
}

var payloadSizes = []int{10, 100, 1000, 3000, 10000}

// payloads measures the latency of one read (one goroutine) of each side
// on rows whose nickname holds 10 B to 10 KB.
func (e *env) payloads(rounds int) ([]series, error) {
	var out []series
	fmt.Printf("\nlatency of one read against payload (a nickname of that size), us/read, %d alternating rounds of 10 reads\n", rounds)
	for _, size := range payloadSizes {
		ids, err := e.create(200, 10, strings.Repeat("n", size))
		if err != nil {
			return nil, err
		}
		sides, err := e.sides(ids)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([]series, len(sides))
			for i, s := range sides {
				out[i].name = s.name
			}
			fmt.Printf("%-10s", "bytes")
			for _, s := range sides {
				fmt.Printf(" %15s", s.name)
			}
			fmt.Printf(" %18s\n", "cached/raw time")
		}
		if e.rs.Mini == nil { // miniredis has no MEMORY USAGE
			keys, err := e.rowKeys(ids)
			if err != nil {
				return nil, err
			}
			usage, nk, _, err := mean(e.ctx, e.rs, keys)
			if err != nil {
				return nil, err
			}
			e.rowUsage = append(e.rowUsage, rowUsage{size, usage, nk})
		}
		total, n, err := alternate(e.ctx, sides, rounds, 1, 10)
		if err != nil {
			return nil, err
		}
		fmt.Printf("%-10d", size)
		for i := range sides {
			us := float64(total[i].Microseconds()) / float64(n)
			out[i].x = append(out[i].x, float64(size))
			out[i].y = append(out[i].y, us)
			fmt.Printf(" %15.1f", us)
		}
		fmt.Printf(" %17.2fx\n", total[0].Seconds()/total[1].Seconds())
	}
	return out, nil
}

// memory prints Redis MEMORY USAGE per row key, per unique-entry key and
// per list member: the member cost is (usage of a list of N members -
// usage of an empty list) / N.
func (e *env) memory(ids []int) error {
	if e.rs.Mini != nil {
		fmt.Printf("\nRedis MEMORY USAGE: not measured on miniredis (it has no MEMORY USAGE); set REDIS_URL\n")
		return nil
	}
	base := "{" + entcachemodel.KeyPart(e.rs.Prefix) + ":User:"
	avg := func(pattern string, skip func(string) bool) (float64, int, string, error) {
		keys, err := e.rs.Keys(e.ctx, pattern)
		if err != nil {
			return 0, 0, "", err
		}
		keys = slices.DeleteFunc(keys, skip)
		if len(keys) == 0 {
			return 0, 0, "", fmt.Errorf("no keys match %s", pattern)
		}
		return mean(e.ctx, e.rs, keys)
	}
	lk := func(k string) bool { return strings.HasSuffix(k, ":lk") }
	fmt.Printf("\nRedis MEMORY USAGE (bytes, the rows of the throughput set: 10-field users, short strings)\n")
	rows, err := e.rowKeys(ids[:200])
	if err != nil {
		return err
	}
	row, n, typ, err := mean(e.ctx, e.rs, rows)
	if err != nil {
		return err
	}
	fmt.Printf("%-40s %8.0f  (%s, mean of %d keys)\n", "per entity (row key)", row, typ, n)
	for _, r := range e.rowUsage {
		fmt.Printf("%-40s %8.0f  (mean of %d keys)\n", fmt.Sprintf("per entity, nickname of %d B", r.size), r.usage, r.n)
	}
	// The unique entries: GetByEmail fills them.
	for _, id := range ids[:200] {
		u, err := e.ours.User.Get(e.ctx, id)
		if err != nil {
			return err
		}
		if _, err := e.ours.User.Cached().GetByEmail(e.ctx, u.Email); err != nil {
			return err
		}
	}
	uniq, n, typ, err := avg(base+"*:u:email:*}", lk)
	if err != nil {
		return err
	}
	fmt.Printf("%-40s %8.0f  (%s, mean of %d keys)\n", "per unique entry (email key)", uniq, typ, n)
	// The lists: ages of the throughput set hold 20 users each; age 999 none.
	for _, age := range []int{0, 1, 2, 999} {
		if _, err := e.ours.User.Cached().ListByAge(e.ctx, age); err != nil {
			return err
		}
	}
	members, err := e.ours.User.Query().Where(user.Age(0)).Count(e.ctx)
	if err != nil {
		return err
	}
	full, _, ftyp, err := avg(base+"*:l:age:"+entcachemodel.KeyPart("0")+"}", lk)
	if err != nil {
		return err
	}
	empty, _, _, err := avg(base+"*:l:age:"+entcachemodel.KeyPart("999")+"}", lk)
	if err != nil {
		fmt.Printf("an empty list is not stored (%v): per member from the full list alone\n", err)
		empty = 0
	}
	fmt.Printf("%-40s %8.1f  (%s; list of %d: %.0f, empty list: %.0f)\n", "per list member", (full-empty)/float64(members), ftyp, members, full, empty)
	// A long list (an author with 100,000 posts), built directly: this
	// version's sorted set and the set earlier versions stored ("=" and the
	// id), side by side, with ids of 7 digits.
	for _, n := range []int{100, 100_000} {
		for _, form := range []string{"zset", "set (before)"} {
			per, enc, err := e.longList(form, n)
			if err != nil {
				return err
			}
			fmt.Printf("%-40s %8.1f  (%s)\n", fmt.Sprintf("list member, %d in a %s", n, form), per, enc)
		}
	}
	return nil
}

// longList stores a list of n members in form ("zset" as lists are now,
// else the set of earlier versions) under a scratch key and returns its
// MEMORY USAGE per member, less that of an empty list, and its encoding.
func (e *env) longList(form string, n int) (float64, string, error) {
	rdb := e.rs.Client
	key := "{" + entcachemodel.KeyPart(e.rs.Prefix) + ":memory}:list"
	empty := key + ":empty"
	defer rdb.Del(e.ctx, key, empty)
	rdb.Del(e.ctx, key, empty)
	const base = 1_000_000
	zset := form == "zset"
	if zset {
		rdb.ZAdd(e.ctx, empty, redis.Z{Score: math.Inf(-1), Member: "#"})
		rdb.ZAdd(e.ctx, key, redis.Z{Score: math.Inf(-1), Member: "#"})
	} else {
		rdb.SAdd(e.ctx, empty, "#")
		rdb.SAdd(e.ctx, key, "#")
	}
	for i := 0; i < n; i += 5000 {
		pipe := rdb.Pipeline()
		for id := base + i; id < base+min(n, i+5000); id++ {
			if zset {
				pipe.ZAdd(e.ctx, key, redis.Z{Score: float64(id), Member: strconv.Itoa(id)})
			} else {
				pipe.SAdd(e.ctx, key, "="+strconv.Itoa(id))
			}
		}
		if _, err := pipe.Exec(e.ctx); err != nil {
			return 0, "", fmt.Errorf("long list: %w", err)
		}
	}
	full, err := rdb.MemoryUsage(e.ctx, key, 0).Result()
	if err != nil {
		return 0, "", fmt.Errorf("MEMORY USAGE %s: %w", key, err)
	}
	none, err := rdb.MemoryUsage(e.ctx, empty, 0).Result()
	if err != nil {
		return 0, "", fmt.Errorf("MEMORY USAGE %s: %w", empty, err)
	}
	enc, _ := rdb.ObjectEncoding(e.ctx, key).Result()
	return float64(full-none) / float64(n), enc, nil
}

// rowUsage is the mean MEMORY USAGE of n row keys of users with a nickname
// of size bytes.
type rowUsage struct {
	size  int
	usage float64
	n     int
}

// mean returns the mean MEMORY USAGE of keys, how many it measured, and
// the type of the first.
func mean(ctx context.Context, rs *testenv.Redis, keys []string) (float64, int, string, error) {
	keys = keys[:min(200, len(keys))]
	if len(keys) == 0 {
		return 0, 0, "", fmt.Errorf("no keys")
	}
	var sum int64
	for _, k := range keys {
		u, err := rs.Client.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return 0, 0, "", fmt.Errorf("MEMORY USAGE %s: %w", k, err)
		}
		sum += u
	}
	typ, _ := rs.Client.Type(ctx, keys[0]).Result()
	return float64(sum) / float64(len(keys)), len(keys), typ, nil
}
