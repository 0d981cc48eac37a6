package deploy

import (
	"context"
	"math/rand/v2"
	"strconv"

	"entgo.io/ent/dialect"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	v1 "github.com/entcachemodel/entcachemodel/internal/deploy/v1/ent"
	v1member "github.com/entcachemodel/entcachemodel/internal/deploy/v1/ent/member"
	v1profile "github.com/entcachemodel/entcachemodel/internal/deploy/v1/profile"
	v2 "github.com/entcachemodel/entcachemodel/internal/deploy/v2/ent"
	v2member "github.com/entcachemodel/entcachemodel/internal/deploy/v2/ent/member"
	v2profile "github.com/entcachemodel/entcachemodel/internal/deploy/v2/profile"
)

// member is a row as a version reads it: v1 knows neither nick nor zip.
type member struct {
	ID         int
	Email      string
	Age        int
	Team       string
	Level      int
	City, Zip  string
	Nick       string
	HasProfile bool
}

// The values the load picks from: few, so that rows move between lists.
var (
	ages   = []int{20, 21, 22, 23, 24}
	teams  = []string{"a", "b", "c"}
	levels = []int{1, 2, 3}
	nicks  = []string{"x", "y"}
	cities = []string{"p", "q"}
	zips   = []string{"", "1", "2"}
)

func pick[T any](r *rand.Rand, vs []T) T { return vs[r.IntN(len(vs))] }

// lookup is one cached list lookup and the rows it must answer.
type lookup struct {
	name  string
	match func(member) bool
	run   func(context.Context) ([]member, error)
}

// version is a client of one generated version, as the load and the check
// use it.
type version interface {
	name() string
	create(ctx context.Context, r *rand.Rand, email string, upsert bool) error
	// createBulk creates (or upserts) the rows of emails in one CreateBulk.
	createBulk(ctx context.Context, r *rand.Rand, emails []string, upsert bool) error
	update(ctx context.Context, r *rand.Rand, id int) error
	updateMany(ctx context.Context, r *rand.Rand) error
	deleteOne(ctx context.Context, id int) error
	// move changes what the other version lists the row by (and what both
	// do), to values other than cur's.
	move(ctx context.Context, id int, cur member) error
	txn(ctx context.Context, r *rand.Rand, ids []int, commit bool) error
	// rows is the database as this version reads it, past the cache.
	rows(ctx context.Context) ([]member, error)
	get(ctx context.Context, id int) (*member, error)
	getMany(ctx context.Context, ids []int) ([]member, error)
	getByEmail(ctx context.Context, email string) (*member, error)
	lists() []lookup
}

// v1Client is a process's client of version 1.
type v1Client struct{ c *v1.Client }

func newV1(drv dialect.Driver, cache *entcachemodel.Cache) version {
	return v1Client{v1.NewClient(v1.Driver(drv), v1.CacheModel(cache))}
}

func (v1Client) name() string { return "v1" }

func fromV1(m *v1.Member) member {
	return member{ID: m.ID, Email: m.Email, Age: m.Age, Team: m.Team, Level: m.Level, City: m.Profile.City,
		HasProfile: m.Profile != (v1profile.Profile{})}
}

func allV1(ms []*v1.Member, err error) ([]member, error) {
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = fromV1(m)
	}
	return out, err
}

func oneV1(m *v1.Member, err error) (*member, error) {
	if err != nil {
		return nil, err
	}
	v := fromV1(m)
	return &v, nil
}

func (v v1Client) create(ctx context.Context, r *rand.Rand, email string, upsert bool) error {
	b := v.c.Member.Create().SetEmail(email).SetAge(pick(r, ages)).SetTeam(pick(r, teams)).SetLevel(pick(r, levels)).
		SetProfile(v1profile.Profile{City: pick(r, cities)})
	if upsert {
		return b.OnConflictColumns(v1member.FieldEmail).UpdateNewValues().Exec(ctx)
	}
	return b.Exec(ctx)
}

func (v v1Client) createBulk(ctx context.Context, r *rand.Rand, emails []string, upsert bool) error {
	bs := make([]*v1.MemberCreate, len(emails))
	for i, e := range emails {
		bs[i] = v.c.Member.Create().SetEmail(e).SetAge(pick(r, ages)).SetTeam(pick(r, teams)).SetLevel(pick(r, levels)).
			SetProfile(v1profile.Profile{City: pick(r, cities)})
	}
	if upsert {
		return v.c.Member.CreateBulk(bs...).OnConflictColumns(v1member.FieldEmail).UpdateNewValues().Exec(ctx)
	}
	return v.c.Member.CreateBulk(bs...).Exec(ctx)
}

