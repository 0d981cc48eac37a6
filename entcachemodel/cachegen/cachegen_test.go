package cachegen

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/entc/load"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	entindex "entgo.io/ent/schema/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// Member is the valid test schema: a unique field, a composite unique index,
// a plain field and fields of every kind PublishBy rejects.
type Member struct {
	ent.Schema
}

func (Member) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.String("first_name").Default(""),
		field.String("last_name").Default(""),
		field.Int("age").Default(0),
		field.String("nickname").Optional().Nillable(),
	}
}

func (Member) Edges() []ent.Edge {
	return []ent.Edge{edge.To("pets", Animal.Type)}
}

func (Member) Indexes() []ent.Index {
	return []ent.Index{entindex.Fields("first_name", "last_name").Unique()}
}

func (Member) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("first_name", "last_name"),
		cachemodel.PublishBy("age"),
	}
}

// Animal has no cachemodel annotation.
type Animal struct {
	ent.Schema
}

func (Animal) Fields() []ent.Field {
	return []ent.Field{field.String("name")}
}

func (Animal) Edges() []ent.Edge {
	return []ent.Edge{edge.From("owner", Member.Type).Ref("pets").Unique()}
}

// Account is a configurable schema for the error and hash cases.
type Account struct {
	ent.Schema
	fields      []ent.Field
	edges       []ent.Edge
	indexes     []ent.Index
	annotations []schema.Annotation
}

func (a Account) Fields() []ent.Field              { return a.fields }
func (a Account) Edges() []ent.Edge                { return a.edges }
func (a Account) Indexes() []ent.Index             { return a.indexes }
func (a Account) Annotations() []schema.Annotation { return a.annotations }

// Gadget is the edge target of Account.
type Gadget struct {
	ent.Schema
}

func (Gadget) Fields() []ent.Field { return []ent.Field{field.String("label")} }

// accountFields is every field kind that the error cases publish.
func accountFields() []ent.Field {
	return []ent.Field{
		field.String("email"),
		field.Int("age"),
		field.JSON("tags", []string{}).Optional(),
		field.Float("score").Default(0),
		field.Time("joined_at").Optional(),
		field.Bytes("avatar").Optional(),
		field.String("handle").Optional(),
		field.String("code"),
	}
}

// newGraph loads the schemas the way entc does and builds their graph.
func newGraph(t *testing.T, schemas ...ent.Interface) *gen.Graph {
	t.Helper()
	return newGraphWith(t, nil, schemas...)
}

// newGraphWith is newGraph with ent features enabled.
func newGraphWith(t *testing.T, features []gen.Feature, schemas ...ent.Interface) *gen.Graph {
	t.Helper()
	loaded := make([]*load.Schema, 0, len(schemas))
	for _, s := range schemas {
		b, err := load.MarshalSchema(s)
		require.NoError(t, err)
		ls, err := load.UnmarshalSchema(b)
		require.NoError(t, err)
		loaded = append(loaded, ls)
	}
	storage, err := gen.NewStorage("sql")
	require.NoError(t, err)
	g, err := gen.NewGraph(&gen.Config{
		Package:  "example.com/ent",
		Target:   t.TempDir(),
		Storage:  storage,
		Features: features,
	}, loaded...)
	require.NoError(t, err)
	return g
}

func nodeOf(t *testing.T, g *gen.Graph, name string) *gen.Type {
	t.Helper()
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	require.FailNowf(t, "missing node", "no node %q in graph", name)
	return nil
}

func buildNode(t *testing.T, schemas []ent.Interface, name string) (*Type, error) {
	t.Helper()
	return build(nodeOf(t, newGraph(t, schemas...), name))
}

func accountWith(anns ...schema.Annotation) Account {
	return Account{
		fields:      accountFields(),
		edges:       []ent.Edge{edge.To("gadgets", Gadget.Type)},
		annotations: anns,
	}
}

