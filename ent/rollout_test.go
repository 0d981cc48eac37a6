package ent_test

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
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

// The rollout that introduces the extension: old replicas (the same
// generated package, no ent.CacheModel option, so no hooks publish) keep
// writing while new replicas, started WithReadsPaused, already write and
// publish. Then the old replicas stop, and warm, verify --repair and resume
// follow (the README's migration guide).

const rolloutCheck = 300 * time.Millisecond

// replica is one process of the rollout: its client and the counter of its
// own statements.
type replica struct {
	name   string
	drv    *testenv.Counter
	cache  *entcachemodel.Cache // nil for an old replica
	client *ent.Client
}

func (r *replica) queries(f func()) int64 {
	before := r.drv.Count()
	f()
	return r.drv.Count() - before
}

// pool returns a driver for another process of the test, counting its own
// statements. On sqlite the processes share one pool: connections of two
// pools of a shared in-memory database lock each other out.
func (e *env) pool() *testenv.Counter {
	e.t.Helper()
	if e.db.Dialect == dialect.SQLite {
		return &testenv.Counter{Driver: e.drv.Driver}
	}
	drv, err := e.db.Open()
	require.NoError(e.t, err)
	e.t.Cleanup(func() { drv.Close() })
	return drv
}

// oldReplica is a process of the application before adoption: ent.NewClient
// without the CacheModel option.
func (e *env) oldReplica() *replica {
	drv := e.pool()
	c := ent.NewClient(ent.Driver(drv))
	e.t.Cleanup(func() { c.Close() })
	return &replica{name: "old", drv: drv, client: c}
}

// newReplica is a process of the application after adoption.
func (e *env) newReplica(name string, opts ...entcachemodel.Option) *replica {
	rdb := e.redis.NewClient()
	e.t.Cleanup(func() { rdb.Close() })
	drv := e.pool()
	opts = append([]entcachemodel.Option{entcachemodel.WithPrefix(e.redis.Prefix), entcachemodel.WithVersionCheck(rolloutCheck)}, opts...)
	cache := entcachemodel.New(rdb, opts...)
	c := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
	e.t.Cleanup(func() { c.Close() })
	return &replica{name: name, drv: drv, cache: cache, client: c}
}

// seen is every id and value a row held during the test, so that the final
// comparison also looks up what is gone.
type seen struct {
	mu     sync.Mutex
	users  map[int]bool
	pets   map[int]bool
	emails map[string]bool
	names  map[[2]string]bool
}

func newSeen() *seen {
	return &seen{users: map[int]bool{}, pets: map[int]bool{}, emails: map[string]bool{}, names: map[[2]string]bool{}}
}

func (s *seen) user(u *ent.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = true
	s.emails[u.Email] = true
	s.names[[2]string{u.FirstName, u.LastName}] = true
}

func (s *seen) pet(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pets[id] = true
}

func (s *seen) pick(r *rand.Rand, m map[int]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return 0
	}
	slices.Sort(ids)
	return ids[r.IntN(len(ids))]
}

const rolloutAges = 6

var petNames = []string{"rex", "tom", "kit", "bo"}

