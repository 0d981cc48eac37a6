package entcachemodel

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// magic starts every value this package writes. A value without it, or
// whose checksum does not match, is foreign or corrupt and reads as a miss.
var magic = [2]byte{0xEC, 0x01}

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
	sum := crc32.ChecksumIEEE(e.buf)
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

// Time appends a time with its instant and zone offset (time.MarshalBinary).
func (e *Encoder) Time(v time.Time) {
	b, err := v.MarshalBinary()
	if err != nil {
		// Only zone offsets that are not whole minutes between -119s and
		// -60s fail (some pre-1900 local mean times). Store a marker that
		// decodes as corrupt: such a row is always read from the database.
		e.String("")
		return
	}
	e.String(string(b))
}

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

// JSON appends a JSON field with encoding/json, as ent stores it.
func (e *Encoder) JSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	e.String(string(b))
}

// Decoder reads the fields of a cached value. It never panics: the first
// problem is kept in Err and every later read returns a zero value.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder checks the header and checksum of data and returns a Decoder
// positioned at the first field.
func NewDecoder(data []byte) *Decoder {
	if len(data) < len(magic)+4 || data[0] != magic[0] || data[1] != magic[1] {
		return &Decoder{err: ErrCorrupt}
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return &Decoder{err: ErrCorrupt}
	}
	return &Decoder{buf: body[len(magic):]}
}

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
	d.buf = nil
}

// Int reads a signed integer.
func (d *Decoder) Int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Uint reads an unsigned integer.
func (d *Decoder) Uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// Float reads a float.
func (d *Decoder) Float() float64 {
	if d.err != nil || len(d.buf) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
	d.buf = d.buf[8:]
	return v
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

func (d *Decoder) next() []byte {
	n := d.Uint()
	if d.err != nil || n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// String reads a string.
func (d *Decoder) String() string { return string(d.next()) }

// RawBytes reads a byte slice written by Encoder.RawBytes.
func (d *Decoder) RawBytes() []byte {
	notNil := d.Bool()
	b := d.next()
	if d.err != nil || !notNil {
		return nil
	}
	return append([]byte{}, b...)
}

// Time reads a time written by Encoder.Time.
func (d *Decoder) Time() time.Time {
	var t time.Time
	b := d.next()
	if d.err != nil {
		return t
	}
	if err := t.UnmarshalBinary(b); err != nil {
		d.fail()
	}
	return t
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
	if err := v.UnmarshalBinary(b); err != nil {
		d.fail()
	}
}

// JSON reads a JSON field into v.
func (d *Decoder) JSON(v any) {
	if !d.Bool() {
		d.fail()
		return
	}
	b := d.next()
	if d.err != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.fail()
	}
}
