package entcachemodel

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// ShapedHash returns the schema hash of a type with JSON fields: hash, the
// generated digest of the fields and their encodings, combined with the
// shape of the JSON fields' Go types (their struct members, JSON names and
// member types, all the way down). A version that adds a member to a JSON
// field's struct then caches under its own keys: its values would lose the
// member when written by a version that does not know it.
func ShapedHash(hash string, types ...reflect.Type) string {
	var b strings.Builder
	b.WriteString(hash)
	for _, t := range types {
		b.WriteString("\n")
		writeShape(&b, t, map[reflect.Type]bool{})
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:6])
}

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// ownEncoding reports a type that encoding/json encodes by its own methods.
func ownEncoding(t reflect.Type) bool {
	for _, m := range []reflect.Type{jsonMarshaler, jsonUnmarshaler, textMarshaler, textUnmarshaler} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// writeShape describes t as encoding/json sees it.
func writeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if t.Name() != "" {
		if seen[t] {
			b.WriteString("@" + t.PkgPath() + "." + t.Name())
			return
		}
		seen[t] = true
	}
	if ownEncoding(t) {
		// Its methods decide; a change to them is the type's own affair.
		b.WriteString("own " + t.PkgPath() + "." + t.Name())
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		writeShape(b, t.Elem(), seen)
	case reflect.Slice:
		b.WriteString("[]")
		writeShape(b, t.Elem(), seen)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		writeShape(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		writeShape(b, t.Key(), seen)
		b.WriteString("]")
		writeShape(b, t.Elem(), seen)
	case reflect.Struct:
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			b.WriteString(f.Name)
			if f.Anonymous {
				b.WriteString(" embedded")
			}
			if tag, ok := f.Tag.Lookup("json"); ok {
				b.WriteString(" " + strconv.Quote(tag))
			}
			b.WriteString(" ")
			writeShape(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
	default:
		b.WriteString(t.Kind().String())
	}
}
