package entcachemodel

import (
	"database/sql"
	"database/sql/driver"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// magic starts every value this package writes. A value without it, or
// whose checksum does not match, is foreign or corrupt and reads as a miss.
// (0xEC 0x01 values, checksummed with CRC-32 IEEE, were another format.)
var magic = [2]byte{0xEC, 0x02}

// checksums is the table of the values' checksum, CRC-32C (Castagnoli):
// one instruction per 8 bytes on amd64 and arm64, for values of any length.
var checksums = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt reports a cached value that could not be decoded. Readers treat
// it as a miss.
var ErrCorrupt = errors.New("entcachemodel: corrupt cached value")

// Encoder appends fields to a cached value. Generated code calls one method
// per field, in schema order; Decoder reads them back in the same order.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an Encoder with the value header written.
func NewEncoder() *Encoder {
	e := &Encoder{buf: make([]byte, 0, 128)}
	e.buf = append(e.buf, magic[:]...)
	return e
}

// Bytes finishes the value with its checksum and returns it.
func (e *Encoder) Bytes() []byte {
	sum := crc32.Checksum(e.buf, checksums)
	return binary.LittleEndian.AppendUint32(e.buf, sum)
}

// Int appends a signed integer.
func (e *Encoder) Int(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

// Uint appends an unsigned integer.
func (e *Encoder) Uint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

// Float appends a float.
func (e *Encoder) Float(v float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v))
}

// Bool appends a boolean. Generated code also uses it as the presence flag
// of optional (nillable) fields.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// String appends a string.
func (e *Encoder) String(v string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(v)))
	e.buf = append(e.buf, v...)
}

// RawBytes appends a byte slice, keeping nil and empty apart.
func (e *Encoder) RawBytes(v []byte) {
	e.Bool(v != nil)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(v)))
	e.buf = append(e.buf, v...)
}

// Time appends a time: its instant and its location, so that it decodes
// equal (reflect.DeepEqual) to the time the database driver returned: UTC
// stays time.UTC, Local stays time.Local, a fixed zone (sqlite's parsed
// offsets, pgx's) keeps its name and offset, and a zone from the zone
// database keeps its name.
func (e *Encoder) Time(v time.Time) {
	e.Int(v.Unix())
	e.Uint(uint64(v.Nanosecond()))
	loc := v.Location()
	name, offset := v.Zone()
	switch {
	case loc == time.UTC:
		e.buf = append(e.buf, zoneUTC)
	case loc == time.Local:
		e.buf = append(e.buf, zoneLocal)
	case loc.String() == name && reflect.DeepEqual(loc, time.FixedZone(name, offset)):
		e.buf = append(e.buf, zoneFixed)
		e.String(name)
		e.Int(int64(offset))
	default:
		e.buf = append(e.buf, zoneNamed)
		e.String(loc.String())
		e.String(name)
		e.Int(int64(offset))
	}
}

// The locations of an encoded time.
const (
	zoneUTC byte = iota
	zoneLocal
	zoneFixed
	zoneNamed
)

// zones caches the locations of the zone database that times decode in.
var zones sync.Map // name -> *time.Location

// zone returns the named location, or nil when the zone database has none.
func zone(name string) *time.Location {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = nil
	}
	zones.Store(name, l)
	return l
}

// Value appends a driver value, as a field's driver.Valuer (or external
// ValueScanner) returns it: the value the database stores. A value the
// database could not take either (an error, or a type that is no
// driver.Value) is stored as a marker that decodes as corrupt, so that such
// a row is always read from the database.
func (e *Encoder) Value(v driver.Value, err error) {
	if err == nil {
		v, err = driver.DefaultParameterConverter.ConvertValue(v)
	}
	if err != nil {
		e.buf = append(e.buf, valueBad)
		return
	}
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, valueNil)
	case int64:
		e.buf = append(e.buf, valueInt)
		e.Int(x)
	case float64:
		e.buf = append(e.buf, valueFloat)
		e.Float(x)
	case bool:
		e.buf = append(e.buf, valueBool)
		e.Bool(x)
	case []byte:
		e.buf = append(e.buf, valueBytes)
		e.RawBytes(x)
	case string:
		e.buf = append(e.buf, valueString)
		e.String(x)
	case time.Time:
		e.buf = append(e.buf, valueTime)
		e.Time(x)
	default:
		e.buf = append(e.buf, valueBad)
	}
}

// The kinds of an encoded driver value.
const (
	valueNil byte = iota
	valueInt
	valueFloat
	valueBool
	valueBytes
	valueString
	valueTime
	valueBad = 0xFF
)

// Binary appends a value through its MarshalBinary method (UUIDs and similar).
func (e *Encoder) Binary(v encoding.BinaryMarshaler) {
	b, err := v.MarshalBinary()
	if err != nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	e.String(string(b))
}