// write runs one random write of the rollout's mix through c: creates,
// updates, deletes and edge writes on users and pets. A row another
// writer deleted meanwhile is not an error.
func (s *seen) write(t *testing.T, c *ent.Client, r *rand.Rand, who string, i int) {
	ctx := t.Context()
	uid, pid := s.pick(r, s.users), s.pick(r, s.pets)
	var err error
	switch op := r.IntN(13); op {
	case 0, 1:
		var u *ent.User
		u, err = c.User.Create().SetEmail(fmt.Sprintf("%s-%d@x.io", who, i)).SetFirstName(who).
			SetLastName(fmt.Sprint(i)).SetAge(r.IntN(rolloutAges)).SetActive(r.IntN(2) == 0).Save(ctx)
		if err == nil {
			s.user(u)
		}
	case 2, 3:
		err = c.User.UpdateOneID(uid).SetAge(r.IntN(rolloutAges)).Exec(ctx)
	case 4:
		var u *ent.User
		u, err = c.User.UpdateOneID(uid).SetEmail(fmt.Sprintf("%s-e%d@x.io", who, i)).Save(ctx)
		if err == nil {
			s.user(u)
		}
	case 5:
		var u *ent.User
		u, err = c.User.UpdateOneID(uid).SetFirstName(who + "-n").SetLastName(fmt.Sprint(i)).
			SetRole([]user.Role{user.RoleAdmin, user.RoleMember}[r.IntN(2)]).SetActive(r.IntN(2) == 0).Save(ctx)
		if err == nil {
			s.user(u)
		}
	case 6:
		err = c.User.DeleteOneID(uid).Exec(ctx)
	case 7, 8:
		var p *ent.Pet
		p, err = c.Pet.Create().SetName(petNames[r.IntN(len(petNames))]).SetOwnerID(uid).Save(ctx)
		if err == nil {
			s.pet(p.ID)
		}
	case 9:
		err = c.Pet.UpdateOneID(pid).SetOwnerID(uid).SetName(petNames[r.IntN(len(petNames))]).Exec(ctx)
	case 10:
		err = c.User.UpdateOneID(uid).AddPetIDs(pid).Exec(ctx)
	case 11:
		if r.IntN(2) == 0 {
			err = c.User.UpdateOneID(uid).ClearPets().Exec(ctx)
		} else {
			err = c.Pet.UpdateOneID(pid).ClearOwner().Exec(ctx)
		}
	case 12:
		err = c.Pet.DeleteOneID(pid).Exec(ctx)
	}
	if err != nil && !ent.IsNotFound(err) && !ent.IsConstraintError(err) {
		t.Errorf("%s: write %d: %v", who, i, err)
	}
}

