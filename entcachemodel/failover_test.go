package entcachemodel

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every server epoch names a keyspace that may still hold values (keys are
// replicated, and outlive the epochs that wrote them). A stamp that is lost
// (deleted, evicted, overwritten with a value of another type) must not
// give back an epoch used before: its keyspace may hold values nobody kept
// right since.
func TestServerEpochsAreNeverReused(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	ctx := context.Background()
	key := "{recm}:servers"
	stamp := func(ids string) string {
		res, err := stampScript.Run(ctx, rdb, []string{key}, ids).StringSlice()
		require.NoError(t, err)
		require.Len(t, res, 2)
		return res[0]
	}
	seen := map[string]bool{}
	for _, ids := range []string{"a", "b", "c"} { // a start, then two failovers
		seen[stamp(ids)] = true
	}
	require.Len(t, seen, 3)
	m.Del(key)
	e := stamp("c")
	assert.False(t, seen[e], "a lost stamp gives back an epoch used before")
	seen[e] = true
	m.Del(key)
	require.NoError(t, m.Set(key, "not a stamp"))
	assert.False(t, seen[stamp("d")], "a stamp of the wrong type gives back an epoch used before")
}
