package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis can go back in time: a replica promoted after its master failed
// lacks the master's last writes, and a server restarted from a snapshot
// lacks everything written since. A value published there and lost would
// leave the older value it replaced, with no expiry.
//
// Two mechanisms close this:
//
//   - The server epoch. Every key of the cache names it. The masters' run
//     ids (which change on every restart and every promotion, and are not
//     replicated) are recorded beside it in a stamp key. A process checks
//     the run ids when it starts, after any Redis error, after any new
//     connection, and every version check; when they differ from the
//     stamp, it bumps the epoch, and every process moves to a fresh, empty
//     keyspace: what the old server lost no longer matters. A read during
//     which a connection was opened is checked before its answer is used.
//   - Replica acknowledgements (WithReplicaAcks). A write counts as
//     published only once that many replicas have it, so a promoted replica
//     has every publish that counted. A write to a master that was already
//     replaced (clients still writing to it for a moment) is not
//     acknowledged, and is repaired against the new master.

// identity is what a process knows of the servers behind its client.
type identity struct {
	mu      sync.Mutex
	ids     string // the masters' run ids, sorted, as last checked
	epoch   atomic.Pointer[string]
	due     atomic.Bool   // check before the next use
	dials   atomic.Uint64 // connections opened
	expires atomic.Int64  // unix nanos of the next periodic check
	// standalone: the client's one server said it is a standalone Redis,
	// as last checked (oneTripLookups).
	standalone atomic.Bool
}

// stampScript: KEYS stamp; ARGV run ids. Records the run ids and returns the
// server epoch, bumped when they differ from the recorded ones. Without a
// stamp (a first start, or the stamp lost: deleted, evicted, overwritten
// with another type) the epoch is the server's time, which no stamp gave
// before: the keyspaces of earlier epochs may hold values nobody kept
// right since, and must never be named again. Also returns the state of
// reads (field "reads", see pause.go; "" when unset).
var stampScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt ~= 'hash' and kt ~= 'none' then redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[1], 'ids') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'ids', ARGV[1])
  if redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then
    redis.call('HINCRBY', KEYS[1], 'epoch', 1)
  elseif ARGV[1] ~= '' then
    local t = redis.call('TIME')
    redis.call('HSET', KEYS[1], 'epoch', t[1] .. string.format('%06d', tonumber(t[2])))
  end
