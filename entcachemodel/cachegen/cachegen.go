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
	"errors"
	"fmt"
	"reflect"
	"sort"
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
	t := gen.NewTemplate("cachemodel").Funcs(template.FuncMap{"cacheType": cacheType, "cacheImports": imports, "cacheLinks": links, "cacheLinkOwner": linkOwner})
	return []*gen.Template{gen.MustParse(t.ParseFS(templates.FS, "*.tmpl"))}
}

// Hooks returns a generation hook that validates every annotation first,
// and reports every invalid one, each naming its schema and field.
func (*Extension) Hooks() []gen.Hook {
	return []gen.Hook{func(next gen.Generator) gen.Generator {
		return gen.GenerateFunc(func(g *gen.Graph) error {
			var errs []error
			for _, n := range g.Nodes {
				if _, err := build(n); err != nil {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return err
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
	Hash string
	// Shapes are the Go types of the JSON fields, whose shape the runtime
	// adds to Hash (entcachemodel.ShapedHash).
	Shapes    []string
	IDType    string
	FormatID  string // expression of id
	ParseID   string // statements from s to (id, err)
	CompareID string // expression of a and b
	IDKind    string // entcachemodel.IntID, StringID or UUIDID
	// Collations is the Schema.Collations literal, empty when the type has
	// no string id and no string field in an index.
	Collations string
	// TableCollation is the Schema.TableCollation (with Collations only).
	TableCollation string
	Encode         []string
	Decode         []string
	// Clone are statements that make c, a shallow copy of the entity v,
	// share nothing a caller could change with v (Schema.Clone).
	Clone   []string
	Indexes []*Index
	// Conflicts are statements that collect, in ps, a predicate per unique
	// field or index whose values a create sets (upserts enabled only).
	Conflicts []string
	// Apply are statements that apply the mutation m to the fields of v
	// that lists are keyed by.
	Apply []string
	// Moves are the foreign keys this type's own writes set, by the edges
	// that hold them: a write moving rows to a watched owner holds them.
	Moves []*Move
	// KeyColumns are the column constants that Warm's pages read: the id
	// and the fields of the non-unique indexes.
	KeyColumns string
}

// Move is a foreign key of an annotated type that its own mutations set.
type Move struct {
	Column string // the foreign-key column
	Getter string // the mutation getter of the owner ids it is set to ("OwnerIDs")
}

// Index is one PublishBy lookup.
type Index struct {
	Name   string // "first_name,last_name"
	Def    string // digest of the lookup's fields and their keys (Index.Def)
	Var    string // Go name of the index variable
	Method string // "GetByFirstNameLastName" or "ListByAge"
	Unique bool
	Params string // "firstName string, lastName string"
	Key    string // IndexKey(...) of the params
	Where  string // predicates on the params
	// Prelude are statements of the helper that compute the key text of
	// params with their own driver.Valuer, before Key.
	Prelude []string
	// Direct is the condition on the params under which the helper reads
	// the database: a value no entry holds (the zero value of an Optional
	// field that is not Nillable, which the entity also holds for NULL; a
	// Valuer's NULL). Empty when every value is cached.
	Direct    string
	EntityKey []string
	Mutation  []string // statements appending a ListEntry when the mutation sets every field
	// Match is the predicate that a row holds the values of the entity v
	// (whose Key is defined): Warm reads a list's members with it.
	Match string
	// Columns are the column constants of the id and the fields.
	Columns string
	fields  []*gen.Field
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
	var errs []error // every invalid field and lookup, reported together
	hash := sha256.New()
	// v2: times keep their location; fields with a ValueScanner are cached;
	// index keys are normalized per dialect (collations), in the runtime.
	// v3: JSON fields in the codec's native form (Encoder.JSONField).
	fmt.Fprintf(hash, "entcachemodel/v3 %s id:%s\n", n.Name, n.ID.Type)
	for _, f := range n.Fields {
		enc, dec, err := fieldCode(n, f, "v."+f.StructField(), f.NillableValue())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Encode, t.Decode = append(t.Encode, enc), append(t.Decode, dec)
		fmt.Fprintf(hash, "%s %s %v %v\n%s\n%s\n", f.Name, f.Type, f.Nillable, f.Type.Type, enc, dec)
		if cl := cloneCode(f, "c."+f.StructField(), f.NillableValue()); cl != "" {
			t.Clone = append(t.Clone, cl)
		}
		if f.Type.Type == field.TypeJSON {
			t.Shapes = append(t.Shapes, f.Type.String())
		}
	}
	for _, fk := range n.UnexportedForeignKeys() {
		enc, dec, err := fieldCode(n, fk.Field, "v."+fk.StructField(), fk.Field.Nillable)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cl := cloneCode(fk.Field, "c."+fk.StructField(), fk.Field.Nillable); cl != "" {
			t.Clone = append(t.Clone, cl)
		}
		t.Encode, t.Decode = append(t.Encode, enc), append(t.Decode, dec)
		fmt.Fprintf(hash, "fk %s %s %v\n%s\n%s\n", fk.StructField(), fk.Field.Type, fk.Field.Nillable, enc, dec)
	}
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
			errs = append(errs, err)
			continue
		}
		if seen[idx.Method] {
			errs = append(errs, fmt.Errorf("cachemodel: schema %s: PublishBy(%s) is declared twice", n.Name, quote(fields)))
			continue
		}
		seen[idx.Method] = true
		t.Indexes = append(t.Indexes, idx)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.Apply = apply(t.Indexes)
	t.KeyColumns = keyColumns(n, t.Indexes)
	var colls []string
	t.Collations, colls = collations(n, t.Indexes)
	if t.Collations != "" {
		t.TableCollation = tableCollation(n)
		fmt.Fprintf(hash, "table collation %q\n", t.TableCollation)
	}
	for _, c := range colls {
		fmt.Fprintf(hash, "collation %s\n", c)
	}
	t.Hash = hex.EncodeToString(hash.Sum(nil))[:12]
	for _, idx := range t.Indexes {
		idx.Def = indexDef(n, t, idx)
	}
	return t, nil
}

// indexDef returns the digest of what decides a lookup's entries: the id's
// type and key text, the lookup's fields, how their keys are built, and the
// collations they compare under. Versions with equal digests share lists.
func indexDef(n *gen.Type, t *Type, idx *Index) string {
	h := sha256.New()
	fmt.Fprintf(h, "entcachemodel/lookup/v1 %s id:%s %s %s\n", n.Name, n.ID.Type, t.FormatID, t.IDKind)
	fmt.Fprintf(h, "%s unique:%v key:%s\n", idx.Name, idx.Unique, idx.Key)
	for _, line := range idx.EntityKey {
		fmt.Fprintln(h, line)
	}
	for _, f := range idx.fields {
		coll := ""
		if a := f.EntSQL(); a != nil {
			coll = a.Collation
		}
		fmt.Fprintf(h, "%s %s %v %v %v %q\n", f.Name, f.Type, f.Type.Type, f.Optional, f.Nillable, coll)
	}
	fmt.Fprintf(h, "table collation %q\n", tableCollation(n))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// collations returns the Schema.Collations literal of n: an entry for the
// string id and for each string or enum field of an index, with the
// collation its entsql annotation declares ("" for none). It also returns
// the entries and the type's own collation, for the schema hash (a new
// collation changes the keys).
func collations(n *gen.Type, indexes []*Index) (string, []string) {
	text := func(f *gen.Field) bool { return f.Type.Type == field.TypeString || f.Type.Type == field.TypeEnum }
	var entries []string
	seen := map[string]bool{}
	add := func(name string, f *gen.Field) {
		if seen[name] || !text(f) {
			return
		}
		seen[name] = true
		coll := ""
		if a := f.EntSQL(); a != nil {
			coll = a.Collation
		}
		entries = append(entries, fmt.Sprintf("%q: %q", name, coll))
	}
	if n.ID != nil {
		add("id", n.ID)
	}
	for _, idx := range indexes {
		for _, f := range idx.fields {
			add(f.Name, f)
		}
	}
	if len(entries) == 0 {
		return "", nil
	}
	sort.Strings(entries)
	return "map[string]string{" + strings.Join(entries, ", ") + "}", entries
}

// tableCollation returns the collation the type's entsql annotation
// declares for its table ("" for none).
func tableCollation(n *gen.Type) string {
	if a := n.EntSQL(); a != nil {
		return a.Collation
	}
	return ""
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
		delta := "x"
		if isUnsigned(f.Type.Type) {
			delta = f.Type.String() + "(x)" // AddedX of an unsigned field is signed
		}
		switch {
		case !f.ConvertedToBasic(): // a GoType with an Add method
			if f.NillableValue() {
				out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\tif %s == nil {\n\t\t\t%s = new(%s)\n\t\t}\n\t\t*%s = %s.Add(x)\n\t}", f.MutationAdded(), x, x, f.Type, x, x))
			} else {
				out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\t%s = %s.Add(x)\n\t}", f.MutationAdded(), x, x))
			}
		case f.NillableValue():
			out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\tif %s == nil {\n\t\t\t%s = new(%s)\n\t\t}\n\t\t*%s += %s\n\t}", f.MutationAdded(), x, x, f.Type, x, delta))
		default:
			out = append(out, fmt.Sprintf("if x, ok := m.%s(); ok {\n\t\t%s += %s\n\t}", f.MutationAdded(), x, delta))
		}
	}
	switch {
	case f.Optional && f.NillableValue():
		out = append(out, fmt.Sprintf("if m.%s() {\n\t\t%s = nil\n\t}", f.MutationCleared(), x))
	case f.Optional:
		// NULL reads as the zero value, which no entry holds.
		out = append(out, fmt.Sprintf("if m.%s() {\n\t\t%s = %s\n\t}", f.MutationCleared(), x, zeroValue(f)))
	}
	return out
}

func idCode(n *gen.Type, t *Type) error {
	if n.HasCompositeID() || !n.HasOneFieldID() {
		return fmt.Errorf("cachemodel: schema %s: composite ids are not supported", n.Name)
	}
	id := n.ID
	t.IDType = id.Type.String()
	t.IDKind = "entcachemodel.IntID"
	switch {
	case id.Type.Type == field.TypeString:
		t.FormatID, t.ParseID, t.CompareID = "string(id)", "id, err := "+t.IDType+"(s), error(nil)", "strings.Compare(string(a), string(b))"
		t.IDKind = "entcachemodel.StringID"
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
		t.IDKind = "entcachemodel.UUIDID"
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
// nillable tells that x is a pointer to the field's type (a Nillable field).
// Every ent field type is encoded: basic kinds directly, JSON through
// encoding/json as ent stores it, UUIDs through MarshalBinary, and field.Other
// and GoTypes with a ValueScanner through their driver.Valuer and sql.Scanner,
// as the database stores and returns them.
func fieldCode(n *gen.Type, f *gen.Field, x string, nillable bool) (enc, dec string, err error) {
	typ := f.Type.String()
	// put appends the value of expression v; get returns statements that
	// assign the decoded value to target.
	var put func(v string) string
	var get func(target string) string
	ptr := f.Type.RType.IsPtr() // a pointer GoType, nil for NULL
	switch tt := f.Type.Type; {
	case tt == field.TypeJSON:
		return fmt.Sprintf("e.JSONField(&%s)", x), fmt.Sprintf("d.JSON(&%s)", x), nil
	case binaryUUID(f):
		put = func(v string) string { return fmt.Sprintf("e.Binary(%s)", v) }
		get = func(target string) string { return fmt.Sprintf("d.Binary(&%s)", target) }
	case f.HasValueScanner():
		vs := fmt.Sprintf("%s.ValueScanner.%s", n.Package(), f.StructField())
		put = func(v string) string { return fmt.Sprintf("e.Value(%s.Value(%s))", vs, v) }
		get = func(target string) string {
			return fmt.Sprintf("if x, err := %[1]s.FromValue(entcachemodel.Scanned(d, %[1]s.ScanValue())); err != nil {\n\t\td.Fail()\n\t} else {\n\t\t%[2]s = x\n\t}", vs, target)
		}
	case f.Type.ValueScanner():
		put = func(v string) string { return fmt.Sprintf("e.Value(%s.Value())", v) }
		get = func(target string) string { return fmt.Sprintf("d.Scan(&%s)", target) }
		if ptr {
			elem := strings.TrimPrefix(typ, "*")
			get = func(target string) string {
				return fmt.Sprintf("x := new(%s)\n\t\td.Scan(x)\n\t\t%s = x", elem, target)
			}
		}
	case f.HasGoType() && f.Type.RType.Kind == reflect.Array:
		return "", "", fmt.Errorf("cachemodel: schema %s: field %q: array GoType %s without a ValueScanner cannot be cached", n.Name, f.Name, typ)
	case tt == field.TypeBool:
		put, get = basic(typ, "bool", "Bool")
	case isSigned(tt):
		put, get = basic(typ, "int64", "Int")
	case isUnsigned(tt):
		put, get = basic(typ, "uint64", "Uint")
	case tt == field.TypeFloat32 || tt == field.TypeFloat64:
		put, get = basic(typ, "float64", "Float")
	case tt == field.TypeString || tt == field.TypeEnum:
		put, get = basic(typ, "string", "String")
	case tt == field.TypeBytes:
		put, get = basic(typ, "[]byte", "RawBytes")
	case tt == field.TypeTime:
		put, get = basic(typ, "time.Time", "Time")
	default:
		return "", "", fmt.Errorf("cachemodel: schema %s: field %q has type %s, which the cache cannot encode", n.Name, f.Name, f.Type)
	}
	switch {
	case nillable:
		enc = fmt.Sprintf("e.Bool(%[1]s != nil)\n\tif %[1]s != nil {\n\t\t%[2]s\n\t}", x, put("*"+x))
		if f.Type.ValueScanner() && !binaryUUID(f) && !f.HasValueScanner() {
			// The pointer has the Value method of either receiver.
			enc = fmt.Sprintf("e.Bool(%[1]s != nil)\n\tif %[1]s != nil {\n\t\t%[2]s\n\t}", x, put(x))
		}
		if g := get("x"); strings.HasPrefix(g, "x = ") {
			dec = fmt.Sprintf("if d.Bool() {\n\t\tx := %s\n\t\t%s = &x\n\t}", strings.TrimPrefix(g, "x = "), x)
		} else {
			dec = fmt.Sprintf("if d.Bool() {\n\t\tvar x %s\n\t\t%s\n\t\t%s = &x\n\t}", typ, g, x)
		}
	case ptr:
		enc = fmt.Sprintf("e.Bool(%[1]s != nil)\n\tif %[1]s != nil {\n\t\t%[2]s\n\t}", x, put(x))
		dec = fmt.Sprintf("if d.Bool() {\n\t\t%s\n\t}", get(x))
	default:
		enc, dec = put(x), get(x)
	}
	return enc, dec, nil
}

// cloneCode returns the statements that give x, a field of a shallow copy
// of an entity, a value of its own ("" when a copy of the field is one):
// a new pointer for a nillable scalar, a new backing array for bytes and
// slices of scalars, and entcachemodel.DeepCopy for the other types.
func cloneCode(f *gen.Field, x string, nillable bool) string {
	tt := f.Type.Type
	rt := f.Type.RType
	ptr := rt.IsPtr()
	scalar := false
	switch {
	case binaryUUID(f):
		scalar = true
	case tt == field.TypeJSON && !nillable:
		switch f.Type.String() {
		case "[]string", "[]int", "[]int64", "[]int32", "[]uint", "[]uint64", "[]float64", "[]bool":
			return fmt.Sprintf("%[1]s = append(%[1]s[:0:0], %[1]s...)", x)
		}
	case f.HasGoType() || f.HasValueScanner():
		scalar = rt != nil && basicKind(rt.Kind) && !ptr && !f.HasValueScanner()
	case tt == field.TypeBool, isSigned(tt), isUnsigned(tt), tt == field.TypeFloat32, tt == field.TypeFloat64,
		tt == field.TypeString, tt == field.TypeEnum, tt == field.TypeTime:
		scalar = true
	case tt == field.TypeBytes && !nillable:
		return fmt.Sprintf("%[1]s = append(%[1]s[:0:0], %[1]s...)", x)
	}
	switch {
	case scalar && nillable:
		return fmt.Sprintf("if %[1]s != nil {\n\t\t\tx := *%[1]s\n\t\t\t%[1]s = &x\n\t\t}", x)
	case scalar:
		return ""
	}
	return fmt.Sprintf("entcachemodel.DeepCopy(&%s)", x)
}

// basic returns the put and get of a field of Go type typ, encoded as the
// basic type base by the Encoder method of that name.
func basic(typ, base, method string) (put func(string) string, get func(string) string) {
	put = func(v string) string { return fmt.Sprintf("e.%s(%s)", method, conv(base, typ, v)) }
	get = func(target string) string { return fmt.Sprintf("%s = %s", target, conv(typ, base, "d."+method+"()")) }
	return put, get
}

// binaryUUID reports a UUID field encoded through MarshalBinary.
func binaryUUID(f *gen.Field) bool {
	if f.Type.Type != field.TypeUUID || f.HasValueScanner() || f.Type.RType == nil {
		return false
	}
	_, m := f.Type.RType.Methods["MarshalBinary"]
	_, u := f.Type.RType.Methods["UnmarshalBinary"]
	return m && u && !f.Type.RType.IsPtr()
}

// conv converts expr, of type from, to type to, when they differ.
func conv(to, from, expr string) string {
	if to == from {
		return expr
	}
	if strings.HasPrefix(to, "*") {
		to = "(" + to + ")"
	}
	return to + "(" + expr + ")"
}

// index validates one PublishBy and returns its lookup.
func index(n *gen.Type, names []string) (*Index, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("cachemodel: schema %s: PublishBy() needs at least one field", n.Name)
	}
	idx := &Index{Name: strings.Join(names, ",")}
	var params, keyArgs, where, method, direct []string
	var entityChecks, entityKeys, entityArgs, mutChecks, mutArgs, match []string
	columns := []string{n.Package() + "." + n.ID.Constant()}
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
		where = append(where, fmt.Sprintf("%s.%sEQ(%s)", n.Package(), f.StructField(), param))
		method = append(method, f.StructField())
		x := "v." + f.StructField()
		columns = append(columns, n.Package()+"."+f.Constant())
		if f.NillableValue() {
			match = append(match, fmt.Sprintf("%s.%sEQ(*%s)", n.Package(), f.StructField(), x))
		} else {
			match = append(match, fmt.Sprintf("%s.%sEQ(%s)", n.Package(), f.StructField(), x))
		}
		mv := fmt.Sprintf("v%d", len(mutArgs))
		if valueKeyed(f) {
			// The key is the text of the value the database stores.
			keyFunc := "entcachemodel.ValueKey"
			if f.Optional && !f.Nillable && !f.Type.RType.IsPtr() {
				keyFunc = "entcachemodel.OptionalValueKey"
			}
			addr := func(v string, pointer bool) string {
				if pointer {
					return v
				}
				return "&" + v
			}
			isPtr := f.Type.RType.IsPtr()
			idx.Prelude = append(idx.Prelude, fmt.Sprintf("%sKey, %sOK := %s(%s)", param, param, keyFunc, addr(param, isPtr)))
			direct = append(direct, "!"+param+"OK")
			keyArgs = append(keyArgs, param+"Key")
			k := fmt.Sprintf("k%d", len(entityArgs))
			entityKeys = append(entityKeys, fmt.Sprintf("%s, ok := %s(%s)\n\tif !ok {\n\t\treturn \"\", false\n\t}", k, keyFunc, addr(x, isPtr || f.NillableValue())))
			entityArgs = append(entityArgs, k)
			mk := fmt.Sprintf("k%d", len(mutArgs))
			mutChecks = append(mutChecks, fmt.Sprintf("if %s, ok := m.%s(); ok {", mv, f.MutationGet()),
				fmt.Sprintf("if %s, ok := %s(%s); ok {", mk, keyFunc, addr(mv, isPtr)))
			mutArgs = append(mutArgs, mk)
			continue
		}
		keyArgs = append(keyArgs, keyText(f, param))
		if f.NillableValue() {
			entityChecks = append(entityChecks, x+" == nil")
			x = "*" + x
		}
		check := ""
		if f.Optional && !f.Nillable {
			// The entity holds the zero value for NULL too: such rows are in
			// no entry, and a lookup by the zero value reads the database.
			entityChecks = append(entityChecks, isZero(f, x))
			direct = append(direct, isZero(f, param))
			check = " && " + notZero(f, mv)
		}
		entityArgs = append(entityArgs, keyText(f, x))
		mutChecks = append(mutChecks, fmt.Sprintf("if %s, ok := m.%s(); ok%s {", mv, f.MutationGet(), check))
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
	idx.Direct = strings.Join(direct, " || ")
	idx.Columns = strings.Join(columns, ", ")
	if len(match) == 1 {
		idx.Match = match[0]
	} else {
		idx.Match = n.Package() + ".And(" + strings.Join(match, ", ") + ")"
	}
	if len(entityChecks) > 0 {
		idx.EntityKey = append(idx.EntityKey, fmt.Sprintf("if %s {\n\t\treturn \"\", false\n\t}", strings.Join(entityChecks, " || ")))
	}
	idx.EntityKey = append(idx.EntityKey, entityKeys...)
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

// keyColumns returns the column constants of the id and of every field of
// the non-unique indexes, each once.
func keyColumns(n *gen.Type, indexes []*Index) string {
	cols := []string{n.Package() + "." + n.ID.Constant()}
	seen := map[string]bool{}
	for _, idx := range indexes {
		if idx.Unique {
			continue
		}
		for _, f := range idx.fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				cols = append(cols, n.Package()+"."+f.Constant())
			}
		}
	}
	return strings.Join(cols, ", ")
}

// basicKind reports a Go kind that converts to its basic type.
func basicKind(k reflect.Kind) bool {
	return k == reflect.String || k == reflect.Bool || k >= reflect.Int && k <= reflect.Uint64
}

// valueKeyed reports a published field keyed by the text of its
// driver.Valuer's value: a GoType with a ValueScanner (UUIDs aside).
func valueKeyed(f *gen.Field) bool {
	return f.Type.ValueScanner() && !binaryUUID(f) && !f.HasValueScanner()
}

// isZero returns the condition that x, a value of f, is the zero value.
func isZero(f *gen.Field, x string) string {
	switch tt := f.Type.Type; {
	case tt == field.TypeBool:
		return "!" + paren(x)
	case tt == field.TypeUUID:
		return paren(x) + " == (" + f.Type.String() + "{})"
	case tt == field.TypeString || tt == field.TypeEnum:
		return x + ` == ""`
	}
	return x + " == 0"
}

// notZero returns the condition that x, a value of f, is not the zero value.
func notZero(f *gen.Field, x string) string {
	switch tt := f.Type.Type; {
	case tt == field.TypeBool:
		return x
	case tt == field.TypeUUID:
		return x + " != (" + f.Type.String() + "{})"
	case tt == field.TypeString || tt == field.TypeEnum:
		return x + ` != ""`
	}
	return x + " != 0"
}

// zeroValue returns the zero value of f's Go type.
func zeroValue(f *gen.Field) string {
	if rt := f.Type.RType; rt != nil {
		switch {
		case rt.IsPtr(), rt.Kind == reflect.Slice, rt.Kind == reflect.Map, rt.Kind == reflect.Interface:
			return "nil"
		case rt.Kind == reflect.Struct, rt.Kind == reflect.Array:
			return f.Type.String() + "{}"
		case rt.Kind == reflect.String:
			return `""`
		case rt.Kind == reflect.Bool:
			return "false"
		}
		return "0"
	}
	switch tt := f.Type.Type; {
	case tt == field.TypeBool:
		return "false"
	case tt == field.TypeString || tt == field.TypeEnum:
		return `""`
	case tt == field.TypeBytes || tt == field.TypeJSON:
		return "nil"
	case tt == field.TypeTime:
		return "time.Time{}"
	}
	return "0"
}

// paren parenthesizes a dereference, so that a selector or operator
// applies to the value: (*v.X).String().
func paren(x string) string {
	if strings.HasPrefix(x, "*") {
		return "(" + x + ")"
	}
	return x
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
		case f.HasValueScanner():
			return nil, fmt.Errorf("cachemodel: schema %s: PublishBy(%s): field %q has an external ValueScanner; published fields must be strings, enums, booleans, integers or UUIDs, or GoTypes of them with their own Scan and Value methods", n.Name, quote(names), name)
		case tt == field.TypeString, tt == field.TypeEnum, tt == field.TypeBool, tt == field.TypeUUID, isSigned(tt), isUnsigned(tt):
			if f.HasGoType() && !valueKeyed(f) && !binaryUUID(f) && !basicKind(f.Type.RType.Kind) {
				break // a GoType the key text cannot convert
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
		return paren(x) + ".String()"
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
	if p == f.Type.PkgName {
		return p + "Value" // uuid uuid.UUID
	}
	switch p {
	case n.Package(), "entcachemodel", "predicate", "c", "v", "m", "w", "d", "e", "x", "ok", "err", "ctx", "strconv", "strings", "cmp",
		"context", "errors", "fmt", "time", "sql", "dialect", "driver", "any", "bool", "byte", "error", "string", "rune",
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
