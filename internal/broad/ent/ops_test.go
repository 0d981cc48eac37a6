package ent_test

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/account"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/card"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/comment"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/counter"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/group"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/post"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/scalar"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/tag"
)

// The findings that other work is fixing; operations that show them are
// skipped until it merges (BROAD_PENDING=1 runs them).
const (
	pendingEdgeField = "edge fields written from the owner's side"
	pendingSelfRef   = "self-referential edges"
	pendingCascade   = "deletes that cascade or set NULL in the database"
	pendingUserHook  = "user hooks that alter the returned entity"
	pendingSelect    = "UpdateOne.Select"
	pendingIntercept = "interceptors"
	pendingUUIDOrder = "UUID ordering on MariaDB"
	pendingCollation = "MySQL collations (PAD SPACE)"
	// New findings, outside the work above: see PENDING.md.
	pendingN2 = "N2: a create fails with the error of the cache's own conflict lookup"
	pendingN3 = "N3: a create fails when the context may write but not read"
)

// mysqlOnly returns finding on MySQL/MariaDB, and nothing elsewhere.
func mysqlOnly(finding string) string {
	if onMySQL {
		return finding
	}
	return ""
}

var (
	t1 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	u1 = uuid.MustParse("0f000000-0000-4000-8000-0000000000aa")
)