func (v v1Client) update(ctx context.Context, r *rand.Rand, id int) error {
	u := v.c.Member.UpdateOneID(id)
	switch r.IntN(6) {
	case 0:
		u.SetAge(pick(r, ages))
	case 1:
		u.AddAge(1 - 2*r.IntN(2))
	case 2:
		u.SetTeam(pick(r, teams))
	case 3:
		u.SetLevel(pick(r, levels))
	case 4:
		u.SetProfile(v1profile.Profile{City: pick(r, cities)}) // drops v2's zip
	default:
		u.SetAge(pick(r, ages)).SetTeam(pick(r, teams))
	}
	return u.Exec(ctx)
}

func (v v1Client) updateMany(ctx context.Context, r *rand.Rand) error {
	u := v.c.Member.Update().Where(v1member.AgeEQ(pick(r, ages)), v1member.EmailHasPrefix("m"))
	if r.IntN(2) == 0 {
		u.SetTeam(pick(r, teams))
	} else {
		u.AddAge(1)
	}
	return u.Exec(ctx)
}

func (v v1Client) move(ctx context.Context, id int, cur member) error {
	return v.c.Member.UpdateOneID(id).SetLevel(next(levels, cur.Level)).SetAge(next(ages, cur.Age)).
		SetProfile(v1profile.Profile{City: next(cities, cur.City)}).Exec(ctx)
}

// next returns the value after cur in vs.
func next[T comparable](vs []T, cur T) T {
	for i, v := range vs {
		if v == cur {
			return vs[(i+1)%len(vs)]
		}
	}
	return vs[0]
}

func (v v1Client) deleteOne(ctx context.Context, id int) error {
	return v.c.Member.DeleteOneID(id).Exec(ctx)
}

