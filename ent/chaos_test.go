package ent_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/pet"
	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

const (
	chaosLease = 300 * time.Millisecond
	chaosRows  = 6 // hot rows, one per email u0@x.io..u5@x.io
	chaosProcs = 4
	chaosAges  = 8 // ages are 20..27
	chaosPets  = 4 // pets, moved between owners by both sides of the edge
)

// chaosPetNames are the pets' names: two lists of ListByName.
var chaosPetNames = []string{"rex", "tom"}

// errCrashed ends the write that crashed its process: the database has it,
// Redis never hears of it.
var errCrashed = errors.New("chaos: process crashed")

// TestChaos runs every kind of write and read from several processes while
// faults are injected from outside: Redis outages of one process, deletion
// of every key of the test (FLUSHALL, without touching other tests' keys),
// a process that dies between a commit and its publish, and one that dies
// after writing while it could not reach Redis at all. Once the load
// stops and the leases are over, every cached lookup of every surviving
// process must answer as the database does.
//
// The seed fixes each worker's operations and the fault schedule, not the
// interleaving. CHAOS_SEED replays one, CHAOS_DURATION sets the load time
// (default 8s), CHAOS_FAULTS picks faults (default "outage,flush,crash,crash-in-outage").
func TestChaos(t *testing.T) {
	seed, dur := uint64(time.Now().UnixNano()), 8*time.Second
	var err error
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
	}
	if s := os.Getenv("CHAOS_DURATION"); s != "" {
		dur, err = time.ParseDuration(s)
		require.NoError(t, err, "CHAOS_DURATION")
	}
	t.Logf("chaos seed %d, duration %s", seed, dur)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos failed with seed %d: rerun with CHAOS_SEED=%d", seed, seed)
		}
	})
	c := &chaos{t: t, seed: seed, emails: map[string]bool{}, names: map[[2]string]bool{},
		kinds: strings.Split(cmp.Or(os.Getenv("CHAOS_FAULTS"), "outage,flush,crash,crash-in-outage,lost-ack,corrupt"), ","),
		ops:   map[string]int{}, tolerated: map[string]int{}, faults: map[string]int{}}
	c.e = newEnv(t, c.options()...)
	if c.e.redis.Mini != nil {
		c.e.redis.Mini.ClockTTL(true) // keys expire as time passes, as on a real server
	}
	c.seedRows()
	stale := c.newStaleness()                   // CHAOS_NEAR=1 only
	windows := max(1, int(dur/(8*time.Second))) // each has its own faults
	c.spares = make(chan *chaosProc, 2*windows) // two crashes a window
	for i := range chaosProcs + 2*windows {
		c.procs = append(c.procs, c.newProc(fmt.Sprintf("p%d", i)))
		if i >= chaosProcs {
			c.spares <- c.procs[i] // takes over from a crashed process
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for i := range chaosProcs {
		wg.Go(func() { c.work(i, c.procs[i], start.Add(dur)) })
	}
	wg.Go(func() { c.inject(rand.New(rand.NewPCG(seed, 1<<32)), start, dur, windows) })
	if stale != nil {
		wg.Go(func() { stale.run(start.Add(dur)) })
	}
	wg.Wait()
	// No more injected delays or lost acknowledgements: the last write's
	// error must be its crash.
	c.quiet.Store(true)
	if slices.Contains(c.kinds, "crash-in-outage") {
		c.lastWrite(rand.New(rand.NewPCG(seed, 1<<34)))
	}

	// Writes publish before they return. What remains: the marks of the
	// crashed processes, which end with their lease, the outbox records of
	// the process that crashed in an outage, and the repairs of the
	// processes that saw an outage.
	for _, p := range c.alive() {
		p.faults.SetMaxDelay(0)
		p.faults.Down.Store(false) // an outage that waited for a crash that did not come
	}
	c.lastLinkWrites(rand.New(rand.NewPCG(c.seed, 1<<36)), c.alive())
	c.e.redis.Advance(chaosLease + 200*time.Millisecond)
	alive := c.alive()
	drained := func() bool {
		return !slices.ContainsFunc(alive, func(p *chaosProc) bool { return p.cache.Stats().Pending > 0 }) &&
			c.e.outboxRecords() == 0
	}
	if !assert.Eventually(t, func() bool {
		for _, p := range alive {
			_, _ = p.client.User.Cached().Get(c.e.ctx, 1) // reads drain the outbox when due
		}
		return drained()
	}, 10*time.Second, 20*time.Millisecond) {
		var waits []string
		for _, p := range alive {
			waits = append(waits, fmt.Sprintf("%s: %d keys to repair", p.name, p.cache.Stats().Pending))
		}
		t.Fatalf("repairs and the outbox did not drain: %s; %d outbox records", strings.Join(waits, ", "), c.e.outboxRecords())
	}

	checkStart := time.Now()
	diffs := c.check(alive)
	for _, d := range diffs[:min(5, len(diffs))] {
		t.Errorf("divergence: %s", d)
	}
	for _, u := range c.unexpected[:min(5, len(c.unexpected))] {
		t.Errorf("unexpected: %s", u)
	}
	if stale != nil {
		stale.report(alive)
	}
	var st entcachemodel.Stats
	for _, p := range c.procs {
		s := p.cache.Stats()
		st.Hits, st.Misses, st.Fills = st.Hits+s.Hits, st.Misses+s.Misses, st.Fills+s.Fills
		st.Publishes, st.Invalidations, st.Errors = st.Publishes+s.Publishes, st.Invalidations+s.Invalidations, st.Errors+s.Errors
		st.OutboxRecords, st.OutboxRepairs = st.OutboxRecords+s.OutboxRecords, st.OutboxRepairs+s.OutboxRepairs
	}
	var near entcachemodel.NearStats
	for _, p := range c.procs {
		n := p.cache.NearStats()
		near.On = near.On || n.On
		near.Hits, near.Fills, near.Invalidations, near.Drops = near.Hits+n.Hits, near.Fills+n.Fills, near.Invalidations+n.Invalidations, near.Drops+n.Drops
	}
	if near.On {
		t.Logf("near cache: hits %d fills %d invalidations %d drops %d", near.Hits, near.Fills, near.Invalidations, near.Drops)
	}
	total := 0
	for _, n := range c.ops {
		total += n
	}
	t.Logf("chaos %s seed %d: %d ops %v; faults %v; db errors tolerated %v; unexpected errors %d; "+
		"cache hits %d misses %d fills %d publishes %d invalidations %d redis errors %d; outbox records %d repairs %d; checked in %s; divergences %d (bar 0)",
		c.e.db.Dialect, seed, total, c.ops, c.faults, c.tolerated, len(c.unexpected),
		st.Hits, st.Misses, st.Fills, st.Publishes, st.Invalidations, st.Errors, st.OutboxRecords, st.OutboxRepairs, time.Since(checkStart).Round(time.Millisecond), len(diffs))

	// The crashed processes may now finish their repair loops.
	for _, p := range c.procs {
		p.faults.Down.Store(false)
	}
}

// chaos is the shared state of one run.
type chaos struct {
	t      *testing.T
	e      *env
	seed   uint64
	procs  []*chaosProc // every process started, crashed and spare ones included
	spares chan *chaosProc
	kinds  []string     // the faults injected
	fresh  atomic.Int64 // numbers temporary emails and new names
	quiet  atomic.Bool  // no more injected database delays

	probe int // the staleness probe's row (0: none), which pickID never returns

	mu         sync.Mutex
	pets       []int // the pets' ids; pets are never deleted
	links      chaosLinks
	hot        []int // ids in the database, refreshed now and then
	refreshed  time.Time
	maxID      int // highest id ever seen
	emails     map[string]bool
	names      map[[2]string]bool
	nameList   [][2]string
	ops        map[string]int
	tolerated  map[string]int
	faults     map[string]int
	unexpected []string
}

func (c *chaos) options() []entcachemodel.Option {
	var near []entcachemodel.Option
	if os.Getenv("CHAOS_NEAR") == "1" {
		// Every process with a near cache (off on miniredis, logged).
		near = append(near, entcachemodel.WithNearCache(10000))
	}
	return append(near,
		entcachemodel.WithLease(chaosLease),
		// Injected delays are short; the timeout only bounds the slow Lua of
		// the embedded server under -race (drains run hundreds of scripts).
		entcachemodel.WithTimeout(2*time.Second),
		entcachemodel.WithCooldown(50*time.Millisecond),
		entcachemodel.WithVersionCheck(time.Second),             // registry refreshes within the run
		entcachemodel.WithLogger(slog.New(slog.DiscardHandler)), // injected faults log by the hundred
	)
}

// chaosProc is one process: its own pool, Redis client, cache and client.
type chaosProc struct {
	name    string
	faults  *testenv.Faults
	cache   *entcachemodel.Cache
	client  *ent.Client
	crash   atomic.Bool // Redis goes down for good right after the next commit
	dead    atomic.Bool
	outage  atomic.Bool
	working atomic.Bool // a worker runs on it (spares wait for a crash)
}

func (p *chaosProc) String() string { return p.name }

func (c *chaos) newProc(name string) *chaosProc {
	p := &chaosProc{name: name, faults: &testenv.Faults{}}
	p.faults.SetMaxDelay(2 * time.Millisecond)
	rdb := c.e.redis.NewClient()
	rdb.AddHook(p.faults)
	c.t.Cleanup(func() { rdb.Close() })
	drv, err := c.e.db.Open()
	require.NoError(c.t, err)
	p.cache = entcachemodel.New(rdb, append([]entcachemodel.Option{entcachemodel.WithPrefix(c.e.redis.Prefix)}, c.options()...)...)
	c.t.Cleanup(p.cache.Close)
	// Now and then a commit commits and reports an error, as when its
	// acknowledgement is lost: the write's outcome is unknown to the cache.
	p.client = ent.NewClient(ent.Driver(&chaosDriver{Driver: drv, c: c}), ent.CacheModel(p.cache))
	c.t.Cleanup(func() { p.client.Close() })
	drv.Before = func(context.Context, string) {
		if !c.quiet.Load() && rand.IntN(4) == 0 {
			time.Sleep(rand.N(2 * time.Millisecond))
		}
	}
	// The crash comes right after a commit, also of a write made while
	// Redis failed (its repair then rests on the outbox). It spares the
	// writes whose staleness the README leaves unbounded: a list moved into
	// by AddAge while another writer changed the row (the list is predicted
	// from the row read before the update), which this load makes likely.
	p.client.User.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			_, txErr := m.(*ent.UserMutation).Tx()
			crash := txErr != nil && len(m.AddedFields()) == 0
			v, err := next.Mutate(ctx, m)
			if crash && err == nil && p.crash.CompareAndSwap(true, false) {
				kind := "crash"
				if p.faults.Down.Load() {
					kind = "crash in outage" // the write could not mark Redis
				}
				p.faults.Down.Store(true) // nothing the process sends arrives any more
				p.dead.Store(true)
				c.mu.Lock()
				c.faults[kind]++
				c.mu.Unlock()
				c.t.Logf("%s: %s after committing a %s", name, kind, m.Op())
				return nil, errCrashed
			}
			return v, err
		})
	})
	return p
}

