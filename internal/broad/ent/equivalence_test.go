package ent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/account"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/card"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/comment"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/counter"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/group"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/post"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/privacy"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/profile"
	_ "github.com/entcachemodel/entcachemodel/internal/broad/ent/runtime" // defaults, hooks, interceptors and policies
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/scalar"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/tag"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// pair is two clients over two databases that start empty and receive the
// same operations: one without the cache, the reference, and one with it.
type pair struct {
	plain, cached *ent.Client
	db            *testenv.Database // the cached client's
	step          int
	checks        []typeCheck
}

// newPair opens the two databases (sqlite by default, or DATABASE_URL's
// server), a Redis for the cache, and migrates both.
func newPair(t *testing.T) *pair {
	t.Helper()
	var db *testenv.Database
	open := func() *testenv.Counter {
		var err error
		db, err = testenv.OpenDatabase()
		require.NoError(t, err)
		t.Cleanup(db.Close)
		drv, err := db.Open()
		require.NoError(t, err)
		return drv
	}
	r, err := testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	cache := entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))
	p := &pair{plain: ent.NewClient(ent.Driver(open())), checks: shadowChecks()}
	p.cached = ent.NewClient(ent.Driver(open()), ent.CacheModel(cache))
	p.db = db
	t.Cleanup(func() {
		p.plain.Close()
		p.cached.Close()
		broadtype.SetClock(time.Time{}, 0)
	})
	ctx := context.Background()
	require.NoError(t, p.plain.Schema.Create(ctx))
	require.NoError(t, p.cached.Schema.Create(ctx))
	return p
}

// op is one row of the equivalence table.
type op struct {
	name string
	// pending, when set, names the open finding this operation shows; it
	// is skipped unless BROAD_PENDING=1 (see internal/broad/PENDING.md).
	pending string
	ctx     func(context.Context) context.Context
	do      func(ctx context.Context, c *ent.Client) (any, error)
}

// base is the clock's time at step 0; each operation runs one second later.
var base = time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)

// run applies o to both clients, at the same clock, and checks that they
// return the same values and errors, that both databases hold the same
// rows, and that every cached lookup answers as the database does.
func (p *pair) run(t *testing.T, o op) {
	t.Helper()
	p.step++
	ctx := context.Background()
	if o.ctx != nil {
		ctx = o.ctx(ctx)
	}
	broadtype.SetClock(base.Add(time.Duration(p.step)*time.Second), uint64(p.step)*1000)
	want, werr := o.do(ctx, p.plain)
	broadtype.SetClock(base.Add(time.Duration(p.step)*time.Second), uint64(p.step)*1000)
	got, gerr := o.do(ctx, p.cached)
	t.Logf("error: %s (%v)", kind(werr), werr)
	if errText(werr) != errText(gerr) || kind(werr) != kind(gerr) {
		t.Errorf("errors differ:\nwithout the cache: %v (%s)\nwith the cache:    %v (%s)", werr, kind(werr), gerr, kind(gerr))
	}
	assert.Equal(t, norm(want), norm(got), "results differ (without the cache, then with it)")
	bctx := context.Background()
	wantRows, err := dump(bctx, p.plain)
	require.NoError(t, err)
	gotRows, err := dump(bctx, p.cached)
	require.NoError(t, err)
	if !assert.Equal(t, wantRows, gotRows, "the databases differ after the operation") {
		t.FailNow()
	}
	// The types are checked side by side: on a server database most of
	// the time goes in round trips.
	var wg sync.WaitGroup
	for _, c := range p.checks {
		wg.Go(func() { c.check(t, bctx, p.cached) })
	}
	wg.Wait()
}

// kind classifies an error as ent's helpers do.
func kind(err error) string {
	switch {
	case err == nil:
		return "none"
	case ent.IsNotFound(err):
		return "not found"
	case ent.IsNotSingular(err):
		return "not singular"
	case ent.IsConstraintError(err):
		return "constraint"
	case ent.IsValidationError(err):
		return "validation"
	case ent.IsNotLoaded(err):
		return "not loaded"
	case errors.Is(err, privacy.Deny):
		return "privacy"
	}
	return "other"
}