func (v v1Client) txn(ctx context.Context, r *rand.Rand, ids []int, commit bool) error {
	tx, err := v.c.Tx(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Member.UpdateOneID(id).SetAge(pick(r, ages)).SetTeam(pick(r, teams)).Exec(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

func (v v1Client) rows(ctx context.Context) ([]member, error) {
	return allV1(v.c.Member.Query().Order(v1member.ByID()).All(ctx))
}

func (v v1Client) get(ctx context.Context, id int) (*member, error) {
	return oneV1(v.c.Member.Cached().Get(ctx, id))
}

func (v v1Client) getMany(ctx context.Context, ids []int) ([]member, error) {
	return allV1(v.c.Member.Cached().GetMany(ctx, ids...))
}

func (v v1Client) getByEmail(ctx context.Context, email string) (*member, error) {
	return oneV1(v.c.Member.Cached().GetByEmail(ctx, email))
}

func (v v1Client) lists() []lookup {
	var out []lookup
	for _, a := range ages {
		out = append(out, lookup{"ListByAge(" + strconv.Itoa(a) + ")", func(m member) bool { return m.Age == a },
			func(ctx context.Context) ([]member, error) { return allV1(v.c.Member.Cached().ListByAge(ctx, a)) }})
	}
	for _, t := range teams {
		out = append(out, lookup{"ListByTeam(" + t + ")", func(m member) bool { return m.Team == t },
			func(ctx context.Context) ([]member, error) { return allV1(v.c.Member.Cached().ListByTeam(ctx, t)) }})
	}
	return out
}

// v2Client is a process's client of version 2.
type v2Client struct{ c *v2.Client }

func newV2(drv dialect.Driver, cache *entcachemodel.Cache) version {
	return v2Client{v2.NewClient(v2.Driver(drv), v2.CacheModel(cache))}
}

func (v2Client) name() string { return "v2" }

func fromV2(m *v2.Member) member {
	return member{ID: m.ID, Email: m.Email, Age: m.Age, Team: m.Team, Level: m.Level, City: m.Profile.City, Zip: m.Profile.Zip,
		Nick: m.Nick, HasProfile: m.Profile != (v2profile.Profile{})}
}

func allV2(ms []*v2.Member, err error) ([]member, error) {
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = fromV2(m)
	}
	return out, err
}

func oneV2(m *v2.Member, err error) (*member, error) {
	if err != nil {
		return nil, err
	}
	v := fromV2(m)
	return &v, nil
}

func (v v2Client) create(ctx context.Context, r *rand.Rand, email string, upsert bool) error {
	b := v.c.Member.Create().SetEmail(email).SetAge(pick(r, ages)).SetTeam(pick(r, teams)).SetLevel(pick(r, levels)).
		SetProfile(v2profile.Profile{City: pick(r, cities), Zip: pick(r, zips)})
	if r.IntN(2) == 0 {
		b.SetNick(pick(r, nicks))
	}
	if upsert {
		return b.OnConflictColumns(v2member.FieldEmail).UpdateNewValues().Exec(ctx)
	}
	return b.Exec(ctx)
}

func (v v2Client) createBulk(ctx context.Context, r *rand.Rand, emails []string, upsert bool) error {
	bs := make([]*v2.MemberCreate, len(emails))
	for i, e := range emails {
		bs[i] = v.c.Member.Create().SetEmail(e).SetAge(pick(r, ages)).SetTeam(pick(r, teams)).SetLevel(pick(r, levels)).
			SetProfile(v2profile.Profile{City: pick(r, cities), Zip: pick(r, zips)})
		if r.IntN(2) == 0 {
			bs[i].SetNick(pick(r, nicks))
		}
	}
	if upsert {
		return v.c.Member.CreateBulk(bs...).OnConflictColumns(v2member.FieldEmail).UpdateNewValues().Exec(ctx)
	}
	return v.c.Member.CreateBulk(bs...).Exec(ctx)
}

func (v v2Client) update(ctx context.Context, r *rand.Rand, id int) error {
	u := v.c.Member.UpdateOneID(id)
	switch r.IntN(8) {
	case 0:
		u.SetAge(pick(r, ages))
	case 1:
		u.AddAge(1 - 2*r.IntN(2))
	case 2:
		u.SetTeam(pick(r, teams))
	case 3:
		u.SetLevel(pick(r, levels))
	case 4:
		u.SetProfile(v2profile.Profile{City: pick(r, cities), Zip: pick(r, zips)})
	case 5:
		u.SetNick(pick(r, nicks))
	case 6:
		u.ClearNick()
	default:
		u.SetLevel(pick(r, levels)).SetNick(pick(r, nicks))
	}
	return u.Exec(ctx)
}

func (v v2Client) updateMany(ctx context.Context, r *rand.Rand) error {
	u := v.c.Member.Update().Where(v2member.AgeEQ(pick(r, ages)), v2member.EmailHasPrefix("m"))
	switch r.IntN(3) {
	case 0:
		u.SetLevel(pick(r, levels))
	case 1:
		u.SetNick(pick(r, nicks))
	default:
		u.AddAge(-1)
	}
	return u.Exec(ctx)
}

func (v v2Client) move(ctx context.Context, id int, cur member) error {
	return v.c.Member.UpdateOneID(id).SetTeam(next(teams, cur.Team)).SetAge(next(ages, cur.Age)).
		SetNick(next(nicks, cur.Nick)).SetProfile(v2profile.Profile{City: cur.City, Zip: next(zips, cur.Zip)}).Exec(ctx)
}

func (v v2Client) deleteOne(ctx context.Context, id int) error {
	return v.c.Member.DeleteOneID(id).Exec(ctx)
}

func (v v2Client) txn(ctx context.Context, r *rand.Rand, ids []int, commit bool) error {
	tx, err := v.c.Tx(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Member.UpdateOneID(id).SetAge(pick(r, ages)).SetNick(pick(r, nicks)).Exec(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

func (v v2Client) rows(ctx context.Context) ([]member, error) {
	return allV2(v.c.Member.Query().Order(v2member.ByID()).All(ctx))
}

func (v v2Client) get(ctx context.Context, id int) (*member, error) {
	return oneV2(v.c.Member.Cached().Get(ctx, id))
}

func (v v2Client) getMany(ctx context.Context, ids []int) ([]member, error) {
	return allV2(v.c.Member.Cached().GetMany(ctx, ids...))
}

func (v v2Client) getByEmail(ctx context.Context, email string) (*member, error) {
	return oneV2(v.c.Member.Cached().GetByEmail(ctx, email))
}

func (v v2Client) lists() []lookup {
	var out []lookup
	for _, a := range ages {
		out = append(out, lookup{"ListByAge(" + strconv.Itoa(a) + ")", func(m member) bool { return m.Age == a },
			func(ctx context.Context) ([]member, error) { return allV2(v.c.Member.Cached().ListByAge(ctx, a)) }})
	}
	for _, l := range levels {
		out = append(out, lookup{"ListByLevel(" + strconv.Itoa(l) + ")", func(m member) bool { return m.Level == l },
			func(ctx context.Context) ([]member, error) { return allV2(v.c.Member.Cached().ListByLevel(ctx, l)) }})
	}
	for _, n := range nicks {
		out = append(out, lookup{"ListByNick(" + n + ")", func(m member) bool { return m.Nick == n },
			func(ctx context.Context) ([]member, error) { return allV2(v.c.Member.Cached().ListByNick(ctx, n)) }})
	}
	return out
}
