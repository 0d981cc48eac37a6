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

// A watch lasts watchLeases leases. Movers to a watched owner join its set,
// and the unnamed write finds their keys there; movers to other owners do
// not.
func TestWatchAndJoin(t *testing.T) {
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true}), WithLease(time.Second))
	s := rowSchema("h")
	ctx := context.Background()
	key := func(link string, id int) string { return s.watchKey(c, Owners(link, []int{id})[0]) }
	require.NoError(t, c.watch(ctx, []string{key("keeper", 7), key("keeper", 8)}))
	assert.Equal(t, watchLeases*time.Second, m.TTL(key("keeper", 8)))

	assert.False(t, c.join(ctx, []string{key("keeper", 9), key("other", 7)}, []string{"{a}"}), "not watched")
	assert.True(t, c.join(ctx, []string{key("keeper", 9), key("keeper", 8)}, []string{"{b}", "{c}"}))
	joined, err := c.joined(ctx, []string{key("keeper", 7), key("keeper", 8)})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"{b}", "{c}"}, joined)
	assert.False(t, m.Exists(key("keeper", 9)), "joining never starts a watch")

	m.FastForward(watchLeases * time.Second)
	assert.False(t, c.join(ctx, []string{key("keeper", 8)}, []string{"{d}"}), "the watch ended")
}

// Without Redis a watch cannot start: the write goes on, unless strict.
func TestWatchWithoutRedis(t *testing.T) {
	dead := func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond, ContextTimeoutEnabled: true})
	}
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	ctx := context.Background()
	lenient := New(dead(), quiet)
	assert.NoError(t, lenient.watch(ctx, []string{"{w}"}))
	assert.Equal(t, uint64(1), lenient.Stats().Errors, "the failure is counted and logged")
	assert.True(t, lenient.join(ctx, []string{"{w}"}, []string{"{x}"}), "unknown counts as watched: holding rows is safe")
	strict := New(dead(), quiet, WithStrictWrites())
	assert.ErrorIs(t, strict.watch(ctx, []string{"{w}"}), ErrUnavailable)
}