// dump returns every row of every table, hidden keys and M2M edges
// included, soft-deleted posts too.
func dump(ctx context.Context, c *ent.Client) (map[string]any, error) {
	ctx = broadtype.SkipSoftDelete(ctx)
	out := map[string]any{}
	var errs []error
	add := func(name string, v any, err error) {
		out[name] = norm(v)
		errs = append(errs, err)
	}
	accounts, err := c.Account.Query().Order(account.ByID()).WithFKs().WithGroups(func(q *ent.GroupQuery) { q.Order(group.ByID()) }).All(ctx)
	add("accounts", accounts, err)
	groupsOf := map[int][]int{}
	for _, a := range accounts {
		for _, g := range a.Edges.Groups {
			groupsOf[a.ID] = append(groupsOf[a.ID], g.ID)
		}
	}
	add("account_groups", groupsOf, nil)
	posts, err := c.Post.Query().Order(post.ByID()).WithTags(func(q *ent.TagQuery) { q.Order(tag.ByID()) }).All(ctx)
	add("posts", posts, err)
	tagsOf := map[int][]string{}
	for _, p := range posts {
		for _, g := range p.Edges.Tags {
			tagsOf[p.ID] = append(tagsOf[p.ID], g.ID)
		}
	}
	add("post_tags", tagsOf, nil)
	v, err := c.Comment.Query().Order(comment.ByID()).WithFKs().All(ctx)
	add("comments", v, err)
	v2, err := c.Profile.Query().Order(profile.ByID()).WithFKs().All(ctx)
	add("profiles", v2, err)
	v3, err := c.Card.Query().Order(card.ByID()).All(ctx)
	add("cards", v3, err)
	v4, err := c.Tag.Query().Order(tag.ByID()).All(ctx)
	add("tags", v4, err)
	v5, err := c.Group.Query().Order(group.ByID()).WithFKs().All(ctx)
	add("groups", v5, err)
	v6, err := c.Scalar.Query().Order(scalar.ByID()).All(ctx)
	add("scalars", v6, err)
	v7, err := c.Counter.Query().Order(counter.ByID()).All(ctx)
	add("counters", v7, err)
	return out, errors.Join(errs...)
}

// inTx runs f in a transaction of c, committed when commit is set and f
// succeeds, rolled back otherwise.
func inTx(ctx context.Context, c *ent.Client, commit bool, f func(tx *ent.Tx) (any, error)) (any, error) {
	tx, err := c.Tx(ctx)
	if err != nil {
		return nil, err
	}
	v, err := f(tx)
	if err != nil || !commit {
		if rerr := tx.Rollback(); rerr != nil {
			return v, errors.Join(err, rerr)
		}
		return v, err
	}
	return v, tx.Commit()
}

// accountID returns the id of the account with the given email.
func accountID(ctx context.Context, c *ent.Client, email string) int {
	id, err := c.Account.Query().Where(account.Email(email)).OnlyID(ctx)
	if err != nil {
		panic(fmt.Sprintf("account %s: %v", email, err))
	}
	return id
}

// postID returns the id of the post with the given title.
func postID(ctx context.Context, c *ent.Client, title string) int {
	id, err := c.Post.Query().Where(post.Title(title)).OnlyID(broadtype.SkipSoftDelete(ctx))
	if err != nil {
		panic(fmt.Sprintf("post %s: %v", title, err))
	}
	return id
}

func groupID(ctx context.Context, c *ent.Client, name string) int {
	id, err := c.Group.Query().Where(group.Name(name)).OnlyID(ctx)
	if err != nil {
		panic(fmt.Sprintf("group %s: %v", name, err))
	}
	return id
}

func profileID(ctx context.Context, c *ent.Client, handle string) int {
	id, err := c.Profile.Query().Where(profile.Handle(handle)).OnlyID(ctx)
	if err != nil {
		panic(fmt.Sprintf("profile %s: %v", handle, err))
	}
	return id
}

func commentIDs(ctx context.Context, c *ent.Client, body string) []uuid.UUID {
	ids, err := c.Comment.Query().Where(comment.Body(body)).Order(comment.ByID()).IDs(ctx)
	if err != nil {
		panic(fmt.Sprintf("comments %s: %v", body, err))
	}
	return ids
}

// TestEquivalence runs the table in order on one pair of clients. The
// operations marked pending are skipped; with BROAD_PENDING=1 each of them
// runs instead on a pair of its own, after the operations before it that
// are not pending, so that its failure shows alone.
func TestEquivalence(t *testing.T) {
	if os.Getenv("BROAD_PENDING") == "1" {
		for i, o := range equivalenceOps {
			if o.pending == "" {
				continue
			}
			t.Run(o.name, func(t *testing.T) {
				p := newPair(t)
				for _, before := range equivalenceOps[:i] {
					if before.pending == "" {
						p.run(t, before)
					}
				}
				if t.Failed() {
					t.Fatal("the operations before this one failed")
				}
				p.run(t, o)
			})
		}
		return
	}
	p := newPair(t)
	for _, o := range equivalenceOps {
		t.Run(o.name, func(t *testing.T) {
			if o.pending != "" {
				t.Skip("PENDING: " + o.pending + ", see internal/broad/PENDING.md")
			}
			p.run(t, o)
		})
	}
}
