package entcachemodel

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentServer accepts connections and never answers: a Redis that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	return ln.Addr().String()
}

// With a client that honours context deadlines, WithTimeout ends a round
// trip to a Redis that hangs. The client has no read timeout of its own, so
// only the cache's deadline can end the calls; the guard fails the test
// instead of hanging it.
func TestTimeoutEndsAHungRoundTrip(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: silentServer(t), ContextTimeoutEnabled: true, MaxRetries: -1, ReadTimeout: -1})
	defer rdb.Close()
	c := New(rdb, WithTimeout(50*time.Millisecond), WithLogger(slog.New(slog.DiscardHandler)))
	done := make(chan [2]error, 1)
	go func() {
		_, markErr := c.marks(context.Background(), []string{"{k}:a"})
		_, getErr := c.get(context.Background(), []string{"{k}:a"})
		done <- [2]error{markErr, getErr}
	}()
	select {
	case errs := <-done:
		for i, err := range errs {
			var ne net.Error
			assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout(), "call %d: %v", i, err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a round trip to a hung Redis did not end at the cache's deadline")
	}
}

// New warns when the client would ignore WithTimeout.
func TestNewWarnsWhenTheClientIgnoresDeadlines(t *testing.T) {
	for _, on := range []bool{false, true} {
		var logs bytes.Buffer
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: on})
		New(rdb, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		rdb.Close()
		if on {
			assert.Empty(t, logs.String())
		} else {
			assert.Contains(t, logs.String(), "ContextTimeoutEnabled")
		}
	}
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	known, on := honoursDeadlines(cluster)
	assert.True(t, known)
	assert.False(t, on)
}
