package entcachemodel

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of this file try to break the rolling-deploy rules at their
// edges: the registry lost, a refresh that fails, writes in flight across a
// trust boundary, rows that an unnamed write changes.

// get answers Get, and whether the cache served it.
func (p *proc) get(id int) (person, bool) {
	reads := p.d.db.reads
	v, err := p.reader().Get(context.Background(), id)
	require.NoError(p.d.t, err)
	return *v, p.d.db.reads == reads
}

// other returns a version of the schema with another row encoding.
func other(s *Schema[*person, int]) *Schema[*person, int] {
	s.Hash = "h2"
	return s
}

// writeDuring writes v as write does; during runs inside the statement,
// before it changes the row, and with crash the process dies after its
// commit (before it publishes).
func (p *proc) writeDuring(v person, during func(), crash bool) {
	w := Write[*person, int]{
		Op:     ent.OpUpdateOne,
		IDs:    func(context.Context) ([]int, error) { return []int{v.ID}, nil },
		Reload: p.d.db.load,
	}
	for _, idx := range p.s.Indexes {
		k, _ := idx.Key(&v)
		w.Lists = append(w.Lists, ListEntry{Index: idx.Name, Key: k})
	}
	run := func() {
		_, err := p.s.Mutate(context.Background(), p.c, w, func(context.Context) (ent.Value, error) {
			if during != nil {
				during()
			}
			p.d.db.mu.Lock()
			p.d.db.rows[v.ID] = v
			p.d.db.mu.Unlock()
			if crash {
				panic("the process dies after its commit")
			}
			return &v, nil
		})
		require.NoError(p.d.t, err)
	}
	if crash {
		assert.Panics(p.d.t, run)
		return
	}
	run()
}

// A write that started with a view from before a new version joined, and
// that commits after that version is trusted, leaves the new version's key
// unmarked; if its process dies before it publishes, nothing removes the
// value the new version filled meanwhile. Trust waits out a lease too.
func TestDeployCrashAcrossTheTrustBoundary(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	v1 := d.process(personSchema(byAge()), check)
	v2 := d.process(other(personSchema(byAge())), check)
	require.Empty(t, v1.s.generation(context.Background(), v1.c).others, "v1 has not read the registry since v2 joined")

	// v1 may use its view for two of its periods: it starts a write at the
	// end of them, which takes two seconds (less than a lease).
	d.advance(2*check - time.Second)
	v1.writeDuring(person{ID: 1, Age: 31}, func() {
		d.advance(2 * time.Second)
		v2.refresh()
		_, _ = v2.get(1) // fills, if trusted, from before the commit
	}, true)
	d.advance(time.Minute) // every lease is over
	v2.refresh()
	got, _ := v2.get(1)
	assert.Equal(t, 31, got.Age, "the new version serves a value from before a write whose process died")
}

// failRegistry makes a client's registry script fail while armed (the
// registry's node unreachable, say), while every other command works.
type failRegistry struct{ armed atomic.Bool }

func (f *failRegistry) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failRegistry) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.armed.Load() {
			for _, a := range cmd.Args() {
				if s, ok := a.(string); ok && strings.HasSuffix(s, "}:registry") {
					err := errors.New("registry unreachable")
					cmd.SetErr(err)
					return err
				}
			}
		}
		return next(ctx, cmd)
	}
}

func (f *failRegistry) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func quietLog() Option { return WithLogger(slog.New(slog.DiscardHandler)) }
