package entcachemodel

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Every read round trip is bounded by the timeout (WithTimeout). A
// context.WithTimeout per read costs a context, a timer and a channel, and
// the timer's start and stop: on a cache hit, more than all the cache's
// other work. So reads whose caller's context can never be cancelled (the
// context.Background of workers and scripts, or values on it) share one
// deadline context among all the reads that start within a short slice of
// time: each such read gets the shared deadline, between the timeout and
// the timeout plus the slice after its start, and a small context of its own
// that keeps the caller's values. Other reads (a caller that can cancel, or
// whose own deadline comes first) use the caller's context as it is when
// its deadline is within the timeout, and context.WithTimeout otherwise.

// deadlineSlice is the longest time one shared deadline serves reads: a
// read is bounded by the timeout plus at most this (and the timeout's
// sixteenth, for short timeouts).
const deadlineSlice = 10 * time.Millisecond

// sharedDeadline is a deadline context for the reads that start before until.
type sharedDeadline struct {
	ctx   context.Context
	until int64 // unix nanos
	// cancel is kept, never called: the context's timer cancels it at its
	// deadline, and reads may use it until then.
	cancel context.CancelFunc
}

// deadlines hands out the shared deadline of the current slice.
type deadlines struct {
	cur atomic.Pointer[sharedDeadline]
	mu  sync.Mutex
}

// get returns a shared deadline context whose deadline is at least timeout
// after now, and at most timeout plus a slice.
func (s *deadlines) get(now time.Time, timeout time.Duration) context.Context {
	ns := now.UnixNano()
	if d := s.cur.Load(); d != nil && ns < d.until {
		return d.ctx
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.cur.Load(); d != nil && ns < d.until {
		return d.ctx
	}
	slice := min(deadlineSlice, timeout/16)
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(timeout+slice))
	s.cur.Store(&sharedDeadline{ctx: ctx, until: ns + int64(slice), cancel: cancel})
	return ctx
}

// boundCtx is a read's context on a shared deadline: the caller's values,
// the shared deadline's deadline and cancellation.
type boundCtx struct {
	context.Context // the caller's, which is never cancelled
	shared          context.Context
}

// Deadline implements context.Context.
func (b *boundCtx) Deadline() (time.Time, bool) { return b.shared.Deadline() }

// Done implements context.Context.
func (b *boundCtx) Done() <-chan struct{} { return b.shared.Done() }

// Err implements context.Context.
func (b *boundCtx) Err() error { return b.shared.Err() }

// noCancel is the CancelFunc of contexts that need none.
func noCancel() {}

// boundRead returns ctx bounded by the timeout for one read round trip,
// starting at the time now, and the function that releases it (call it
// when the round trip is done).
func (c *Cache) boundRead(ctx context.Context, now time.Time) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) <= c.timeout {
		return ctx, noCancel // the caller's deadline comes first
	}
	if ctx.Done() != nil {
		return context.WithTimeout(ctx, c.timeout)
	}
	shared := c.deadlines.get(now, c.timeout)
	if ctx == context.Background() || ctx == context.TODO() {
		return shared, noCancel // no values to keep
	}
	return &boundCtx{Context: ctx, shared: shared}, noCancel
}