// diff compares every cached answer of c (Get, GetMany, every GetBy and
// ListBy the schema publishes, for every row and every value seen) with
// the database's, reflect.DeepEqual on the entities without their client
// binding, and returns the differences.
func (s *seen) diff(t *testing.T, db, c *ent.Client) []string {
	ctx := t.Context()
	var out []string
	add := func(what string, cached, want any, cerr, werr error) {
		if !ent.IsNotFound(werr) {
			require.NoError(t, werr, what)
		}
		failed := cerr != nil && !ent.IsNotFound(cerr)
		if failed || ent.IsNotFound(cerr) != ent.IsNotFound(werr) || !reflect.DeepEqual(cached, want) {
			out = append(out, fmt.Sprintf("%s: cache %+v (%v), database %+v", what, cached, cerr, want))
		}
	}
	one := func(u *ent.User, err error) any {
		if err != nil {
			return nil
		}
		return u.Fields()
	}
	onePet := func(p *ent.Pet, err error) any {
		if err != nil {
			return nil
		}
		return p.Fields()
	}
	pets := func(ps []*ent.Pet) []ent.Pet {
		out := make([]ent.Pet, len(ps))
		for i, p := range ps {
			out[i] = p.Fields()
		}
		return out
	}
	byOrder := func(ids []int) func(a, b int) int {
		pos := map[int]int{}
		for i, id := range ids {
			pos[id] = i
		}
		return func(a, b int) int { return pos[a] - pos[b] }
	}

	s.mu.Lock()
	uids := slices.Sorted(maps.Keys(s.users))
	pids := slices.Sorted(maps.Keys(s.pets))
	emails := slices.Sorted(maps.Keys(s.emails))
	names := slices.SortedFunc(maps.Keys(s.names), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	s.mu.Unlock()

	for _, id := range uids {
		want, werr := db.User.Get(ctx, id)
		got, gerr := c.User.Cached().Get(ctx, id)
		add(fmt.Sprintf("User.Get(%d)", id), one(got, gerr), one(want, werr), gerr, werr)
	}
	shuffled := slices.Clone(uids)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	wantMany, err := db.User.Query().Where(user.IDIn(shuffled...)).All(ctx)
	require.NoError(t, err)
	order := byOrder(shuffled)
	slices.SortFunc(wantMany, func(a, b *ent.User) int { return order(a.ID, b.ID) })
	gotMany, gerr := c.User.Cached().GetMany(ctx, shuffled...)
	add("User.GetMany", userFields(gotMany), userFields(wantMany), gerr, nil)
	for _, email := range emails {
		want, werr := db.User.Query().Where(user.Email(email)).Only(ctx)
		got, gerr := c.User.Cached().GetByEmail(ctx, email)
		add(fmt.Sprintf("User.GetByEmail(%q)", email), one(got, gerr), one(want, werr), gerr, werr)
	}
	for _, n := range names {
		want, werr := db.User.Query().Where(user.FirstName(n[0]), user.LastName(n[1])).Only(ctx)
		got, gerr := c.User.Cached().GetByFirstNameLastName(ctx, n[0], n[1])
		add(fmt.Sprintf("User.GetByFirstNameLastName(%q, %q)", n[0], n[1]), one(got, gerr), one(want, werr), gerr, werr)
	}
	for age := range rolloutAges + 1 {
		want, werr := db.User.Query().Where(user.Age(age)).Order(user.ByID()).All(ctx)
		got, gerr := c.User.Cached().ListByAge(ctx, age)
		add(fmt.Sprintf("User.ListByAge(%d)", age), userFields(got), userFields(want), gerr, werr)
	}
	for _, role := range []user.Role{user.RoleAdmin, user.RoleMember} {
		for _, active := range []bool{false, true} {
			want, werr := db.User.Query().Where(user.RoleEQ(role), user.Active(active)).Order(user.ByID()).All(ctx)
			got, gerr := c.User.Cached().ListByRoleActive(ctx, role, active)
			add(fmt.Sprintf("User.ListByRoleActive(%s, %v)", role, active), userFields(got), userFields(want), gerr, werr)
		}
	}

	for _, id := range pids {
		want, werr := db.Pet.Query().Where(pet.ID(id)).WithOwner().Only(ctx)
		got, gerr := c.Pet.Cached().Get(ctx, id)
		add(fmt.Sprintf("Pet.Get(%d)", id), onePet(got, gerr), onePet(want, werr), gerr, werr)
	}
	wantPets, err := db.Pet.Query().Where(pet.IDIn(pids...)).WithOwner().Order(pet.ByID()).All(ctx)
	require.NoError(t, err)
	gotPets, gerr := c.Pet.Cached().GetMany(ctx, pids...)
	add("Pet.GetMany", pets(gotPets), pets(wantPets), gerr, nil)
	for _, name := range append(slices.Clone(petNames), "absent") {
		want, werr := db.Pet.Query().Where(pet.Name(name)).WithOwner().Order(pet.ByID()).All(ctx)
		got, gerr := c.Pet.Cached().ListByName(ctx, name)
		add(fmt.Sprintf("Pet.ListByName(%q)", name), pets(got), pets(want), gerr, werr)
	}
	return out
}

// rollout runs the introduction of the extension up to the point where
// the old replica has stopped: rows written before adoption, then the old
// replica writing concurrently with two new replicas that run paused
// (and write, and read the database), and a serving process without the
// pause, to show what the pause prevents. It ends with a known last write
// of the old replica on a row a new replica published.
func rollout(t *testing.T) (e *env, s *seen, a, b *replica, last int) {
	e = newEnv(t)
	s = newSeen()
	old := e.oldReplica()
	// The project before adoption: rows written by the plain client.
	for i := range 30 {
		u := old.client.User.Create().SetEmail(fmt.Sprintf("before-%d@x.io", i)).SetFirstName("before").
			SetLastName(fmt.Sprint(i)).SetAge(i % rolloutAges).SaveX(t.Context())
		s.user(u)
		if i%2 == 0 {
			s.pet(old.client.Pet.Create().SetName(petNames[i%len(petNames)]).SetOwner(u).SaveX(t.Context()).ID)
		}
	}
	a = e.newReplica("a", entcachemodel.WithReadsPaused())
	b = e.newReplica("b", entcachemodel.WithReadsPaused())
	// A process of the new version deployed without the pause: it serves
	// while old replicas still write.
	unpaused := e.newReplica("unpaused")

	var wg sync.WaitGroup
	const writes = 120
	wg.Go(func() {
		r := rand.New(rand.NewPCG(0, 9))
		for i := range writes {
			s.write(t, old.client, r, "old", i)
		}
	})
	for w, rep := range []*replica{a, b} {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w+1), 9))
			for i := range writes / 2 {
				s.write(t, rep.client, r, rep.name, i)
				// Its reads go to the database: the process writes and
				// reads in this goroutine alone, so its counter counts
				// the read's statements only.
				id := s.pick(r, s.users)
				var err error
				n := rep.queries(func() { _, err = rep.client.User.Cached().Get(t.Context(), id) })
				if err != nil && !ent.IsNotFound(err) {
					t.Errorf("%s: Get(%d): %v", rep.name, id, err)
				}
				assert.EqualValues(t, 1, n, "%s: a paused Get reads the database", rep.name)
				n = rep.queries(func() { _, err = rep.client.User.Cached().ListByAge(t.Context(), r.IntN(rolloutAges)) })
				assert.NoError(t, err)
				assert.Positive(t, n, "%s: a paused ListByAge reads the database", rep.name)
				n = rep.queries(func() { _, err = rep.client.Pet.Cached().ListByName(t.Context(), petNames[r.IntN(len(petNames))]) })
				assert.NoError(t, err)
				assert.Positive(t, n, "%s: a paused ListByName reads the database", rep.name)
			}
		})
	}
	wg.Wait()

	// The old replica's last writes: it changes a row that a new replica
	// published, and moves a pet the new replica published.
	u := a.client.User.Create().SetEmail("last@x.io").SetFirstName("last").SetAge(1).SaveX(t.Context())
	s.user(u)
	p := a.client.Pet.Create().SetName("rex").SetOwner(u).SaveX(t.Context())
	s.pet(p.ID)
	_, err := unpaused.client.User.Cached().Get(t.Context(), u.ID)
	require.NoError(t, err)
	moved := old.client.User.UpdateOneID(u.ID).SetAge(2).SetEmail("last-moved@x.io").SaveX(t.Context())
	s.user(moved)
	old.client.Pet.UpdateOneID(p.ID).ClearOwner().ExecX(t.Context())

	// Paused, both new replicas answer as the database, from the database.
	for _, rep := range []*replica{a, b} {
		require.True(t, rep.cache.ReadsPaused(), rep.name)
		var d []string
		n := rep.queries(func() { d = s.diff(t, e.client, rep.client) })
		assert.Empty(t, d, "%s, paused", rep.name)
		assert.Positive(t, n)
	}
	// Served without the pause, the window shows the old replica's writes
	// as stale answers.
	got, err := unpaused.client.User.Cached().Get(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, u.Fields(), got.Fields(), "without the pause, the stale value is served")
	assert.NotEqual(t, moved.Fields(), got.Fields())
	return e, s, a, b, u.ID
}

