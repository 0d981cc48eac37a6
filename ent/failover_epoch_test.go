package ent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// The writer's mark reaches the old master (and its replica); the replica
// is promoted (a second replica follows it, so it acknowledges writes) and
// a reader fills the old value under the new epoch before the writer's
// UPDATE; the writer's publish is not acknowledged and goes to the repair
// queue, which must remove the key under the new epoch too (it read the
// epoch only when the breaker let it, and removed the old epoch's key).
func TestFailoverRepairsUnderTheNewEpoch(t *testing.T) {
	needServers(t)
	master := startRedis(t)
	replica := startRedis(t, "--replicaof", "127.0.0.1", strings.Split(master.addr, ":")[1])
	rep := replica.client()
	defer rep.Close()
	require.Eventually(t, func() bool {
		info, _ := rep.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	}, 10*time.Second, 20*time.Millisecond)
	third := startRedis(t, "--replicaof", "127.0.0.1", strings.Split(replica.addr, ":")[1])
	th := third.client()
	defer th.Close()
	require.Eventually(t, func() bool {
		info, _ := th.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	}, 10*time.Second, 20*time.Millisecond)
	e := newEnv(t)
	acks := entcachemodel.WithReplicaAcks(1, 200*time.Millisecond)
	var addr atomic.Pointer[string]
	addr.Store(&master.addr)
	rdb := movingClient(&addr)
	defer rdb.Close()
	_, cache, writer := e.process(rdb, acks, entcachemodel.WithCooldown(50*time.Millisecond))
	u, err := writer.User.Create().SetEmail("r@x.io").SetFirstName("r").SetAge(1).Save(e.ctx)
	require.NoError(t, err)
	require.Zero(t, e.staleUsers(writer, []int{u.ID}))
	newMaster := replica.client()
	defer newMaster.Close()
	var reader *ent.Client
	var once atomic.Bool
	writer.User.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if m.Op().Is(ent.OpUpdateOne) && once.CompareAndSwap(false, true) {
				replica.do("REPLICAOF", "NO", "ONE") // after the writer's mark
				_, _, reader = e.process(newMaster, acks)
				require.Zero(t, e.staleUsers(reader, []int{u.ID})) // fills age 1 under the new epoch
			}
			return next.Mutate(ctx, m)
		})
	})
	require.NoError(t, writer.User.UpdateOneID(u.ID).SetAge(2).Exec(e.ctx))
	addr.Store(&replica.addr)
	master.do("REPLICAOF", "127.0.0.1", strings.Split(replica.addr, ":")[1])
	master.do("CLIENT", "KILL", "TYPE", "normal")
	require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, e.staleUsers(reader, []int{u.ID}), "reader")
	assert.Zero(t, e.staleUsers(writer, []int{u.ID}), "writer")
}