// errLostAck is the error of a commit that committed.
var errLostAck = errors.New("chaos: commit acknowledgement lost")

// chaosDriver loses the acknowledgement of one commit in 40, with the
// lost-ack fault.
type chaosDriver struct {
	dialect.Driver
	c *chaos
}

func (d *chaosDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &chaosTxDriver{Tx: tx, c: d.c}, nil
}

type chaosTxDriver struct {
	dialect.Tx
	c *chaos
}

func (t *chaosTxDriver) Commit() error {
	err := t.Tx.Commit()
	if err == nil && !t.c.quiet.Load() && slices.Contains(t.c.kinds, "lost-ack") && rand.IntN(40) == 0 {
		t.c.mu.Lock()
		t.c.faults["lost ack"]++
		t.c.mu.Unlock()
		return errLostAck
	}
	return err
}

func (c *chaos) alive() []*chaosProc {
	return slices.DeleteFunc(slices.Clone(c.procs), func(p *chaosProc) bool { return p.dead.Load() })
}

func chaosEmail(slot int) string { return fmt.Sprintf("u%d@x.io", slot) }
func chaosAge(r *rand.Rand) int  { return 20 + r.IntN(chaosAges) }
func chaosRole(r *rand.Rand) user.Role {
	return []user.Role{user.RoleAdmin, user.RoleMember}[r.IntN(2)]
}

