package entcachemodel

import (
	"context"
	"os"
	"strconv"
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
