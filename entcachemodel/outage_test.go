package entcachemodel

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// at returns the messages logged at level, each with its attributes.
func (r *records) at(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level != level {
			continue
		}
		var b strings.Builder
		b.WriteString(rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// An outage is logged once, with what the dial said rather than only that
// time ran out, and its end once.
func TestAnOutageIsLoggedOnceWithItsCause(t *testing.T) {
	logs := &records{}
	// Options as the README gives them: go-redis retries the dial until
	// the deadline, and reports only that the deadline passed.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer rdb.Close()
	c := New(rdb, WithCooldown(0), WithTimeout(100*time.Millisecond), WithLogger(slog.New(logs)))
	for range 5 {
		_, err := c.get(context.Background(), []string{"{k}:a"})
		require.Error(t, err)
		c.fail(context.Background(), "get", err)
		_, err = c.marks(context.Background(), []string{"{k}:a"})
		c.fail(context.Background(), "mark", err)
	}
	require.Eventually(t, func() bool { return len(logs.at(slog.LevelError)) > 0 }, 5*time.Second, 10*time.Millisecond)
	errs := logs.at(slog.LevelError)
	require.Len(t, errs, 1, "one error line for the outage: %q", errs)
	assert.Contains(t, errs[0], "error=context deadline exceeded")
	assert.Contains(t, errs[0], "cause=dial tcp 127.0.0.1:1: connect: connection refused")
	assert.Equal(t, uint64(10), c.Stats().Errors, "every error is counted")
}

func TestTheEndOfAnOutageIsLogged(t *testing.T) {
	logs := &records{}
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	c := New(rdb, WithCooldown(0), WithLogger(slog.New(logs)))
	ctx := context.Background()
	_, err := c.get(ctx, []string{"{k}:a"})
	require.NoError(t, err)
	m.Close()
	for range 3 {
		_, err := c.get(ctx, []string{"{k}:a"})
		require.Error(t, err)
		c.fail(ctx, "get", err)
	}
	require.NoError(t, m.Restart())
	for range 3 {
		_, err := c.get(ctx, []string{"{k}:a"})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return len(logs.at(slog.LevelError)) == 1 }, 5*time.Second, 10*time.Millisecond)
	infos := logs.at(slog.LevelInfo)
	require.Len(t, infos, 1, "%q", infos)
	assert.Contains(t, infos[0], "answers again")
	assert.Contains(t, infos[0], "errors=3")
}

// RedisLogger gives go-redis's messages to slog, at debug level, one line each.
func TestRedisLoggerRoutesGoRedisMessages(t *testing.T) {
	logs := &records{}
	RedisLogger(slog.New(logs)).Printf(context.Background(), "redis: dial %s: %v\n", "127.0.0.1:1", "refused")
	assert.Equal(t, []string{"go-redis: redis: dial 127.0.0.1:1: refused"}, logs.at(slog.LevelDebug))
}
