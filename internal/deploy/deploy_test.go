package deploy

import (
	"context"
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
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	v2 "github.com/entcachemodel/entcachemodel/internal/deploy/v2/ent"
	v2member "github.com/entcachemodel/entcachemodel/internal/deploy/v2/ent/member"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

const (
	lease  = 100 * time.Millisecond
	slots  = 12 // rows live under these e-mails, deleted and created again
	probes = 4  // rows only the join probe writes
)

// Every process has a period of its own; the longest decides the trust
// delay (twice it, plus the lease) and when a process counts as gone (three
// of its own, plus a second). The first of each list is the fast one, the
// last of v2's the slow one.
var (
	v1Periods       = []time.Duration{40 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond}
	v2Periods       = []time.Duration{60 * time.Millisecond, 400 * time.Millisecond}
	rollbackPeriods = []time.Duration{40 * time.Millisecond, 200 * time.Millisecond}
	longest         = 400 * time.Millisecond
	trustDelay      = 2*longest + lease
	goneAfter       = 3*longest + time.Second
)

// TestRollingDeploy runs processes of two generated versions of one schema
// on one database and Redis: v1 alone, then v2 joining, v1 leaving, v1
// coming back (a rollback) while v2 runs. They create, upsert, update (one
// row, many, in transactions that commit or roll back) and delete the same
// rows, moving them between the values of every list, and read them
// through every cached lookup; Redis round trips are delayed at random.
// Two scheduled steps aim at the rules' edges: when v1 comes back, once a
// trust rule that ignored the others' periods would trust it, its fastest
// process reads rows that v2's slowest process (whose view may still
// predate v1's return) then changes; and the load ends with each version
// changing what the other lists rows by, right after every process read
// every lookup. Once the writes stop and the periods are waited out, every
// cached answer of every live process of both versions must equal the
// database, as that version reads it. Then v1 leaves for good, v2 writes
// on, and v2's answers are checked again, now that v2 alone serves its own
// lists.
//
// CHAOS_SEED replays a run's choices (not its timing).
func TestRollingDeploy(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
	}
	t.Logf("seed %d", seed)
	d := newDeploy(t, seed)

	olds := d.start(newV1, v1Periods)
	d.phase("v1 alone", 600*time.Millisecond)
	news := d.start(newV2, v2Periods)
	d.phase("v2 joins", 1200*time.Millisecond)
	d.stop(olds...)
	d.phase("v1 leaves", goneAfter+200*time.Millisecond) // long enough to count as gone
	back := d.rollback(olds[2], news[len(news)-1])
	d.phase("v1 comes back", 1200*time.Millisecond)
	d.stop(d.working()...)

	live := append(slices.Clone(news), back...)
	d.cross(live)
	d.quiesce(live)
	diffs, wrong, served := d.check(live)
	d.report("both versions", diffs, wrong, served)

	d.stop(back...)
	d.resume(news...)
	d.phase("v2 alone", goneAfter+trustDelay+time.Second)
	d.stop(news...)
	d.quiesce(news)
	diffs, wrong, served = d.check(news)
	d.report("v2 alone", diffs, wrong, served)
	t.Logf("%d operations %v; errors tolerated %v", d.total(), d.counts(d.ops), d.counts(d.errs))
}

// deploy is one run: the shared database and Redis, and the processes.
type deploy struct {
	t     *testing.T
	seed  uint64
	ctx   context.Context
	db    *testenv.Database
	redis *testenv.Redis
	base  *v2.Client // the database, past any cache

	n     atomic.Int64 // numbers the processes
	mu    sync.Mutex
	procs []*proc
	ids   []int // the rows' ids, as last read
	ops   map[string]int
	errs  map[string]int
}

// proc is one process: its own pool, Redis client, cache and client of one
// version.
type proc struct {
	name       string
	v          version
	cache      *entcachemodel.Cache
	faults     *testenv.Faults
	registered *registrations
	r          *rand.Rand
	stop       chan struct{}
	done       chan struct{}
}

func newDeploy(t *testing.T, seed uint64) *deploy {
	d := &deploy{t: t, seed: seed, ctx: context.Background(), ops: map[string]int{}, errs: map[string]int{}}
	var err error
	d.db, err = testenv.OpenDatabase()
	require.NoError(t, err)
	t.Cleanup(d.db.Close)
	d.redis, err = testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(d.redis.Close)
	if d.redis.Mini != nil {
		d.redis.Mini.ClockTTL(true) // keys expire as time passes, as on a real server
	}
	drv, err := d.db.Open()
	require.NoError(t, err)
	// v2's tables are v1's and its new column: the deploy migrates first.
	d.base = v2.NewClient(v2.Driver(drv), v2.CacheModel(entcachemodel.Disabled()))
	t.Cleanup(func() { d.base.Close() })
	require.NoError(t, d.base.Schema.Create(d.ctx))
	for i := range probes {
		require.NoError(t, d.base.Member.Create().SetEmail(probeEmail(i)).SetAge(ages[0]).SetTeam(teams[0]).SetLevel(levels[0]).Exec(d.ctx))
	}
	return d
}

