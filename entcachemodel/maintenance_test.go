package entcachemodel

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The throttle waits so that a run handles RowsPerSecond rows a second on
// average since it started: the time the pages took counts. The clock is
// the test's.
func TestRunThrottle(t *testing.T) {
	rc := newRunConfig([]RunOption{RowsPerSecond(100)})
	r := newRun(rc, "User", 1000)
	now := r.start
	var slept []time.Duration
	r.now = func() time.Time { return now }
	r.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	ctx := context.Background()
	require.NoError(t, r.page(ctx, 50, "50", 50)) // a page at once: half a second to wait
	now = now.Add(200 * time.Millisecond)         // the next page takes 0.2s
	require.NoError(t, r.page(ctx, 100, "100", 50))
	now = now.Add(time.Second) // a slow page: no wait
	require.NoError(t, r.page(ctx, 150, "150", 50))
	assert.Equal(t, []time.Duration{500 * time.Millisecond, 300 * time.Millisecond}, slept)

	// Without a rate, no wait; a wait ends with the run's context.
	free := newRun(newRunConfig(nil), "User", 0)
	free.sleep = func(context.Context, time.Duration) error { t.Fatal("no throttle asked"); return nil }
	require.NoError(t, free.page(ctx, 1000, "1000", 1000))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	slow := newRun(newRunConfig([]RunOption{RowsPerSecond(1)}), "User", 0)
	assert.ErrorIs(t, slow.page(cancelled, 10, "10", 10), context.Canceled)
}

func TestRunConfigDefaults(t *testing.T) {
	rc := newRunConfig([]RunOption{BatchSize(0), Sample(0)})
	assert.Equal(t, 1000, rc.batch)
	assert.Equal(t, 1.0, rc.sample)
	rc = newRunConfig([]RunOption{BatchSize(7), Sample(0.25), StartAfter("x"), Repair()})
	assert.Equal(t, 7, rc.batch)
	assert.Equal(t, 0.25, rc.sample)
	assert.Equal(t, "x", rc.startAfter)
	assert.True(t, rc.repair)
}

// A row key names its id's text, unless the id is long (a hash); a value
// names its row even when a field of it does not decode.
func TestRunKeysAndValueIDs(t *testing.T) {
	k := runKeys{ks: newKeyspace("app", "User", "0.abc.0")}
	for _, id := range []string{"7", "a b", "go:{x}"} {
		text, ok := k.rowText(k.row(id))
		require.True(t, ok, id)
		assert.Equal(t, id, text)
	}
	_, ok := k.rowText(k.row(string(make([]byte, 100))))
	assert.False(t, ok, "a long id's key part is its hash")
	_, ok = k.rowText(k.row("7") + ":lk")
	assert.False(t, ok, "a lease is no row key")
	assert.Equal(t, "{rapp:User:0.abc.0:r:*}", k.rowPattern())

	e := NewEncoder()
	e.String("42")
	e.Value(nil, assert.AnError) // a field whose Value failed
	id, ok := valueID(e.Bytes())
	assert.True(t, ok)
	assert.Equal(t, "42", id)
	_, ok = valueID([]byte("garbage"))
	assert.False(t, ok)
}
