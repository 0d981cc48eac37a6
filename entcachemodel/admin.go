package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Maintainer is the maintenance of one cached type: generated code
// implements it on every Cached() type (client.User.Cached()).
type Maintainer interface {
	// Type is the ent type name, as keys and the admin commands name it.
	Type() string
	// Warm publishes the type's rows ahead of traffic.
	Warm(ctx context.Context, opts ...RunOption) (WarmReport, error)
	// Verify compares what the cache holds with the database.
	Verify(ctx context.Context, opts ...RunOption) (VerifyReport, error)
	// Purge removes every key of the type and returns how many.
	Purge(ctx context.Context) (int, error)
}

// ErrUnknownType is returned, wrapped with the valid names, for a type an
// Admin does not know.
var ErrUnknownType = errors.New("entcachemodel: unknown type")

// Admin runs the maintenance of every cached type of a client: generated
// code returns one from client.CacheAdmin(). The package cachecli turns it
// into a command.
type Admin struct {
	cache *Cache
	types []Maintainer // by Type
}

// NewAdmin returns the Admin of the given types on c.
func NewAdmin(c *Cache, types ...Maintainer) *Admin {
	types = slices.Clone(types)
	slices.SortFunc(types, func(a, b Maintainer) int { return strings.Compare(a.Type(), b.Type()) })
	return &Admin{cache: c, types: types}
}

// Cache returns the cache the Admin works on (nil for a client without one).
func (a *Admin) Cache() *Cache { return a.cache }

// Types returns the names of the cached types, sorted.
func (a *Admin) Types() []string {
	out := make([]string, len(a.types))
	for i, m := range a.types {
		out[i] = m.Type()
	}
	return out
}

// Maintainer returns the maintenance of the named type.
func (a *Admin) Maintainer(typ string) (Maintainer, error) {
	for _, m := range a.types {
		if m.Type() == typ {
			return m, nil
		}
	}
	valid := strings.Join(a.Types(), ", ")
	if valid == "" {
		valid = "none"
	}
	return nil, fmt.Errorf("%w %q; the cached types are: %s", ErrUnknownType, typ, valid)
}

