package ent_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// redisServer is a redis-server process of a test's own.
type redisServer struct {
	t    *testing.T
	addr string
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startRedis starts redis-server on a free loopback port, keeping its
// snapshot in a directory of the test.
func startRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	s := &redisServer{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir(),
		args: append([]string{"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no"}, args...)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", append(s.args, "--dir", s.dir)...)
	require.NoError(s.t, s.cmd.Start(), "redis-server must be installed beside the real Redis")
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	defer rdb.Close()
	require.Eventually(s.t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
}

func (s *redisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
		s.cmd = nil
	}
}

func (s *redisServer) client() *redis.Client { return redis.NewClient(&redis.Options{Addr: s.addr}) }

// do runs one command on the server.
func (s *redisServer) do(args ...any) {
	s.t.Helper()
	rdb := s.client()
	defer rdb.Close()
	require.NoError(s.t, rdb.Do(context.Background(), args...).Err(), "%v", args)
}

// needServers skips a test that starts its own redis-server processes
// unless the suite runs on the real services, where redis-server is there.
func needServers(t *testing.T) {
	if os.Getenv("REDIS_URL") == "" {
		t.Skip("starts its own redis-server processes: runs with the real services (REDIS_URL set), as in .ci/run")
	}
}

// movingClient is a Redis client whose connections go to addr, which a test
// moves, as a virtual address or Sentinel moves clients to a new master.
func movingClient(addr *atomic.Pointer[string]) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                  "moving",
		ContextTimeoutEnabled: true,
		MaxRetries:            2,
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, *addr.Load())
		},
	})
}

// requireAllFresh checks every user's cached value against the database and
// returns how many were stale.
func (e *env) staleUsers(client *ent.Client, ids []int) int {
	e.t.Helper()
	stale := 0
	for _, id := range ids {
		want, err := e.client.User.Get(e.ctx, id)
		require.NoError(e.t, err)
		got, err := client.User.Cached().Get(e.ctx, id)
		require.NoError(e.t, err)
		if got.Age != want.Age {
			stale++
		}
	}
	return stale
}

// A replica is promoted while a process still writes to the old master for
// a moment (its writes there are lost), and another process, started on the
// new master, already reads; then the first moves to the new master too.
// Once it has, nothing stale may be served.
func TestFailoverServesNothingStale(t *testing.T) {
	needServers(t)
	master := startRedis(t)
	replica := startRedis(t, "--replicaof", "127.0.0.1", strings.Split(master.addr, ":")[1])
	rep := replica.client()
	defer rep.Close()
	require.Eventually(t, func() bool {
		info, _ := rep.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	}, 10*time.Second, 20*time.Millisecond)

	e := newEnv(t)
	acks := entcachemodel.WithReplicaAcks(1, 200*time.Millisecond)
	var addr atomic.Pointer[string]
	addr.Store(&master.addr)
	rdb := movingClient(&addr)
	defer rdb.Close()
	_, cache, writer := e.process(rdb, acks, entcachemodel.WithCooldown(50*time.Millisecond))
	var ids []int
	for i := range 100 {
		u, err := writer.User.Create().SetEmail(fmt.Sprintf("f%d@x.io", i)).SetFirstName(fmt.Sprint(i)).SetAge(1).Save(e.ctx)
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	require.Zero(t, e.staleUsers(writer, ids))

	// The replica is promoted. A process that starts now reads from it...
	replica.do("REPLICAOF", "NO", "ONE")
	newMaster := replica.client()
	defer newMaster.Close()
	_, _, reader := e.process(newMaster, acks)
	require.Zero(t, e.staleUsers(reader, ids))
	// ... while the writer still writes to the old master, which no longer
	// replicates to it.
	for i, id := range ids {
		require.NoError(t, writer.User.UpdateOneID(id).SetAge(2+i%3).Exec(e.ctx))
	}
	// The writer moves to the new master, and the old one follows it.
	addr.Store(&replica.addr)
	master.do("REPLICAOF", "127.0.0.1", strings.Split(replica.addr, ":")[1])
	master.do("CLIENT", "KILL", "TYPE", "normal")
	assert.Zero(t, e.staleUsers(writer, ids), "the writer, right after it moved")
	require.Eventually(t, func() bool { return cache.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)
	assert.Zero(t, e.staleUsers(reader, ids), "the reader, once the writer repaired its writes")
	assert.Zero(t, e.staleUsers(writer, ids), "the writer")
	for i, id := range ids[:10] {
		require.NoError(t, writer.User.UpdateOneID(id).SetAge(10+i).Exec(e.ctx))
	}
	assert.Zero(t, e.staleUsers(reader, ids), "writes after the failover publish")
}

// A server restarted from an older snapshot lost the publishes made since:
// the cache must not serve what the snapshot holds.
func TestRestartFromAnOldSnapshotServesNothingStale(t *testing.T) {
	needServers(t)
	server := startRedis(t)
	e := newEnv(t)
	var addr atomic.Pointer[string]
	addr.Store(&server.addr)
	rdb := movingClient(&addr)
	defer rdb.Close()
	_, _, client := e.process(rdb)
	var ids []int
	for i := range 50 {
		u, err := client.User.Create().SetEmail(fmt.Sprintf("s%d@x.io", i)).SetFirstName(fmt.Sprint(i)).SetAge(1).Save(e.ctx)
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	require.Zero(t, e.staleUsers(client, ids))
	server.do("SAVE")
	for _, id := range ids {
		require.NoError(t, client.User.UpdateOneID(id).SetAge(5).Exec(e.ctx))
	}
	require.Zero(t, e.staleUsers(client, ids))
	server.stop()
	_, err := os.Stat(filepath.Join(server.dir, "dump.rdb"))
	require.NoError(t, err)
	server.start() // loads the snapshot taken before the updates
	assert.Zero(t, e.staleUsers(client, ids), "after the restart")
}