// registrations tells when its client's process reads the registry.
type registrations struct {
	mu    sync.Mutex
	waits []chan struct{}
}

// next returns a channel closed once the process has read the registry
// again.
func (r *registrations) next() <-chan struct{} {
	ch := make(chan struct{})
	r.mu.Lock()
	r.waits = append(r.waits, ch)
	r.mu.Unlock()
	return ch
}

func (r *registrations) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *registrations) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.HasSuffix(s, "}:registry") && err == nil {
				r.mu.Lock()
				for _, ch := range r.waits {
					close(ch)
				}
				r.waits = nil
				r.mu.Unlock()
			}
		}
		return err
	}
}

func (r *registrations) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func probeEmail(i int) string { return fmt.Sprintf("probe%d@x.io", i) }

// rollback brings v1 back: new processes, and old, which returns. It
// probes the trust delay on the way: v1 comes back just after v2's slow
// process read the registry (its view then lasts one of its periods), and
// once a trust rule that counted only the joiners' own periods would trust
// v1, v1's fast process reads the probe rows and v2's slow process, whose
// view predates v1's return, changes them. The load pauses meanwhile, so
// the probe runs on time; no other write touches these rows, so what it
// leaves lasts until the check.
func (d *deploy) rollback(old, slow *proc) []*proc {
	var rows []*v2.Member
	require.Eventually(d.t, func() bool { // sqlite: the table may be locked a moment
		var err error
		rows, err = d.base.Member.Query().Where(v2member.EmailHasPrefix("probe")).All(d.ctx)
		return err == nil
	}, 10*time.Second, time.Millisecond)
	<-slow.registered.next()
	joined := time.Now()
	back := d.start(newV1, rollbackPeriods)
	fast := back[0]
	<-fast.registered.next() // v1 is back
	paused := d.working()
	d.stop(paused...)
	time.Sleep(time.Until(joined.Add(2*rollbackPeriods[0] + lease + 20*time.Millisecond)))
	for _, m := range rows {
		for range 2 {
			_, _ = fast.v.get(d.ctx, m.ID)
		}
	}
	for _, m := range rows {
		d.count("probe move", slow.v.move(d.ctx, m.ID, member{Team: m.Team, Age: m.Age, Nick: m.Nick, Zip: m.Profile.Zip, City: m.Profile.City}))
	}
	if late := time.Since(joined); late > v2Periods[len(v2Periods)-1]-50*time.Millisecond {
		d.t.Logf("the probe ran late (%s after v1 came back): it may not probe the trust delay", late)
	}
	d.resume(paused...)
	return append(back, d.resume(old))
}

func (d *deploy) count(op string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops[op]++
	if err != nil {
		d.errs[op]++
	}
}

// start starts a process of a version per period.
func (d *deploy) start(open func(dialect.Driver, *entcachemodel.Cache) version, periods []time.Duration) []*proc {
	var out []*proc
	for _, period := range periods {
		n := d.n.Add(1)
		rdb := d.redis.NewClient()
		faults := &testenv.Faults{}
		faults.SetMaxDelay(time.Millisecond)
		rdb.AddHook(faults)
		registered := &registrations{}
		rdb.AddHook(registered)
		d.t.Cleanup(func() { rdb.Close() })
		drv, err := d.db.Open()
		require.NoError(d.t, err)
		cache := entcachemodel.New(rdb, entcachemodel.WithPrefix(d.redis.Prefix), entcachemodel.WithLease(lease),
			entcachemodel.WithVersionCheck(period), entcachemodel.WithCooldown(50*time.Millisecond),
			entcachemodel.WithTimeout(2*time.Second), entcachemodel.WithLogger(slog.New(slog.DiscardHandler)))
		p := &proc{v: open(drv, cache), cache: cache, faults: faults, registered: registered, r: rand.New(rand.NewPCG(d.seed, uint64(n)))}
		p.name = fmt.Sprintf("%s.p%d(%s)", p.v.name(), n, period)
		d.mu.Lock()
		d.procs = append(d.procs, p)
		d.mu.Unlock()
		d.resume(p)
		out = append(out, p)
	}
	return out
}