// The forms of an encoded JSON field.
const (
	// jsonFailed: encoding/json could not marshal the value (a NaN), so
	// ent could not have stored it: the value decodes as corrupt and such
	// a row is read from the database.
	jsonFailed byte = iota
	// jsonText: the JSON text, read back with encoding/json.
	jsonText
	// jsonNative: the value in this codec's own form (jsoncodec.go), for
	// the types whose trip through encoding/json it reproduces exactly.
	jsonNative
)

// JSON appends a JSON field as its JSON text, with encoding/json, as ent
// stores it. Generated code calls JSONField instead.
func (e *Encoder) JSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.buf = append(e.buf, jsonFailed)
		return
	}
	e.buf = append(e.buf, jsonText)
	e.String(string(b))
}

// JSONField appends a JSON field, p pointing to it. It decodes
// (Decoder.JSON) to what encoding/json reads back from what it writes of
// the field, as ent stores and reads JSON columns: in this codec's own form
// when the field's type and value allow it (jsoncodec.go), as the JSON text
// otherwise.
func (e *Encoder) JSONField(p any) {
	switch encodeJSON(e, p) {
	case nativeDone:
		return
	case nativeFailed:
		e.buf = append(e.buf, jsonFailed)
		return
	}
	rv := reflect.ValueOf(p)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		e.buf = append(e.buf, jsonFailed)
		return
	}
	// The field's value, as ent marshals it (an interface field: the value
	// it holds).
	e.JSON(rv.Elem().Interface())
}

// Decoder reads the fields of a cached value. It never panics: the first
// problem is kept in Err and every later read returns a zero value.
//
// It reads the value as a string: the strings it returns are substrings of
// that one string, so decoding an entity allocates for the entity, its
// pointers, slices and maps, never for each string. (A string field keeps
// the whole value alive, a few hundred bytes, as long as it lives.)
type Decoder struct {
	buf string
	err error
	// batch is how many entities the values decoded next hold (GetMany),
	// and slab the *[]E that Alloc takes them from.
	batch int
	slab  any
}

// Alloc returns a new zero E for a generated Decode to fill. When d decodes
// a batch (GetMany), the entities of the batch come from one allocation:
// a caller that keeps one of them keeps the batch's memory (a few hundred
// bytes an entity) alive with it.
func Alloc[E any](d *Decoder) *E {
	if d.batch > 1 {
		s, ok := d.slab.(*[]E)
		if !ok || len(*s) == 0 {
			slab := make([]E, d.batch)
			s = &slab
			d.slab = s
		}
		v := &(*s)[0]
		*s = (*s)[1:]
		return v
	}
	return new(E)
}

// NewDecoder checks the header and checksum of data and returns a Decoder
// positioned at the first field.
func NewDecoder(data []byte) *Decoder {
	d := &Decoder{}
	d.reset(string(data))
	return d
}

// reset checks the header and checksum of data and positions d at the
// first field.
func (d *Decoder) reset(data string) {
	*d = Decoder{batch: d.batch, slab: d.slab}
	if len(data) < len(magic)+4 || data[0] != magic[0] || data[1] != magic[1] {
		d.err = ErrCorrupt
		return
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	sum := uint32(tail[0]) | uint32(tail[1])<<8 | uint32(tail[2])<<16 | uint32(tail[3])<<24
	if crc32.Checksum(stringBytes(body), checksums) != sum {
		d.err = ErrCorrupt
		return
	}
	d.buf = body[len(magic):]
}

// stringBytes returns the bytes of s without copying them, for functions
// that only read them (a checksum).
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// decoders holds the Decoders of Schema.decode: a hit allocates none.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// Err returns the first decoding error, including unread trailing bytes.
func (d *Decoder) Err() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.buf))
	}
	return d.err
}

// Fail marks the value corrupt; generated code calls it when a decoded
// value is invalid (an id that does not parse).
func (d *Decoder) Fail() { d.fail() }

func (d *Decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.buf = ""
}