func (c *chaos) seedRows() {
	r := rand.New(rand.NewPCG(c.seed, 1<<33))
	for i := range chaosRows {
		b := c.e.client.User.Create().SetEmail(chaosEmail(i)).SetFirstName(fmt.Sprintf("F%d", i)).SetLastName(fmt.Sprintf("L%d", i))
		require.NoError(c.t, c.create(b.SetAge(chaosAge(r)).SetRole(chaosRole(r))))
	}
	for i := range chaosPets {
		b := c.e.client.Pet.Create().SetName(chaosPetNames[i%len(chaosPetNames)])
		if i%2 == 0 {
			b.SetOwnerID(c.pickID(r))
		}
		pet, err := b.Save(c.e.ctx)
		require.NoError(c.t, err)
		c.pets = append(c.pets, pet.ID)
	}
	c.seedLinks()
}

// pickPet returns a pet's id.
func (c *chaos) pickPet(r *rand.Rand) int { return c.pets[r.IntN(len(c.pets))] }

// create saves b and notes its id, email and names.
func (c *chaos) create(b *ent.UserCreate) error {
	c.note(b)
	u, err := b.Save(c.e.ctx)
	if err == nil {
		c.mu.Lock()
		c.maxID = max(c.maxID, u.ID)
		c.mu.Unlock()
	}
	return err
}

// note records the email and names a create may write.
func (c *chaos) note(bs ...*ent.UserCreate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range bs {
		email, _ := b.Mutation().Email()
		first, _ := b.Mutation().FirstName()
		last, _ := b.Mutation().LastName()
		c.emails[email] = true
		if n := [2]string{first, last}; !c.names[n] {
			c.names[n] = true
			c.nameList = append(c.nameList, n)
		}
	}
}

// pickID returns an id in the database, or now and then any id ever used.
func (c *chaos) pickID(r *rand.Rand) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		id := 0
		if len(c.hot) == 0 || r.IntN(10) == 0 {
			id = 1 + r.IntN(c.maxID)
		} else {
			id = c.hot[r.IntN(len(c.hot))]
		}
		if id != c.probe {
			return id
		}
	}
}

func (c *chaos) refresh(p *chaosProc) {
	c.mu.Lock()
	due := time.Since(c.refreshed) > 50*time.Millisecond
	if due {
		c.refreshed = time.Now()
	}
	c.mu.Unlock()
	if !due {
		return
	}
	if ids, err := p.client.User.Query().IDs(c.e.ctx); err == nil && len(ids) > 0 {
		c.mu.Lock()
		c.hot, c.maxID = ids, max(c.maxID, slices.Max(ids))
		c.mu.Unlock()
	}
}

