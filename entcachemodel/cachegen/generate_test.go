package cachegen

import (
	"database/sql"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/entc/load"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/kindtype"
)

// Widget has fields of every type, many from other packages, and publishes
// lookups by the kinds of fields whose generated code once did not compile:
// a Nillable UUID, unsigned and sized integers, a pointer GoType with Scan
// and Value, Optional fields that are not Nillable.
type Widget struct{ ent.Schema }

func (Widget) Fields() []ent.Field {
	text := map[string]string{dialect.MySQL: "varchar(32)", dialect.Postgres: "varchar(32)", dialect.SQLite: "varchar(32)"}
	return []ent.Field{
		field.Int8("i8"), field.Int16("i16").Optional(), field.Int32("i32").Optional().Nillable(), field.Int64("i64"),
		field.Uint("u"), field.Uint8("u8").Optional(), field.Uint16("u16").Optional().Nillable(), field.Uint32("u32"), field.Uint64("u64"),
		field.Float32("f32"), field.Float("f64").Optional().Nillable(),
		field.String("name").Sensitive(), field.Bool("on").Optional(), field.Bytes("raw").Optional(),
		field.Time("at"), field.Time("seen").Optional().Nillable(),
		field.JSON("meta", kindtype.Meta{}).Optional(), field.Strings("notes").Optional(),
		field.Enum("color").GoType(kindtype.Color("")).Optional(), field.Enum("kind").Values("a", "b"),
		field.UUID("ref", uuid.UUID{}), field.UUID("author_id", uuid.UUID{}).Optional().Nillable(),
		field.Other("price", kindtype.Money(0)).SchemaType(text).Optional(),
		field.String("code").GoType(&kindtype.Code{}),
		field.String("text").GoType(kindtype.NullText{}).Optional(),
		field.String("nullstr").GoType(sql.NullString{}).Optional(),
		field.Int16("level").GoType(kindtype.Level(0)),
		field.Int("imm").Optional().Immutable(), field.String("key").StorageKey("c_key").Optional().Nillable(),
		field.String("ptr_text").GoType(kindtype.NullText{}).Optional().Nillable(),
		field.String("label").GoType(kindtype.Label("")).Optional(),
	}
}

func (Widget) Annotations() []schema.Annotation {
	var anns []schema.Annotation
	for _, f := range []string{"i8", "i16", "i32", "i64", "u", "u8", "u16", "u32", "u64", "author_id", "code", "text", "level", "label", "color", "on", "ref", "imm", "key", "ptr_text"} {
		anns = append(anns, cachemodel.PublishBy(f))
	}
	return append(anns, cachemodel.PublishBy("u8", "author_id", "code"))
}

// Plain is cached by id alone.
type Plain struct{ ent.Schema }

func (Plain) Fields() []ent.Field { return []ent.Field{field.String("name")} }
func (Plain) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.Publish()}
}

// TestGeneratedCode generates an ent package with the extension and checks
// that the raw cachemodel.go, before goimports, imports every package it
// uses (ent runs goimports on its files in parallel, and a package left for
// it to find is not always found), and that the package compiles.
func TestGeneratedCode(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a generated package")
	}
	if os.Getenv("DATABASE_URL") != "" || os.Getenv("REDIS_URL") != "" {
		t.Skip("needs no server: runs with the embedded defaults only")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	// Inside the module, so that the generated code resolves its imports.
	dir, err := os.MkdirTemp(".", "gen")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	target := filepath.Join(dir, "ent")
	g := generate(t, target, "github.com/entcachemodel/entcachemodel/entcachemodel/cachegen/"+path.Base(dir)+"/ent", Widget{}, Plain{})

	xtemplate := gen.Funcs["xtemplate"].(func(string, any) (string, error))
	raw, err := xtemplate("cachemodel", g)
	require.NoError(t, err)
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "cachemodel.go", raw, 0)
	require.NoError(t, err, "raw cachemodel.go parses")
	imported := map[string]bool{}
	for _, spec := range file.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		require.NoError(t, err)
		name := path.Base(p)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		imported[name] = true
	}
	// Names declared by the package's other files.
	declared := map[string]bool{}
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	for _, en := range entries {
		if en.IsDir() || !strings.HasSuffix(en.Name(), ".go") || en.Name() == "cachemodel.go" {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(target, en.Name()), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declared[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						declared[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							declared[n.Name] = true
						}
					}
				}
			}
		}
	}
	missing := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil && !imported[id.Name] && !declared[id.Name] {
				missing[id.Name] = true
			}
		}
		return true
	})
	assert.Empty(t, missing, "packages cachemodel.go uses without importing them")
	for _, pkg := range []string{"kindtype", "uuid", "predicate", "widget", "strconv", "entcachemodel"} {
		assert.True(t, imported[pkg], "cachemodel.go imports %s", pkg)
	}

	cmd := exec.Command(goBin, "vet", "./"+filepath.ToSlash(target)+"/...")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the generated package compiles:\n%s", out)
}

