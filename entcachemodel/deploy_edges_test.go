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

// A registry overwritten with a value of another type is removed and starts
// again, but the keyspaces it named may hold values no version keeps
// right: an abandoned one must not come back.
func TestDeployRegistryOfTheWrongTypeRevivesNoKeyspace(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	v1 := d.process(personSchema(byAge()), check)
	_, _ = v1.get(1)
	_, served := v1.get(1)
	require.True(t, served)

	// The newer version takes over; the old one's processes are gone, so
	// its keyspace is abandoned and the newer version's writes leave it.
	v2 := d.process(other(personSchema(byAge())), check)
	d.advance(3*check + 2*time.Second)
	v2.refresh()
	v2.write(person{ID: 1, Age: 31})

	// Something overwrites the registry; the old version comes back.
	d.m.Del(v1.c.registryKey("Person"))
	require.NoError(t, d.m.Set(v1.c.registryKey("Person"), "not a registry"))
	back := d.process(personSchema(byAge()), check)
	got, _ := back.get(1)
	assert.Equal(t, 31, got.Age, "a keyspace abandoned before the registry was lost is served again")
}

// Two processes of one version are live when the registry is deleted: the
// one that registers first must not use a keyspace the other, which has
// not read the registry since, does not keep right.
func TestDeployLostRegistrySplitsNoVersion(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	// A rollback cycle leaves the version on an epoch of its own (not the
	// first one).
	first := d.process(personSchema(byAge()), check).refresh().own
	v2 := d.process(other(personSchema(byAge())), check)
	d.advance(3*check + 2*time.Second)
	v2.refresh()
	a := d.process(personSchema(byAge()), check)
	d.advance(3*check + 2*time.Second)
	a.refresh()
	b := d.process(personSchema(byAge()), check)
	require.NotEqual(t, first, a.refresh().own)
	require.Equal(t, a.refresh().own, b.refresh().own)
	require.True(t, a.refresh().trusted)

	d.m.Del(a.c.registryKey("Person"))
	a.refresh() // a reads the registry again; b has not yet
	_, _ = a.get(1)
	b.write(person{ID: 1, Age: 31}) // b's view is still the one before
	d.advance(check)
	b.refresh()
	a.refresh()
	d.advance(3 * check)
	a.refresh()
	b.refresh()
	for _, p := range []*proc{a, b} {
		got, _ := p.get(1)
		assert.Equal(t, 31, got.Age, "a value filled under the new epoch missed a write of a process on the old one")
	}
}

// A process that starts while the registry is lost, and registers first,
// takes it for a first run. The first process from before that registers
// shows otherwise: what started since starts again, trusted only once
// every process from before can know it.
func TestDeployLostRegistryTakenForAFirstRun(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	old := d.process(personSchema(byAge()), check)
	_, _ = old.get(1)
	d.m.Del(old.c.registryKey("Person"))

	fresh := d.process(personSchema(byAge()), check)
	require.True(t, fresh.refresh().trusted, "a first run, as far as it can tell")
	_, _ = fresh.get(1)
	old.write(person{ID: 1, Age: 31}) // with its view of the lost registry
	assert.False(t, old.refresh().trusted)
	assert.False(t, fresh.refresh().trusted, "what started since the registry was lost is trusted before every process from before knows it")
	got, _ := fresh.get(1)
	assert.Equal(t, 31, got.Age)

	d.advance(2*check + 6*time.Second)
	for _, p := range []*proc{old, fresh} {
		require.True(t, p.refresh().trusted)
		got, _ := p.get(1)
		assert.Equal(t, 31, got.Age)
		_, served := p.get(1)
		assert.True(t, served)
	}
}

