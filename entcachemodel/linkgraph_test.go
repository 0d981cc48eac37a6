package entcachemodel

import (
	"context"
	"fmt"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRun records what a delete's cascade asks of a cached table.
type fakeRun struct {
	log *[]string
	tbl string
}

func (f *fakeRun) watch(_ context.Context, column string, owners []any) error {
	*f.log = append(*f.log, fmt.Sprintf("watch %s.%s %v", f.tbl, column, owners))
	return nil
}
func (f *fakeRun) add(ids []any)               { *f.log = append(*f.log, fmt.Sprintf("add %s %v", f.tbl, ids)) }
func (f *fakeRun) moveTo(string, func() []any) {}
func (f *fakeRun) listsOf(string, []any)       {}
func (f *fakeRun) stop()                       {}
func (f *fakeRun) mutate(ctx context.Context, next func(context.Context) (ent.Value, error)) (ent.Value, error) {
	return next(ctx)
}

// A delete follows every chain: CASCADE through an uncached table (boxes)
// and through a self-reference with a cycle (nodes), to the cached tables
// (toys, nodes), watching each level's owners before it lists its rows.
func TestCascadeListsEveryLevel(t *testing.T) {
	drv, err := sql.Open(dialect.SQLite, "file:cascade?mode=memory&cache=shared&_fk=1")
	require.NoError(t, err)
	defer drv.Close()
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE TABLE owners (id INTEGER PRIMARY KEY)",
		"CREATE TABLE boxes (id INTEGER PRIMARY KEY, owner_id INTEGER)",
		"CREATE TABLE toys (id INTEGER PRIMARY KEY, box_id INTEGER)",
		"CREATE TABLE nodes (id INTEGER PRIMARY KEY, mom INTEGER, owner_id INTEGER)",
		"INSERT INTO owners VALUES (1), (2)",
		"INSERT INTO boxes VALUES (10, 1), (11, 1), (12, 2)",
		"INSERT INTO toys VALUES (100, 10), (101, 11), (102, 12)",
		"INSERT INTO nodes VALUES (20, 22, 1), (21, 20, NULL), (22, 21, NULL), (23, NULL, 2)",
	} {
		require.NoError(t, drv.Exec(ctx, stmt, []any{}, nil))
	}
	l := NewLinks[struct{}](nil, []LinkRef{
		{Table: "boxes", ID: "id", Column: "owner_id", RefTable: "owners", OnDelete: Cascade},
		{Table: "toys", ID: "id", Column: "box_id", RefTable: "boxes", OnDelete: SetNull},
		{Table: "nodes", ID: "id", Column: "owner_id", RefTable: "owners", OnDelete: Cascade},
		{Table: "nodes", ID: "id", Column: "mom", RefTable: "nodes", OnDelete: Cascade},
	})
	var log []string
	runs := map[string]linkRun{"toys": &fakeRun{&log, "toys"}, "nodes": &fakeRun{&log, "nodes"}}
	run := func(table string) linkRun { return runs[table] }
	require.NoError(t, l.cascade(ctx, linkLister{driver: drv, db: drv}, run, "owners", []any{1}))
	assert.Equal(t, []string{
		"watch nodes.owner_id [1]",
		"add nodes [20]",
		"watch toys.box_id [10 11]",
		"add toys [100 101]",
		"watch nodes.mom [20]",
		"add nodes [21]",
		"watch nodes.mom [21]",
		"add nodes [22]",
		"watch nodes.mom [22]",
		"add nodes [20]", // the cycle ends here: 20 was listed
	}, log)
}

// Ids read back in any driver type become the target's ids.
func TestTargetRunConvertsIDs(t *testing.T) {
	s := rowSchema("h")
	r := &targetRun[struct{}, *row, int]{t: &target[struct{}, *row, int]{schema: s}, seen: map[int]bool{}}
	r.add([]any{int64(3), 3, "4", []byte("x"), int(5)})
	assert.Equal(t, []int{3, 4, 5}, r.ids, "converted, deduplicated, foreign values dropped")
}
