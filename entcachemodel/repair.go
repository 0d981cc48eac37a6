package entcachemodel

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRepair caps the keys kept for repair. Past it, keys are dropped and
// logged: the cache may then need a flush (see the README's limits).
const maxRepair = 1 << 20

// repairQueue holds the keys that writers could not update because Redis
// failed. A background goroutine removes them once Redis answers again, so
// the cache heals without further writes. It runs only while keys wait.
type repairQueue struct {
	cache   *Cache
	mu      sync.Mutex
	keys    map[string]struct{}
	running bool
	pending atomic.Int64 // len(keys), read without the lock
}

func (q *repairQueue) len() int { return int(q.pending.Load()) }

// addRel queues entries named relative to every keyspace (keyspace rel
// names, "r:<id>" or "l:<index>:<key>") of one type, for a write whose view
// of the registry may miss some of them: the repair removes them in every
// version the registry names when it runs.
func (q *repairQueue) addRel(typ, hash string, rels ...string) {
	keys := make([]string, len(rels))
	for i, r := range rels {
		keys[i] = relRepair(typ, hash, r)
	}
	q.add(keys...)
}

// relRepair is the queue entry of a rel key: it starts with a byte no data
// key does ("{").
func relRepair(typ, hash, rel string) string { return "\x00" + typ + "\x00" + hash + "\x00" + rel }

// resolve returns the data keys of the queued keys: rel entries in every
// keyspace the registry names now, other keys as they are.
func (q *repairQueue) resolve(ctx context.Context, batch []string) ([]string, error) {
	out := make([]string, 0, len(batch))
	byVersion := map[[2]string]spaces{}
	for _, k := range batch {
		parts := strings.SplitN(k, "\x00", 4)
		if len(parts) != 4 || parts[0] != "" {
			out = append(out, k)
			continue
		}
		id := [2]string{parts[1], parts[2]}
		sp, ok := byVersion[id]
		if !ok {
			var err error
			if sp, err = q.cache.keyspaces(ctx, parts[1], parts[2]); err != nil {
				return nil, err
			}
			byVersion[id] = sp
		}
		out = append(out, sp.keys(parts[3])...)
	}
	return out, nil
}

func (q *repairQueue) add(keys ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.keys == nil {
		q.keys = make(map[string]struct{})
	}
	for _, k := range keys {
		if len(q.keys) >= maxRepair {
			q.cache.log.Error("entcachemodel: repair queue full, dropping key", slog.String("key", k))
			continue
		}
		q.keys[k] = struct{}{}
	}
	q.pending.Store(int64(len(q.keys)))
	if !q.running && len(q.keys) > 0 {
		q.running = true
		go q.run()
	}
}

func (q *repairQueue) run() {
	wait := 50 * time.Millisecond
	for {
		time.Sleep(wait)
		q.mu.Lock()
		batch := make([]string, 0, min(len(q.keys), 1000))
		for k := range q.keys {
			if len(batch) == cap(batch) {
				break
			}
			batch = append(batch, k)
		}
		q.mu.Unlock()
		// The keys were built for the servers of their write; if those were
		// replaced since, the write may be missing on the new ones, under
		// their epoch: read it now, and again after the removal, so that a
		// key leaves the queue only once removed where readers look.
		ctx := context.Background()
		epoch, err := q.cache.confirmServers(ctx)
		if err != nil {
			wait = min(wait*2, time.Second)
			continue
		}
		resolved, err := q.resolve(ctx, batch)
		if err != nil {
			wait = min(wait*2, time.Second)
			continue
		}
		keys := make([]string, 0, 2*len(resolved))
		for _, k := range resolved {
			keys = append(keys, k)
			if on := onServers(k, epoch); on != k {
				keys = append(keys, on)
			}
		}
		err = q.cache.remove(ctx, keys)
		if err == nil {
			var now string
			if now, err = q.cache.confirmServers(ctx); err == nil && now != epoch {
				continue // the servers changed during the removal: again
			}
		}
		if err != nil {
			wait = min(wait*2, time.Second)
			continue
		}
		wait = 50 * time.Millisecond
		// Redis answers again: close the breaker. Reads keep skipping Redis
		// until the queue is empty (see Cache.redisUp).
		q.cache.openTill.Store(0)
		q.mu.Lock()
		for _, k := range batch {
			delete(q.keys, k)
		}
		q.pending.Store(int64(len(q.keys)))
		if len(q.keys) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}