// Select returns the maintenance of the named types, in the order named,
// or of every type when none is named. An unknown name fails the whole
// selection.
func (a *Admin) Select(types ...string) ([]Maintainer, error) {
	if len(types) == 0 {
		return slices.Clone(a.types), nil
	}
	out := make([]Maintainer, 0, len(types))
	for _, t := range types {
		m, err := a.Maintainer(t)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Warm warms the named types (every type when types is empty), one after
// the other, and returns their reports. It stops at the first error: the
// last report is then the failed run's, with its cursor.
func (a *Admin) Warm(ctx context.Context, types []string, opts ...RunOption) ([]WarmReport, error) {
	ms, err := a.Select(types...)
	if err != nil {
		return nil, err
	}
	var out []WarmReport
	for _, m := range ms {
		rep, err := m.Warm(ctx, opts...)
		if rep.Type == "" {
			rep.Type = m.Type()
		}
		out = append(out, rep)
		if err != nil {
			return out, fmt.Errorf("warm %s: %w", m.Type(), err)
		}
	}
	return out, nil
}

// Verify verifies the named types (every type when types is empty), one
// after the other, and returns their reports. It stops at the first error:
// the last report is then the failed run's, with its cursor.
func (a *Admin) Verify(ctx context.Context, types []string, opts ...RunOption) ([]VerifyReport, error) {
	ms, err := a.Select(types...)
	if err != nil {
		return nil, err
	}
	var out []VerifyReport
	for _, m := range ms {
		rep, err := m.Verify(ctx, opts...)
		if rep.Type == "" {
			rep.Type = m.Type()
		}
		out = append(out, rep)
		if err != nil {
			return out, fmt.Errorf("verify %s: %w", m.Type(), err)
		}
	}
	return out, nil
}

// Purge removes the keys of the named types, or, when none is named, every
// key of the prefix (Cache.Purge: types no longer in the schema too), and
// returns how many it removed.
func (a *Admin) Purge(ctx context.Context, types ...string) (int, error) {
	if len(types) == 0 {
		return a.cache.Purge(ctx)
	}
	ms, err := a.Select(types...)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, m := range ms {
		n, err := m.Purge(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", m.Type(), err)
		}
	}
	return total, nil
}

// Pause pauses reads in every process of the prefix (Cache.PauseReads).
func (a *Admin) Pause(ctx context.Context) error { return a.cache.PauseReads(ctx) }

// Resume resumes reads in every process of the prefix (Cache.ResumeReads).
func (a *Admin) Resume(ctx context.Context) error { return a.cache.ResumeReads(ctx) }

// AdminStats is what Redis holds for a prefix, and this process's counters.
type AdminStats struct {
	Prefix string
	// Reads is the state of reads stored in Redis.
	Reads ReadState
	// ServerEpoch is the epoch of the servers (see WithReplicaAcks).
	ServerEpoch string
	// Types are the cached types, and the types no longer cached whose keys
	// are still there, by name.
	Types []TypeStats
	// Process counts what this process's Cache did.
	Process Stats
}

// TypeStats counts the keys of one type, in every schema version and server
// epoch.
type TypeStats struct {
	Type string
	// Known is false for a type whose keys are there but which the Admin
	// does not know (removed from the schema, or of another program).
	Known   bool
	Rows    int // cached values, by id
	Entries int // unique index entries
	Lists   int // lists
	Leases  int // lease keys (writes and fills in flight, or a crash's)
	Watches int // watch sets of running writes
	Other   int // keys in another form
	// Versions are the schema versions in the registry.
	Versions []Version
}

// Keys returns the number of keys counted.
func (t TypeStats) Keys() int {
	return t.Rows + t.Entries + t.Lists + t.Leases + t.Watches + t.Other
}

// Version is a schema version in a type's registry.
type Version struct {
	Hash   string
	Epoch  string    // its keyspace's epoch
	Joined time.Time // when it (last) started
	Seen   time.Time // when a process of it last checked in
	Alive  bool      // a process of it is live (see versions.go)
}

// Stats scans the keys of the named types, or of the whole prefix when
// none is named (every master, SCAN), and counts them by type and kind.
// SCAN walks every key of the servers: on a large Redis it takes a while,
// and it is meant for an operator.
func (a *Admin) Stats(ctx context.Context, types ...string) (AdminStats, error) {
	c := a.cache
	if !c.Enabled() {
		return AdminStats{}, ErrNoCache
	}
	ms, err := a.Select(types...)
	if err != nil {
		return AdminStats{}, err
	}
	st := AdminStats{Prefix: c.prefix, Process: c.Stats()}
	reads, err := c.ReadState(ctx)
	if err != nil {
		return st, err
	}
	st.Reads = reads
	st.ServerEpoch = c.serverEpoch(ctx)
	byType := map[string]*TypeStats{}
	for _, m := range ms {
		byType[m.Type()] = &TypeStats{Type: m.Type(), Known: true}
	}
	patterns := []string{typeMatch(c.prefix, "")}
	if len(types) > 0 {
		patterns = patterns[:0]
		for _, m := range ms {
			patterns = append(patterns, typeMatch(c.prefix, m.Type()))
		}
	}
	var mu sync.Mutex
	var registries []string
	count := func(_ context.Context, keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			typ, kind := keyClass(c.prefix, k)
			if kind == kindControl {
				continue
			}
			ts := byType[typ]
			if ts == nil {
				ts = &TypeStats{Type: typ}
				byType[typ] = ts
			}
			switch kind {
			case kindRow:
				ts.Rows++
			case kindUnique:
				ts.Entries++
			case kindList:
				ts.Lists++
			case kindLease:
				ts.Leases++
			case kindWatch:
				ts.Watches++
			case kindRegistry:
				registries = append(registries, k)
			default:
				ts.Other++
			}
		}
		return nil
	}
	for _, p := range patterns {
		if err := c.scanKeys(ctx, p, count); err != nil {
			return st, fmt.Errorf("entcachemodel: stats: %w", err)
		}
	}
	for _, k := range registries {
		typ, _ := keyClass(c.prefix, k)
		vs, err := c.versionsOf(ctx, k)
		if err != nil {
			return st, fmt.Errorf("entcachemodel: stats: %w", err)
		}
		byType[typ].Versions = vs
	}
	for _, ts := range byType {
		st.Types = append(st.Types, *ts)
	}
	slices.SortFunc(st.Types, func(a, b TypeStats) int { return strings.Compare(a.Type, b.Type) })
	return st, nil
}

// versionsOf reads a registry of schema versions.
func (c *Cache) versionsOf(ctx context.Context, key string) ([]Version, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	reg, err := c.rdb.HGetAll(ctx, key).Result()
	if isWrongType(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now, err := c.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := registryVersions(reg, now)
	slices.SortFunc(out, func(a, b Version) int { return strings.Compare(a.Hash, b.Hash) })
	return out, nil
}

// RunSettings are what RunOptions ask of a run, for a Maintainer written
// by hand (generated ones read them themselves).
type RunSettings struct {
	Batch         int            // rows per page (default 1000)
	StartAfter    string         // the cursor to resume after ("" from the start)
	RowsPerSecond float64        // 0: no limit
	OnProgress    func(Progress) // nil: none
	Repair        bool           // Verify: repair what differs
	Sample        float64        // Verify: the fraction of rows to check (default 1)
}

// Settings returns the settings opts make, defaults filled in.
func Settings(opts ...RunOption) RunSettings {
	rc := newRunConfig(opts)
	return RunSettings{
		Batch:         rc.batch,
		StartAfter:    rc.startAfter,
		RowsPerSecond: rc.rate,
		OnProgress:    rc.progress,
		Repair:        rc.repair,
		Sample:        rc.sample,
	}
}