// resume starts the work of processes (again).
func (d *deploy) resume(ps ...*proc) *proc {
	for _, p := range ps {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go d.work(p)
	}
	return ps[0]
}

// stop ends the work of processes: they no longer use the cache, so they
// count as gone once their periods run out.
func (d *deploy) stop(ps ...*proc) {
	for _, p := range ps {
		if p.stop != nil {
			close(p.stop)
			<-p.done
			p.stop = nil
		}
	}
}

// working returns the processes at work.
func (d *deploy) working() []*proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(d.procs), func(p *proc) bool { return p.stop == nil })
}

func (d *deploy) phase(name string, dur time.Duration) {
	d.t.Logf("phase %q: %s, %d processes at work", name, dur, len(d.working()))
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		d.refreshIDs()
		time.Sleep(20 * time.Millisecond)
	}
}

// refreshIDs reads the ids of the load's rows (the probe rows left out).
func (d *deploy) refreshIDs() {
	ids, err := d.base.Member.Query().Where(v2member.EmailHasPrefix("m")).IDs(d.ctx)
	if err != nil {
		return
	}
	d.mu.Lock()
	d.ids = ids
	d.mu.Unlock()
}

func (d *deploy) pickIDs(r *rand.Rand, n int) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for range n {
		if len(d.ids) > 0 {
			out = append(out, d.ids[r.IntN(len(d.ids))])
		}
	}
	return out
}

func email(slot int) string { return fmt.Sprintf("m%d@x.io", slot) }

// work runs random writes and reads until the process is stopped.
func (d *deploy) work(p *proc) {
	defer close(p.done)
	ctx, r := d.ctx, p.r
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		var op string
		var err error
		switch k := r.IntN(20); {
		case k < 2 && r.IntN(3) == 0:
			// Two or three rows at once, mostly upserted: the e-mails of
			// most slots are taken, so a plain bulk mostly fails.
			upsert := r.IntN(3) > 0
			op = "create bulk"
			if upsert {
				op = "upsert bulk"
			}
			var emails []string
			for _, slot := range r.Perm(slots)[:2+r.IntN(2)] {
				emails = append(emails, email(slot))
			}
			err = p.v.createBulk(ctx, r, emails, upsert)
		case k < 2:
			op, err = "create", p.v.create(ctx, r, email(r.IntN(slots)), false)
		case k < 3:
			op, err = "upsert", p.v.create(ctx, r, email(r.IntN(slots)), true)
		case k < 8:
			op = "update"
			if ids := d.pickIDs(r, 1); len(ids) > 0 {
				err = p.v.update(ctx, r, ids[0])
			}
		case k < 9:
			op, err = "update many", p.v.updateMany(ctx, r)
		case k < 10:
			op = "delete"
			if ids := d.pickIDs(r, 1); len(ids) > 0 {
				err = p.v.deleteOne(ctx, ids[0])
			}
		case k < 11:
			commit := r.IntN(3) > 0
			op, err = "transaction", p.v.txn(ctx, r, d.pickIDs(r, 2), commit)
		default:
			op, err = "read", d.read(p, r)
		}
		d.count(op, err)
	}
}

// read runs one cached lookup; its answer is not checked (another process
// may write the rows meanwhile), only the final check's are.
func (d *deploy) read(p *proc, r *rand.Rand) error {
	ctx := d.ctx
	var err error
	switch r.IntN(4) {
	case 0:
		if ids := d.pickIDs(r, 1); len(ids) > 0 {
			_, err = p.v.get(ctx, ids[0])
		}
	case 1:
		_, err = p.v.getMany(ctx, d.pickIDs(r, 3))
	case 2:
		_, err = p.v.getByEmail(ctx, email(r.IntN(slots)))
	default:
		ls := p.v.lists()
		_, err = ls[r.IntN(len(ls))].run(ctx)
	}
	if err != nil && strings.Contains(err.Error(), "not found") {
		err = nil
	}
	return err
}

// cross ends the load with writes of each version on rows that every
// process just read, so that a change one version's writes leave in the
// other's answers is not repaired by a later write: every process reads
// every lookup, then a process of each version moves a few rows between
// the values of the other version's lists (and of the shared ones).
func (d *deploy) cross(live []*proc) {
	r := rand.New(rand.NewPCG(d.seed, 1<<40))
	d.refreshIDs()
	for _, p := range live {
		for _, l := range p.v.lists() {
			_, _ = l.run(d.ctx)
		}
		_, _ = p.v.getMany(d.ctx, d.pickIDs(r, 2*slots))
	}
	for _, name := range []string{"v2", "v1"} {
		i := slices.IndexFunc(live, func(p *proc) bool { return p.v.name() == name })
		for _, id := range d.pickIDs(r, 4) {
			m, err := d.base.Member.Get(d.ctx, id)
			if err == nil {
				err = live[i].v.move(d.ctx, id, member{Team: m.Team, Age: m.Age, Level: m.Level, Nick: m.Nick, City: m.Profile.City, Zip: m.Profile.Zip})
			}
			d.count("finale move", err)
		}
	}
}