// record counts an operation and sorts its error: the conflicts of
// concurrent writers are expected, anything else is not.
func (c *chaos) record(kind string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[kind]++
	if err == nil || errors.Is(err, errCrashed) {
		return
	}
	if errors.Is(err, errLostAck) {
		c.tolerated["lost ack"]++
		return
	}
	switch msg := err.Error(); {
	case ent.IsNotFound(err):
		c.tolerated["not found"]++
	case ent.IsConstraintError(err) || strings.Contains(msg, "duplicate key") || strings.Contains(msg, "UNIQUE constraint"):
		c.tolerated["constraint"]++ // a taken email, or an owner deleted meanwhile
	case strings.Contains(msg, "locked") || strings.Contains(msg, "busy") || strings.Contains(msg, "Lock wait timeout"):
		c.tolerated["locked"]++
	case strings.Contains(msg, "deadlock") || strings.Contains(msg, "Deadlock found") || strings.Contains(msg, "could not serialize"):
		// PostgreSQL: "deadlock detected"; MySQL/MariaDB: Error 1213 "Deadlock found".
		c.tolerated["deadlock"]++
	default:
		c.unexpected = append(c.unexpected, kind+": "+msg)
	}
}

// expect records a read that broke its contract, whatever the timing.
func (c *chaos) expect(ok bool, format string, args ...any) {
	if !ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.unexpected = append(c.unexpected, "contract: "+fmt.Sprintf(format, args...))
	}
}

// work runs random operations on p until the deadline, moving on to a
// spare process when p crashes.
func (c *chaos) work(slot int, p *chaosProc, until time.Time) {
	r := rand.New(rand.NewPCG(c.seed, uint64(slot)))
	time.Sleep(time.Duration(r.Int64N(int64(time.Second)))) // processes start at different times
	weights := 0
	for _, op := range chaosOps {
		weights += op.weight
	}
	p.working.Store(true)
	for time.Now().Before(until) {
		if p.dead.Load() {
			select {
			case p = <-c.spares:
				p.working.Store(true)
			default:
				return
			}
		}
		c.refresh(p)
		n := r.IntN(weights)
		for _, op := range chaosOps {
			if n -= op.weight; n < 0 {
				c.record(op.name, op.run(c, p, r))
				break
			}
		}
	}
}

