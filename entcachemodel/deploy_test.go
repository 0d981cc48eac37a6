package entcachemodel

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"entgo.io/ent"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// person is the entity of the rolling-deploy tests: two versions of its
// schema differ in the lists they publish.
type person struct {
	ID   int
	Age  int
	Nick string
}

// people is a database of persons, counting its reads.
type people struct {
	mu    sync.Mutex
	rows  map[int]person
	reads int
}

func (db *people) load(_ context.Context, ids []int) ([]*person, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.reads++
	var out []*person
	for _, id := range ids {
		if r, ok := db.rows[id]; ok {
			out = append(out, &r)
		}
	}
	return out, nil
}

func (db *people) where(match func(person) bool) []int {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.reads++
	var ids []int
	for id, r := range db.rows {
		if match(r) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

var (
	byAge = func() *Index[*person] {
		return &Index[*person]{Name: "age", Def: "agedef", Key: func(p *person) (string, bool) { return IndexKey(strconv.Itoa(p.Age)), true }}
	}
	byNick = func() *Index[*person] {
		return &Index[*person]{Name: "nick", Def: "nickdef", Key: func(p *person) (string, bool) { return IndexKey(p.Nick), true }}
	}
)

// personSchema returns a version of the schema with the given lists; every
// version encodes rows alike.
func personSchema(indexes ...*Index[*person]) *Schema[*person, int] {
	return &Schema[*person, int]{
		Type: "Person", Hash: "h1",
		ID:        func(p *person) int { return p.ID },
		FormatID:  strconv.Itoa,
		ParseID:   strconv.Atoi,
		CompareID: cmp.Compare[int],
		Encode: func(e *Encoder, p *person) {
			e.Int(int64(p.ID))
			e.Int(int64(p.Age))
			e.String(p.Nick)
		},
		Decode: func(d *Decoder) *person {
			return &person{ID: int(d.Int()), Age: int(d.Int()), Nick: d.String()}
		},
		Indexes: indexes,
	}
}

// deploy is one Redis (whose clock the test sets) shared by processes of
// several schema versions.
type deploy struct {
	t   *testing.T
	m   *miniredis.Miniredis
	db  *people
	now time.Time
}

func newDeploy(t *testing.T) *deploy {
	d := &deploy{t: t, m: miniredis.RunT(t), db: &people{rows: map[int]person{}}, now: time.Unix(1_000_000, 0)}
	d.m.SetTime(d.now)
	return d
}

// advance moves the server's clock, which every registry decision reads,
// and lets keys expire as the time passes.
func (d *deploy) advance(by time.Duration) {
	d.now = d.now.Add(by)
	d.m.SetTime(d.now)
	d.m.FastForward(by)
}

// proc is one process of one schema version.
type proc struct {
	d *deploy
	s *Schema[*person, int]
	c *Cache
}

func (d *deploy) process(s *Schema[*person, int], check time.Duration, opts ...Option) *proc {
	return d.processOn(redis.NewClient(&redis.Options{Addr: d.m.Addr(), ContextTimeoutEnabled: true}), s, check, opts...)
}

func (d *deploy) processOn(rdb *redis.Client, s *Schema[*person, int], check time.Duration, opts ...Option) *proc {
	c := New(rdb, append([]Option{WithVersionCheck(check)}, opts...)...)
	p := &proc{d: d, s: s, c: c}
	p.refresh()
	return p
}

// expire ends the process's view of the registry, as its period does: its
// next use reads the registry again (the periods in these tests are long;
// the server's clock moves).
func (p *proc) expire() {
	p.c.versions.Range(func(_, v any) bool {
		st := v.(*versionState)
		if g := st.cur.Load(); g != nil {
			old := *g
			old.expires = time.Time{}
			st.cur.Store(&old)
		}
		return true
	})
}

// refresh makes the process read the registry now, as it does once a
// period.
func (p *proc) refresh() *generation {
	p.expire()
	return p.s.generation(context.Background(), p.c)
}

func (p *proc) reader() Reader[*person, int] {
	return p.s.Reader(p.c, nil, p.d.db.load, func(*person) {})
}

// list answers ListBy on the index named, and whether the cache served it.
func (p *proc) list(name, key string, match func(person) bool) ([]int, bool) {
	var idx *Index[*person]
	for _, i := range p.s.Indexes {
		if i.Name == name {
			idx = i
		}
	}
	require.NotNil(p.d.t, idx)
	reads := p.d.db.reads
	rows, err := p.reader().ListBy(context.Background(), Lookup[*person, int]{
		Index: idx, Key: IndexKey(key),
		IDs: func(context.Context) ([]int, error) { return p.d.db.where(match), nil },
		Query: func(ctx context.Context) ([]*person, error) {
			return p.d.db.load(ctx, p.d.db.where(match))
		},
	})
	require.NoError(p.d.t, err)
	var ids []int
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids, p.d.db.reads == reads
}

// write stores a person through Mutate, as a generated hook does, with the
// list entries this version knows of.
func (p *proc) write(v person) {
	w := Write[*person, int]{
		Op:     ent.OpUpdateOne,
		IDs:    func(context.Context) ([]int, error) { return []int{v.ID}, nil },
		Reload: p.d.db.load,
		Predict: func(ctx context.Context, ids []int) ([]*person, error) {
			return p.d.db.load(ctx, ids)
		},
		Mutation: nil,
	}
	for _, idx := range p.s.Indexes {
		k, _ := idx.Key(&v)
		w.Lists = append(w.Lists, ListEntry{Index: idx.Name, Key: k})
	}
	_, err := p.s.Mutate(context.Background(), p.c, w, func(context.Context) (ent.Value, error) {
		p.d.db.mu.Lock()
		defer p.d.db.mu.Unlock()
		p.d.db.rows[v.ID] = v
		return &v, nil
	})
	require.NoError(p.d.t, err)
}

func nick(n string) func(person) bool { return func(p person) bool { return p.Nick == n } }
func age(a int) func(person) bool     { return func(p person) bool { return p.Age == a } }

// A version that adds a list while an older version, which does not keep
// it, is alive: the list is not served until the older version is gone,
// and then starts empty, so what the older version wrote is seen.
func TestDeployListAddedByTheNewVersion(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30, Nick: "al"}
	const check = 10 * time.Second
	v1 := d.process(personSchema(byAge()), check)
	v2 := d.process(personSchema(byAge(), byNick()), check)

	ids, _ := v2.list("nick", "al", nick("al"))
	assert.Equal(t, []int{1}, ids)
	_, served := v2.list("nick", "al", nick("al"))
	assert.False(t, served, "the new list is served while a version that does not keep it writes")
	ids, _ = v2.list("nick", "bob", nick("bob")) // none yet
	assert.Empty(t, ids)
	v1.write(person{ID: 1, Age: 30, Nick: "bob"})
	ids, _ = v2.list("nick", "bob", nick("bob"))
	assert.Equal(t, []int{1}, ids, "ListByNick misses a row the old version moved into it")

	// The old version's processes stop; once they count as gone, the list
	// starts afresh, trusted once every live process can know it.
	d.advance(3*check + 2*time.Second)
	v2.refresh()
	_, served = v2.list("nick", "bob", nick("bob"))
	assert.False(t, served, "a fresh list namespace is served before every process knows it")
	d.advance(2*check + 5*time.Second + time.Second) // and a lease
	v2.refresh()
	ids, _ = v2.list("nick", "bob", nick("bob"))
	assert.Equal(t, []int{1}, ids)
	ids, served = v2.list("nick", "bob", nick("bob"))
	assert.True(t, served, "served once every live version keeps it")
	assert.Equal(t, []int{1}, ids)
}

// A rollback: the newer version, which dropped a list, is alive while the
// older one, which has it, comes back. The list is not served while the
// newer version writes without keeping it.
func TestDeployListDroppedByTheOtherVersion(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30, Nick: "al"}
	const check = 10 * time.Second
	old := d.process(personSchema(byAge(), byNick()), check)
	ids, _ := old.list("age", "30", age(30))
	require.Equal(t, []int{1}, ids)
	_, served := old.list("age", "30", age(30))
	require.True(t, served, "one version alone serves its lists")

	// The newer version (no age list) arrives and writes before the old one
	// reads the registry again: the old one stops serving the list at once.
	newer := d.process(personSchema(byNick()), check)
	newer.write(person{ID: 3, Age: 30, Nick: "di"})
	ids, served = old.list("age", "30", age(30))
	assert.False(t, served, "the list is served after a version without it joined")
	assert.Equal(t, []int{1, 3}, ids, "ListByAge misses a row the joining version wrote")
	old.refresh()
	newer.write(person{ID: 2, Age: 30, Nick: "cy"})
	d.db.rows[2] = person{ID: 2, Age: 30, Nick: "cy"}
	ids, served = old.list("age", "30", age(30))
	assert.False(t, served)
	assert.Equal(t, []int{1, 2, 3}, ids, "ListByAge misses a row the version without the list wrote")

	// The old version's processes leave and come back (a rollback): the
	// list stays off while the newer version lives.
	d.advance(3*check + 2*time.Second)
	newer.refresh()
	back := d.process(personSchema(byAge(), byNick()), check)
	_, served = back.list("age", "30", age(30))
	assert.False(t, served, "a rolled-back version serves a list the live version does not keep")
}

