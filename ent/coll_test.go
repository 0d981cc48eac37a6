package ent_test

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/colldoc"
	"github.com/entcachemodel/entcachemodel/ent/collname"
	"github.com/entcachemodel/entcachemodel/ent/colltag"
	"github.com/entcachemodel/entcachemodel/ent/collword"
)

// Probes: values that some databases find equal to stored ones (trailing
// spaces under PAD SPACE, case and accents under utf8mb4_general_ci) and
// others do not.
var collProbes = []string{
	"go", "go ", "go  ", "Go", "GO", "a", "a ", "a\t", "a!", "A", "b", "x", "x ", "X", "x\t",
	"s1", "s1 ", "S1", "s2", "s2 ", "é", "e", "É", "E", "alice", "ALICE", "Alice ", "álice", "Álice",
	"bob", "BOB", "bob ", "ß", "s", "ss", "k1", "K1", "K1 ", "straße", "STRASE", "strasse", "missing", "",
	"n0", "N0", "n0 ", "N1", "n1", "s20", "s20 ", "s20  ",
}

func tagText(v *ent.CollTag) string { return fmt.Sprintf("%q label=%q slug=%q", v.ID, v.Label, v.Slug) }

func wordText(v *ent.CollWord) string {
	return fmt.Sprintf("%q label=%q code=%q rank=%d", v.ID, v.Label, v.Code, v.Rank)
}

func nameText(v *ent.CollName) string {
	return fmt.Sprintf("%d name=%q nick=%q", v.ID, v.Name, v.Nick)
}

func docText(v *ent.CollDoc) string { return fmt.Sprintf("%s kind=%q", v.ID, v.Kind) }

func texts[T any](vs []T, f func(T) string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = f(v)
	}
	return out
}