func TestBuildValid(t *testing.T) {
	typ, err := buildNode(t, []ent.Interface{Member{}, Animal{}}, "Member")
	require.NoError(t, err)
	require.NotNil(t, typ)

	assert.Equal(t, "int", typ.IDType)
	assert.Len(t, typ.Hash, 12)
	assert.Len(t, typ.Encode, 5)
	assert.Len(t, typ.Decode, 5)

	byMethod := map[string]*Index{}
	for _, idx := range typ.Indexes {
		byMethod[idx.Method] = idx
	}
	// The repeated PublishBy annotations merge: all three lookups are there,
	// in declaration order.
	require.Len(t, typ.Indexes, 3)
	assert.Equal(t, []string{"GetByEmail", "GetByFirstNameLastName", "ListByAge"},
		[]string{typ.Indexes[0].Method, typ.Indexes[1].Method, typ.Indexes[2].Method})

	tests := []struct {
		method  string
		name    string
		unique  bool
		varName string
		params  string
	}{
		{method: "GetByEmail", name: "email", unique: true, varName: "memberCacheByEmail", params: "email string"},
		{method: "GetByFirstNameLastName", name: "first_name,last_name", unique: true, varName: "memberCacheByFirstNameLastName", params: "firstName string, lastName string"},
		{method: "ListByAge", name: "age", unique: false, varName: "memberCacheByAge", params: "age int"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			idx, ok := byMethod[tt.method]
			require.True(t, ok, "missing index %s", tt.method)
			assert.Equal(t, tt.name, idx.Name)
			assert.Equal(t, tt.unique, idx.Unique)
			assert.Equal(t, tt.varName, idx.Var)
			assert.Equal(t, tt.params, idx.Params)
			assert.NotEmpty(t, idx.EntityKey)
			if tt.unique {
				assert.Empty(t, idx.Mutation, "unique lookups keep no lists")
			} else {
				assert.NotEmpty(t, idx.Mutation, "list lookups add list entries on create")
			}
		})
	}
	assert.Equal(t, "entcachemodel.IndexKey(firstName, lastName)", byMethod["GetByFirstNameLastName"].Key)
	assert.Equal(t, "member.FirstNameEQ(firstName), member.LastNameEQ(lastName)", byMethod["GetByFirstNameLastName"].Where)
	assert.Equal(t, "entcachemodel.IndexKey(strconv.FormatInt(int64(age), 10))", byMethod["ListByAge"].Key)
}

func TestBuildMergedAnnotation(t *testing.T) {
	g := newGraph(t, Member{}, Animal{})
	n := nodeOf(t, g, "Member")
	raw, ok := n.Annotations[cachemodel.Name]
	require.True(t, ok)
	require.NotNil(t, raw)

	typ, err := build(n)
	require.NoError(t, err)
	names := make([]string, 0, len(typ.Indexes))
	for _, idx := range typ.Indexes {
		names = append(names, idx.Name)
	}
	assert.Equal(t, []string{"email", "first_name,last_name", "age"}, names)
}

