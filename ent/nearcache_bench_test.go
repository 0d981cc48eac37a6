package ent_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// BenchmarkNearHitVsSQLite compares a near-cache hit of Get by id with a
// read of the same row by id from the database (sqlite by default), side
// by side in alternating rounds of 1,000 reads. It needs REDIS_URL (a
// server with CLIENT TRACKING). Reported: near-ns/op, db-ns/op and
// db/near (how many times faster the hit is).
func BenchmarkNearHitVsSQLite(b *testing.B) {
	dbase, err := testenv.OpenDatabase()
	require.NoError(b, err)
	b.Cleanup(dbase.Close)
	drv, err := dbase.Open()
	require.NoError(b, err)
	r, err := testenv.OpenRedis()
	require.NoError(b, err)
	b.Cleanup(r.Close)
	if r.Mini != nil {
		b.Skip("the near cache needs CLIENT TRACKING: set REDIS_URL to a real Redis")
	}
	b.Cleanup(func() { dropKeys(b, r) })
	cache := entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix), entcachemodel.WithNearCache(1000))
	b.Cleanup(cache.Close)
	client := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
	b.Cleanup(func() { client.Close() })
	e := struct {
		ctx    context.Context
		client *ent.Client
		cache  *entcachemodel.Cache
	}{context.Background(), client, cache}
	require.NoError(b, client.Schema.Create(e.ctx))
	u, err := e.client.User.Create().SetEmail("bench@x").SetFirstName("F").SetLastName("L").SetAge(3).
		SetNickname("n").SetTags([]string{"a", "b", "c"}).Save(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.client.User.Cached().Get(e.ctx, u.ID); err != nil {
		b.Fatal(err)
	}
	const round = 1000
	var near, db time.Duration
	var n int
	b.ResetTimer()
	for i := 0; i < b.N; i += round {
		start := time.Now()
		for range round {
			if _, err := e.client.User.Cached().Get(e.ctx, u.ID); err != nil {
				b.Fatal(err)
			}
		}
		near += time.Since(start)
		start = time.Now()
		for range round {
			if _, err := e.client.User.Get(e.ctx, u.ID); err != nil {
				b.Fatal(err)
			}
		}
		db += time.Since(start)
		n += round
	}
	b.StopTimer()
	b.ReportMetric(float64(near.Nanoseconds())/float64(n), "near-ns/op")
	b.ReportMetric(float64(db.Nanoseconds())/float64(n), "db-ns/op")
	b.ReportMetric(float64(db)/float64(near), "db/near")
	if st := e.cache.NearStats(); st.Hits < uint64(n-1) {
		b.Fatalf("%d near hits of %d reads", st.Hits, n)
	}
}