// generate runs ent's code generator with the extension on schemas.
func generate(t *testing.T, target, pkg string, schemas ...ent.Interface) *gen.Graph {
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
	cfg := &gen.Config{Package: pkg, Target: target, Storage: storage, Features: []gen.Feature{gen.FeatureUpsert}}
	require.NoError(t, entc.Extensions(NewExtension())(cfg))
	g, err := gen.NewGraph(cfg, loaded...)
	require.NoError(t, err)
	require.NoError(t, g.Gen())
	return g
}

// Every invalid annotation is reported in one run, each naming its schema
// and field, not only the first.
func TestEveryErrorReported(t *testing.T) {
	bad := accountWith(cachemodel.PublishBy("score"), cachemodel.PublishBy("nope"), cachemodel.PublishBy("joined_at"), cachemodel.PublishBy("email"), cachemodel.PublishBy("email"))
	_, err := buildNode(t, []ent.Interface{bad, Gadget{}}, "Account")
	require.Error(t, err)
	for _, want := range []string{
		`cachemodel: schema Account: PublishBy("score"): field "score"`,
		`cachemodel: schema Account: PublishBy("nope"): unknown field "nope"`,
		`cachemodel: schema Account: PublishBy("joined_at"): field "joined_at"`,
		`cachemodel: schema Account: PublishBy("email") is declared twice`,
	} {
		assert.Contains(t, err.Error(), want)
	}

	// Across schemas too: the generation hook reports every node's errors.
	other := Ticket{}
	g := newGraph(t, bad, Gadget{}, other)
	n := nodeOf(t, g, "Ticket")
	n.Annotations[cachemodel.Name] = map[string]any{"PublishBy": []any{[]any{"seat", "nope"}}}
	next := gen.GenerateFunc(func(*gen.Graph) error { return nil })
	err = NewExtension().Hooks()[0](next).Generate(g)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `schema Account: PublishBy("score")`)
	assert.Contains(t, err.Error(), `schema Account: PublishBy("nope")`)
	assert.Contains(t, err.Error(), `schema Ticket: PublishBy("seat", "nope"): unknown field "nope"`)
}

// cachemodel.Publish caches a type by id alone.
func TestPublishOnly(t *testing.T) {
	typ, err := buildNode(t, []ent.Interface{Plain{}}, "Plain")
	require.NoError(t, err)
	require.NotNil(t, typ, "Publish caches the type")
	assert.Empty(t, typ.Indexes)
	assert.Len(t, typ.Encode, 1)
}

// A lookup by an Optional field that is not Nillable leaves zero-valued rows
// out of its entries and reads the database for the zero value.
func TestOptionalLookup(t *testing.T) {
	typ, err := buildNode(t, []ent.Interface{accountWith(cachemodel.PublishBy("handle"), cachemodel.PublishBy("email", "age")), Gadget{}}, "Account")
	require.NoError(t, err)
	handle := typ.Indexes[0]
	assert.Equal(t, `handle == ""`, handle.Direct)
	assert.Contains(t, handle.EntityKey[0], `v.Handle == ""`)
	assert.Equal(t, "if v0, ok := m.Handle(); ok && v0 != \"\" {", handle.Mutation[0])
	assert.Empty(t, typ.Indexes[1].Direct, "required fields are always cached")
	assert.Contains(t, typ.Apply, "if m.HandleCleared() {\n\t\tv.Handle = \"\"\n\t}")
}
