package entcachemodel

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// JSON fields are cached in a form of this codec's own (jsonNative) when
// their Go type is one whose trip through encoding/json it reproduces
// exactly: ent stores json.Marshal(v) and returns json.Unmarshal of it into
// a zero value, and a cached entity must be DeepEqual to that. The form is
// binary, like the rest of the value, and decodes without parsing text:
// strings are substrings of the value.
//
// Supported: booleans, integers, floats, strings, pointers, slices
// (not of bytes, which JSON writes in base64), arrays, maps with string
// keys, structs with exported fields (JSON names from their tags, omitempty
// and omitzero applied as Marshal does), and interfaces that hold what
// Unmarshal makes of JSON (nil, bool, float64, string, []any,
// map[string]any). Anything else, in any part of the type, is stored as JSON
// text: a type with its own MarshalJSON, UnmarshalJSON, MarshalText or
// UnmarshalText (time.Time among them), an embedded struct, a ",string"
// option, a recursive type. Values are checked too: a string that is not
// valid UTF-8 (Marshal replaces its bytes) or an interface that holds
// another type (an int, which Unmarshal reads back as a float64) is stored as
// JSON text; a NaN or an infinity, which Marshal refuses, as a failure that
// reads as corrupt (ent could not have stored it).

// nativeResult is what encodeJSON did.
type nativeResult int

const (
	// nativeDone: the value is appended in the native form.
	nativeDone nativeResult = iota
	// nativeUnsupported: the type or the value needs the JSON text.
	nativeUnsupported
	// nativeFailed: json.Marshal would fail on the value.
	nativeFailed
)

// jsonCodec encodes and decodes one Go type in the native form; nil for a
// type that is not supported.
type jsonCodec struct {
	enc func(e *Encoder, v reflect.Value) nativeResult
	dec func(d *Decoder, v reflect.Value) // v is settable and zero
	// minSize is the fewest bytes a value takes: elements of slices and
	// maps must take at least one, so that a length is bounded by the
	// bytes left.
	minSize int
}

// jsonCodecs caches the codec of each type (nil: not supported).
var jsonCodecs sync.Map // reflect.Type -> *jsonCodec

// codecFor returns the codec of t, nil when t is not supported.
func codecFor(t reflect.Type) *jsonCodec {
	if c, ok := jsonCodecs.Load(t); ok {
		return c.(*jsonCodec)
	}
	c := buildCodec(t, map[reflect.Type]bool{})
	jsonCodecs.Store(t, c)
	return c
}

var (
	anyType  = reflect.TypeFor[any]()
	anySlice = reflect.TypeFor[[]any]()
	anyMap   = reflect.TypeFor[map[string]any]()
)

