package entcachemodel

import (
	"context"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// modelRedis is REDIS_URL's server when it names one (not a cluster), else
// an embedded one: the scripts' fix found by the model checker must hold on
// a real Redis too.
func modelRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Skipf("REDIS_URL is not one server: %v", err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// A mark bounds the current value by its lease, but never extends an
// expiry an earlier mark gave it: that writer may have committed and died
// (TestModelMarkDoesNotExtendAStaleValue). Two leases of different length
// stand for two marks taken at different times.
func TestMarkKeepsAnEarlierExpiry(t *testing.T) {
	ctx := context.Background()
	rdb := modelRedis(t)
	key := newKeyspace("mark"+strconv.FormatInt(time.Now().UnixNano(), 36), "User", "h").row("1")
	t.Cleanup(func() { rdb.Del(ctx, key, lease(key)) })
	if err := rdb.Set(ctx, key, "old", 0).Err(); err != nil {
		t.Fatal(err)
	}
	mark := func(token string, ms int) {
		t.Helper()
		if err := markScript.Run(ctx, rdb, []string{key, lease(key)}, token, ms).Err(); err != nil {
			t.Fatal(err)
		}
	}
	pttl := func(k string) time.Duration {
		t.Helper()
		d, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	mark("w1", 10_000)
	if d := pttl(key); d <= 9*time.Second || d > 10*time.Second {
		t.Fatalf("after the first mark the value expires in %v, want the lease (10s)", d)
	}
	mark("w2", 60_000)
	if d := pttl(key); d > 10*time.Second {
		t.Fatalf("a later mark extended the value's expiry to %v; the first mark bounded it to 10s", d)
	}
	if d := pttl(lease(key)); d <= 59*time.Second {
		t.Fatalf("the lease key expires in %v, before the second token (60s)", d)
	}
}

// Every distinct script call the model checker made on miniredis gives the
// same reply, and leaves its two keys the same, on REDIS_URL's server: the
// model's Redis is the real one's, in every situation it explored. Times
// are compared relative to the server's clock.
func TestModelScriptsOnRedis(t *testing.T) {
	if os.Getenv("REDIS_URL") == "" {
		t.Skip("REDIS_URL is not set")
	}
	ctx := context.Background()
	rdb := modelRedis(t)
	ticks, modes, short := modelBounds(t)
	e := newMEnv(t)
	e.quiet = true
	for _, ms := range modes {
		for _, sc := range mScenarios(ms[0], ms[1]) {
			if short && !sc.noList {
				continue
			}
			e.visited = map[string]uint64{}
			start := sc.state()
			e.explore(start, start, ticks, nil)
			if e.fail != nil {
				t.Fatalf("%s: counterexample:\n  %s", sc.name, strings.Join(e.fail, "\n  "))
			}
		}
	}
	ks := newKeyspace("model"+strconv.FormatInt(time.Now().UnixNano(), 36), "User", "h")
	row, list := ks.row(mRowID), ks.list("age", "A")
	names := [4]string{row, lease(row), list, lease(list)}
	t.Cleanup(func() { rdb.Del(ctx, names[:]...) })
	serverNow := func() int64 {
		tm, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	// The server's clock runs on between loading the keys and reading them
	// back: a call whose round trips took longer than settle is tried
	// again (every live expiry in the model is at least 399ms away, so the
	// scripts decide as on miniredis).
	const settle = 50
	unsettled := 0
	for _, res := range e.memo {
		keys := names[res.op.key : res.op.key+2]
		var reply any
		var got [2]mData
		settled := false
		for try := 0; try < 10 && !settled; try++ {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Fatal(err)
			}
			now := serverNow()
			for i, d := range res.in {
				loadRedis(t, rdb, keys[i], d.shift(now))
			}
			reply = e.call(rdb, keys, res.op)
			for i, k := range keys {
				got[i] = readRedis(t, rdb, k).shift(-now)
			}
			settled = serverNow()-now <= settle
		}
		if !settled {
			unsettled++
			continue
		}
		if reply != res.reply || !sameKeys(got, res.keys, settle) {
			t.Errorf("%s on %v:\n  miniredis: %v %v\n  redis:     %v %v", res.op, res.in, res.reply, res.keys, reply, got)
		}
	}
	if unsettled > 0 {
		t.Logf("%d calls not compared: the server took more than %dms each time", unsettled, settle)
	}
	if unsettled > len(e.memo)/2 {
		t.Skipf("the server is too slow to compare %d of %d calls", unsettled, len(e.memo))
	}
	t.Logf("%d distinct script calls agree", len(e.memo)-unsettled)
}

func loadRedis(t *testing.T, rdb redis.UniversalClient, k string, d mData) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch d.typ {
	case "":
		return
	case "string":
		err = rdb.Set(ctx, k, d.str, 0).Err()
	case "zset":
		for _, x := range d.set {
			if err = rdb.ZAdd(ctx, k, redis.Z{Score: mScore(x), Member: x}).Err(); err != nil {
				break
			}
		}
	case "hash":
		for _, f := range d.hash {
			if err = rdb.HSet(ctx, k, f[0], f[1]).Err(); err != nil {
				break
			}
		}
	}
	if err == nil && d.exp != 0 {
		err = rdb.PExpireAt(ctx, k, time.UnixMilli(d.exp)).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readRedis(t *testing.T, rdb redis.UniversalClient, k string) mData {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	d := mData{}
	if typ == "none" {
		return d
	}
	d.typ = typ
	switch typ {
	case "string":
		d.str, err = rdb.Get(ctx, k).Result()
	case "zset":
		d.set, err = rdb.ZRange(ctx, k, 0, -1).Result()
		slices.Sort(d.set)
	case "hash":
		var h map[string]string
		h, err = rdb.HGetAll(ctx, k).Result()
		for _, f := range slices.Sorted(maps.Keys(h)) {
			d.hash = append(d.hash, [2]string{f, h[f]})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	exp, err := rdb.PExpireTime(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	if exp > 0 {
		d.exp = exp.Milliseconds()
	}
	return d
}

// sameKeys compares keys, times within tolerance ms.
func sameKeys(a, b [2]mData, tolerance int64) bool {
	near := func(x, y int64) bool { return x-y <= tolerance && y-x <= tolerance }
	for i := range a {
		x, y := a[i], b[i]
		if x.typ != y.typ || x.str != y.str || !slices.Equal(x.set, y.set) || len(x.hash) != len(y.hash) {
			return false
		}
		if (x.exp == 0) != (y.exp == 0) || !near(x.exp, y.exp) {
			return false
		}
		for j := range x.hash {
			f, g := x.hash[j], y.hash[j]
			if f[0] != g[0] {
				return false
			}
			m, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.ParseInt(g[1], 10, 64)
			if (err1 == nil) != (err2 == nil) || err1 == nil && !near(m, n) || err1 != nil && f[1] != g[1] {
				return false
			}
		}
	}
	return true
}