func TestBuildNoAnnotation(t *testing.T) {
	typ, err := buildNode(t, []ent.Interface{Member{}, Animal{}}, "Animal")
	require.NoError(t, err)
	assert.Nil(t, typ)

	typ, err = buildNode(t, []ent.Interface{accountWith(), Gadget{}}, "Account")
	require.NoError(t, err)
	assert.Nil(t, typ)
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		anns  []schema.Annotation
		field string // quoted in the error, when not empty
		want  string
	}{
		{
			name:  "unknown field",
			anns:  []schema.Annotation{cachemodel.PublishBy("nope")},
			field: "nope",
			want:  `unknown field "nope"`,
		},
		{
			name:  "edge name",
			anns:  []schema.Annotation{cachemodel.PublishBy("gadgets")},
			field: "gadgets",
			want:  `"gadgets" is an edge`,
		},
		{
			name:  "json field",
			anns:  []schema.Annotation{cachemodel.PublishBy("tags")},
			field: "tags",
			want:  `field "tags" has type`,
		},
		{
			name:  "float field",
			anns:  []schema.Annotation{cachemodel.PublishBy("score")},
			field: "score",
			want:  `field "score" has type float64`,
		},
		{
			name:  "time field",
			anns:  []schema.Annotation{cachemodel.PublishBy("joined_at")},
			field: "joined_at",
			want:  `field "joined_at" has type time.Time`,
		},
		{
			name:  "bytes field",
			anns:  []schema.Annotation{cachemodel.PublishBy("avatar")},
			field: "avatar",
			want:  `field "avatar" has type []byte`,
		},
		{
			name:  "unsupported field in a composite lookup",
			anns:  []schema.Annotation{cachemodel.PublishBy("email", "score")},
			field: "score",
			want:  `PublishBy("email", "score"): field "score" has type float64`,
		},
		{
			name:  "id field",
			anns:  []schema.Annotation{cachemodel.PublishBy("id")},
			field: "id",
			want:  `"id" is the id`,
		},
		{
			name:  "field listed twice",
			anns:  []schema.Annotation{cachemodel.PublishBy("email", "email")},
			field: "email",
			want:  `field "email" appears twice`,
		},
		{
			name: "no fields",
			anns: []schema.Annotation{cachemodel.PublishBy()},
			want: "PublishBy() needs at least one field",
		},
		{
			name:  "declared twice",
			anns:  []schema.Annotation{cachemodel.PublishBy("age"), cachemodel.PublishBy("email"), cachemodel.PublishBy("age")},
			field: "age",
			want:  `PublishBy("age") is declared twice`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := buildNode(t, []ent.Interface{accountWith(tt.anns...), Gadget{}}, "Account")
			require.Error(t, err)
			assert.Nil(t, typ)
			msg := err.Error()
			assert.Contains(t, msg, "cachemodel: schema Account: ")
			assert.Contains(t, msg, tt.want)
			if tt.field != "" {
				assert.Contains(t, msg, `"`+tt.field+`"`)
			}
		})
	}
}

func TestPartialUniqueIndexIsAList(t *testing.T) {
	a := accountWith(cachemodel.PublishBy("code"), cachemodel.PublishBy("email"))
	a.indexes = []ent.Index{
		entindex.Fields("code").Unique().Annotations(entsql.IndexWhere("age > 0")),
		entindex.Fields("email").Unique(),
	}
	typ, err := buildNode(t, []ent.Interface{a, Gadget{}}, "Account")
	require.NoError(t, err)
	require.Len(t, typ.Indexes, 2)
	assert.Equal(t, "ListByCode", typ.Indexes[0].Method, "a partial unique index does not make a lookup unique")
	assert.Equal(t, "GetByEmail", typ.Indexes[1].Method)
}

func TestHooksValidateEveryNode(t *testing.T) {
	hooks := NewExtension().Hooks()
	require.Len(t, hooks, 1)

	run := func(t *testing.T, g *gen.Graph) (bool, error) {
		t.Helper()
		called := false
		next := gen.GenerateFunc(func(*gen.Graph) error {
			called = true
			return nil
		})
		return called, hooks[0](next).Generate(g)
	}

	t.Run("valid", func(t *testing.T) {
		called, err := run(t, newGraph(t, Member{}, Animal{}))
		require.NoError(t, err)
		assert.True(t, called, "next generator runs after validation")
	})
	t.Run("invalid", func(t *testing.T) {
		g := newGraph(t, Member{}, Animal{}, accountWith(cachemodel.PublishBy("score")), Gadget{})
		called, err := run(t, g)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `cachemodel: schema Account: PublishBy("score"): field "score"`)
		assert.False(t, called, "next generator must not run on an invalid annotation")
	})
	t.Run("next error", func(t *testing.T) {
		want := errors.New("next failed")
		next := gen.GenerateFunc(func(*gen.Graph) error { return want })
		err := hooks[0](next).Generate(newGraph(t, Member{}, Animal{}))
		assert.ErrorIs(t, err, want)
	})
}