// buildCodec returns the codec of t, nil when t (or a part of it) is not
// supported. open holds the types being built, to refuse recursive ones.
func buildCodec(t reflect.Type, open map[reflect.Type]bool) *jsonCodec {
	if open[t] {
		return nil
	}
	if t.Kind() != reflect.Interface && ownEncoding(t) {
		return nil
	}
	open[t] = true
	defer delete(open, t)
	switch t.Kind() {
	case reflect.Bool:
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult { e.Bool(v.Bool()); return nativeDone },
			dec: func(d *Decoder, v reflect.Value) { v.SetBool(d.Bool()) },
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult { e.Int(v.Int()); return nativeDone },
			dec: func(d *Decoder, v reflect.Value) {
				x := d.Int()
				if v.OverflowInt(x) {
					d.fail()
					return
				}
				v.SetInt(x)
			},
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult { e.Uint(v.Uint()); return nativeDone },
			dec: func(d *Decoder, v reflect.Value) {
				x := d.Uint()
				if v.OverflowUint(x) {
					d.fail()
					return
				}
				v.SetUint(x)
			},
		}
	case reflect.Float32, reflect.Float64:
		return &jsonCodec{minSize: 8,
			enc: func(e *Encoder, v reflect.Value) nativeResult {
				f := v.Float()
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return nativeFailed
				}
				e.Float(f)
				return nativeDone
			},
			dec: func(d *Decoder, v reflect.Value) { v.SetFloat(d.Float()) },
		}
	case reflect.String:
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult { return encodeString(e, v.String()) },
			dec: func(d *Decoder, v reflect.Value) { v.SetString(d.String()) },
		}
	case reflect.Pointer:
		elem := buildCodec(t.Elem(), open)
		if elem == nil {
			return nil
		}
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult {
				if v.IsNil() {
					e.Bool(false)
					return nativeDone
				}
				e.Bool(true)
				return elem.enc(e, v.Elem())
			},
			dec: func(d *Decoder, v reflect.Value) {
				if d.Bool() {
					p := reflect.New(t.Elem())
					elem.dec(d, p.Elem())
					v.Set(p)
				}
			},
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // JSON writes bytes in base64
		}
		elem := buildCodec(t.Elem(), open)
		if elem == nil || elem.minSize == 0 {
			return nil
		}
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult {
				if v.IsNil() {
					e.Uint(0)
					return nativeDone
				}
				n := v.Len()
				e.Uint(uint64(n) + 1)
				for i := range n {
					if r := elem.enc(e, v.Index(i)); r != nativeDone {
						return r
					}
				}
				return nativeDone
			},
			dec: func(d *Decoder, v reflect.Value) {
				n, ok := d.count(elem.minSize)
				if !ok || n < 0 {
					return // nil, or corrupt
				}
				s := reflect.MakeSlice(t, n, n)
				for i := 0; i < n && d.err == nil; i++ {
					elem.dec(d, s.Index(i))
				}
				v.Set(s)
			},
		}
	case reflect.Array:
		elem := buildCodec(t.Elem(), open)
		if elem == nil {
			return nil
		}
		n := t.Len()
		return &jsonCodec{minSize: n * elem.minSize,
			enc: func(e *Encoder, v reflect.Value) nativeResult {
				for i := range n {
					if r := elem.enc(e, v.Index(i)); r != nativeDone {
						return r
					}
				}
				return nativeDone
			},
			dec: func(d *Decoder, v reflect.Value) {
				for i := 0; i < n && d.err == nil; i++ {
					elem.dec(d, v.Index(i))
				}
			},
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String || ownEncoding(t.Key()) {
			return nil // other keys go through their text
		}
		elem := buildCodec(t.Elem(), open)
		if elem == nil {
			return nil
		}
		return &jsonCodec{minSize: 1,
			enc: func(e *Encoder, v reflect.Value) nativeResult {
				if v.IsNil() {
					e.Uint(0)
					return nativeDone
				}
				e.Uint(uint64(v.Len()) + 1)
				it := v.MapRange()
				for it.Next() {
					if r := encodeString(e, it.Key().String()); r != nativeDone {
						return r
					}
					if r := elem.enc(e, it.Value()); r != nativeDone {
						return r
					}
				}
				return nativeDone
			},
			dec: func(d *Decoder, v reflect.Value) {
				n, ok := d.count(1 + elem.minSize) // a key takes a byte
				if !ok || n < 0 {
					return
				}
				m := reflect.MakeMapWithSize(t, n)
				for i := 0; i < n && d.err == nil; i++ {
					k := reflect.New(t.Key()).Elem()
					k.SetString(d.String())
					x := reflect.New(t.Elem()).Elem()
					elem.dec(d, x)
					m.SetMapIndex(k, x)
				}
				if m.Len() != n {
					d.fail() // a key twice: not written by this codec
				}
				v.Set(m)
			},
		}
	case reflect.Struct:
		return structCodec(t, open)
	case reflect.Interface:
		if t != anyType {
			return nil // Unmarshal cannot fill other interfaces
		}
		return &jsonCodec{minSize: 1, enc: encodeAny, dec: decodeAny}
	}
	return nil // channels, functions, complex numbers: Marshal fails on them
}

// encodeString appends a string, unless Marshal would change it.
func encodeString(e *Encoder, s string) nativeResult {
	if !utf8.ValidString(s) {
		return nativeUnsupported // Marshal replaces invalid bytes
	}
	e.String(s)
	return nativeDone
}

// count reads a length written as length+1 (0 for nil): -1 for nil, and
// false when the rest of the value is too short for n elements of at least
// min bytes.
func (d *Decoder) count(min int) (int, bool) {
	n := d.Uint()
	if d.err != nil {
		return 0, false
	}
	if n == 0 {
		return -1, true
	}
	n--
	if n > uint64(len(d.buf)/max(min, 1)) {
		d.fail()
		return 0, false
	}
	return int(n), true
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	index     int
	omitEmpty bool
	codec     *jsonCodec
}

// structCodec returns the codec of a struct: its exported fields, in
// order, the zero value for those Marshal omits.
func structCodec(t reflect.Type, open map[reflect.Type]bool) *jsonCodec {
	var fields []jsonField
	names := map[string]bool{}
	size := 0
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if f.Anonymous {
			return nil // embedded fields are promoted, under rules of their own
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		} else if !plainName(name) {
			return nil // Marshal may use the Go name instead
		}
		folded := strings.ToLower(name)
		if names[folded] {
			return nil // Unmarshal matches names regardless of case
		}
		names[folded] = true
		jf := jsonField{index: i}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				jf.omitEmpty = true
			case "omitzero":
				if _, ok := f.Type.MethodByName("IsZero"); ok {
					return nil // its own idea of zero
				}
				// A zero value omitted reads back as the zero value.
			case "string", "inline", "format", "case", "unknown":
				return nil
			}
		}
		if jf.codec = buildCodec(f.Type, open); jf.codec == nil {
			return nil
		}
		size += jf.codec.minSize
		fields = append(fields, jf)
	}
	return &jsonCodec{minSize: size,
		enc: func(e *Encoder, v reflect.Value) nativeResult {
			for _, f := range fields {
				x := v.Field(f.index)
				if f.omitEmpty && emptyValue(x) {
					x = reflect.Zero(x.Type()) // omitted: read back as zero
				}
				if r := f.codec.enc(e, x); r != nativeDone {
					return r
				}
			}
			return nativeDone
		},
		dec: func(d *Decoder, v reflect.Value) {
			for _, f := range fields {
				if d.err != nil {
					return
				}
				f.codec.dec(d, v.Field(f.index))
			}
		},
	}
}