end
return {redis.call('HGET', KEYS[1], 'epoch') or '0', redis.call('HGET', KEYS[1], 'reads') or ''}
`)

// serverEpoch returns the server epoch keys are built with, checking the
// servers first when that is due.
func (c *Cache) serverEpoch(ctx context.Context) string {
	now := time.Now()
	return c.serverEpochAt(ctx, &now)
}

// serverEpochAt is serverEpoch at the time *now, which it reads again
// after a round trip.
func (c *Cache) serverEpochAt(ctx context.Context, now *time.Time) string {
	id := &c.ident
	if id.due.Load() || now.UnixNano() > id.expires.Load() {
		c.checkServers(ctx)
		*now = time.Now()
	}
	if e := id.epoch.Load(); e != nil {
		return *e
	}
	return "0"
}

// checkServers reads the masters' run ids and the stamp, and moves to the
// epoch the stamp gives. It reports whether the epoch changed.
func (c *Cache) checkServers(ctx context.Context) bool {
	id := &c.ident
	id.mu.Lock()
	defer id.mu.Unlock()
	if !id.due.Load() && time.Now().UnixNano() <= id.expires.Load() {
		return false // checked while we waited
	}
	if time.Now().UnixNano() < c.openTill.Load() {
		return false // within the breaker's cooldown; checked when it ends
	}
	_, changed, err := c.readServers(ctx)
	if err != nil {
		c.fail(ctx, "check servers", err)
	}
	return changed
}

// confirmServers reads the servers now, breaker or not, and returns the
// server epoch they give: repairs use it to remove their keys where readers
// look for them. Like the repair's other round trips, a failure is the
// repair's to retry: it is not counted or logged as a caller's error.
func (c *Cache) confirmServers(ctx context.Context) (string, error) {
	c.ident.mu.Lock()
	defer c.ident.mu.Unlock()
	epoch, _, err := c.readServers(ctx)
	return epoch, err
}

// readServers reads the masters' run ids and the stamp, and moves to the
// epoch the stamp gives; it holds ident.mu.
func (c *Cache) readServers(ctx context.Context) (epoch string, changed bool, err error) {
	id := &c.ident
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	id.due.Store(false)
	ids, standalone, err := runIDs(ctx, c.rdb)
	if err == nil {
		id.standalone.Store(standalone)
		var res []string
		if res, err = stampScript.Run(ctx, c.rdb, []string{c.stampKey()}, ids).StringSlice(); err == nil && len(res) != 2 {
			err = fmt.Errorf("entcachemodel: the server stamp script answered %d values", len(res))
		}
		if err == nil {
			epoch = res[0]
			c.followReads(ctx, res[1])
			old := id.epoch.Load()
			id.epoch.Store(&epoch)
			id.ids = ids
			id.expires.Store(time.Now().Add(c.versionCheck).UnixNano())
			if old != nil && *old != epoch {
				c.log.Warn("entcachemodel: the Redis servers changed (a failover or a restart); the cache starts empty",
					"run_ids", ids, "epoch", epoch)
				return epoch, true, nil
			}
			return epoch, false, nil
		}
	}
	id.due.Store(true)
	return "", false, err
}

// runIDs returns the run ids of the client's masters, sorted and joined; ""
// for a server that does not tell (an embedded one). standalone is true for
// a *redis.Client whose server says redis_mode:standalone.
func runIDs(ctx context.Context, rdb redis.UniversalClient) (ids string, standalone bool, err error) {
	var mu sync.Mutex
	var all []string
	_, single := rdb.(*redis.Client)
	one := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			if strings.Contains(err.Error(), "not supported") {
				return nil
			}
			return err
		}
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "run_id:"); ok {
				mu.Lock()
				all = append(all, v)
				mu.Unlock()
			}
			if line == "redis_mode:standalone" && single {
				standalone = true
			}
		}
		return nil
	}
	switch r := rdb.(type) {
	case *redis.Client:
		err = one(ctx, r)
	case *redis.ClusterClient:
		err = r.ForEachMaster(ctx, one)
	case *redis.Ring:
		err = r.ForEachShard(ctx, one)
	default:
		return "", false, nil
	}
	slices.Sort(all)
	return strings.Join(all, ","), standalone, err
}

// dialWatch is a go-redis hook that counts new connections: one may lead to
// another server than the one last checked.
type dialWatch struct{ id *identity }

// DialHook implements redis.Hook.
func (w dialWatch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		w.id.dials.Add(1)
		w.id.due.Store(true)
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (dialWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook implements redis.Hook.
func (dialWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// errServersChanged reports a read answered by other servers than those
// its keys were built for: the caller reads the database instead.
var errServersChanged = errors.New("entcachemodel: the Redis servers changed during the read")

// errNotReplicated reports a write that fewer replicas acknowledged than
// WithReplicaAcks asks for.
var errNotReplicated = errors.New("entcachemodel: write not acknowledged by enough replicas")

// waitReplicas appends a WAIT to a pipeline of writes, when replica
// acknowledgements are asked for; check then reports a shortfall.
func (c *Cache) waitReplicas(ctx context.Context, pipe redis.Pipeliner) (check func() error) {
	if c.acks <= 0 {
		return func() error { return nil }
	}
	cmd := pipe.Do(ctx, "WAIT", c.acks, c.ackTimeout.Milliseconds())
	return func() error {
		n, err := cmd.Int64()
		if err != nil {
			return err
		}
		if int(n) < c.acks {
			return fmt.Errorf("%w: %d of %d", errNotReplicated, n, c.acks)
		}
		return nil
	}
}
