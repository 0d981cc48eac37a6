// Package cachegen is the entc extension of entcachemodel. Only a project's
// ent/entc.go imports it:
//
//	entc.Generate("./schema", &gen.Config{}, entc.Extensions(cachegen.NewExtension()))
//
// For every type annotated with cachemodel.PublishBy it generates a mutation
// hook that publishes committed writes, and a typed read API,
// client.T.Cached(). Invalid annotations fail generation with an error that
// names the schema and the field.
package cachegen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/templates"
)

// runtimePkg is the import path of the runtime package.
const runtimePkg = "github.com/entcachemodel/entcachemodel/entcachemodel"

// Extension generates the cache hooks and read helpers.
type Extension struct {
	entc.DefaultExtension
}

// NewExtension returns the entcachemodel extension.
func NewExtension() *Extension { return &Extension{} }

// Templates returns the templates of the extension.
func (*Extension) Templates() []*gen.Template {
	t := gen.NewTemplate("cachemodel").Funcs(template.FuncMap{"cacheType": cacheType, "cacheLinks": links})
	return []*gen.Template{gen.MustParse(t.ParseFS(templates.FS, "*.tmpl"))}
}

// Hooks returns a generation hook that validates every annotation first.
func (*Extension) Hooks() []gen.Hook {
	return []gen.Hook{func(next gen.Generator) gen.Generator {
		return gen.GenerateFunc(func(g *gen.Graph) error {
			for _, n := range g.Nodes {
				if _, err := build(n); err != nil {
					return err
				}
			}
			return next.Generate(g)
		})
	}}
}

// Options adds the CacheModel field to the generated config, with the
// ent.CacheModel(*entcachemodel.Cache) client option.
func (*Extension) Options() []entc.Option {
	return []entc.Option{entc.Dependency(
		entc.DependencyName("CacheModel"),
		entc.DependencyTypeInfo(&field.TypeInfo{Ident: "*entcachemodel.Cache", PkgPath: runtimePkg, PkgName: "entcachemodel"}),
	)}
}

// Type is what the templates know of one annotated type.
type Type struct {
	Hash      string
	IDType    string
	FormatID  string // expression of id
	ParseID   string // statements from s to (id, err)
	CompareID string // expression of a and b
	Encode    []string
	Decode    []string
	Indexes   []*Index
	// Conflicts are statements that collect, in ps, a predicate per unique
	// field or index whose values a create sets (upserts enabled only).
	Conflicts []string
	// Apply are statements that apply the mutation m to the fields of v
	// that lists are keyed by.
	Apply []string
	// Moves are the foreign keys this type's own writes set, by the edges
	// that hold them: a write moving rows to a watched owner holds them.
	Moves []*Move
}

// Move is a foreign key of an annotated type that its own mutations set.
type Move struct {
	Column string // the foreign-key column
	Getter string // the mutation getter of the owner ids it is set to ("OwnerIDs")
}

// Index is one PublishBy lookup.
type Index struct {
	Name      string // "first_name,last_name"
	Var       string // Go name of the index variable
	Method    string // "GetByFirstNameLastName" or "ListByAge"
	Unique    bool
	Params    string // "firstName string, lastName string"
	Key       string // IndexKey(...) of the params
	Where     string // predicates on the params
	EntityKey []string
	Mutation  []string // statements appending a ListEntry when the mutation sets every field
	fields    []*gen.Field
}

// cacheType is the template function: nil for a type with no annotation.
func cacheType(n *gen.Type) (*Type, error) { return build(n) }