// After the registry is lost, the trust delay covers the longest period a
// process from before knew of, until that slow process is back.
func TestDeployLostRegistryWaitsForTheSlowestProcessFromBefore(t *testing.T) {
	d := newDeploy(t)
	slow := d.process(personSchema(byAge()), 20*time.Second)
	fast := d.process(personSchema(byAge()), time.Second)
	d.m.Del(fast.c.registryKey("Person"))
	for range 10 { // the fast process registers every period, as it does
		d.advance(time.Second)
		fast.refresh()
	}
	assert.False(t, fast.refresh().trusted, "trusted before the slow process can have read the registry again")
	d.advance(10 * time.Second)
	slow.refresh()
	for range 26 {
		d.advance(time.Second)
		fast.refresh()
	}
	assert.True(t, fast.refresh().trusted)
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

// A process whose refresh fails keeps its last view of the registry, but
// may not serve from it once the others can have moved on: here its
// version counts as gone meanwhile, the other version no longer keeps its
// keyspace, and the row changed.
func TestDeployFailedRefreshServesNothing(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	hook := &failRegistry{}
	rdb := redis.NewClient(&redis.Options{Addr: d.m.Addr(), ContextTimeoutEnabled: true})
	rdb.AddHook(hook)
	v1 := d.processOn(rdb, personSchema(byAge()), check, WithCooldown(time.Nanosecond), quietLog())
	_, _ = v1.get(1)
	hook.armed.Store(true)

	v2 := d.process(other(personSchema(byAge())), check)
	d.advance(3*check + 2*time.Second) // v1 cannot register: gone, as far as the others know
	require.Empty(t, v2.refresh().others)
	v2.write(person{ID: 1, Age: 31})

	v1.expire()
	got, _ := v1.get(1)
	assert.Equal(t, 31, got.Age, "a process that could not read the registry served from an abandoned keyspace")

	// It writes too: its view does not know where v2 now caches the row, so
	// the write is repaired in every version once the registry answers.
	d.db.rows[2] = person{ID: 2, Age: 40}
	_, _ = v2.get(2)
	_, served := v2.get(2)
	require.True(t, served)
	v1.write(person{ID: 2, Age: 41})
	hook.armed.Store(false)
	require.Eventually(t, func() bool { return v1.c.repair.len() == 0 }, 5*time.Second, 5*time.Millisecond)
	got, _ = v2.get(2)
	assert.Equal(t, 41, got.Age, "a write with a view older than the registry left another version's value")
}

func quietLog() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

// A process whose breaker is open (Redis failed a moment ago) and that
// writes a type for the first time has only a guess of the registry: the
// keys it leaves for repair must still name every version's row and every
// list namespace the row moved into.
func TestDeployGuessedViewRepairsEveryKey(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	a := d.process(personSchema(byAge()), check)
	_, _ = a.get(1)
	ids, _ := a.list("age", "31", age(31)) // an empty list, cached
	require.Empty(t, ids)
	_, served := a.list("age", "31", age(31))
	require.True(t, served)

	c := New(redis.NewClient(&redis.Options{Addr: d.m.Addr(), ContextTimeoutEnabled: true}), WithVersionCheck(check), quietLog())
	c.openTill.Store(time.Now().Add(time.Hour).UnixNano())
	b := &proc{d: d, s: personSchema(byAge()), c: c}
	require.True(t, b.s.generation(context.Background(), c).guessed)
	b.write(person{ID: 1, Age: 31})
	c.openTill.Store(0) // Redis answers again; the repair queue runs
	require.Eventually(t, func() bool { return c.repair.len() == 0 }, 5*time.Second, 5*time.Millisecond)

	ids, _ = a.list("age", "31", age(31))
	assert.Equal(t, []int{1}, ids, "the list the row moved into was not repaired")
	got, _ := a.get(1)
	assert.Equal(t, 31, got.Age, "the row was not repaired")
}

// A write that changes rows it does not name (it clears an owner's edge)
// watches the owner; a write that moves a row to that owner meanwhile
// holds the row's keys it knows of and adds them to the watch, for the
// clearing write to remove when it publishes. The mover's view may predate
// a version the clearing write knows: that version's key goes too.
func TestDeployWatchedRowsLeaveEveryVersion(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30, Nick: "al"}
	const check = 10 * time.Second
	ctx := context.Background()
	mover := d.process(personSchema(byAge()), check)
	clearer := d.process(personSchema(byAge()), check)
	v2 := d.process(other(personSchema(byAge())), check)
	team := []Owner{{Link: "team", Key: "x"}}

	_, err := clearer.s.Mutate(ctx, clearer.c, Write[*person, int]{
		Op:     ent.OpUpdate,
		Owners: func(context.Context) ([]Owner, error) { return team, nil },
		IDs:    func(context.Context) ([]int, error) { return nil, nil }, // team x has no rows yet
		Reload: d.db.load,
	}, func(context.Context) (ent.Value, error) {
		// The mover moves row 1 to team x while the clearing statement
		// waits; its view does not know v2 yet.
		moved := person{ID: 1, Age: 30, Nick: "x"}
		_, err := mover.s.Mutate(ctx, mover.c, Write[*person, int]{
			Op:     ent.OpUpdateOne,
			IDs:    func(context.Context) ([]int, error) { return []int{1}, nil },
			Reload: d.db.load,
			Moves:  func() []Owner { return team },
		}, func(context.Context) (ent.Value, error) {
			d.db.mu.Lock()
			d.db.rows[1] = moved
			d.db.mu.Unlock()
			return &moved, nil
		})
		require.NoError(t, err)
		// The statement is slow: v2 comes to be trusted and fills the row.
		d.advance(2*check + 6*time.Second)
		v2.refresh()
		got, _ := v2.get(1)
		require.Equal(t, "x", got.Nick)
		clearer.expire() // its view is read again by the time it publishes
		d.db.mu.Lock()
		d.db.rows[1] = person{ID: 1, Age: 30} // the statement clears the row's team
		d.db.mu.Unlock()
		return nil, nil
	})
	require.NoError(t, err)
	d.advance(time.Minute)
	v2.refresh()
	got, _ := v2.get(1)
	assert.Equal(t, "", got.Nick, "v2 serves a row the clearing write changed unnamed")
}