// quiesce waits, once the writes stopped, for every mark to run out and for
// every process's view of the registry to be trusted: three of the longest
// periods and the trust delay. The processes read (and so register) while
// they wait, as live processes do.
func (d *deploy) quiesce(live []*proc) {
	end := time.Now().Add(3*longest + trustDelay)
	for time.Now().Before(end) {
		for _, p := range live {
			_, _ = p.v.get(d.ctx, 0)
		}
		time.Sleep(longest / 4)
	}
}

// check compares every cached lookup of every process with the database,
// twice (a first answer may fill what the second serves). It returns the
// differences, the lookups that differed (a version's lookup of one key,
// in any process or pass), and how many rows the cache served.
func (d *deploy) check(procs []*proc) ([]string, map[string]bool, uint64) {
	var diffs []string
	wrong := map[string]bool{}
	var hits uint64
	for _, p := range procs {
		hits -= p.cache.Stats().Hits
	}
	var at string
	var p *proc
	same := func(what string, want, got any, err error) {
		if err != nil && !strings.Contains(err.Error(), "not found") {
			diffs = append(diffs, fmt.Sprintf("%s %s: error %v", at, what, err))
			wrong[p.v.name()+" "+what] = true
			return
		}
		if w, g := fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", got); w != g {
			diffs = append(diffs, fmt.Sprintf("%s %s: cache %s, database %s", at, what, g, w))
			wrong[p.v.name()+" "+what] = true
		}
	}
	for _, p = range procs {
		rows, err := p.v.rows(d.ctx)
		require.NoError(d.t, err)
		byID, byEmail := map[int]member{}, map[string]member{}
		maxID := 0
		for _, m := range rows {
			byID[m.ID], byEmail[m.Email] = m, m
			maxID = max(maxID, m.ID)
		}
		// Every row, and the last ids deleted (their values may linger).
		var ids []int
		for id := maxID + 1; id > 0 && len(ids) < len(rows)+12; id-- {
			ids = append(ids, id)
		}
		for _, m := range rows {
			if !slices.Contains(ids, m.ID) {
				ids = append(ids, m.ID)
			}
		}
		slices.Sort(ids)
		one := func(m member, ok bool) []member {
			if !ok {
				return nil
			}
			return []member{m}
		}
		got1 := func(m *member) []member {
			if m == nil {
				return nil
			}
			return []member{*m}
		}
		for pass := range 2 {
			at = fmt.Sprintf("pass %d %s", pass, p.name)
			for _, id := range ids {
				m, err := p.v.get(d.ctx, id)
				w, ok := byID[id]
				same(fmt.Sprintf("Get(%d)", id), one(w, ok), got1(m), err)
			}
			got, err := p.v.getMany(d.ctx, ids)
			same("GetMany", rows, got, err)
			for slot := range slots {
				m, err := p.v.getByEmail(d.ctx, email(slot))
				w, ok := byEmail[email(slot)]
				same(fmt.Sprintf("GetByEmail(%s)", email(slot)), one(w, ok), got1(m), err)
			}
			for _, l := range p.v.lists() {
				got, err := l.run(d.ctx)
				same(l.name, slices.DeleteFunc(slices.Clone(rows), func(m member) bool { return !l.match(m) }), got, err)
			}
		}
	}
	for _, p := range procs {
		hits += p.cache.Stats().Hits
	}
	return diffs, wrong, hits
}

func (d *deploy) report(stage string, diffs []string, wrong map[string]bool, served uint64) {
	d.t.Logf("check %q: %d rows served from the cache; %d divergences (bar 0) in %d lookups %v",
		stage, served, len(diffs), len(wrong), slices.Sorted(maps.Keys(wrong)))
	for _, diff := range diffs[:min(5, len(diffs))] {
		d.t.Errorf("divergence (%s): %s", stage, diff)
	}
	if served == 0 {
		d.t.Errorf("check %q: the cache served nothing; the check checked the database only", stage)
	}
}

func (d *deploy) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.ops {
		n += c
	}
	return n
}

func (d *deploy) counts(m map[string]int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