func build(n *gen.Type) (*Type, error) {
	raw, ok := n.Annotations[cachemodel.Name]
	if !ok || raw == nil {
		return nil, nil
	}
	var ann cachemodel.Annotation
	b, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(b, &ann)
	}
	if err != nil {
		return nil, fmt.Errorf("cachemodel: schema %s: reading annotation: %w", n.Name, err)
	}
	t := &Type{}
	if err := idCode(n, t); err != nil {
		return nil, err
	}
	hash := sha256.New()
	fmt.Fprintf(hash, "entcachemodel/v1 %s id:%s\n", n.Name, n.ID.Type)
	for _, f := range n.Fields {
		enc, dec, err := fieldCode(n, f, "v."+f.StructField(), f.NillableValue())
		if err != nil {
			return nil, err
		}
		t.Encode, t.Decode = append(t.Encode, enc), append(t.Decode, dec)
		fmt.Fprintf(hash, "%s %s %v %v\n", f.Name, f.Type, f.Nillable, f.Type.Type)
	}
	for _, fk := range n.UnexportedForeignKeys() {
		enc, dec, err := fieldCode(n, fk.Field, "v."+fk.StructField(), fk.Field.Nillable)
		if err != nil {
			return nil, err
		}
		t.Encode, t.Decode = append(t.Encode, enc), append(t.Decode, dec)
		fmt.Fprintf(hash, "fk %s %s %v\n", fk.StructField(), fk.Field.Type, fk.Field.Nillable)
	}
	t.Hash = hex.EncodeToString(hash.Sum(nil))[:12]
	for _, e := range n.Edges {
		if e.OwnFK() {
			t.Moves = append(t.Moves, &Move{Column: e.Rel.Column(), Getter: e.StructField() + "IDs"})
		}
	}
	if upserts, _ := n.Config.FeatureEnabled("sql/upsert"); upserts {
		t.Conflicts = conflicts(n)
	}
	seen := map[string]bool{}
	for _, fields := range ann.PublishBy {
		idx, err := index(n, fields)
		if err != nil {
			return nil, err
		}
		if seen[idx.Method] {
			return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s) is declared twice", n.Name, quote(fields))
		}
		seen[idx.Method] = true
		t.Indexes = append(t.Indexes, idx)
	}
	t.Apply = apply(t.Indexes)
	return t, nil
}

// apply returns the Apply statements of a type's lists.
func apply(indexes []*Index) []string {
	var out []string
	applied := map[string]bool{}
	for _, idx := range indexes {
		if idx.Unique {
			continue // a unique entry is checked against its row on read
		}
		for _, f := range idx.fields {
			if !applied[f.Name] {
				applied[f.Name] = true
				out = append(out, applyField(f)...)
			}
		}
	}
	return out
}

// applyField returns the statements that apply the mutation m to field f of
// v, as the database does (AddX on NULL adds to 0).
func applyField(f *gen.Field) []string {
	x := "v." + f.StructField()
	var out []string
	if f.NillableValue() {
		out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\t%s = &x\n\t}", f.MutationGet(), x))
	} else {
		out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\t%s = x\n\t}", f.MutationGet(), x))
	}
	if f.SupportsMutationAdd() {
		if f.NillableValue() {
			out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\tif %s == nil {\n\t\t\t%s = new(%s)\n\t\t}\n\t\t*%s += x\n\t}", f.MutationAdded(), x, x, f.Type, x))
		} else {
			out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\t%s += x\n\t}", f.MutationAdded(), x))
		}
	}
	if f.Optional && f.NillableValue() {
		out = append(out, fmt.Sprintf("if m.%s() {\n\t\t%s = nil\n\t}", f.MutationCleared(), x))
	}
	return out
}

func idCode(n *gen.Type, t *Type) error {
	if n.HasCompositeID() || !n.HasOneFieldID() {
		return fmt.Errorf("cachemodel: schema %s: composite ids are not supported", n.Name)
	}
	id := n.ID
	t.IDType = id.Type.String()
	switch {
	case id.Type.Type == field.TypeString:
		t.FormatID, t.ParseID, t.CompareID = "string(id)", "id, err := "+t.IDType+"(s), error(nil)", "strings.Compare(string(a), string(b))"
	case id.IsInt() || id.IsInt64() || isSigned(id.Type.Type):
		t.FormatID = "strconv.FormatInt(int64(id), 10)"
		t.ParseID = "n, err := strconv.ParseInt(s, 10, 64)\n\tid := " + t.IDType + "(n)"
		t.CompareID = "cmp.Compare(a, b)"
	case isUnsigned(id.Type.Type):
		t.FormatID = "strconv.FormatUint(uint64(id), 10)"
		t.ParseID = "n, err := strconv.ParseUint(s, 10, 64)\n\tid := " + t.IDType + "(n)"
		t.CompareID = "cmp.Compare(a, b)"
	case id.Type.Type == field.TypeUUID:
		t.FormatID = "id.String()"
		t.ParseID = "var id " + t.IDType + "\n\terr := id.UnmarshalText([]byte(s))"
		t.CompareID = "strings.Compare(a.String(), b.String())"
	default:
		return fmt.Errorf("cachemodel: schema %s: id field %q has type %s; supported id types are integers, strings and UUIDs", n.Name, id.Name, id.Type)
	}
	return nil
}