// equivalenceOps run in order on both clients; each builds on the rows of
// the ones before.
var equivalenceOps = []op{
	// Creates.
	{name: "create account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Create().SetEmail("a@x.io").SetName("ann").SetAge(30).SetNickname("an").SetPassword("pw-a").Save(ctx)
	}},
	{name: "create bulk accounts with a parent", do: func(ctx context.Context, c *ent.Client) (any, error) {
		a := accountID(ctx, c, "a@x.io")
		return c.Account.CreateBulk(
			c.Account.Create().SetEmail("b@x.io").SetName("bob").SetAge(30).SetParentID(a).SetPassword("pw-b"),
			c.Account.Create().SetEmail("c@x.io").SetName("cy").SetAge(41).SetParentID(a).SetRole(account.RoleAdmin),
			c.Account.Create().SetEmail("d@x.io").SetName("ann").SetAge(30).SetNickname("an"),
		).Save(ctx)
	}},
	{name: "create profiles, one with its account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Profile.CreateBulk(
			c.Profile.Create().SetHandle("pa").SetBio("hello").SetAccountID(accountID(ctx, c, "a@x.io")),
			c.Profile.Create().SetHandle("pb"),
			c.Profile.Create().SetHandle("pc"),
		).Save(ctx)
	}},
	{name: "create cards with string ids, with and without an owner", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Card.CreateBulk(
			c.Card.Create().SetID("A1").SetNumber("1111").SetOwnerID(accountID(ctx, c, "a@x.io")),
			c.Card.Create().SetID("b2").SetNumber("2222").SetKind(card.KindCredit).SetExpiresAt(t1),
			c.Card.Create().SetID("a2").SetNumber("1111").SetOwnerID(accountID(ctx, c, "b@x.io")),
			c.Card.Create().SetID("B1").SetNumber("3333"),
		).Save(ctx)
	}},
	{name: "create posts", do: func(ctx context.Context, c *ent.Client) (any, error) {
		a, b := accountID(ctx, c, "a@x.io"), accountID(ctx, c, "b@x.io")
		return c.Post.CreateBulk(
			c.Post.Create().SetTitle("t1").SetSlug("s1").SetAuthorID(a).SetStatus(broadtype.StatusPublished),
			c.Post.Create().SetTitle("t2").SetSlug("s2").SetAuthorID(a),
			c.Post.Create().SetTitle("t3").SetSlug("s1").SetAuthorID(b).SetViews(7),
		).Save(ctx)
	}},
	{name: "create comments with UUID ids", do: func(ctx context.Context, c *ent.Client) (any, error) {
		p1, p3 := postID(ctx, c, "t1"), postID(ctx, c, "t3")
		b, cy := accountID(ctx, c, "b@x.io"), accountID(ctx, c, "c@x.io")
		var out []*ent.Comment
		for _, m := range []*ent.CommentCreate{
			c.Comment.Create().SetBody("c1").SetPostID(p1).SetAuthorID(b).SetLikes(3),
			c.Comment.Create().SetBody("c2").SetPostID(p1).SetAuthorID(cy).SetScore(1.5),
			c.Comment.Create().SetBody("c3").SetPostID(p3).SetLikes(3),
			c.Comment.Create().SetBody("c4").SetPostID(p3).SetAuthorID(b),
		} {
			v, err := m.Save(ctx)
			if err != nil {
				return out, err
			}
			out = append(out, v)
		}
		return out, nil
	}},
	{name: "create tags with string ids and M2M edges", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Tag.CreateBulk(
			c.Tag.Create().SetID("go").SetLabel("Go").AddPostIDs(postID(ctx, c, "t1"), postID(ctx, c, "t2")),
			c.Tag.Create().SetID("db").SetLabel("DB").SetWeight(2),
			c.Tag.Create().SetID("Zed").SetLabel("Go"),
		).Save(ctx)
	}},
	{name: "create groups with members and a manager", do: func(ctx context.Context, c *ent.Client) (any, error) {
		a, b := accountID(ctx, c, "a@x.io"), accountID(ctx, c, "b@x.io")
		return c.Group.CreateBulk(
			c.Group.Create().SetName("admins").AddMemberIDs(a, b).SetManagerID(a),
			c.Group.Create().SetName("users").SetOpen(false),
		).Save(ctx)
	}},
	{name: "create scalars with every field", do: func(ctx context.Context, c *ent.Client) (any, error) {
		i32, u16, f64, nilS, nilB, nilE := int32(-5), uint16(65535), 2.5, "ns", true, scalar.NilEX
		return c.Scalar.CreateBulk(
			c.Scalar.Create().SetI(-1).SetI8(-128).SetI16(-32768).SetI32(i32).SetI64(-1<<62).
				SetU(1<<40).SetU8(255).SetU16(u16).SetU32(1<<31).SetU64(1<<62+5).
				SetF32(1.25).SetF64(f64).SetS("s1").SetText("long text").SetOptS("o").SetNilS(nilS).
				SetB(true).SetNilB(nilB).SetBytes([]byte{0, 1, 2}).SetNilBytes([]byte{}).SetNilT(t1).
				SetJMap(map[string]int{"a": 1}).SetJList([]string{"x", "y"}).SetJPoint(broadtype.Point{X: 1, Y: 2}).
				SetJPtr(&broadtype.Point{X: 3}).SetE(scalar.EBlue).SetNilE(nilE).SetLevel("high").
				SetNilUID(u1).SetHandle("h").SetCents(199).SetSecret("sec").SetFrozen("ice").SetRenamed("rn"),
			c.Scalar.Create().SetS("s2"),
			c.Scalar.Create().SetS("s3").SetI8(1).SetE(scalar.EGreen).SetNilS("").SetNilB(false).SetI32(0),
		).Save(ctx)
	}},

	{name: "create counters with uint64 ids", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Counter.CreateBulk(
			c.Counter.Create().SetID(7).SetName("seven"),
			c.Counter.Create().SetID(1<<62+9).SetName("big").SetN(1),
			c.Counter.Create().SetID(3).SetName("three").SetN(1),
		).Save(ctx)
	}},
	{name: "create with a uint64 id the driver refuses", pending: mysqlOnly("MySQL takes a uint64 with the high bit set, which ent then cannot read back, with or without the cache"), do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Counter.Create().SetID(1<<63 + 9).SetName("huge").Save(ctx)
	}},
	{name: "upsert on a user-set id", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Counter.Create().SetID(7).SetName("other").SetN(5).
			OnConflictColumns(counter.FieldID).UpdateN().ID(ctx)
	}},
	{name: "bulk upsert on user-set ids, one new", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Counter.CreateBulk(
			c.Counter.Create().SetID(3).SetName("three").SetN(5),
			c.Counter.Create().SetID(4).SetName("four").SetN(5),
		).OnConflictColumns(counter.FieldID).UpdateNewValues().Exec(ctx)
	}},
	{name: "create with a taken user-set id fails", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Counter.Create().SetID(4).SetName("again").Save(ctx)
	}},

	// Reads and read errors, compared with the cache's answers by the
	// shadow check after each operation too.
	{name: "get not found", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Get(ctx, 9999)
	}},
	{name: "only, not singular", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Query().Where(account.Age(30)).Only(ctx)
	}},
	{name: "select some fields of entities", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Query().Order(account.ByID()).Select(account.FieldEmail, account.FieldAge).All(ctx)
	}},
	{name: "select strings", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Query().Order(account.ByID()).Select(account.FieldEmail).Strings(ctx)
	}},

	// Write errors.
	{name: "create with a duplicate email fails", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Create().SetEmail("a@x.io").Save(ctx)
	}},
	{name: "create with an empty card id fails validation", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Card.Create().SetID("").SetNumber("9").Save(ctx)
	}},
	{name: "bulk create with a duplicate fails whole", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Scalar.CreateBulk(c.Scalar.Create().SetS("s9"), c.Scalar.Create().SetS("s1")).Save(ctx)
	}},
	{name: "update of a missing id", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(9999).SetAge(1).Save(ctx)
	}},
	{name: "privacy refuses tag reads, not writes", ctx: broadtype.WriteOnly, do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Tag.Create().SetID("wo").SetLabel("write-only").Exec(ctx)
	}},
	{name: "privacy refuses a tag write", ctx: broadtype.ReadOnly, do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Tag.UpdateOneID("go").SetWeight(5).Save(ctx)
	}},
	{name: "edge-field O2M add of an attached post fails", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "c@x.io")).AddPostIDs(postID(ctx, c, "t1")).Save(ctx)
	}},

	// Updates of one row.
	{name: "update one: set fields (the hook blanks the password it returns)", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).SetAge(31).SetNickname("ann2").SetPassword("pw-a2").Save(ctx)
	}},
	{name: "update one: add and clear", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "d@x.io")).AddAge(-30).ClearNickname().Save(ctx)
	}},
	{name: "update one with select", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "b@x.io")).SetAge(32).Select(account.FieldAge).Save(ctx)
	}},
	{name: "update one of the entity a cached read returned", do: func(ctx context.Context, c *ent.Client) (any, error) {
		a, err := c.Account.Cached().Get(ctx, accountID(ctx, c, "c@x.io"))
		if err != nil {
			return nil, err
		}
		return a.Update().SetName("cyd").Save(ctx)
	}},
	{name: "update one scalar: every kind of change", do: func(ctx context.Context, c *ent.Client) (any, error) {
		id, err := c.Scalar.Query().Where(scalar.S("s1")).OnlyID(ctx)
		if err != nil {
			return nil, err
		}
		return c.Scalar.UpdateOneID(id).AddI(2).AddI8(127).ClearI16().AddI32(5).AddI64(1).
			AddU(1).ClearU8().AddU16(-1).AddU64(-1).AddF32(0.5).ClearF64().ClearText().ClearOptS().
			ClearNilS().SetNilB(false).ClearBytes().ClearNilBytes().ClearNilT().ClearJMap().AppendJList([]string{"z"}).
			ClearJPtr().SetE(scalar.ERed).ClearNilE().SetLevel("low").ClearNilUID().SetHandle("h2").AddCents(1).
			SetSecret("sec2").SetRenamed("rn2").Save(ctx)
	}},
	{name: "update one with a UUID set and a nil time", do: func(ctx context.Context, c *ent.Client) (any, error) {
		id, err := c.Scalar.Query().Where(scalar.S("s2")).OnlyID(ctx)
		if err != nil {
			return nil, err
		}
		return c.Scalar.UpdateOneID(id).SetNilUID(u1).SetNilT(t1).SetNilE(scalar.NilEY).SetI32(7).SetB(true).SetLevel("high").Save(ctx)
	}},

	{name: "a user hook changes the name the update sets", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "b@x.io")).SetName("ANN").SetAge(30).Save(ctx)
	}},
	{name: "a user hook changes the name a bulk update sets", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Update().Where(account.Email("c@x.io")).SetName("BOB").Save(ctx)
	}},
	{name: "a cached read where privacy denies reads", ctx: broadtype.WriteOnly, do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Tag.Cached().Get(ctx, "go")
	}},

	{name: "values that differ by a trailing space", do: func(ctx context.Context, c *ent.Client) (any, error) {
		// utf8mb4_bin pads: on MySQL 'Go' = 'Go ', on the others not.
		return c.Tag.Create().SetID("sp").SetLabel("Go ").Save(ctx)
	}},

	// Bulk updates with predicates.
	{name: "bulk update with a predicate", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Update().Where(account.AgeLT(40)).AddAge(1).SetName("ann").Save(ctx)
	}},
	{name: "bulk update on an edge predicate", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.Update().Where(post.HasAuthorWith(account.Email("a@x.io"))).SetStatus(broadtype.StatusArchived).AddViews(2).Save(ctx)
	}},
	{name: "bulk update of scalars", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Scalar.Update().Where(scalar.B(true)).SetLevel("low").AddI(1).SetNillableNilS(nil).Save(ctx)
	}},
	{name: "bulk update matching nothing", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Comment.Update().Where(comment.Likes(999)).SetBody("none").Save(ctx)
	}},

	// Upserts.
	{name: "upsert on a unique field", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Create().SetEmail("a@x.io").SetName("other").SetAge(50).
			OnConflictColumns(account.FieldEmail).UpdateAge().ID(ctx)
	}},
	{name: "bulk upsert, one new and one existing", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Tag.CreateBulk(
			c.Tag.Create().SetID("go").SetLabel("golang").SetWeight(9),
			c.Tag.Create().SetID("rs").SetLabel("Rust"),
		).OnConflictColumns(tag.FieldID).UpdateNewValues().Exec(ctx)
	}},
	{name: "upsert on a composite unique index", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Scalar.Create().SetS("s4").SetI8(1).SetE(scalar.EGreen).SetI(77).
			OnConflictColumns(scalar.FieldI8, scalar.FieldE).UpdateI().ID(ctx)
	}},

	{name: "upsert ignoring the conflict", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Account.Create().SetEmail("d@x.io").SetAge(99).OnConflictColumns(account.FieldEmail).Ignore().Exec(ctx)
	}},
	{name: "upsert taking every new value, unique ones included", do: func(ctx context.Context, c *ent.Client) (any, error) {
		// The row keeps its id; its uid (a unique default) and i8/e (a
		// unique index) change: the old values must stop answering.
		return c.Scalar.Create().SetS("s2").SetI8(5).SetE(scalar.EBlue).SetI(3).
			OnConflictColumns(scalar.FieldS).UpdateNewValues().ID(ctx)
	}},
	{name: "swap two unique values in a transaction", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			a, d := accountID(ctx, tx.Client(), "a@x.io"), accountID(ctx, tx.Client(), "d@x.io")
			if err := tx.Account.UpdateOneID(a).SetEmail("tmp@x.io").Exec(ctx); err != nil {
				return nil, err
			}
			if err := tx.Account.UpdateOneID(d).SetEmail("a@x.io").Exec(ctx); err != nil {
				return nil, err
			}
			return tx.Account.UpdateOneID(a).SetEmail("d@x.io").Save(ctx)
		})
	}},
	{name: "swap them back outside a transaction", do: func(ctx context.Context, c *ent.Client) (any, error) {
		a, d := accountID(ctx, c, "d@x.io"), accountID(ctx, c, "a@x.io")
		if err := c.Account.UpdateOneID(a).SetEmail("tmp@x.io").Exec(ctx); err != nil {
			return nil, err
		}
		if err := c.Account.UpdateOneID(d).SetEmail("d@x.io").Exec(ctx); err != nil {
			return nil, err
		}
		return c.Account.UpdateOneID(a).SetEmail("a@x.io").Save(ctx)
	}},
	{name: "update one with a predicate that does not match", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).Where(account.AgeGT(1000)).SetAge(1).Save(ctx)
	}},
	{name: "move a post onto a slug its new author has: unique edge index", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.UpdateOneID(postID(ctx, c, "t3")).SetAuthorID(accountID(ctx, c, "a@x.io")).Save(ctx)
	}},
	{name: "delete and recreate with the same unique values", do: func(ctx context.Context, c *ent.Client) (any, error) {
		id, err := c.Scalar.Query().Where(scalar.S("s3")).OnlyID(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.Scalar.DeleteOneID(id).Exec(ctx); err != nil {
			return nil, err
		}
		return c.Scalar.Create().SetS("s3").SetI8(1).SetE(scalar.EGreen).SetNilS("").Save(ctx)
	}},

	// Edges from the child's side (edge fields and hidden keys).
	{name: "move a post to another author from the post's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.UpdateOneID(postID(ctx, c, "t2")).SetAuthorID(accountID(ctx, c, "c@x.io")).Save(ctx)
	}},
	{name: "clear the parent from the child's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "c@x.io")).ClearParent().Save(ctx)
	}},
	{name: "set a comment's author from the comment's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Comment.UpdateOneID(commentIDs(ctx, c, "c3")[0]).SetAuthorID(accountID(ctx, c, "d@x.io")).Save(ctx)
	}},
	{name: "set a profile's account from the profile's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Profile.UpdateOneID(profileID(ctx, c, "pb")).SetAccountID(accountID(ctx, c, "c@x.io")).Save(ctx)
	}},
	{name: "set a card's owner from the card's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Card.UpdateOneID("B1").SetOwnerID(accountID(ctx, c, "c@x.io")).Save(ctx)
	}},

	{name: "clear a comment's author from the comment's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Comment.Update().Where(comment.Body("c4")).ClearAuthor().Save(ctx)
	}},
	{name: "clear a card's owner from the card's side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Card.UpdateOneID("B1").ClearOwner().Save(ctx)
	}},
	{name: "give a card an owner that has one: O2O edge field unique", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Card.UpdateOneID("B1").SetOwnerID(accountID(ctx, c, "a@x.io")).Save(ctx)
	}},

	// Edges from the owner's side.
	{name: "O2M hidden key: add featured profiles from the post", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.UpdateOneID(postID(ctx, c, "t3")).AddFeaturedInIDs(profileID(ctx, c, "pa"), profileID(ctx, c, "pc")).Save(ctx)
	}},
	{name: "O2M hidden key: remove one from the post", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.UpdateOneID(postID(ctx, c, "t3")).RemoveFeaturedInIDs(profileID(ctx, c, "pc")).Save(ctx)
	}},
	{name: "O2M hidden key: add an attached comment from another account fails", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).AddCommentIDs(commentIDs(ctx, c, "c1")...).Save(ctx)
	}},
	{name: "O2M hidden key: remove a comment from the account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "b@x.io")).RemoveCommentIDs(commentIDs(ctx, c, "c1")...).Save(ctx)
	}},
	{name: "O2M hidden key: add it from another account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).AddCommentIDs(commentIDs(ctx, c, "c1")...).Save(ctx)
	}},
	{name: "O2M hidden key: clear comments in bulk from the accounts", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.Update().Where(account.EmailIn("b@x.io", "c@x.io")).ClearComments().Save(ctx)
	}},
	{name: "O2O hidden key: set the profile from the account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "d@x.io")).SetProfileID(profileID(ctx, c, "pc")).Save(ctx)
	}},
	{name: "O2O hidden key: clear the profile from the account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).ClearProfile().Save(ctx)
	}},
	{name: "M2O from the owning side: set and clear the manager", do: func(ctx context.Context, c *ent.Client) (any, error) {
		g, err := c.Group.Query().Order(group.ByID()).First(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.Group.UpdateOne(g).ClearManager().Save(ctx); err != nil {
			return nil, err
		}
		return c.Group.Update().Where(group.Open(false)).SetManagerID(accountID(ctx, c, "c@x.io")).Save(ctx)
	}},
	{name: "M2M: add and remove from both sides", do: func(ctx context.Context, c *ent.Client) (any, error) {
		cy := accountID(ctx, c, "c@x.io")
		if _, err := c.Account.UpdateOneID(cy).AddGroupIDs(groupID(ctx, c, "users")).Save(ctx); err != nil {
			return nil, err
		}
		if _, err := c.Group.UpdateOneID(groupID(ctx, c, "admins")).RemoveMemberIDs(accountID(ctx, c, "a@x.io")).Save(ctx); err != nil {
			return nil, err
		}
		if _, err := c.Tag.UpdateOneID("db").AddPostIDs(postID(ctx, c, "t3")).Save(ctx); err != nil {
			return nil, err
		}
		return c.Post.UpdateOneID(postID(ctx, c, "t1")).ClearTags().Save(ctx)
	}},
	{name: "edge field O2M: add children from the parent", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "b@x.io")).AddChildIDs(accountID(ctx, c, "d@x.io")).Save(ctx)
	}},
	{name: "edge field O2M: remove a child from the parent", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).RemoveChildIDs(accountID(ctx, c, "b@x.io")).Save(ctx)
	}},
	{name: "edge field O2M: clear the children from the parent", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).ClearChildren().Save(ctx)
	}},
	{name: "edge field O2O: set the card from the account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "d@x.io")).SetCardID("b2").Save(ctx)
	}},
	{name: "edge field O2O: clear the card from the account", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).ClearCard().Save(ctx)
	}},
	{name: "edge field O2M: move a child with a remove then an add from the parents, in a transaction", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			b := accountID(ctx, tx.Client(), "b@x.io")
			if _, err := tx.Account.UpdateOneID(accountID(ctx, tx.Client(), "a@x.io")).RemoveChildIDs(b).Save(ctx); err != nil {
				return nil, err
			}
			return tx.Account.UpdateOneID(accountID(ctx, tx.Client(), "d@x.io")).AddChildIDs(b).Save(ctx)
		})
	}},
	{name: "self O2O hidden key: set a spouse (both rows change)", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "a@x.io")).SetSpouseID(accountID(ctx, c, "b@x.io")).Save(ctx)
	}},
	{name: "self O2O hidden key: clear the spouse from the other side", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Account.UpdateOneID(accountID(ctx, c, "b@x.io")).ClearSpouse().Save(ctx)
	}},

	// Interceptor: a soft-deleted post disappears from every query.
	{name: "soft delete a post", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.UpdateOneID(postID(ctx, c, "t2")).SetDeleted(true).Save(ctx)
	}},
	{name: "get a soft-deleted post", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Post.Get(ctx, postID(ctx, c, "t2"))
	}},

	// Transactions.
	{name: "transaction committed", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			a, err := tx.Account.Create().SetEmail("e@x.io").SetName("eve").SetAge(22).Save(ctx)
			if err != nil {
				return nil, err
			}
			p, err := tx.Post.Create().SetTitle("t5").SetSlug("s5").SetAuthor(a).Save(ctx)
			if err != nil {
				return nil, err
			}
			if _, err := tx.Comment.Create().SetBody("c5").SetPost(p).SetAuthor(a).Save(ctx); err != nil {
				return nil, err
			}
			if _, err := tx.Account.UpdateOne(a).SetAge(23).Save(ctx); err != nil {
				return nil, err
			}
			n, err := tx.Scalar.Update().Where(scalar.SIn("s2", "s3")).AddI64(10).Save(ctx)
			return []any{a.ID, p.ID, n}, err
		})
	}},
	{name: "transaction rolled back", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, false, func(tx *ent.Tx) (any, error) {
			if _, err := tx.Account.UpdateOneID(accountID(ctx, tx.Client(), "e@x.io")).SetAge(99).SetEmail("gone@x.io").Save(ctx); err != nil {
				return nil, err
			}
			if _, err := tx.Tag.Delete().Exec(ctx); err != nil {
				return nil, err
			}
			return tx.Scalar.Create().SetS("rolled").Save(ctx)
		})
	}},
	{name: "cached reads inside a transaction see its writes", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			id := accountID(ctx, tx.Client(), "e@x.io")
			if _, err := tx.Account.UpdateOneID(id).SetNickname("in-tx").Save(ctx); err != nil {
				return nil, err
			}
			one, err := tx.Account.Cached().Get(ctx, id)
			if err != nil {
				return nil, err
			}
			list, err := tx.Account.Cached().ListByNickname(ctx, "in-tx")
			if err != nil {
				return nil, err
			}
			many, err := tx.Account.Cached().GetMany(ctx, id, 9999)
			return []any{one, list, many}, err
		})
	}},
	{name: "transaction creating, updating and deleting one row", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			g, err := tx.Group.Create().SetName("brief").AddMemberIDs(accountID(ctx, tx.Client(), "e@x.io")).Save(ctx)
			if err != nil {
				return nil, err
			}
			if _, err := tx.Group.UpdateOne(g).SetOpen(false).Save(ctx); err != nil {
				return nil, err
			}
			return g.ID, tx.Group.DeleteOne(g).Exec(ctx)
		})
	}},
	{name: "transaction rolled back after a user hook refuses", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			if _, err := tx.Group.UpdateOneID(groupID(ctx, tx.Client(), "admins")).SetOpen(false).Save(ctx); err != nil {
				return nil, err
			}
			return tx.Group.Create().SetName("forbidden").Save(ctx)
		})
	}},
	{name: "transaction failing on a constraint, rolled back", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			if _, err := tx.Account.UpdateOneID(accountID(ctx, tx.Client(), "e@x.io")).SetAge(98).Save(ctx); err != nil {
				return nil, err
			}
			return tx.Account.Create().SetEmail("a@x.io").Save(ctx)
		})
	}},

	// Deletes.
	{name: "delete one comment", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Comment.DeleteOneID(commentIDs(ctx, c, "c2")[0]).Exec(ctx)
	}},
	{name: "delete one missing", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Card.DeleteOneID("nope").Exec(ctx)
	}},
	{name: "bulk delete with a predicate", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Scalar.Delete().Where(scalar.SIn("s3", "s4")).Exec(ctx)
	}},
	{name: "delete a tag with M2M edges", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Tag.DeleteOneID("db").Exec(ctx)
	}},
	{name: "delete a post: comments cascade, featured profiles set NULL", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Post.DeleteOneID(postID(ctx, c, "t5")).Exec(ctx)
	}},
	{name: "delete an account: two levels of cascades and SET NULLs", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Account.DeleteOneID(accountID(ctx, c, "b@x.io")).Exec(ctx)
	}},
	{name: "delete accounts in bulk in a transaction", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return inTx(ctx, c, true, func(tx *ent.Tx) (any, error) {
			return tx.Account.Delete().Where(account.EmailIn("a@x.io", "e@x.io")).Exec(ctx)
		})
	}},
	{name: "bulk update and delete of counters", do: func(ctx context.Context, c *ent.Client) (any, error) {
		n, err := c.Counter.Update().Where(counter.NGTE(5)).AddN(1).Save(ctx)
		if err != nil {
			return nil, err
		}
		m, err := c.Counter.Delete().Where(counter.Name("four")).Exec(ctx)
		return []int{n, m}, err
	}},
	{name: "a user hook refuses a create", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Group.Create().SetName("forbidden").Save(ctx)
	}},
	{name: "a user hook refuses an update of a cached row", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Group.UpdateOneID(groupID(ctx, c, "admins")).SetName("forbidden").SetOpen(false).Save(ctx)
	}},
	{name: "a user hook rejects a bulk delete", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return c.Group.Delete().Where(group.Name("admins")).Exec(ctx)
	}},
	{name: "delete a group with a manager and members", do: func(ctx context.Context, c *ent.Client) (any, error) {
		return nil, c.Group.DeleteOneID(groupID(ctx, c, "users")).Exec(ctx)
	}},
}
