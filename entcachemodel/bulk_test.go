package entcachemodel

import (
	"testing"

	"entgo.io/ent"
	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bulkMutation stands for a generated mutation: only its identity counts.
type bulkMutation struct {
	ent.Mutation
	n int
}

// A bulk is noted only for an enabled cache, and for two rows or more:
// otherwise no write would ever take the notes back.
func TestBeginBulkNotesOnlyCachedBulks(t *testing.T) {
	ms := []ent.Mutation{&bulkMutation{n: 1}, &bulkMutation{n: 2}}
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), quietLog())
	for _, m := range ms {
		n := noteStatement(m, nil, c)
		defer n.done(m)
	}
	BeginBulk(nil, nil, nil, ms)
	BeginBulk(Disabled(), nil, nil, ms)
	BeginBulk(c, nil, nil, ms[:1])
	for _, m := range ms {
		assert.Nil(t, bulkOf(m), "not noted")
	}
	other := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), quietLog())
	BeginBulk(other, nil, nil, ms)
	for _, m := range ms {
		assert.Nil(t, bulkOf(m), "writes of another cache: not noted")
	}
	BeginBulk(c, nil, nil, ms)
	b := bulkOf(ms[1])
	require.NotNil(t, b)
	assert.Same(t, b, bulkOf(ms[0]))
	assert.Equal(t, ms[0], b.first)
	p := &part[int, int]{tokens: map[string]string{}, rows: map[string]*pending[int, int]{}}
	require.True(t, handBulk(b, ms[1], p, []int{7}, nil))
	assert.Nil(t, bulkOf(ms[1]), "a write that handed itself over is forgotten")
	created, _ := takeBulk(b, &part[int, int]{tokens: map[string]string{}, rows: map[string]*pending[int, int]{}})
	assert.Equal(t, []int{7}, created)
	assert.Nil(t, bulkOf(ms[0]), "the first write forgets the bulk")
}

// absorb keeps, of several tokens on one key, the latest-marked part's and
// supersedes the others; rows and what the writes touched join.
func TestAbsorbKeepsTheLatestToken(t *testing.T) {
	newPart := func(tokens map[string]string, rows ...string) *part[int, int] {
		p := &part[int, int]{tokens: tokens, rows: map[string]*pending[int, int]{}}
		for i, r := range rows {
			p.order = append(p.order, r)
			p.rows[r] = &pending[int, int]{id: i}
		}
		return p
	}
	first := newPart(map[string]string{"list": "w1", "own": "w1b"}, "1")
	second := newPart(map[string]string{"list": "w2"}, "2")
	third := newPart(map[string]string{"list": "w3", "row3": "w3r"}, "3")
	first.absorb([]*part[int, int]{third, second}) // latest first
	assert.Equal(t, map[string]string{"list": "w3", "own": "w1b", "row3": "w3r"}, first.tokens)
	assert.ElementsMatch(t, [][2]string{{"list", "w2"}, {"list", "w1"}}, first.superseded)
	assert.Equal(t, []string{"1", "3", "2"}, first.order)
	assert.Len(t, first.rows, 3)
	assert.Empty(t, second.tokens, "an absorbed part holds nothing")
}

// notedBulks counts the mutations bulks holds a note for.
func notedBulks() int {
	n := 0
	bulks.Range(func(any, any) bool { n++; return true })
	return n
}

// A bulk one of whose mutations no cache write runs for (a user hook handed
// ent another one) is not noted: that write would never take its note back,
// and if it is the first row's, what the others hand over would never be
// published.
func TestBeginBulkNeedsRunningWrites(t *testing.T) {
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), quietLog())
	for swapped := range 3 {
		ms := []ent.Mutation{&bulkMutation{n: 1}, &bulkMutation{n: 2}, &bulkMutation{n: 3}}
		var notes []*stmtNote
		for i, m := range ms {
			if i != swapped {
				notes = append(notes, noteStatement(m, nil, c))
			} else {
				notes = append(notes, nil)
			}
		}
		before := notedBulks()
		BeginBulk(c, nil, nil, ms)
		assert.Equal(t, before, notedBulks(), "row %d not written by a cache write: nothing noted", swapped)
		for i, m := range ms {
			assert.Nil(t, bulkOf(m))
			if notes[i] != nil {
				notes[i].done(m)
			}
		}
	}
}

// A bulk whose statement runs in another transaction than some of its
// rows' writes is not noted (each row ends on its own), and every note
// learns where the statement ran; notes go when their writes are done.
func TestBeginBulkTellsWhereTheStatementRan(t *testing.T) {
	m := miniredis.RunT(t)
	c := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), quietLog())
	txKey := new(int)
	ms := []ent.Mutation{&bulkMutation{n: 1}, &bulkMutation{n: 2}}
	outside := noteStatement(ms[0], nil, c)
	inside := noteStatement(ms[1], txKey, c)
	link := noteStatement(ms[1], txKey, nil) // the row's link write
	BeginBulk(c, nil, txKey, ms)
	for _, m := range ms {
		assert.Nil(t, bulkOf(m), "rows of two transactions: no bulk")
	}
	_, key, ok := outside.elsewhere()
	assert.True(t, ok, "the statement ran in the transaction, the write outside")
	assert.Equal(t, txKey, key)
	_, _, ok = inside.elsewhere()
	assert.False(t, ok, "the statement ran in the write's own transaction")
	assert.Same(t, inside, link, "a row's writes share its note")
	outside.done(ms[0])
	inside.done(ms[1])
	stmts.Lock()
	assert.Contains(t, stmts.m, ms[1], "the link write still uses the note")
	stmts.Unlock()
	link.done(ms[1])
	stmts.Lock()
	assert.Empty(t, stmts.m)
	stmts.Unlock()
}
