package entcachemodel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type deadlineKey struct{}

func TestBoundReadDeadlines(t *testing.T) {
	c := &Cache{timeout: 500 * time.Millisecond}
	now := time.Now()
	slice := min(deadlineSlice, c.timeout/16)

	// Contexts that cannot be cancelled share a deadline between the
	// timeout and the timeout plus a slice, and keep their values.
	bg, release := c.boundRead(context.Background(), now)
	release()
	dl, ok := bg.Deadline()
	assert.True(t, ok)
	assert.False(t, dl.Before(now.Add(c.timeout)), "at least the timeout")
	assert.False(t, dl.After(now.Add(c.timeout+slice)), "at most the timeout and a slice")
	assert.NotNil(t, bg.Done(), "cancelled at its deadline")
	vals, _ := c.boundRead(context.WithValue(context.Background(), deadlineKey{}, "v"), now)
	assert.Equal(t, "v", vals.Value(deadlineKey{}))
	dv, _ := vals.Deadline()
	assert.Equal(t, dl, dv, "one deadline for the reads of a slice")
	assert.Equal(t, bg.Done(), vals.Done())
	// A read a slice later gets a later deadline.
	later, _ := c.boundRead(context.Background(), now.Add(slice))
	dlLater, _ := later.Deadline()
	assert.True(t, dlLater.After(dl))

	// A deadline that comes first is the caller's own.
	soon, cancel := context.WithTimeout(context.Background(), c.timeout/2)
	defer cancel()
	got, release := c.boundRead(soon, now)
	release()
	assert.Equal(t, soon, got)

	// A context that can be cancelled gets a timer of its own, and its
	// cancellation.
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), deadlineKey{}, "p"))
	got, release = c.boundRead(parent, now)
	defer release()
	d, ok := got.Deadline()
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(c.timeout), d, c.timeout/2)
	assert.Equal(t, "p", got.Value(deadlineKey{}))
	cancelParent()
	select {
	case <-got.Done():
	case <-time.After(time.Second):
		t.Fatal("the caller's cancellation did not reach the read")
	}

	// The shared deadline does pass.
	short := &Cache{timeout: 20 * time.Millisecond}
	ctx, _ := short.boundRead(context.Background(), time.Now())
	select {
	case <-ctx.Done():
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	case <-time.After(time.Second):
		t.Fatal("the shared deadline never passed")
	}
}
