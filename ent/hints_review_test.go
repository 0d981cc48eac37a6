package ent_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// heapAfterGC returns the bytes of live heap after a full collection.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A hint holds an id, about 100 bytes (WithLookupHints), not the row it was
// read from: a string id decoded from a cached row is a substring of the
// Redis reply (Decoder.String), and a hint that keeps it keeps the whole
// reply alive, for as long as the hint lives.
func TestLookupHintsDoNotRetainRows(t *testing.T) {
	const rows, size = 64, 256 << 10
	for _, tc := range []struct {
		name string
		opts []entcachemodel.Option
	}{{"hints", nil}, {"no hints", []entcachemodel.Option{noHints}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, _, reader := e.process(e.redis.Client, tc.opts...)
			for i := range rows {
				e.client.CollTag.Create().SetID(fmt.Sprintf("tag-%03d", i)).SetSlug(fmt.Sprintf("slug-%03d", i)).
					SetLabel(strings.Repeat(string(rune('a'+i%26)), size)).ExecX(e.ctx)
			}
			lookup := func() {
				for i := range rows {
					v, err := reader.CollTag.Cached().GetBySlug(e.ctx, fmt.Sprintf("slug-%03d", i))
					require.NoError(t, err)
					require.Equal(t, fmt.Sprintf("tag-%03d", i), v.ID)
				}
			}
			before := heapAfterGC()
			lookup() // hints each id, read from its row in Redis
			lookup() // hinted
			after := heapAfterGC()
			grown := int64(after) - int64(before)
			t.Logf("%s: live heap grew by %d bytes over %d lookups of %d-byte rows", tc.name, grown, rows, size)
			require.Less(t, grown, int64(rows*size/4), "the lookups keep their rows alive")
			runtime.KeepAlive(reader)
		})
	}
}

// A hinted row the data moved away from is not what the lookup answers: it
// is no hit (Stats.Hits counts reads served from Redis). A lookup whose
// value moved to another row counts what the same lookup without hints
// counts: one hit, the row the entry names.
func TestLookupHintsStats(t *testing.T) {
	e := newEnv(t)
	_, hinted, hc := e.process(e.redis.Client)
	_, plain, pc := e.process(e.redis.Client, noHints)
	u1 := e.createUser("x@stats.io", 1)
	u2 := e.createUser("y@stats.io", 2)
	for _, c := range []*ent.Client{hc, pc} {
		for range 2 {
			v, err := c.User.Cached().GetByEmail(e.ctx, "x@stats.io") // hints x -> u1
			require.NoError(t, err)
			require.Equal(t, u1.ID, v.ID)
		}
	}
	e.client.User.UpdateOne(u1).SetEmail("z@stats.io").ExecX(e.ctx)
	e.client.User.UpdateOne(u2).SetEmail("x@stats.io").ExecX(e.ctx)
	delta := func(c *entcachemodel.Cache, client *ent.Client) entcachemodel.Stats {
		before := c.Stats()
		v, err := client.User.Cached().GetByEmail(e.ctx, "x@stats.io")
		require.NoError(t, err)
		require.Equal(t, u2.ID, v.ID)
		after := c.Stats()
		return entcachemodel.Stats{Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses}
	}
	want := delta(plain, pc)
	require.Equal(t, entcachemodel.Stats{Hits: 1}, want, "without hints")
	assert.Equal(t, want, delta(hinted, hc), "a lookup whose hinted row no longer holds the value")
	assert.Equal(t, want, delta(hinted, hc), "hinted again, to the row that holds it")
}