func TestSchemaHash(t *testing.T) {
	hashOf := func(t *testing.T, fields ...ent.Field) string {
		t.Helper()
		a := Account{fields: fields, annotations: []schema.Annotation{cachemodel.PublishBy("email")}}
		typ, err := buildNode(t, []ent.Interface{a}, "Account")
		require.NoError(t, err)
		require.NotNil(t, typ)
		require.Len(t, typ.Hash, 12)
		return typ.Hash
	}
	base := func() []ent.Field {
		return []ent.Field{field.String("email"), field.Int("age")}
	}
	h := hashOf(t, base()...)

	t.Run("identical schemas", func(t *testing.T) {
		assert.Equal(t, h, hashOf(t, base()...))
		assert.Equal(t, h, hashOf(t, field.String("email").Unique(), field.Int("age").Default(3)),
			"validators and defaults do not change the encoding")
	})
	tests := []struct {
		name   string
		fields []ent.Field
	}{
		{name: "field added", fields: append(base(), field.Bool("active"))},
		{name: "field removed", fields: []ent.Field{field.String("email")}},
		{name: "int to int64", fields: []ent.Field{field.String("email"), field.Int64("age")}},
		{name: "int to string", fields: []ent.Field{field.String("email"), field.String("age")}},
		{name: "int to uint", fields: []ent.Field{field.String("email"), field.Uint("age")}},
		{name: "nillable", fields: []ent.Field{field.String("email"), field.Int("age").Optional().Nillable()}},
		{name: "renamed", fields: []ent.Field{field.String("email"), field.Int("years")}},
		{name: "reordered", fields: []ent.Field{field.Int("age"), field.String("email")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NotEqual(t, h, hashOf(t, tt.fields...))
		})
	}
}

// TestRuntimeDoesNotImportGenerator guards the promise that applications do
// not link the code generator: the runtime and annotation packages must not
// depend on entc.
func TestRuntimeDoesNotImportGenerator(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps",
		runtimePkg,
		"github.com/entcachemodel/entcachemodel/annotations",
	).Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Logf("go list stderr:\n%s", exitErr.Stderr)
	}
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, runtimePkg)
	require.Contains(t, deps, "github.com/entcachemodel/entcachemodel/annotations")
	for _, dep := range deps {
		assert.False(t, strings.HasPrefix(dep, "entgo.io/ent/entc"), "runtime depends on the code generator via %s", dep)
	}
}

// Ticket has a user-defined id and a unique index that includes an edge
// column, which a create's mutation cannot be checked against.
type Ticket struct {
	ent.Schema
}

func (Ticket) Fields() []ent.Field {
	return []ent.Field{field.String("id"), field.String("code").Unique(), field.String("seat")}
}

func (Ticket) Edges() []ent.Edge {
	return []ent.Edge{edge.To("gadget", Gadget.Type).Unique()}
}

func (Ticket) Indexes() []ent.Index {
	return []ent.Index{entindex.Fields("seat").Edges("gadget").Unique()}
}

func (Ticket) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("code")}
}

// With upserts enabled, creates look up the rows they conflict with: one
// predicate per unique constraint the mutation can set.
func TestConflicts(t *testing.T) {
	plain, err := build(nodeOf(t, newGraph(t, Member{}, Animal{}), "Member"))
	require.NoError(t, err)
	assert.Empty(t, plain.Conflicts, "without upserts a create is never an update")

	upserts := []gen.Feature{gen.FeatureUpsert}
	member, err := build(nodeOf(t, newGraphWith(t, upserts, Member{}, Animal{}), "Member"))
	require.NoError(t, err)
	require.Len(t, member.Conflicts, 2)
	assert.Contains(t, member.Conflicts[0], "m.Email(); ok")
	assert.Contains(t, member.Conflicts[0], "member.EmailEQ(v)")
	assert.Contains(t, member.Conflicts[1], "m.FirstName(); ok")
	assert.Contains(t, member.Conflicts[1], "m.LastName(); ok")
	assert.Contains(t, member.Conflicts[1], "member.And(member.FirstNameEQ(v0), member.LastNameEQ(v1))")

	ticket, err := build(nodeOf(t, newGraphWith(t, upserts, Ticket{}, Gadget{}), "Ticket"))
	require.NoError(t, err)
	require.Len(t, ticket.Conflicts, 2, "the id and the unique field; not the index with an edge column")
	assert.Contains(t, ticket.Conflicts[0], "ticket.ID(v)")
	assert.Contains(t, ticket.Conflicts[1], "ticket.CodeEQ(v)")
}