// inject runs the fault schedule: in each window of the run, two Redis
// outages of one process, one flush, one crash and one crash during an
// outage, at random times.
func (c *chaos) inject(r *rand.Rand, start time.Time, dur time.Duration, windows int) {
	type event struct {
		at   time.Duration
		kind string
	}
	var events []event
	span := dur / time.Duration(windows)
	for w := range windows {
		for _, kind := range []string{"outage", "outage", "flush", "crash", "crash-in-outage", "corrupt", "corrupt", "corrupt"} {
			at := time.Duration(w)*span + span/10 + time.Duration(r.Int64N(int64(span*7/10)))
			if slices.Contains(c.kinds, kind) {
				events = append(events, event{at, kind})
			}
		}
	}
	slices.SortFunc(events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	for _, ev := range events {
		time.Sleep(time.Until(start.Add(ev.at)))
		if ev.kind == "flush" {
			n := c.flush()
			c.mu.Lock()
			c.faults["flush"]++
			c.faults["flushed keys"] += n
			c.mu.Unlock()
			c.t.Logf("%s: flush of %d keys", time.Since(start).Round(time.Millisecond), n)
			continue
		}
		if ev.kind == "corrupt" {
			what := c.corrupt(r)
			c.t.Logf("%s: corrupt: %s", time.Since(start).Round(time.Millisecond), what)
			continue
		}
		p := c.pickProc(r)
		if p == nil {
			continue
		}
		c.t.Logf("%s: %s of %s", time.Since(start).Round(time.Millisecond), ev.kind, p)
		if ev.kind == "crash" {
			p.crash.Store(true) // the process dies after its next commit
			continue
		}
		if ev.kind == "crash-in-outage" {
			p.outage.Store(true)
			p.faults.Down.Store(true) // Redis is unreachable from p from now on,
			p.crash.Store(true)       // and p dies after its next commit
			continue
		}
		p.outage.Store(true)
		p.faults.Down.Store(true)
		time.Sleep(150*time.Millisecond + time.Duration(r.Int64N(int64(100*time.Millisecond))))
		p.faults.Down.Store(false)
		p.outage.Store(false)
		c.mu.Lock()
		c.faults["outage"]++
		c.mu.Unlock()
	}
}

// lastWrite makes one process lose Redis, update a row that no write
// follows, and die: only the outbox can repair the value it left stale.
func (c *chaos) lastWrite(r *rand.Rand) {
	alive := c.alive()
	p := alive[r.IntN(len(alive))]
	ids, err := c.e.client.User.Query().IDs(c.e.ctx)
	require.NoError(c.t, err)
	id := ids[r.IntN(len(ids))]
	for _, q := range alive {
		_, err := q.client.User.Cached().Get(c.e.ctx, id) // the row is cached
		require.NoError(c.t, err)
	}
	p.outage.Store(true)
	p.faults.Down.Store(true)
	p.crash.Store(true)
	err = p.client.User.UpdateOneID(id).SetAge(chaosAge(r)).SetNickname("last write").Exec(c.e.ctx)
	require.ErrorIs(c.t, err, errCrashed)
	c.t.Logf("last write, to user %d, by %s", id, p)
}

// pickProc returns a working process no other fault is aimed at.
func (c *chaos) pickProc(r *rand.Rand) *chaosProc {
	ok := slices.DeleteFunc(c.alive(), func(p *chaosProc) bool { return !p.working.Load() || p.crash.Load() || p.outage.Load() })
	if len(ok) == 0 {
		return nil
	}
	return ok[r.IntN(len(ok))]
}

// corrupt writes what the cache never writes into its keys: another row's
// value under a row's key, and a string in a lease (a hash) and in a list (a
// set). Reads and scripts must take such keys for missing and remove them.
func (c *chaos) corrupt(r *rand.Rand) string {
	ctx := c.e.ctx
	part := entcachemodel.KeyPart(c.e.redis.Prefix)
	rows, err := c.e.redis.Keys(ctx, "{"+part+":User:*:r:*}")
	c.expect(err == nil, "corrupt: %v", err)
	lists, err := c.e.redis.Keys(ctx, "{"+part+":User:*:l:*}")
	c.expect(err == nil, "corrupt: %v", err)
	var done []string
	if len(rows) >= 2 {
		a, b := rows[r.IntN(len(rows))], rows[r.IntN(len(rows))]
		if v, err := c.e.redis.Client.Get(ctx, b).Bytes(); err == nil && a != b {
			c.expect(c.e.redis.Client.Set(ctx, a, v, 0).Err() == nil, "corrupt: set")
			done = append(done, "the value of "+b+" under "+a)
		}
		lk := rows[r.IntN(len(rows))] + ":lk"
		c.expect(c.e.redis.Client.Set(ctx, lk, "junk", 0).Err() == nil, "corrupt: set lease")
		done = append(done, "a string in "+lk)
	}
	if len(lists) > 0 {
		l := lists[r.IntN(len(lists))]
		c.expect(c.e.redis.Client.Set(ctx, l, "junk", 0).Err() == nil, "corrupt: set list")
		done = append(done, "a string in "+l)
	}
	c.mu.Lock()
	c.faults["corrupt"] += len(done)
	c.mu.Unlock()
	return strings.Join(done, "; ")
}

// flush deletes every key of the test, as FLUSHALL would on a server of its
// own; the server may be shared with other tests, and be a cluster.
func (c *chaos) flush() int {
	n, err := c.e.redis.DeleteAll(c.e.ctx)
	c.expect(err == nil, "flush: %v", err)
	return n
}

type chaosOp struct {
	name   string
	weight int
	run    func(c *chaos, p *chaosProc, r *rand.Rand) error
}

var chaosOps = []chaosOp{
	{"update-plain", 6, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		u := p.client.User.UpdateOneID(c.pickID(r))
		switch r.IntN(3) {
		case 0:
			u.SetNickname("n" + strconv.Itoa(r.IntN(100)))
		case 1:
			u.ClearNickname()
		default:
			u.SetScore(float64(r.IntN(100)) / 4)
		}
		return u.Exec(c.e.ctx)
	}},
	{"update-indexed", 6, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		u := p.client.User.UpdateOneID(c.pickID(r))
		switch r.IntN(4) {
		case 0, 1:
			u.SetAge(chaosAge(r))
		case 2:
			u.SetRole(chaosRole(r)).SetActive(r.IntN(2) == 0)
		default:
			u.SetActive(r.IntN(2) == 0) // half of a composite list key
		}
		return u.Exec(c.e.ctx)
	}},
	{"swap-emails", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		a, b, tmp := c.pickID(r), c.pickID(r), fmt.Sprintf("tmp%d@x.io", c.fresh.Add(1))
		c.mu.Lock()
		c.emails[tmp] = true
		c.mu.Unlock()
		return chaosTx(c.e.ctx, p.client, true, func(ctx context.Context, tx *ent.Tx) error {
			ua, err := tx.User.Get(ctx, a)
			if err != nil {
				return err
			}
			ub, err := tx.User.Get(ctx, b)
			if err != nil || a == b {
				return err
			}
			if err := tx.User.UpdateOneID(a).SetEmail(tmp).Exec(ctx); err != nil {
				return err
			}
			if err := tx.User.UpdateOneID(b).SetEmail(ua.Email).Exec(ctx); err != nil {
				return err
			}
			return tx.User.UpdateOneID(a).SetEmail(ub.Email).Exec(ctx)
		})
	}},
	{"tx-commit", 2, func(c *chaos, p *chaosProc, r *rand.Rand) error { return c.txOps(p, r, true) }},
	{"tx-rollback", 2, func(c *chaos, p *chaosProc, r *rand.Rand) error { return c.txOps(p, r, false) }},
	{"tx-half-write", 1, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		// The row's UPDATE runs, then adding a pet that does not exist
		// fails; the transaction commits what ran.
		return chaosTx(c.e.ctx, p.client, true, func(ctx context.Context, tx *ent.Tx) error {
			id := c.pickID(r)
			err := tx.User.UpdateOneID(id).SetAge(chaosAge(r)).AddPetIDs(1 << 30).Exec(ctx)
			c.expect(err != nil, "adding a pet that does not exist succeeded")
			if r.IntN(5) == 0 && c.e.db.Dialect != dialect.SQLite {
				// Now and then the transaction outlives its marks, and another
				// process fills the row as committed before it (on a server
				// database: sqlite locks the table, and the fill would wait for
				// this transaction).
				time.Sleep(chaosLease + 100*time.Millisecond)
				if alive := c.alive(); len(alive) > 0 {
					_, _ = alive[r.IntN(len(alive))].client.User.Cached().Get(ctx, id)
				}
			}
			return nil
		})
	}},
	{"bulk-update", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		u := p.client.User.Update()
		switch r.IntN(3) {
		case 0:
			u.Where(user.AgeLT(chaosAge(r))).SetAge(chaosAge(r))
		case 1:
			u.Where(user.AgeGT(chaosAge(r))).AddAge(-1) // the new age is unknown before the write
		default:
			u.Where(user.RoleEQ(chaosRole(r))).SetActive(r.IntN(2) == 0)
		}
		return u.Exec(c.e.ctx)
	}},
	{"delete-recreate", 2, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ctx, email := c.e.ctx, chaosEmail(r.IntN(chaosRows))
		old, err := p.client.User.Query().Where(user.EmailEQ(email)).Only(ctx)
		if ent.IsNotFound(err) {
			first := fmt.Sprintf("F%d", c.fresh.Add(1))
			return c.create(p.client.User.Create().SetEmail(email).SetFirstName(first).SetLastName("new").SetAge(chaosAge(r)))
		}
		if err != nil {
			return err
		}
		if r.IntN(2) == 0 {
			_, err = p.client.User.Delete().Where(user.EmailEQ(email)).Exec(ctx)
		} else {
			err = p.client.User.DeleteOneID(old.ID).Exec(ctx)
		}
		if err != nil {
			return err
		}
		return c.create(p.client.User.Create().SetEmail(email).SetFirstName(old.FirstName).SetLastName(old.LastName).
			SetAge(chaosAge(r)).SetRole(old.Role))
	}},
	{"upsert", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		create := func(slot int) *ent.UserCreate {
			b := p.client.User.Create().SetEmail(chaosEmail(slot)).SetFirstName(fmt.Sprintf("U%d", slot)).SetLastName("up")
			c.note(b)
			return b.SetAge(chaosAge(r))
		}
		slot := r.IntN(chaosRows)
		switch r.IntN(3) {
		case 0:
			return create(slot).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(c.e.ctx)
		case 1:
			return create(slot).OnConflictColumns(user.FieldEmail).UpdateNewValues().Exec(c.e.ctx)
		default:
			other := (slot + 1 + r.IntN(chaosRows-1)) % chaosRows
			return p.client.User.CreateBulk(create(slot), create(other)).OnConflictColumns(user.FieldEmail).UpdateAge().Exec(c.e.ctx)
		}
	}},
	{"pet-move", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		u := p.client.Pet.UpdateOneID(c.pickPet(r))
		switch r.IntN(3) {
		case 0:
			u.SetOwnerID(c.pickID(r))
		case 1:
			u.ClearOwner()
		default:
			u.SetName(chaosPetNames[r.IntN(len(chaosPetNames))])
		}
		return u.Exec(c.e.ctx)
	}},
	{"pet-owner-edge", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		u := p.client.User.UpdateOneID(c.pickID(r))
		switch r.IntN(4) {
		case 0:
			u.AddPetIDs(c.pickPet(r))
		case 1:
			u.RemovePetIDs(c.pickPet(r))
		default:
			u.ClearPets() // changes pets it does not name
		}
		return u.Exec(c.e.ctx)
	}},
	{"read-pet", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		if r.IntN(2) == 0 {
			id := c.pickPet(r)
			got, err := p.client.Pet.Cached().Get(c.e.ctx, id)
			c.expect(err != nil || got.ID == id, "%s: Pet Get(%d) returned another pet", p, id)
			return err
		}
		name := chaosPetNames[r.IntN(len(chaosPetNames))]
		got, err := p.client.Pet.Cached().ListByName(c.e.ctx, name)
		c.expect(!slices.ContainsFunc(got, func(x *ent.Pet) bool { return x.Name != name }), "%s: Pet ListByName(%s) returned another name", p, name)
		return err
	}},
	{"read-get", 5, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		id := c.pickID(r)
		u, err := p.client.User.Cached().Get(c.e.ctx, id)
		c.expect(err != nil || u.ID == id, "%s: Get(%d) returned %s", p, id, chaosUser(u))
		return chaosFound(err)
	}},
	{"read-get-many", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		ids := []int{c.pickID(r), c.pickID(r), c.pickID(r)}
		us, err := p.client.User.Cached().GetMany(c.e.ctx, ids...)
		rest := ids
		for _, u := range us {
			i := slices.Index(rest, u.ID)
			c.expect(i >= 0, "%s: GetMany(%v) returned %v", p, ids, chaosIDs(us))
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
		return err
	}},
	{"read-by-email", 4, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		email := chaosEmail(r.IntN(chaosRows))
		u, err := p.client.User.Cached().GetByEmail(c.e.ctx, email)
		c.expect(err != nil || u.Email == email, "%s: GetByEmail(%s) returned %s", p, email, chaosUser(u))
		return chaosFound(err)
	}},
	{"read-by-name", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		c.mu.Lock()
		n := c.nameList[r.IntN(len(c.nameList))]
		c.mu.Unlock()
		u, err := p.client.User.Cached().GetByFirstNameLastName(c.e.ctx, n[0], n[1])
		c.expect(err != nil || u.FirstName == n[0] && u.LastName == n[1], "%s: GetByFirstNameLastName(%v) returned %s", p, n, chaosUser(u))
		return chaosFound(err)
	}},
	{"read-by-age", 4, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		age := chaosAge(r)
		us, err := p.client.User.Cached().ListByAge(c.e.ctx, age)
		c.expectList(us, func(u *ent.User) bool { return u.Age == age }, "%s: ListByAge(%d)", p, age)
		return err
	}},
	{"read-by-age-page", 2, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		age, limit, after := chaosAge(r), 1+r.IntN(4), r.IntN(300)
		us, err := p.client.User.Cached().ListByAge(c.e.ctx, age, entcachemodel.Limit(limit), entcachemodel.AfterID(after))
		c.expectList(us, func(u *ent.User) bool { return u.Age == age && u.ID > after }, "%s: ListByAge(%d, Limit(%d), AfterID(%d))", p, age, limit, after)
		c.expect(len(us) <= limit, "%s: ListByAge(%d, Limit(%d)) returned %d rows", p, age, limit, len(us))
		return err
	}},
	{"read-by-role-active", 3, func(c *chaos, p *chaosProc, r *rand.Rand) error {
		role, active := chaosRole(r), r.IntN(2) == 0
		us, err := p.client.User.Cached().ListByRoleActive(c.e.ctx, role, active)
		c.expectList(us, func(u *ent.User) bool { return u.Role == role && u.Active == active }, "%s: ListByRoleActive(%s, %t)", p, role, active)
		return err
	}},
}