// plainName reports a JSON name of ASCII letters, digits and "_-.", which
// encoding/json takes as it is and whose case folding is ASCII's.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// emptyValue reports the values omitempty omits.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// The kinds of a value held by an interface, as Unmarshal makes them.
const (
	anyNil byte = iota
	anyBool
	anyFloat
	anyString
	anyList
	anyObject
)

// encodeAny appends the value an interface holds, when it is one that
// Unmarshal makes.
func encodeAny(e *Encoder, v reflect.Value) nativeResult {
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			e.buf = append(e.buf, anyNil)
			return nativeDone
		}
		v = v.Elem()
	}
	switch v.Type() {
	case reflect.TypeFor[bool]():
		e.buf = append(e.buf, anyBool)
		e.Bool(v.Bool())
	case reflect.TypeFor[float64]():
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nativeFailed
		}
		e.buf = append(e.buf, anyFloat)
		e.Float(f)
	case reflect.TypeFor[string]():
		e.buf = append(e.buf, anyString)
		return encodeString(e, v.String())
	case anySlice:
		if v.IsNil() {
			return nativeUnsupported // Marshal writes null: the interface reads back nil
		}
		e.buf = append(e.buf, anyList)
		e.Uint(uint64(v.Len()))
		for i := range v.Len() {
			if r := encodeAny(e, v.Index(i)); r != nativeDone {
				return r
			}
		}
	case anyMap:
		if v.IsNil() {
			return nativeUnsupported
		}
		e.buf = append(e.buf, anyObject)
		e.Uint(uint64(v.Len()))
		it := v.MapRange()
		for it.Next() {
			if r := encodeString(e, it.Key().String()); r != nativeDone {
				return r
			}
			if r := encodeAny(e, it.Value()); r != nativeDone {
				return r
			}
		}
	default:
		return nativeUnsupported // an int, a struct...: Unmarshal makes other types of them
	}
	return nativeDone
}

// decodeAny reads what encodeAny wrote into v, an empty interface.
func decodeAny(d *Decoder, v reflect.Value) {
	if x := readAny(d, 0); x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

// maxAnyDepth bounds the nesting of interface values (encoding/json's own
// limit is 10,000).
const maxAnyDepth = 10000

func readAny(d *Decoder, depth int) any {
	if depth > maxAnyDepth {
		d.fail()
		return nil
	}
	switch d.byte() {
	case anyNil:
		return nil
	case anyBool:
		return d.Bool()
	case anyFloat:
		return d.Float()
	case anyString:
		return d.String()
	case anyList:
		n := d.Uint()
		if d.err != nil || n > uint64(len(d.buf)) {
			d.fail()
			return nil
		}
		out := make([]any, n)
		for i := range out {
			out[i] = readAny(d, depth+1)
		}
		return out
	case anyObject:
		n := d.Uint()
		if d.err != nil || n > uint64(len(d.buf)/2) {
			d.fail()
			return nil
		}
		out := make(map[string]any, n)
		for range n {
			k := d.String()
			out[k] = readAny(d, depth+1)
		}
		if uint64(len(out)) != n {
			d.fail()
		}
		return out
	}
	d.fail()
	return nil
}

// encodeJSON appends the value p points to, a JSON field, in the native
// form (with its marker) when its type and value allow it; otherwise it
// appends nothing and says why.
func encodeJSON(e *Encoder, p any) nativeResult {
	start := len(e.buf)
	e.buf = append(e.buf, jsonNative)
	r := nativeUnsupported
	switch x := p.(type) {
	case *[]string:
		r = encodeStrings(e, *x)
	default:
		rv := reflect.ValueOf(p)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			break
		}
		if c := codecFor(rv.Type().Elem()); c != nil {
			r = c.enc(e, rv.Elem())
		}
	}
	if r != nativeDone {
		e.buf = e.buf[:start]
	}
	return r
}

// decodeJSON reads the native form into p, a pointer to the field.
func decodeJSON(d *Decoder, p any) {
	switch x := p.(type) {
	case *[]string:
		*x = decodeStrings(d)
		return
	}
	rv := reflect.ValueOf(p)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		d.fail()
		return
	}
	c := codecFor(rv.Type().Elem())
	if c == nil {
		d.fail() // written by a codec that supported the type: not this one
		return
	}
	c.dec(d, rv.Elem())
}

// encodeStrings is the slice codec of []string (field.Strings, the most
// common JSON field), without reflection.
func encodeStrings(e *Encoder, s []string) nativeResult {
	if s == nil {
		e.Uint(0)
		return nativeDone
	}
	e.Uint(uint64(len(s)) + 1)
	for _, x := range s {
		if r := encodeString(e, x); r != nativeDone {
			return r
		}
	}
	return nativeDone
}

// decodeStrings reads what encodeStrings wrote: one allocation, for the
// slice.
func decodeStrings(d *Decoder) []string {
	n, ok := d.count(1)
	if !ok || n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String()
	}
	return out
}