// Updates that move rows into lists they do not name get the lists predicted
// from the rows: Apply replays the mutation on the listed fields only.
func TestApply(t *testing.T) {
	member, err := build(nodeOf(t, newGraph(t, Member{}, Animal{}), "Member"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"if x, ok := m.Age(); ok {\n\t\tv.Age = x\n\t}",
		"if x, ok := m.AddedAge(); ok {\n\t\tv.Age += x\n\t}",
	}, member.Apply, "only the listed field; unique lookups need no prediction")

	level := Account{
		fields:      []ent.Field{field.Int("level").Optional().Nillable()},
		annotations: []schema.Annotation{cachemodel.PublishBy("level")},
	}
	account, err := build(nodeOf(t, newGraph(t, level), "Account"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"if x, ok := m.Level(); ok {\n\t\tv.Level = &x\n\t}",
		"if x, ok := m.AddedLevel(); ok {\n\t\tif v.Level == nil {\n\t\t\tv.Level = new(int)\n\t\t}\n\t\t*v.Level += x\n\t}",
		"if m.LevelCleared() {\n\t\tv.Level = nil\n\t}",
	}, account.Apply)
}

// Keeper holds Things through a hidden foreign key in their table.
type Keeper struct{ ent.Schema }

func (Keeper) Edges() []ent.Edge { return []ent.Edge{edge.To("things", Thing.Type)} }

// Thing is cached, and can set its own keeper.
type Thing struct{ ent.Schema }

func (Thing) Fields() []ent.Field { return []ent.Field{field.String("name")} }
func (Thing) Edges() []ent.Edge {
	return []ent.Edge{edge.From("keeper", Keeper.Type).Ref("things").Unique()}
}
func (Thing) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// Stray is cached, and held by Keeper2 with no edge back.
type Stray struct{ ent.Schema }

func (Stray) Fields() []ent.Field { return []ent.Field{field.String("name")} }
func (Stray) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// Keeper2 holds Strays.
type Keeper2 struct{ ent.Schema }

func (Keeper2) Edges() []ent.Edge { return []ent.Edge{edge.To("strays", Stray.Type)} }

// Crew is cached and declares a many-to-one to Post (the key in Crew's
// table), which Post writes back through its inverse edge.
type Crew struct{ ent.Schema }

func (Crew) Fields() []ent.Field { return []ent.Field{field.String("name")} }
func (Crew) Edges() []ent.Edge {
	return []ent.Edge{edge.To("post", Post.Type).Unique(), edge.To("boss", Crew.Type).Unique().From("minion").Unique()}
}
func (Crew) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// Post is not cached; deleting it cascades to its notes (not cached either)
// and to nothing cached but the crews' keys.
type Post struct{ ent.Schema }

