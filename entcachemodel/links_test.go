package entcachemodel

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A watch lasts one lease; writes that moved rows to a watched owner see it.
func TestWatch(t *testing.T) {
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}), WithLease(time.Second))
	s := rowSchema("h")
	ctx := context.Background()
	require.NoError(t, s.Watch(ctx, c, "keeper", OwnerKeys([]int{7, 8})))

	key := func(o Owner) string { return s.watchKey(c, o.Link, o.Key) }
	watched := Owners("keeper", []int{8})
	assert.True(t, c.watched(ctx, []string{key(watched[0])}))
	assert.False(t, c.watched(ctx, []string{key(Owners("keeper", []int{9})[0]), key(Owners("other", []int{7})[0])}))
	assert.Equal(t, time.Second, m.TTL(key(watched[0])))
	m.FastForward(time.Second)
	assert.False(t, c.watched(ctx, []string{key(watched[0])}), "the watch ends with the lease")
}

// Without Redis a watch cannot be set: the write goes on, unless strict.
func TestWatchWithoutRedis(t *testing.T) {
	dead := func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond, ContextTimeoutEnabled: true})
	}
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	s := rowSchema("h")
	ctx := context.Background()
	lenient := New(dead(), quiet)
	assert.NoError(t, s.Watch(ctx, lenient, "keeper", []string{"1"}))
	assert.Equal(t, uint64(1), lenient.Stats().Errors, "the failure is counted and logged")
	assert.True(t, lenient.watched(ctx, []string{"{x}"}), "unknown counts as watched: holding rows is safe")
	strict := New(dead(), quiet, WithStrictWrites())
	assert.ErrorIs(t, s.Watch(ctx, strict, "keeper", []string{"1"}), ErrUnavailable)
}