func isSigned(t field.Type) bool {
	switch t {
	case field.TypeInt, field.TypeInt8, field.TypeInt16, field.TypeInt32, field.TypeInt64:
		return true
	}
	return false
}

func isUnsigned(t field.Type) bool {
	switch t {
	case field.TypeUint, field.TypeUint8, field.TypeUint16, field.TypeUint32, field.TypeUint64:
		return true
	}
	return false
}

// fieldCode returns the statements that encode and decode one entity field.
func fieldCode(n *gen.Type, f *gen.Field, x string, pointer bool) (enc, dec string, err error) {
	typ := f.Type.String()
	if f.HasValueScanner() || (f.HasGoType() && f.Type.RType != nil && f.Type.RType.Kind.String() == "struct" && f.Type.Type != field.TypeJSON && f.Type.Type != field.TypeTime && f.Type.Type != field.TypeUUID) {
		return "", "", fmt.Errorf("cachemodel: schema %s: field %q: custom Go types with a ValueScanner cannot be cached", n.Name, f.Name)
	}
	var put, get string // put uses "x"; get is an expression of type typ
	switch tt := f.Type.Type; {
	case tt == field.TypeJSON:
		return fmt.Sprintf("e.JSON(%s)", x), fmt.Sprintf("d.JSON(&%s)", x), nil
	case tt == field.TypeBool:
		put, get = "e.Bool("+conv("bool", typ, "x")+")", conv(typ, "bool", "d.Bool()")
	case isSigned(tt):
		put, get = "e.Int("+conv("int64", typ, "x")+")", conv(typ, "int64", "d.Int()")
	case isUnsigned(tt):
		put, get = "e.Uint("+conv("uint64", typ, "x")+")", conv(typ, "uint64", "d.Uint()")
	case tt == field.TypeFloat32 || tt == field.TypeFloat64:
		put, get = "e.Float("+conv("float64", typ, "x")+")", conv(typ, "float64", "d.Float()")
	case tt == field.TypeString || tt == field.TypeEnum:
		put, get = "e.String("+conv("string", typ, "x")+")", conv(typ, "string", "d.String()")
	case tt == field.TypeBytes:
		put, get = "e.RawBytes("+conv("[]byte", typ, "x")+")", conv(typ, "[]byte", "d.RawBytes()")
	case tt == field.TypeTime:
		if f.HasGoType() {
			return "", "", fmt.Errorf("cachemodel: schema %s: field %q: time fields with a custom Go type cannot be cached", n.Name, f.Name)
		}
		put, get = "e.Time(x)", "d.Time()"
	case tt == field.TypeUUID:
		return encodeUUID(x, typ, pointer)
	default:
		return "", "", fmt.Errorf("cachemodel: schema %s: field %q has type %s, which the cache cannot encode", n.Name, f.Name, f.Type)
	}
	if !pointer {
		return strings.Replace(put, "x", x, 1), fmt.Sprintf("%s = %s", x, get), nil
	}
	enc = fmt.Sprintf("e.Bool(%[1]s != nil)\n\tif %[1]s != nil {\n\t\t%[2]s\n\t}", x, strings.Replace(put, "x", "*"+x, 1))
	dec = fmt.Sprintf("if d.Bool() {\n\t\tx := %s\n\t\t%s = &x\n\t}", get, x)
	return enc, dec, nil
}

// conv converts expr, of type from, to type to, when they differ.
func conv(to, from, expr string) string {
	if to == from {
		return expr
	}
	return to + "(" + expr + ")"
}

func encodeUUID(x, typ string, pointer bool) (string, string, error) {
	if !pointer {
		return fmt.Sprintf("e.Binary(%s)", x), fmt.Sprintf("d.Binary(&%s)", x), nil
	}
	enc := fmt.Sprintf("e.Bool(%[1]s != nil)\n\tif %[1]s != nil {\n\t\te.Binary(*%[1]s)\n\t}", x)
	dec := fmt.Sprintf("if d.Bool() {\n\t\tx := new(%s)\n\t\td.Binary(x)\n\t\t%s = x\n\t}", typ, x)
	return enc, dec, nil
}