func (Post) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("crews", Crew.Type).Ref("post"),
		edge.To("notes", Note.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Note is not cached and holds no cached row: its key is not a link.
type Note struct{ ent.Schema }

func (Note) Edges() []ent.Edge {
	return []ent.Edge{edge.From("post", Post.Type).Ref("notes").Unique()}
}

// Links are found on the side that writes them: the owner's edge, whichever
// side declared it, and the delete actions that reach a cached type.
func TestLinks(t *testing.T) {
	l, err := links(newGraph(t, Keeper{}, Thing{}))
	require.NoError(t, err)
	require.Len(t, l.Edges, 1)
	assert.Equal(t, "Keeper", l.Edges[0].Owner.Name)
	assert.Equal(t, "things", l.Edges[0].Edge.Name)
	assert.Equal(t, []*LinkRef{{Table: "things", ID: "id", Column: "keeper_things", RefTable: "keepers", OnDelete: "SetNull"}}, l.Refs)
	thing, err := build(nodeOf(t, newGraph(t, Keeper{}, Thing{}), "Thing"))
	require.NoError(t, err)
	assert.Equal(t, []*Move{{Column: "keeper_things", Getter: "KeeperIDs"}}, thing.Moves, "a Thing write moves the thing to the keeper it sets")

	l, err = links(newGraph(t, Keeper2{}, Stray{}))
	require.NoError(t, err)
	require.Len(t, l.Edges, 1)
	assert.Equal(t, "strays", l.Edges[0].Edge.Name)
	stray, err := build(nodeOf(t, newGraph(t, Keeper2{}, Stray{}), "Stray"))
	require.NoError(t, err)
	assert.Empty(t, stray.Moves, "a Stray cannot set its keeper")

	g := newGraph(t, Crew{}, Post{}, Note{})
	l, err = links(g)
	require.NoError(t, err)
	var edges []string
	for _, e := range l.Edges {
		edges = append(edges, e.Owner.Name+"."+e.Edge.Name)
	}
	assert.ElementsMatch(t, []string{"Post.crews", "Crew.boss"}, edges, "the inverse edge writes the many-to-one; the one-to-one's owner writes the other row")
	var refs []string
	for _, r := range l.Refs {
		refs = append(refs, r.Table+"."+r.Column+">"+r.RefTable)
	}
	assert.ElementsMatch(t, []string{"crews.crew_post>posts", "crews.crew_boss>crews"}, refs, "notes hold no cached row")
	var owners []string
	for _, o := range l.Owners {
		owners = append(owners, o.Name)
	}
	assert.Equal(t, []string{"Crew", "Post"}, owners)
	crew, err := build(nodeOf(t, g, "Crew"))
	require.NoError(t, err)
	assert.ElementsMatch(t, []*Move{{Column: "crew_post", Getter: "PostIDs"}, {Column: "crew_boss", Getter: "MinionIDs"}}, crew.Moves)
}

// TestCollations checks the collations a type declares reach its Schema: a
// field's own, the table's apart, for the string id and string fields of
// the indexes only; and that a new collation changes the schema hash.
func TestCollations(t *testing.T) {
	build := func(t *testing.T, a Account) *Type {
		t.Helper()
		typ, err := buildNode(t, []ent.Interface{a}, "Account")
		require.NoError(t, err)
		return typ
	}
	fields := func(emailColl string) []ent.Field {
		email := field.String("email")
		if emailColl != "" {
			email = email.Annotations(entsql.Annotation{Collation: emailColl})
		}
		return []ent.Field{field.String("id"), email, field.Int("age"), field.String("other")}
	}
	plain := build(t, Account{fields: fields(""), annotations: []schema.Annotation{cachemodel.PublishBy("email"), cachemodel.PublishBy("age")}})
	assert.Equal(t, `map[string]string{"email": "", "id": ""}`, plain.Collations)
	assert.Equal(t, "entcachemodel.StringID", plain.IDKind)
	assert.Empty(t, plain.TableCollation)

	ci := build(t, Account{fields: fields("utf8mb4_general_ci"), annotations: []schema.Annotation{
		cachemodel.PublishBy("email"), entsql.Annotation{Collation: "utf8mb4_unicode_ci"},
	}})
	assert.Equal(t, `map[string]string{"email": "utf8mb4_general_ci", "id": ""}`, ci.Collations)
	assert.Equal(t, "utf8mb4_unicode_ci", ci.TableCollation)
	assert.NotEqual(t, plain.Hash, ci.Hash)
	table := build(t, Account{fields: fields(""), annotations: []schema.Annotation{
		cachemodel.PublishBy("email"), cachemodel.PublishBy("age"), entsql.Annotation{Collation: "utf8mb4_unicode_ci"},
	}})
	assert.NotEqual(t, plain.Hash, table.Hash, "a table collation changes the keys")

	ints := build(t, Account{fields: []ent.Field{field.Int("age")}, annotations: []schema.Annotation{cachemodel.PublishBy("age")}})
	assert.Empty(t, ints.Collations, "no string id, no string in an index")
	assert.Equal(t, "entcachemodel.IntID", ints.IDKind)
}
