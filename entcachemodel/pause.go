package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Paused reads. While reads are paused, every Cached() read goes to the
// database and stores nothing, while writes mark and publish as usual: old
// replicas without the cache may write meanwhile (a rolling deploy that
// adds or removes the extension), and no answer depends on what they left
// stale. The state is the field "reads" of the prefix's server stamp
// (failover.go), "paused" or "serving", so every process reads it with the
// server check it already makes every WithVersionCheck: following the
// state costs no round trip of its own. A process started WithReadsPaused
// stays paused while the field is missing (the first deploy, or a flushed
// Redis): the safe default wins. A process that cannot read the state
// (Redis unreachable) keeps the one it had.

// readsField is the field of the server stamp that holds the state of reads.
const readsField = "reads"

// The values of readsField.
const (
	readsPaused  = "paused"
	readsServing = "serving"
)

// setReadsScript: KEYS stamp; ARGV state. Sets the state of reads, keeping
// the rest of the stamp.
var setReadsScript = redis.NewScript(`
local kt = redis.call('TYPE', KEYS[1])['ok']
if kt ~= 'hash' and kt ~= 'none' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], '` + readsField + `', ARGV[1])
return 1
`)

// WithReadsPaused starts the cache with reads paused (see PauseReads) until
// the state in Redis says otherwise: a process started with it stays
// paused while Redis holds no state (a first deploy, a flushed Redis), and
// follows PauseReads and ResumeReads once they were called. Deploy every
// replica with it before the extension serves its first read (see the
// README's migration guide); it can stay in the code afterwards.
func WithReadsPaused() Option { return func(c *Cache) { c.startPaused = true } }

// stampKey is the key of the prefix's server stamp, which also holds the
// state of reads.
func (c *Cache) stampKey() string { return "{" + KeyPart(c.prefix) + "}:servers" }

// PauseReads makes every process of the prefix read the database, storing
// nothing, within its WithVersionCheck period; writes still publish. It
// takes effect in this process at once.
func (c *Cache) PauseReads(ctx context.Context) error { return c.setReads(ctx, readsPaused) }

// ResumeReads makes every process of the prefix serve from Redis again
// within its WithVersionCheck period, those started WithReadsPaused
// included. It takes effect in this process at once.
func (c *Cache) ResumeReads(ctx context.Context) error { return c.setReads(ctx, readsServing) }

func (c *Cache) setReads(ctx context.Context, state string) error {
	if !c.Enabled() {
		return ErrNoCache
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := setReadsScript.Run(ctx, c.rdb, []string{c.stampKey()}, state).Err(); err != nil {
		return fmt.Errorf("entcachemodel: set reads %s: %w", state, err)
	}
	c.followReads(ctx, state)
	return nil
}

// followReads applies the state of reads read from Redis ("" when unset).
func (c *Cache) followReads(ctx context.Context, state string) {
	paused := c.startPaused
	switch state {
	case readsPaused:
		paused = true
	case readsServing:
		paused = false
	}
	if c.paused.Swap(paused) == paused {
		return
	}
	msg := "entcachemodel: reads resumed: served from Redis"
	if paused {
		msg = "entcachemodel: reads paused: they go to the database"
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, msg, slog.String("state", state))
}

// ReadsPaused reports whether this process's reads are paused, as it last
// learned (it checks the state in Redis every WithVersionCheck).
func (c *Cache) ReadsPaused() bool { return c.Enabled() && c.paused.Load() }

// readsPaused reports whether reads are paused, checking the state first
// when the servers are due for a check (one round trip per
// WithVersionCheck, shared with the server check).
func (c *Cache) readsPaused(ctx context.Context) bool {
	now := time.Now()
	return c.readsPausedAt(ctx, &now)
}

// readsPausedAt is readsPaused at the time *now, which it reads again
// after a round trip.
func (c *Cache) readsPausedAt(ctx context.Context, now *time.Time) bool {
	c.serverEpochAt(ctx, now)
	return c.paused.Load()
}

// ReadState is the state of reads stored in Redis.
type ReadState string

// The states of reads in Redis.
const (
	ReadsServing ReadState = readsServing // reads are served from Redis
	ReadsPaused  ReadState = readsPaused  // reads go to the database
	// ReadsUnset: no state (never paused nor resumed, or Redis was
	// flushed): processes started WithReadsPaused are paused, the others
	// serve.
	ReadsUnset ReadState = ""
)

// ReadState returns the state of reads stored in Redis.
func (c *Cache) ReadState(ctx context.Context) (ReadState, error) {
	if !c.Enabled() {
		return ReadsUnset, ErrNoCache
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := c.rdb.HGet(ctx, c.stampKey(), readsField).Result()
	if errors.Is(err, redis.Nil) || isWrongType(err) {
		return ReadsUnset, nil
	}
	if err != nil {
		return ReadsUnset, fmt.Errorf("entcachemodel: read state: %w", err)
	}
	switch ReadState(s) {
	case ReadsPaused, ReadsServing:
		return ReadState(s), nil
	}
	return ReadsUnset, nil
}