// index validates one PublishBy and returns its lookup.
func index(n *gen.Type, names []string) (*Index, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("cachemodel: schema %s: PublishBy() needs at least one field", n.Name)
	}
	idx := &Index{Name: strings.Join(names, ",")}
	var params, keyArgs, where, method []string
	var entityChecks, entityArgs, mutChecks, mutArgs []string
	unique := false
	used := map[string]bool{}
	fields := make([]*gen.Field, 0, len(names))
	for _, name := range names {
		f, err := publishedField(n, names, name)
		if err != nil {
			return nil, err
		}
		if used[name] {
			return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): field %q appears twice", n.Name, quote(names), name)
		}
		used[name] = true
		fields = append(fields, f)
		unique = unique || f.Unique
		param := paramName(n, f)
		params = append(params, param+" "+f.Type.String())
		keyArgs = append(keyArgs, keyText(f, param))
		where = append(where, fmt.Sprintf("%s.%sEQ(%s)", n.Package(), f.StructField(), param))
		method = append(method, f.StructField())
		x := "v." + f.StructField()
		if f.NillableValue() {
			entityChecks = append(entityChecks, x+" == nil")
			x = "*" + x
		}
		entityArgs = append(entityArgs, keyText(f, x))
		mv := fmt.Sprintf("v%d", len(mutArgs))
		mutChecks = append(mutChecks, fmt.Sprintf("if %s, ok := m.%s(); ok {", mv, f.MutationGet()))
		mutArgs = append(mutArgs, keyText(f, mv))
	}
	idx.fields = fields
	idx.Unique = unique || uniqueIndex(n, fields)
	prefix := "ListBy"
	if idx.Unique {
		prefix = "GetBy"
	}
	idx.Method = prefix + strings.Join(method, "")
	idx.Var = lowerCamel(n.Name) + "CacheBy" + strings.Join(method, "")
	idx.Params = strings.Join(params, ", ")
	idx.Key = "entcachemodel.IndexKey(" + strings.Join(keyArgs, ", ") + ")"
	idx.Where = strings.Join(where, ", ")
	if len(entityChecks) > 0 {
		idx.EntityKey = append(idx.EntityKey, fmt.Sprintf("if %s {\n\t\treturn \"\", false\n\t}", strings.Join(entityChecks, " || ")))
	}
	idx.EntityKey = append(idx.EntityKey, "return entcachemodel.IndexKey("+strings.Join(entityArgs, ", ")+"), true")
	if !idx.Unique {
		// Nested ifs keep each lookup's variables in their own scope.
		idx.Mutation = append(mutChecks, fmt.Sprintf("w.Lists = append(w.Lists, entcachemodel.ListEntry{Index: %q, Key: entcachemodel.IndexKey(%s)})",
			idx.Name, strings.Join(mutArgs, ", ")))
		for range mutChecks {
			idx.Mutation = append(idx.Mutation, "}")
		}
	}
	return idx, nil
}

// conflicts returns the statements that gather, in ps, one predicate for
// each unique constraint whose values the mutation m sets: the id when the
// schema lets creates set it, unique fields, unique indexes of fields.
func conflicts(n *gen.Type) []string {
	var out []string
	pkg := n.Package()
	if n.ID.UserDefined {
		out = append(out, fmt.Sprintf("if v, ok := m.ID(); ok {\n\t\t\t\tps = append(ps, %s.ID(v))\n\t\t\t}", pkg))
	}
	comparable := func(f *gen.Field) bool { return f.Type.Type != field.TypeJSON && f.Type.Type != field.TypeOther }
	for _, f := range n.Fields {
		if f.Unique && comparable(f) {
			out = append(out, fmt.Sprintf("if v, ok := m.%s(); ok {\n\t\t\t\tps = append(ps, %s.%sEQ(v))\n\t\t\t}", f.MutationGet(), pkg, f.StructField()))
		}
	}
	byColumn := map[string]*gen.Field{}
	for _, f := range n.Fields {
		byColumn[f.StorageKey()] = f
	}
next:
	for _, idx := range n.Indexes {
		if !idx.Unique {
			continue
		}
		var checks, preds []string
		for i, col := range idx.Columns {
			f, ok := byColumn[col]
			if !ok || !comparable(f) {
				continue next // an edge column: the index is not the mutation's to check
			}
			checks = append(checks, fmt.Sprintf("if v%d, ok := m.%s(); ok {", i, f.MutationGet()))
			preds = append(preds, fmt.Sprintf("%s.%sEQ(v%d)", pkg, f.StructField(), i))
		}
		stmt := strings.Join(checks, " ") + fmt.Sprintf("\n\t\t\t\tps = append(ps, %s.And(%s))\n\t\t\t", pkg, strings.Join(preds, ", ")) + strings.Repeat("}", len(checks))
		out = append(out, stmt)
	}
	return out
}

