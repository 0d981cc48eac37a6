package entcachemodel

import (
	"context"
	"log/slog"
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
		keys := make([]string, 0, 2*len(batch))
		for _, k := range batch {
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