// afterRegistry runs a function after the registry's answer reached the
// client, once armed: the process stalls there (a pause, a slow scheduler).
type afterRegistry struct{ then atomic.Pointer[func()] }

func (a *afterRegistry) DialHook(next redis.DialHook) redis.DialHook { return next }

func (a *afterRegistry) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		for _, arg := range cmd.Args() {
			if s, ok := arg.(string); ok && strings.HasSuffix(s, "}:registry") {
				if f := a.then.Swap(nil); f != nil {
					(*f)()
				}
			}
		}
		return err
	}
}

func (a *afterRegistry) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A view of the registry ages from the moment it was asked for: a process
// that stalls after the answer, while a version joins and comes to be
// trusted, reads the registry again before it writes.
func TestDeployViewAgesFromItsRequest(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 300 * time.Millisecond // real time: the stall outlasts it
	hook := &afterRegistry{}
	rdb := redis.NewClient(&redis.Options{Addr: d.m.Addr(), ContextTimeoutEnabled: true})
	rdb.AddHook(hook)
	v1 := d.processOn(rdb, personSchema(byAge()), check, WithLease(check))
	var v2 *proc
	stall := func() {
		v2 = d.process(other(personSchema(byAge())), check, WithLease(check))
		d.advance(time.Second) // past the trust delay
		require.True(t, v2.refresh().trusted)
		_, _ = v2.get(1)
		time.Sleep(check + check/2)
	}
	hook.then.Store(&stall)
	v1.refresh()
	v1.write(person{ID: 1, Age: 31})
	d.advance(time.Minute)
	v2.refresh()
	got, _ := v2.get(1)
	assert.Equal(t, 31, got.Age, "a write used a view older than its period, which missed a trusted version")
}

// A repair resolves its entries against the registry; a registry of the
// wrong type names nothing (the next registration starts it again, with
// fresh keyspaces): the repair goes on rather than wait for it forever,
// while its process, which reads the database until the repair is done,
// would never register to fix it.
func TestDeployRepairPastARegistryOfTheWrongType(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	p := d.process(personSchema(byAge()), 10*time.Second, quietLog())
	key := p.c.registryKey("Person")
	d.m.Del(key)
	require.NoError(t, d.m.Set(key, "not a registry"))
	p.c.repair.addRel("Person", "h1", "r:"+KeyPart("1"))
	require.Eventually(t, func() bool { return p.c.repair.len() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the repair waits for a registry that no process will fix")
}

// serverEpoch sets the server epoch the stamp gives (as a failover, or a
// stamp lost and started again, does), and makes p read it now.
func (p *proc) serverEpoch(epoch string) {
	p.d.m.HSet("{"+KeyPart(p.c.prefix)+"}:servers", "epoch", epoch)
	p.c.ident.due.Store(true)
}

// The server epoch changes (a failover; a stamp lost and started again)
// while a write runs: its process read the stamp before, and publishes in
// the old epoch's keyspace; another process, which read the new stamp,
// fills the new keyspace from before the write's commit. The new keyspaces
// are trusted only once every process can have moved to them, and every
// write that started before has committed or outlived its lease.
func TestDeployNewServerEpochWaitsForEveryProcess(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	const check = 10 * time.Second
	a := d.process(personSchema(byAge()), check)
	b := d.process(personSchema(byAge()), check)
	_, _ = b.get(1)
	b.write(person{ID: 1, Age: 30}) // its pool has the connections it needs: none is opened below
	_, _ = a.get(1)

	b.writeDuring(person{ID: 1, Age: 31}, func() {
		a.serverEpoch("5")
		assert.False(t, a.refresh().trusted, "the new epoch's keyspaces are trusted while a process still writes the old ones")
		_, _ = a.get(1)
	}, false)
	d.advance(check)
	b.serverEpoch("5")
	b.refresh()
	d.advance(2*check + 6*time.Second)
	for _, p := range []*proc{a, b} {
		require.True(t, p.refresh().trusted)
		got, _ := p.get(1)
		assert.Equal(t, 31, got.Age, "a value filled in the new epoch missed a write published in the old one")
	}
}