// Int reads a signed integer.
func (d *Decoder) Int() int64 {
	ux := d.Uint() // as binary.Varint: zig-zag
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// Uint reads an unsigned integer.
func (d *Decoder) Uint() uint64 {
	if d.err == nil && len(d.buf) > 0 && d.buf[0] < 0x80 {
		x := d.buf[0] // one byte: most lengths, small numbers
		d.buf = d.buf[1:]
		return uint64(x)
	}
	return d.uvarint()
}

// uvarint is binary.Uvarint, on the string.
func (d *Decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var s uint
	for i := 0; i < len(d.buf); i++ {
		if i == binary.MaxVarintLen64 {
			break // overflow
		}
		b := d.buf[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break // overflow
			}
			d.buf = d.buf[i+1:]
			return x | uint64(b)<<s
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	d.fail()
	return 0
}

// Float reads a float.
func (d *Decoder) Float() float64 {
	if d.err != nil || len(d.buf) < 8 {
		d.fail()
		return 0
	}
	b := d.buf
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	d.buf = d.buf[8:]
	return math.Float64frombits(v)
}

// Bool reads a boolean.
func (d *Decoder) Bool() bool {
	if d.err != nil || len(d.buf) < 1 || d.buf[0] > 1 {
		d.fail()
		return false
	}
	v := d.buf[0] == 1
	d.buf = d.buf[1:]
	return v
}

// byte reads one byte.
func (d *Decoder) byte() byte {
	if d.err != nil || len(d.buf) < 1 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *Decoder) next() string {
	n := d.Uint()
	if d.err != nil || n > uint64(len(d.buf)) {
		d.fail()
		return ""
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

// String reads a string: a substring of the value, not a copy.
func (d *Decoder) String() string { return d.next() }

// RawBytes reads a byte slice written by Encoder.RawBytes.
func (d *Decoder) RawBytes() []byte {
	notNil := d.Bool()
	b := d.next()
	if d.err != nil || !notNil {
		return nil
	}
	if b == "" {
		return []byte{}
	}
	return []byte(b)
}

// Time reads a time written by Encoder.Time.
func (d *Decoder) Time() time.Time {
	sec, nsec := d.Int(), d.Uint()
	if d.err != nil || len(d.buf) < 1 || nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	kind := d.buf[0]
	d.buf = d.buf[1:]
	t := time.Unix(sec, int64(nsec))
	switch kind {
	case zoneUTC:
		return t.UTC()
	case zoneLocal:
		return t.In(time.Local)
	case zoneFixed:
		name, offset := d.String(), d.Int()
		return t.In(fixedZone(name, int(offset)))
	case zoneNamed:
		loc, name, offset := d.String(), d.String(), d.Int()
		if l := zone(loc); l != nil {
			return t.In(l)
		}
		// No zone database here: the same instant and offset.
		return t.In(fixedZone(name, int(offset)))
	}
	d.fail()
	return time.Time{}
}

// fixedZones caches the fixed zones times decode in (a location is never
// changed once made, and DeepEqual compares locations by their contents),
// up to maxFixedZones of them.
var fixedZones sync.Map // fixedZoneKey -> *time.Location

type fixedZoneKey struct {
	name   string
	offset int
}

var fixedZoneCount atomic.Int32

const maxFixedZones = 256

// fixedZone returns time.FixedZone(name, offset), made once.
func fixedZone(name string, offset int) *time.Location {
	k := fixedZoneKey{name, offset}
	if l, ok := fixedZones.Load(k); ok {
		return l.(*time.Location)
	}
	k.name = strings.Clone(name) // not a substring of the value
	l := time.FixedZone(k.name, offset)
	if fixedZoneCount.Load() < maxFixedZones {
		if old, loaded := fixedZones.LoadOrStore(k, l); loaded {
			return old.(*time.Location)
		}
		fixedZoneCount.Add(1)
	}
	return l
}

// Value reads a driver value written by Encoder.Value.
func (d *Decoder) Value() driver.Value {
	if d.err != nil || len(d.buf) < 1 {
		d.fail()
		return nil
	}
	kind := d.buf[0]
	d.buf = d.buf[1:]
	switch kind {
	case valueNil:
		return nil
	case valueInt:
		return d.Int()
	case valueFloat:
		return d.Float()
	case valueBool:
		return d.Bool()
	case valueBytes:
		return d.RawBytes()
	case valueString:
		return d.String()
	case valueTime:
		return d.Time()
	}
	d.fail()
	return nil
}

// Scan reads a driver value written by Encoder.Value into dest through its
// Scan method, as database/sql does with a value the driver returns.
func (d *Decoder) Scan(dest sql.Scanner) {
	v := d.Value()
	if d.err != nil {
		return
	}
	if err := dest.Scan(v); err != nil {
		d.fail()
	}
}

// Binary reads a value through its UnmarshalBinary method.
func (d *Decoder) Binary(v encoding.BinaryUnmarshaler) {
	if !d.Bool() {
		d.fail()
		return
	}
	b := d.next()
	if d.err != nil {
		return
	}
	// A copy: UnmarshalBinary may keep what it is given.
	if err := v.UnmarshalBinary([]byte(b)); err != nil {
		d.fail()
	}
}

// JSON reads a JSON field into v, a pointer to the field, written by
// Encoder.JSON or Encoder.JSONField.
func (d *Decoder) JSON(v any) {
	switch d.byte() {
	case jsonText:
		b := d.next()
		if d.err != nil {
			return
		}
		if err := json.Unmarshal([]byte(b), v); err != nil {
			d.fail()
		}
	case jsonNative:
		decodeJSON(d, v)
	default:
		d.fail()
	}
}

// Scanned scans the next value into s (Decoder.Scan) and returns s: the
// decoding of a field with an external ValueScanner, whose FromValue reads s.
func Scanned[S sql.Scanner](d *Decoder, s S) S {
	d.Scan(s)
	return s
}