// TestRolloutWithPausedReads: after the rollout, warm, verify --repair and
// resume leave no cached answer that differs from the database.
func TestRolloutWithPausedReads(t *testing.T) {
	e, s, a, b, _ := rollout(t)
	admin := a.client.CacheAdmin()
	var progress int
	warmed, err := admin.Warm(t.Context(), nil, entcachemodel.OnProgress(func(entcachemodel.Progress) { progress++ }))
	require.NoError(t, err)
	assert.Positive(t, progress)
	published := 0
	for _, r := range warmed {
		published += r.Published
	}
	assert.Positive(t, published, "warm publishes while reads are paused")

	// The old replica's writes are in the cache: verify finds them, and
	// repairs them.
	vr, err := admin.Verify(t.Context(), nil, entcachemodel.Repair())
	require.NoError(t, err)
	found, repaired := 0, 0
	for _, r := range vr {
		found += r.Stale + r.Orphans + r.BadIndex
		repaired += r.Repaired
		assert.Zero(t, r.Unsettled, r.Type)
	}
	assert.Positive(t, found, "the old replica's writes left stale values")
	assert.Positive(t, repaired)
	vr, err = admin.Verify(t.Context(), nil)
	require.NoError(t, err)
	for _, r := range vr {
		assert.Zero(t, r.Stale+r.Orphans+r.BadIndex, "%s after the repair: %+v", r.Type, r.Divergences)
	}

	require.NoError(t, admin.Resume(t.Context()))
	e.redis.Advance(rolloutCheck + 50*time.Millisecond)
	for _, rep := range []*replica{a, b} {
		assert.Empty(t, s.diff(t, e.client, rep.client), rep.name)
		assert.False(t, rep.cache.ReadsPaused(), rep.name)
		// Served from the cache now: a second pass of Get costs nothing.
		n := rep.queries(func() {
			for id := range s.users {
				if _, err := rep.client.User.Cached().Get(t.Context(), id); err != nil && !ent.IsNotFound(err) {
					t.Error(err)
				}
			}
		})
		users, err := e.client.User.Query().Count(t.Context())
		require.NoError(t, err)
		// Deleted ids are checked in the database; present ones are hits.
		assert.EqualValues(t, len(s.users)-users, n, rep.name)
	}
}

