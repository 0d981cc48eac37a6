package entcachemodel

import (
	"hash/maphash"
	"reflect"
	"strings"
	"sync"
)

// Lookup hints: a process remembers, for each unique entry key it looked
// up, the id the lookup found. The next lookup of that key reads the row by
// that id first: one round trip (GET and PTTL), on a Cluster too, since no
// entry is read. The row must have no expiry (no writer's mark bounds an old
// value), come from Redis (not the near cache) and hold the looked-up values, exactly as the row an entry names must
// (GetBy): under a unique index the row that holds them is the one the
// database would answer, whatever named its id. So a hint is never trusted;
// one the data has moved away from (the value now in another row, the row
// gone or changed) costs one round trip more, and the lookup goes on as without
// it and hints the id it finds.

// defaultLookupHints is how many hints a Cache keeps by default.
const defaultLookupHints = 16384

// hintShards is the number of independently locked parts of the hints.
const hintShards = 64

// lookupHints maps unique entry keys to the ids last found under them. Each
// shard holds at most max entries; a full shard is emptied before it takes
// another (the hints are only a shortcut: losing them costs one round trip
// per lookup, until each is hinted again).
type lookupHints struct {
	max    int // entries per shard; 0: no hints
	seed   maphash.Seed
	shards [hintShards]hintShard
}

type hintShard struct {
	mu sync.RWMutex
	m  map[string]any
}

// newLookupHints returns hints for about n keys; n <= 0 keeps none.
func newLookupHints(n int) *lookupHints {
	if n <= 0 {
		return nil
	}
	return &lookupHints{max: max(1, (n+hintShards-1)/hintShards), seed: maphash.MakeSeed()}
}

func (h *lookupHints) shard(key string) *hintShard {
	return &h.shards[maphash.String(h.seed, key)%hintShards]
}

// get returns the id hinted for key.
func (h *lookupHints) get(key string) (any, bool) {
	if h == nil {
		return nil, false
	}
	s := h.shard(key)
	s.mu.RLock()
	id, ok := s.m[key]
	s.mu.RUnlock()
	return id, ok
}

// put hints id for key. A string id is copied: one decoded from a cached
// row is a substring of the Redis reply, which the hint would keep alive.
func (h *lookupHints) put(key string, id any) {
	if h == nil {
		return
	}
	id = ownID(id)
	s := h.shard(key)
	s.mu.Lock()
	if _, ok := s.m[key]; !ok && len(s.m) >= h.max {
		s.m = nil
	}
	if s.m == nil {
		s.m = make(map[string]any, h.max)
	}
	s.m[key] = id
	s.mu.Unlock()
}

// drop forgets the hint of key.
func (h *lookupHints) drop(key string) {
	if h == nil {
		return
	}
	s := h.shard(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// len returns the number of hints held.
func (h *lookupHints) len() int {
	if h == nil {
		return 0
	}
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// ownID returns id with the bytes of a string id (of a named string type
// too) copied.
func ownID(id any) any {
	switch x := id.(type) {
	case string:
		return strings.Clone(x)
	case int, int64, [16]byte:
		return id
	}
	v := reflect.ValueOf(id)
	if v.Kind() != reflect.String {
		return id
	}
	c := reflect.New(v.Type()).Elem()
	c.SetString(strings.Clone(v.String()))
	return c.Interface()
}