// The trust delay of a joining version is set by the longest period of any
// live process, not by the joiner's own.
func TestDeployTrustWaitsForTheSlowestProcess(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	d.process(personSchema(byAge()), 20*time.Second)
	other := personSchema(byAge())
	other.Hash = "h2" // another row encoding
	fast := d.process(other, time.Second)
	d.advance(3 * time.Second) // two of the joiner's periods, and more
	assert.False(t, fast.refresh().trusted, "trusted before the slow process has read the registry again")
	for range 42 { // the fast process registers every period, as it does
		d.advance(time.Second)
		fast.refresh()
	}
	assert.True(t, fast.refresh().trusted, "twice the slow process's period, and a lease, have passed")
}

// A process counts as alive for three of its own periods: a long period
// (65s, past any fixed limit) does not make its version look gone to a
// process of the same version that starts meanwhile.
func TestDeployLongPeriodIsNotGone(t *testing.T) {
	d := newDeploy(t)
	d.db.rows[1] = person{ID: 1, Age: 30}
	a := d.process(personSchema(byAge()), 65*time.Second)
	epoch := a.refresh().own
	d.advance(64 * time.Second)
	b := d.process(personSchema(byAge()), time.Second)
	assert.Equal(t, epoch, b.refresh().own, "a live version's keyspace was started afresh")

	// Gone for real, while another encoding wrote: fresh keyspace on return.
	other := personSchema(byAge())
	other.Hash = "h2"
	d.advance(3*65*time.Second + 2*time.Second)
	d.process(other, time.Second)
	d.advance(4 * time.Second)
	c := d.process(personSchema(byAge()), time.Second)
	assert.NotEqual(t, epoch, c.refresh().own, "a version that was gone while another wrote kept its keyspace")
}

// A whole deploy of one version restarting (every process gone for a
// while, no other version meanwhile) keeps its keyspace: nothing wrote
// around it.
func TestDeployRestartOfOneVersionKeepsItsKeyspace(t *testing.T) {
	d := newDeploy(t)
	a := d.process(personSchema(byAge()), time.Second)
	epoch := a.refresh().own
	d.advance(time.Minute)
	b := d.process(personSchema(byAge()), time.Second)
	g := b.refresh()
	assert.Equal(t, epoch, g.own)
	assert.True(t, g.trusted)
}
