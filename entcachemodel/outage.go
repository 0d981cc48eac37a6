package entcachemodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// outage logs Redis failures once per outage, with their cause, and once
// when Redis answers again: a Redis that is down fails every call, and a log
// line per call would bury everything else.
type outage struct {
	cache *Cache
	since atomic.Int64 // unix nanos of the outage's first error, 0 when none
	mu    sync.Mutex
	errs  uint64 // errors since the outage began
}

// failed records a Redis error; the first of an outage is logged.
func (o *outage) failed(ctx context.Context, op string, err error) {
	c := o.cache
	o.mu.Lock()
	o.errs++
	first := o.since.Load() == 0
	if first {
		o.since.Store(time.Now().UnixNano())
	}
	o.mu.Unlock()
	if !first {
		c.log.LogAttrs(ctx, slog.LevelDebug, "entcachemodel: redis error", slog.String("op", op), slog.Any("error", err))
		return
	}
	// Finding the cause may take a dial: not on the caller's time.
	go func() {
		attrs := []slog.Attr{slog.String("op", op), slog.Any("error", err)}
		if cause := o.cause(err); cause != nil {
			attrs = append(attrs, slog.Any("cause", cause))
		}
		c.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelError, "entcachemodel: redis unavailable; reads go to the database and writes are repaired when it answers", attrs...)
	}()
}

// answered records a Redis round trip that succeeded; the first after an
// outage is logged.
func (o *outage) answered(ctx context.Context) {
	if o.since.Load() == 0 {
		return
	}
	o.mu.Lock()
	since, errs := o.since.Load(), o.errs
	o.since.Store(0)
	o.errs = 0
	o.mu.Unlock()
	if since == 0 {
		return // another goroutine logged it
	}
	o.cache.log.LogAttrs(ctx, slog.LevelInfo, "entcachemodel: redis answers again",
		slog.Duration("down", time.Since(time.Unix(0, since))), slog.Uint64("errors", errs))
}

// cause explains an error that says only that time ran out: go-redis
// reports a dial that failed within the deadline as the deadline. It dials
// the servers once, and returns what the dial says.
func (o *outage) cause(err error) error {
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		return nil // the error says what happened
	}
	var errs []error
	for _, addr := range addrs(o.cache.rdb) {
		conn, err := net.DialTimeout("tcp", addr, o.cache.timeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conn.Close()
	}
	return errors.Join(errs...)
}

// addrs returns the server addresses a client dials, when it is of a known
// kind.
func addrs(rdb redis.UniversalClient) []string {
	switch c := rdb.(type) {
	case *redis.Client:
		return []string{c.Options().Addr}
	case *redis.ClusterClient:
		return c.Options().Addrs
	case *redis.Ring:
		var out []string
		for _, a := range c.Options().Addrs {
			out = append(out, a)
		}
		return out
	}
	return nil
}

// RedisLogger returns a logger for go-redis's own messages (its dial and
// pool errors, which it prints to standard error by default) that sends
// them to l at debug level, beside the cache's own lines:
//
//	redis.SetLogger(entcachemodel.RedisLogger(logger))
//
// go-redis's logger is global to the process, so the cache never sets it
// itself: the application decides.
func RedisLogger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l}
}

type redisLogger struct{ l *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	r.l.LogAttrs(ctx, slog.LevelDebug, "go-redis: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
}