// publishedField finds a field that may be part of a published lookup.
func publishedField(n *gen.Type, names []string, name string) (*gen.Field, error) {
	if name == n.ID.Name {
		return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): %q is the id, which is always published", n.Name, quote(names), name)
	}
	for _, f := range n.Fields {
		if f.Name != name {
			continue
		}
		switch tt := f.Type.Type; {
		case tt == field.TypeString, tt == field.TypeEnum, tt == field.TypeBool, tt == field.TypeUUID, isSigned(tt), isUnsigned(tt):
			if f.HasValueScanner() {
				break
			}
			if f.Optional && !f.Nillable {
				return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): field %q is Optional but not Nillable; the entity cannot tell NULL from its zero value, so make it Nillable too", n.Name, quote(names), name)
			}
			return f, nil
		}
		return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): field %q has type %s; published fields must be strings, enums, booleans, integers or UUIDs", n.Name, quote(names), name, f.Type)
	}
	for _, e := range n.Edges {
		if e.Name == name {
			return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): %q is an edge; publish its edge field (field.X(...) with edge.Field) instead", n.Name, quote(names), name)
		}
	}
	return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): unknown field %q", n.Name, quote(names), name)
}

// uniqueIndex reports whether the schema has a unique index on exactly fields.
func uniqueIndex(n *gen.Type, fields []*gen.Field) bool {
	for _, ix := range n.Indexes {
		if !ix.Unique || len(ix.Columns) != len(fields) || partial(ix) {
			continue
		}
		match := true
		for _, f := range fields {
			found := false
			for _, c := range ix.Columns {
				found = found || c == f.StorageKey()
			}
			match = match && found
		}
		if match {
			return true
		}
	}
	return false
}

// partial reports a unique index with a WHERE clause (entsql.IndexWhere):
// rows outside it may share values, so it does not make a lookup unique.
func partial(ix *gen.Index) bool {
	raw, ok := ix.Annotations[(&entsql.IndexAnnotation{}).Name()]
	if !ok {
		return false
	}
	var a entsql.IndexAnnotation
	b, err := json.Marshal(raw)
	if err != nil || json.Unmarshal(b, &a) != nil {
		return true
	}
	return a.Where != ""
}

// keyText returns the expression that turns x, a value of f, into key text.
func keyText(f *gen.Field, x string) string {
	switch tt := f.Type.Type; {
	case tt == field.TypeBool:
		return "strconv.FormatBool(bool(" + x + "))"
	case isSigned(tt):
		return "strconv.FormatInt(int64(" + x + "), 10)"
	case isUnsigned(tt):
		return "strconv.FormatUint(uint64(" + x + "), 10)"
	case tt == field.TypeUUID:
		return x + ".String()"
	default:
		return conv("string", f.Type.String(), x)
	}
}

func lowerCamel(s string) string {
	if s == "" {
		return s
	}
	i := 1
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' && (i+1 == len(s) || s[i+1] >= 'A' && s[i+1] <= 'Z') {
		i++
	}
	out := strings.ToLower(s[:i]) + s[i:]
	switch out {
	case "ctx", "type", "func", "var", "range", "map", "chan", "go", "select", "case", "default", "interface", "package", "import", "return", "break", "continue", "for", "if", "else", "switch", "struct", "const", "defer", "goto", "fallthrough":
		return out + "Value"
	}
	return out
}

// paramName returns the helper parameter of f, clear of the names the
// generated helper uses (Go's predeclared identifiers, the type's package).
func paramName(n *gen.Type, f *gen.Field) string {
	p := lowerCamel(f.StructField())
	switch p {
	case n.Package(), "entcachemodel", "predicate", "c", "v", "strconv", "any", "bool", "byte", "error", "string", "rune",
		"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr",
		"float32", "float64", "complex64", "complex128", "true", "false", "nil", "iota", "len", "cap", "new", "make",
		"append", "copy", "delete", "panic", "recover", "print", "println", "min", "max", "clear", "close",
		"real", "imag", "complex", "comparable":
		return p + "Value"
	}
	return p
}

func quote(names []string) string {
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