// expectList checks that a list lookup returned matching rows, by id.
func (c *chaos) expectList(us []*ent.User, match func(*ent.User) bool, format string, args ...any) {
	ok := slices.IsSortedFunc(us, func(a, b *ent.User) int { return a.ID - b.ID }) && !slices.ContainsFunc(us, func(u *ent.User) bool { return !match(u) })
	c.expect(ok, format+" returned %v", append(args, chaosIDs(us))...)
}

// txOps runs one to three writes in a transaction, then commits or rolls
// back.
func (c *chaos) txOps(p *chaosProc, r *rand.Rand, commit bool) error {
	return chaosTx(c.e.ctx, p.client, commit, func(ctx context.Context, tx *ent.Tx) error {
		for range 1 + r.IntN(3) {
			var err error
			switch id := c.pickID(r); r.IntN(6) {
			case 0:
				err = tx.User.UpdateOneID(id).SetAge(chaosAge(r)).Exec(ctx)
			case 1:
				err = tx.User.UpdateOneID(id).SetNickname("tx").AddScore(1).Exec(ctx)
			case 2:
				err = tx.User.UpdateOneID(id).SetRole(chaosRole(r)).SetActive(r.IntN(2) == 0).Exec(ctx)
			case 3:
				err = tx.User.Update().Where(user.AgeGTE(chaosAge(r))).SetAge(chaosAge(r)).Exec(ctx)
			case 4: // short-lived rows: created by one transaction, deleted by another
				n := c.fresh.Add(1)
				b := tx.User.Create().SetEmail(fmt.Sprintf("tx%d@x.io", n)).SetFirstName(fmt.Sprintf("T%d", n)).SetAge(chaosAge(r))
				c.note(b)
				var u *ent.User
				if u, err = b.Save(ctx); err == nil {
					c.mu.Lock()
					c.maxID = max(c.maxID, u.ID)
					c.mu.Unlock()
				}
			default:
				_, err = tx.User.Delete().Where(user.EmailHasPrefix("tx")).Exec(ctx)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func chaosTx(ctx context.Context, client *ent.Client, commit bool, f func(context.Context, *ent.Tx) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

// chaosFound drops the not-found error of a lookup: not an error here.
func chaosFound(err error) error {
	if ent.IsNotFound(err) {
		return nil
	}
	return err
}

func chaosIDs(us []*ent.User) []int {
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func chaosAt(us []*ent.User, i int) *ent.User {
	if i < len(us) {
		return us[i]
	}
	return nil
}

func chaosUser(u *ent.User) string {
	if u == nil {
		return "not found"
	}
	nick := "<nil>"
	if u.Nickname != nil {
		nick = *u.Nickname
	}
	return fmt.Sprintf("{id %d %s %s/%s age %d %s active %t nick %s score %g}",
		u.ID, u.Email, u.FirstName, u.LastName, u.Age, u.Role, u.Active, nick, u.Score)
}

// check compares the cached lookups of every process with the database.
// The first pass reads what the run left in Redis, for every id, email and
// name ever used; the second, for the rows in the database, what the first
// pass filled.
func (c *chaos) check(procs []*chaosProc) []string {
	ctx := c.e.ctx
	rows, err := c.e.client.User.Query().Order(user.ByID()).All(ctx)
	require.NoError(c.t, err)
	byID, byEmail, byName := map[int]*ent.User{}, map[string]*ent.User{}, map[[2]string]*ent.User{}
	ages := map[int]bool{}
	for i := range chaosAges {
		ages[20+i] = true
	}
	for _, u := range rows {
		n := [2]string{u.FirstName, u.LastName}
		byID[u.ID], byEmail[u.Email], byName[n] = u, u, u
		c.emails[u.Email], c.names[n], ages[u.Age] = true, true, true
		c.maxID = max(c.maxID, u.ID)
	}
	var diffs []string
	same := func(what string, want, got []*ent.User, err error) {
		switch {
		case err != nil && !ent.IsNotFound(err):
			diffs = append(diffs, fmt.Sprintf("%s: error %v", what, err))
		case assert.ObjectsAreEqual(userFields(want), userFields(got)):
		case len(want) < 2 && len(got) < 2:
			diffs = append(diffs, fmt.Sprintf("%s: cache %s, database %s", what, chaosUser(chaosAt(got, 0)), chaosUser(chaosAt(want, 0))))
		default:
			i := 0
			for i < min(len(want), len(got)) && assert.ObjectsAreEqual(want[i].Fields(), got[i].Fields()) {
				i++
			}
			diffs = append(diffs, fmt.Sprintf("%s: cache %v, database %v (first difference: cache %s, database %s)",
				what, chaosIDs(got), chaosIDs(want), chaosUser(chaosAt(got, i)), chaosUser(chaosAt(want, i))))
		}
	}
	one := func(u *ent.User) []*ent.User {
		if u == nil {
			return nil
		}
		return []*ent.User{u}
	}
	where := func(match func(*ent.User) bool) []*ent.User {
		return slices.DeleteFunc(slices.Clone(rows), func(u *ent.User) bool { return !match(u) })
	}
	pets, err := c.e.client.Pet.Query().WithOwner().Order(pet.ByID()).All(ctx) // WithOwner loads the hidden key
	require.NoError(c.t, err)
	samePets := func(what string, want, got []*ent.Pet, err error) {
		fields := func(ps []*ent.Pet) []ent.Pet {
			out := make([]ent.Pet, len(ps))
			for i, p := range ps {
				out[i] = p.Fields()
			}
			return out
		}
		if err != nil && !ent.IsNotFound(err) {
			diffs = append(diffs, fmt.Sprintf("%s: error %v", what, err))
		} else if !assert.ObjectsAreEqual(fields(want), fields(got)) {
			diffs = append(diffs, fmt.Sprintf("%s: cache %+v, database %+v", what, fields(got), fields(want)))
		}
	}
	r := rand.New(rand.NewPCG(c.seed, 1<<34))
	readers := append(procs, &chaosProc{name: "base", client: c.e.client}) // base: idle since the seeding
	for _, proc := range readers {
		pc := proc.client.Pet.Cached()
		for _, want := range pets {
			var got []*ent.Pet
			one, err := pc.Get(ctx, want.ID)
			if err == nil {
				got = append(got, one)
			}
			samePets(fmt.Sprintf("%s Pet Get(%d)", proc, want.ID), []*ent.Pet{want}, got, err)
		}
		for _, name := range chaosPetNames {
			got, err := pc.ListByName(ctx, name)
			want := slices.DeleteFunc(slices.Clone(pets), func(x *ent.Pet) bool { return x.Name != name })
			samePets(fmt.Sprintf("%s Pet ListByName(%s)", proc, name), want, got, err)
		}
	}
	diffs = append(diffs, c.checkLinks(readers)...)
	for pass := range 2 {
		ids, emails, names := r.Perm(c.maxID+1), slices.Collect(maps.Keys(c.emails)), slices.Collect(maps.Keys(c.names))
		if pass > 0 {
			ids, emails, names = slices.Collect(maps.Keys(byID)), slices.Collect(maps.Keys(byEmail)), slices.Collect(maps.Keys(byName))
		}
		for _, p := range readers {
			at, uc := fmt.Sprintf("pass %d %s", pass, p), p.client.User.Cached()
			for _, id := range ids {
				got, err := uc.Get(ctx, id)
				same(fmt.Sprintf("%s Get(%d)", at, id), one(byID[id]), one(got), err)
			}
			got, err := uc.GetMany(ctx, ids...)
			var want []*ent.User
			for _, id := range ids {
				if u := byID[id]; u != nil {
					want = append(want, u)
				}
			}
			same(at+" GetMany", want, got, err)
			for _, email := range emails {
				got, err := uc.GetByEmail(ctx, email)
				same(fmt.Sprintf("%s GetByEmail(%s)", at, email), one(byEmail[email]), one(got), err)
			}
			for _, n := range names {
				got, err := uc.GetByFirstNameLastName(ctx, n[0], n[1])
				same(fmt.Sprintf("%s GetByFirstNameLastName(%s, %s)", at, n[0], n[1]), one(byName[n]), one(got), err)
			}
			for age := range ages {
				got, err := uc.ListByAge(ctx, age)
				same(fmt.Sprintf("%s ListByAge(%d)", at, age), where(func(u *ent.User) bool { return u.Age == age }), got, err)
			}
			for _, role := range []user.Role{user.RoleAdmin, user.RoleMember} {
				for _, active := range []bool{false, true} {
					got, err := uc.ListByRoleActive(ctx, role, active)
					same(fmt.Sprintf("%s ListByRoleActive(%s, %t)", at, role, active),
						where(func(u *ent.User) bool { return u.Role == role && u.Active == active }), got, err)
				}
			}
		}
	}
	return diffs
}