// TestRolloutWithoutVerifyDiverges: the same rollout, warm and resume
// without verify --repair leaves the old replica's writes stale in the
// cache, which is what TestRolloutWithPausedReads proves gone.
func TestRolloutWithoutVerifyDiverges(t *testing.T) {
	e, s, a, b, last := rollout(t)
	admin := a.client.CacheAdmin()
	_, err := admin.Warm(t.Context(), nil)
	require.NoError(t, err)
	require.NoError(t, admin.Resume(t.Context()))
	e.redis.Advance(rolloutCheck + 50*time.Millisecond)
	for _, rep := range []*replica{a, b} {
		d := s.diff(t, e.client, rep.client)
		assert.NotEmpty(t, d, rep.name)
		for _, want := range []string{`User.GetByEmail("last@x.io")`, "User.Get(" + fmt.Sprint(last) + ")"} {
			assert.True(t, slices.ContainsFunc(d, func(s string) bool { return strings.HasPrefix(s, want+":") }),
				"%s: the old replica's last write is stale in %s: %v", rep.name, want, d)
		}
	}
}

// TestWarmWhilePaused: paused reads stop serving, not warming; right after
// the resume, reads serve what Warm published.
func TestWarmWhilePaused(t *testing.T) {
	e := newEnv(t, entcachemodel.WithReadsPaused(), entcachemodel.WithVersionCheck(rolloutCheck))
	ids := e.seedUsers(e.behind(), 60, 5)
	require.True(t, e.cache.ReadsPaused())
	rep, err := e.client.User.Cached().Warm(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, 60, rep.Published)
	assert.Equal(t, 60, e.cachedRows(), "warm stored every row while paused")
	assert.EqualValues(t, 1, e.queries(func() { _, err = e.client.User.Cached().Get(e.ctx, ids[0]) }), "still paused: the database answers")
	require.NoError(t, err)
	// Another process, paused too, follows the resume within its check.
	other := e.newReplica("other", entcachemodel.WithReadsPaused())
	assert.EqualValues(t, 1, other.queries(func() { _, err = other.client.User.Cached().Get(e.ctx, ids[1]) }))
	require.NoError(t, err)

	require.NoError(t, e.cache.ResumeReads(e.ctx))
	e.readsHit(ids) // 0 queries, on the resuming process at once
	e.redis.Advance(rolloutCheck + 50*time.Millisecond)
	n := other.queries(func() {
		got, err := other.client.User.Cached().GetMany(e.ctx, ids...)
		require.NoError(t, err)
		require.Len(t, got, len(ids))
	})
	assert.Zero(t, n, "the other process serves what Warm published")
}