// one returns the text of a single result, or its not-found.
func one[T any](v T, err error, f func(T) string) string {
	if ent.IsNotFound(err) {
		return "not found"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return f(v)
}

// requireCollConsistent checks, for every probe, that each cached lookup of
// the Coll types answers as ent's own query with the same predicate,
// ordered by id; each cached lookup runs twice (a fill, then a hit).
func (e *env) requireCollConsistent(probes []string, ranks ...int) {
	e.t.Helper()
	ctx, c := e.ctx, e.client
	for _, p := range probes {
		for range 2 {
			want, werr := c.CollTag.Get(ctx, p)
			got, gerr := c.CollTag.Cached().Get(ctx, p)
			require.Equal(e.t, one(want, werr, tagText), one(got, gerr, tagText), "CollTag.Get(%q)", p)
			wl, err := c.CollTag.Query().Where(colltag.LabelEQ(p)).Order(colltag.ByID()).All(ctx)
			require.NoError(e.t, err)
			gl, err := c.CollTag.Cached().ListByLabel(ctx, p)
			require.NoError(e.t, err)
			require.Equal(e.t, texts(wl, tagText), texts(gl, tagText), "CollTag.ListByLabel(%q)", p)
			want, werr = c.CollTag.Query().Where(colltag.Slug(p)).Order(colltag.ByID()).First(ctx)
			got, gerr = c.CollTag.Cached().GetBySlug(ctx, p)
			require.Equal(e.t, one(want, werr, tagText), one(got, gerr, tagText), "CollTag.GetBySlug(%q)", p)

			ww, werr := c.CollWord.Get(ctx, p)
			gw, gerr := c.CollWord.Cached().Get(ctx, p)
			require.Equal(e.t, one(ww, werr, wordText), one(gw, gerr, wordText), "CollWord.Get(%q)", p)
			wwl, err := c.CollWord.Query().Where(collword.LabelEQ(p)).Order(collword.ByID()).All(ctx)
			require.NoError(e.t, err)
			gwl, err := c.CollWord.Cached().ListByLabel(ctx, p)
			require.NoError(e.t, err)
			require.Equal(e.t, texts(wwl, wordText), texts(gwl, wordText), "CollWord.ListByLabel(%q)", p)
			ww, werr = c.CollWord.Query().Where(collword.Code(p)).Order(collword.ByID()).First(ctx)
			gw, gerr = c.CollWord.Cached().GetByCode(ctx, p)
			require.Equal(e.t, one(ww, werr, wordText), one(gw, gerr, wordText), "CollWord.GetByCode(%q)", p)

			wnl, err := c.CollName.Query().Where(collname.NameEQ(p)).Order(collname.ByID()).All(ctx)
			require.NoError(e.t, err)
			gnl, err := c.CollName.Cached().ListByName(ctx, p)
			require.NoError(e.t, err)
			require.Equal(e.t, texts(wnl, nameText), texts(gnl, nameText), "CollName.ListByName(%q)", p)
			wn, werr := c.CollName.Query().Where(collname.Nick(p)).Order(collname.ByID()).First(ctx)
			gn, gerr := c.CollName.Cached().GetByNick(ctx, p)
			require.Equal(e.t, one(wn, werr, nameText), one(gn, gerr, nameText), "CollName.GetByNick(%q)", p)

			wdl, err := c.CollDoc.Query().Where(colldoc.KindEQ(p)).Order(colldoc.ByID()).All(ctx)
			require.NoError(e.t, err)
			gdl, err := c.CollDoc.Cached().ListByKind(ctx, p)
			require.NoError(e.t, err)
			require.Equal(e.t, texts(wdl, docText), texts(gdl, docText), "CollDoc.ListByKind(%q)", p)
		}
	}
	// GetMany answers each id as Get does, in the order asked.
	var wantTags []string
	var wantWords []string
	for _, p := range probes {
		if v, err := c.CollTag.Get(ctx, p); err == nil {
			wantTags = append(wantTags, tagText(v))
		}
		if v, err := c.CollWord.Get(ctx, p); err == nil {
			wantWords = append(wantWords, wordText(v))
		}
	}
	for range 2 {
		gt, err := c.CollTag.Cached().GetMany(ctx, probes...)
		require.NoError(e.t, err)
		require.Equal(e.t, wantTags, texts(gt, tagText), "CollTag.GetMany")
		gw, err := c.CollWord.Cached().GetMany(ctx, probes...)
		require.NoError(e.t, err)
		require.Equal(e.t, wantWords, texts(gw, wordText), "CollWord.GetMany")
	}
	for _, r := range ranks {
		want, err := c.CollWord.Query().Where(collword.Rank(r)).Order(collword.ByID()).All(ctx)
		require.NoError(e.t, err)
		got, err := c.CollWord.Cached().ListByRank(ctx, r)
		require.NoError(e.t, err)
		require.Equal(e.t, texts(want, wordText), texts(got, wordText), "CollWord.ListByRank(%d)", r)
	}
}

// fromCache checks that f, a cached read of values already cached, runs no
// database query. On a loaded machine a Redis round trip may time out and
// send one read to the database (the breaker): f gets three tries.
func (e *env) fromCache(what string, f func()) {
	e.t.Helper()
	var n int64
	for range 3 {
		if n = e.queries(f); n == 0 {
			return
		}
	}
	e.t.Fatalf("%s ran %d queries on its third try (stats %+v)", what, n, e.cache.Stats())
}

// collRows creates rows that are distinct under every collation of the
// test schema (so each database accepts them).
func (e *env) collRows() {
	e.t.Helper()
	ctx, c := e.ctx, e.client
	for i, id := range []string{"go", "Go", "a", "a\t", "a!", "b", "é", "e", "A"} {
		label := []string{"x", "x ", "X", "x\t"}[i%4]
		_, err := c.CollTag.Create().SetID(id).SetLabel(label).SetSlug(fmt.Sprintf("s%d", i)).Save(ctx)
		require.NoError(e.t, err, "CollTag %q", id)
	}
	_, err := c.CollTag.Create().SetID("z").SetLabel("x").SetSlug("S1").Save(ctx)
	require.NoError(e.t, err)
	_, err = c.CollTag.Create().SetID("y").SetLabel("x  ").SetSlug("s20 ").Save(ctx)
	require.NoError(e.t, err)
	words := []struct {
		id, label, code string
		rank            int
	}{
		{"alice", "Alice", "K1", 1},
		{"Bob", "alice", "k2", 1},
		{"carol", "ÁLICE", "Straße", 2},
		{"ß", "alice ", "k3", 1},
		{"Émile", "bob", "k4", 2},
		{"dave", "BOB", "k5", 1},
	}
	for _, w := range words {
		_, err := c.CollWord.Create().SetID(w.id).SetLabel(w.label).SetCode(w.code).SetRank(w.rank).Save(ctx)
		require.NoError(e.t, err, "CollWord %q", w.id)
	}
	for i, n := range []string{"Alice", "alice", "ÁLICE", "alice ", "bob", "BOB", "ß", "s"} {
		_, err := c.CollName.Create().SetName(n).SetNick(fmt.Sprintf("%s%d", []string{"n", "N"}[i%2], i)).Save(ctx)
		require.NoError(e.t, err, "CollName %q", n)
	}
	for _, k := range []string{"x", "x ", "X", "go", "Go", "go "} {
		for range 3 {
			_, err := c.CollDoc.Create().SetKind(k).Save(ctx)
			require.NoError(e.t, err)
		}
	}
}

// TestCollationLookupsAnswerAsTheDatabase compares every cached lookup of
// ids and strings under MySQL's PAD SPACE binary collation and under a
// case-insensitive one with the database's answer, for probes that differ
// by trailing spaces, case and accents; then writes by such probes.
func TestCollationLookupsAnswerAsTheDatabase(t *testing.T) {
	e := newEnv(t)
	e.collRows()
	e.requireCollConsistent(collProbes, 1, 2, 3)

	// Cached rows are served from the cache (the comparison means
	// something): a hit on a stored id costs no query.
	for _, id := range []string{"go", "a\t", "é"} {
		_, err := e.client.CollTag.Cached().Get(e.ctx, id)
		require.NoError(t, err)
		e.fromCache(fmt.Sprintf("CollTag.Get(%q) after a fill", id), func() {
			_, err := e.client.CollTag.Cached().Get(e.ctx, id)
			require.NoError(t, err)
		})
	}
	_, err := e.client.CollWord.Cached().Get(e.ctx, "Bob")
	require.NoError(t, err)
	e.fromCache(`CollWord.Get("Bob") after a fill`, func() {
		_, err := e.client.CollWord.Cached().Get(e.ctx, "Bob")
		require.NoError(t, err)
	})

	// A unique value stored as asked is served from the cache, under a
	// case-insensitive collation too.
	_, err = e.client.CollWord.Cached().GetByCode(e.ctx, "K1")
	require.NoError(t, err)
	e.fromCache(`CollWord.GetByCode("K1")`, func() {
		_, err := e.client.CollWord.Cached().GetByCode(e.ctx, "K1")
		require.NoError(t, err)
	})
	if e.db.Dialect == dialect.MySQL {
		e.fromCache(`CollTag.GetBySlug("s20") of the slug "s20 "`, func() {
			v, err := e.client.CollTag.Cached().GetBySlug(e.ctx, "s20")
			require.NoError(t, err)
			require.Equal(t, "s20 ", v.Slug)
		})
	}

	// Writes by ids the database matches under its collation.
	writes := []string{"go ", "GO", "a ", "A", "BOB", "ALICE", "É", "Émile ", "carol", "ss"}
	for i, p := range writes {
		// Read first, so the rows are cached before the write.
		e.requireCollConsistent([]string{p, "go", "Go", "a", "A", "bob", "Bob", "alice", "émile", "Émile"})
		if i%2 == 0 {
			_, err := e.client.CollTag.UpdateOneID(p).SetLabel(fmt.Sprintf("u%d", i)).Save(e.ctx)
			require.True(t, err == nil || ent.IsNotFound(err), "CollTag.UpdateOneID(%q): %v", p, err)
			_, err = e.client.CollWord.UpdateOneID(p).SetLabel(fmt.Sprintf("u%d", i)).AddRank(1).Save(e.ctx)
			require.True(t, err == nil || ent.IsNotFound(err), "CollWord.UpdateOneID(%q): %v", p, err)
		} else {
			err := e.client.CollTag.DeleteOneID(p).Exec(e.ctx)
			require.True(t, err == nil || ent.IsNotFound(err), "CollTag.DeleteOneID(%q): %v", p, err)
			err = e.client.CollWord.DeleteOneID(p).Exec(e.ctx)
			require.True(t, err == nil || ent.IsNotFound(err), "CollWord.DeleteOneID(%q): %v", p, err)
		}
		e.requireCollConsistent(append([]string{p, "go", "Go", "a", "A", "bob", "Bob", "alice", "émile", "Émile"}, collProbes...), 1, 2, 3)
	}
	// Bulk writes and transactions name rows by predicates: the ids they
	// read back are the stored ones.
	_, err = e.client.CollWord.Update().Where(collword.LabelEQ("alice")).SetLabel("moved").Save(e.ctx)
	require.NoError(t, err)
	tx, err := e.client.Tx(e.ctx)
	require.NoError(t, err)
	_, err = tx.CollTag.UpdateOneID("e ").SetLabel("x").Save(e.ctx)
	require.True(t, err == nil || ent.IsNotFound(err), "tx CollTag.UpdateOneID: %v", err)
	require.NoError(t, tx.Commit())
	e.requireCollConsistent(append([]string{"moved", "e", "e "}, collProbes...), 1, 2, 3)
}

// TestCollationStaleAfterWriteByEqualID is the finding in its plainest form:
// on MySQL, DeleteOneID("go ") deletes the row "go", which Get("go") then
// must not return from the cache; UpdateOneID("go ") must republish the row
// "go". On the other databases "go " names no row.
func TestCollationStaleAfterWriteByEqualID(t *testing.T) {
	e := newEnv(t)
	onMySQL := e.db.Dialect == dialect.MySQL
	check := func(step string) {
		t.Helper()
		for _, id := range []string{"go", "go "} {
			want, werr := e.client.CollTag.Get(e.ctx, id)
			got, gerr := e.client.CollTag.Cached().Get(e.ctx, id)
			require.Equal(t, one(want, werr, tagText), one(got, gerr, tagText), "%s: Get(%q)", step, id)
		}
	}
	cached := func() {
		t.Helper()
		_, err := e.client.CollTag.Cached().Get(e.ctx, "go")
		require.NoError(t, err)
		e.fromCache(`Get("go")`, func() {
			_, err := e.client.CollTag.Cached().Get(e.ctx, "go")
			require.NoError(t, err)
		})
	}
	_, err := e.client.CollTag.Create().SetID("go").SetLabel("l").SetSlug("s").Save(e.ctx)
	require.NoError(t, err)
	cached()
	err = e.client.CollTag.DeleteOneID("go ").Exec(e.ctx)
	require.Equal(t, !onMySQL, ent.IsNotFound(err), "%v", err)
	check("delete")

	_, err = e.client.CollTag.Create().SetID("go").SetLabel("l").SetSlug("s").Save(e.ctx)
	require.Equal(t, onMySQL, err == nil, "%v", err)
	cached()
	v, err := e.client.CollTag.UpdateOneID("go ").SetLabel("m").Save(e.ctx)
	require.Equal(t, !onMySQL, ent.IsNotFound(err), "%v", err)
	if onMySQL {
		require.Equal(t, "go", v.ID, "ent returns the stored id")
	}
	check("update")
	cached()
	check("update, then a fill")
}

// randomUUIDs returns n UUIDs of versions 1, 4 and 7 and of random bytes
// (any version and variant nibble).
func randomUUIDs(t *testing.T, n int) []uuid.UUID {
	out := make([]uuid.UUID, 0, n)
	for i := range n {
		var u uuid.UUID
		switch i % 4 {
		case 0:
			u = uuid.New()
		case 1:
			v1, err := uuid.NewUUID()
			require.NoError(t, err)
			u = v1
		case 2: // version 7: a millisecond time, then random bits
			_, _ = rand.Read(u[:])
			u[0], u[1], u[2] = 0x01, 0x8c, byte(i)
			u[6] = 0x70 | u[6]&0x0f
			u[8] = 0x80 | u[8]&0x3f
		default:
			_, _ = rand.Read(u[:])
		}
		out = append(out, u)
	}
	return out
}

// TestCollationUUIDListOrder checks that lists of UUID ids come in the
// database's order (MariaDB's native uuid type does not order by text).
func TestCollationUUIDListOrder(t *testing.T) {
	e := newEnv(t)
	stored := 0
	for _, id := range randomUUIDs(t, 400) {
		_, err := e.client.CollDoc.Create().SetID(id).SetKind("k").Save(e.ctx)
		if err != nil && e.db.Dialect == dialect.MySQL && strings.Contains(err.Error(), "Incorrect uuid value") {
			// MariaDB refuses the values whose bytes it could not store
			// unambiguously (not of versions 1-5, but looking swapped).
			continue
		}
		require.NoError(t, err, "%s", id)
		stored++
	}
	require.Greater(t, stored, 300)
	for range 2 {
		want, err := e.client.CollDoc.Query().Where(colldoc.KindEQ("k")).Order(colldoc.ByID()).All(e.ctx)
		require.NoError(t, err)
		got, err := e.client.CollDoc.Cached().ListByKind(e.ctx, "k")
		require.NoError(t, err)
		require.Equal(t, texts(want, docText), texts(got, docText))
	}
	// The list is served from the cache, not ordered by the database.
	e.fromCache(`ListByKind("k")`, func() {
		_, err := e.client.CollDoc.Cached().ListByKind(e.ctx, "k")
		require.NoError(t, err)
	})
}

// TestCollationStringListOrder checks that lists of string ids come in the
// database's order, for ids that differ in their last bytes (PAD SPACE
// sorts "a\t" before "a"), and that such a list is served from the cache
// where Go reproduces the order.
func TestCollationStringListOrder(t *testing.T) {
	e := newEnv(t)
	ids := []string{"a", "a\t", "a\x01", "a!", "a b", "ab", "a~", "aé", "a\u00a0", "A", "b", "é", "e\t", "e", " a", "\ta", "日本", "a\x7f"}
	for i, id := range ids {
		_, err := e.client.CollTag.Create().SetID(id).SetLabel("same").SetSlug(fmt.Sprintf("o%d", i)).Save(e.ctx)
		require.NoError(t, err, "%q", id)
	}
	for range 2 {
		want, err := e.client.CollTag.Query().Where(colltag.LabelEQ("same")).Order(colltag.ByID()).All(e.ctx)
		require.NoError(t, err)
		got, err := e.client.CollTag.Cached().ListByLabel(e.ctx, "same")
		require.NoError(t, err)
		require.Equal(t, texts(want, tagText), texts(got, tagText))
	}
	e.fromCache(`ListByLabel("same")`, func() {
		_, err := e.client.CollTag.Cached().ListByLabel(e.ctx, "same")
		require.NoError(t, err)
	})
}

// TestCollationWithoutTheCache checks the helpers of a client without a
// cache (and so of a cache whose Redis is down) read ids as the database
// matches them: on MySQL, Get("go ") is the row "go", and Get("ALICE") the
// row "alice" of a case-insensitive table.
func TestCollationWithoutTheCache(t *testing.T) {
	e := newEnv(t)
	e.collRows()
	drv, err := e.db.Open()
	require.NoError(t, err)
	plain := ent.NewClient(ent.Driver(drv))
	t.Cleanup(func() { plain.Close() })
	for _, p := range collProbes {
		want, werr := plain.CollTag.Get(e.ctx, p)
		got, gerr := plain.CollTag.Cached().Get(e.ctx, p)
		require.Equal(t, one(want, werr, tagText), one(got, gerr, tagText), "CollTag.Get(%q)", p)
		ww, werr := plain.CollWord.Get(e.ctx, p)
		gw, gerr := plain.CollWord.Cached().Get(e.ctx, p)
		require.Equal(t, one(ww, werr, wordText), one(gw, gerr, wordText), "CollWord.Get(%q)", p)
	}
	var want []string
	for _, p := range collProbes {
		if v, err := plain.CollWord.Get(e.ctx, p); err == nil {
			want = append(want, wordText(v))
		}
	}
	got, err := plain.CollWord.Cached().GetMany(e.ctx, collProbes...)
	require.NoError(t, err)
	require.Equal(t, want, texts(got, wordText))
}
