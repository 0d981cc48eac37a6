package entcachemodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// blob is a BinaryMarshaler that round trips its bytes as they are.
type blob []byte

func (b blob) MarshalBinary() ([]byte, error) { return append([]byte{}, b...), nil }

func (b *blob) UnmarshalBinary(data []byte) error {
	*b = append((*b)[:0], data...)
	return nil
}

// badMarshaler fails to marshal; strictUnmarshaler accepts only 4 bytes.
type badMarshaler struct{}

func (badMarshaler) MarshalBinary() ([]byte, error) { return nil, errors.New("no") }

type strictUnmarshaler [4]byte

func (s *strictUnmarshaler) UnmarshalBinary(data []byte) error {
	if len(data) != 4 {
		return errors.New("want 4 bytes")
	}
	copy(s[:], data)
	return nil
}

// frame wraps body in a value header and a valid checksum, so a test can
// reach the field decoders with arbitrary field bytes.
func frame(body []byte) []byte {
	b := append([]byte{}, magic[:]...)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, checksums))
}

func requireCorrupt(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v is not ErrCorrupt", err)
	}
}

func requireNoErr(t *testing.T, d *Decoder) {
	t.Helper()
	if err := d.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
}

func TestCodecInt(t *testing.T) {
	vals := []int64{0, 1, -1, 63, -64, 64, -65, 1 << 31, -(1 << 31), math.MaxInt64, math.MinInt64}
	e := NewEncoder()
	for _, v := range vals {
		e.Int(v)
	}
	d := NewDecoder(e.Bytes())
	for _, want := range vals {
		if got := d.Int(); got != want {
			t.Errorf("Int() = %d, want %d", got, want)
		}
	}
	requireNoErr(t, d)
}

func TestCodecUint(t *testing.T) {
	vals := []uint64{0, 1, 127, 128, 1<<32 - 1, 1 << 32, math.MaxUint64}
	e := NewEncoder()
	for _, v := range vals {
		e.Uint(v)
	}
	d := NewDecoder(e.Bytes())
	for _, want := range vals {
		if got := d.Uint(); got != want {
			t.Errorf("Uint() = %d, want %d", got, want)
		}
	}
	requireNoErr(t, d)
}

func TestCodecFloat(t *testing.T) {
	vals := []float64{
		0, math.Copysign(0, -1), 1.5, -2.25, math.Pi,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -math.MaxFloat64,
		math.Inf(1), math.Inf(-1),
		math.NaN(),
		math.Float64frombits(0x7ff8000000000001), // quiet NaN with payload
		math.Float64frombits(0x7ff0000000000001), // signalling NaN
		math.Float64frombits(0xfff8000000000000), // negative NaN
	}
	e := NewEncoder()
	for _, v := range vals {
		e.Float(v)
	}
	d := NewDecoder(e.Bytes())
	for _, want := range vals {
		got := d.Float()
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("Float() bits = %#x, want %#x", math.Float64bits(got), math.Float64bits(want))
		}
	}
	requireNoErr(t, d)
}

func TestCodecBool(t *testing.T) {
	e := NewEncoder()
	e.Bool(true)
	e.Bool(false)
	e.Bool(true)
	d := NewDecoder(e.Bytes())
	if !d.Bool() || d.Bool() || !d.Bool() {
		t.Fatal("Bool round trip")
	}
	requireNoErr(t, d)

	// Only 0 and 1 are booleans.
	for _, b := range []byte{2, 0x80, 0xff} {
		d := NewDecoder(frame([]byte{b}))
		if d.Bool() {
			t.Errorf("Bool() of %#x = true", b)
		}
		requireCorrupt(t, d.Err())
	}
}

func TestCodecString(t *testing.T) {
	long := string(bytes.Repeat([]byte("abc"), 10000))
	vals := []string{"", "a", "hello world", "héllo wörld", "日本語", "🙂\u0000x", "\xff\xfe not utf-8", long}
	e := NewEncoder()
	for _, v := range vals {
		e.String(v)
	}
	d := NewDecoder(e.Bytes())
	for _, want := range vals {
		if got := d.String(); got != want {
			t.Errorf("String() = %q, want %q", truncate(got), truncate(want))
		}
	}
	requireNoErr(t, d)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestCodecRawBytes(t *testing.T) {
	vals := [][]byte{nil, {}, {0}, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 1000)}
	e := NewEncoder()
	for _, v := range vals {
		e.RawBytes(v)
	}
	data := e.Bytes()
	d := NewDecoder(data)
	var got [][]byte
	for range vals {
		got = append(got, d.RawBytes())
	}
	requireNoErr(t, d)
	for i, want := range vals {
		if (got[i] == nil) != (want == nil) {
			t.Errorf("value %d: nil = %v, want %v", i, got[i] == nil, want == nil)
		}
		if !bytes.Equal(got[i], want) {
			t.Errorf("value %d: %x, want %x", i, got[i], want)
		}
	}
	// The returned slices do not alias the value.
	for i := range data {
		data[i] = 0xAA
	}
	if !bytes.Equal(got[3], []byte{1, 2, 3}) {
		t.Errorf("RawBytes aliases its input: %x", got[3])
	}
}

func TestCodecTime(t *testing.T) {
	fixed := time.FixedZone("X", 5*3600+30*60)
	// An offset with seconds (LMT). Only a positive one: time.UnmarshalBinary
	// reads back the seconds of a negative one wrongly (golang/go#78528),
	// see TestCodecTimeNegativeSecondsOffset.
	odd := time.FixedZone("Odd", 3*3600+25*60+7)
	now := time.Now() // carries a monotonic reading
	vals := []time.Time{
		{},
		time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC),
		time.Date(2024, 2, 29, 13, 14, 15, 123456789, fixed),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, odd),
		time.Date(2024, 7, 1, 8, 0, 0, 1, time.Local),
		time.Date(-500, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		now,
		now.UTC(),
	}
	e := NewEncoder()
	for _, v := range vals {
		e.Time(v)
	}
	d := NewDecoder(e.Bytes())
	for _, want := range vals {
		got := d.Time()
		if !got.Equal(want) {
			t.Errorf("Time() = %v, want %v", got, want)
		}
		_, gotOff := got.Zone()
		_, wantOff := want.Zone()
		if gotOff != wantOff {
			t.Errorf("Time() offset = %d, want %d (%v)", gotOff, wantOff, want)
		}
		if (want.Location() == time.UTC) != (got.Location() == time.UTC) {
			t.Errorf("Time() location = %v, want %v", got.Location(), want.Location())
		}
		if got.Nanosecond() != want.Nanosecond() {
			t.Errorf("Time() nanoseconds = %d, want %d", got.Nanosecond(), want.Nanosecond())
		}
	}
	requireNoErr(t, d)
}

func TestCodecTimeNegativeSecondsOffset(t *testing.T) {
	// The instant survives even where the standard library loses the
	// offset's seconds.
	want := time.Date(1850, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", -(4*3600+56*60+2)))
	e := NewEncoder()
	e.Time(want)
	d := NewDecoder(e.Bytes())
	got := d.Time()
	requireNoErr(t, d)
	if !got.Equal(want) {
		t.Fatalf("Time() = %v, want %v", got, want)
	}
}

func TestCodecTimeLocal(t *testing.T) {
	// A time in the process's zone decodes back in it when its offset is the
	// local one.
	defer func(l *time.Location) { time.Local = l }(time.Local)
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	time.Local = loc
	want := time.Date(2023, 3, 12, 1, 30, 0, 0, time.Local) // just before a DST change
	e := NewEncoder()
	e.Time(want)
	d := NewDecoder(e.Bytes())
	got := d.Time()
	requireNoErr(t, d)
	if !got.Equal(want) || got.Location() != time.Local || got.String() != want.String() {
		t.Fatalf("Time() = %v (%v), want %v", got, got.Location(), want)
	}
}

// Times decode in the location they were encoded in, not merely at the same
// instant: a cached entity must reflect.DeepEqual the database's, whose
// driver returns UTC (pgx, MySQL with loc=UTC), a fixed zone (sqlite's parsed
// offsets) or Local.
func TestCodecTimeLocation(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	for _, local := range []*time.Location{ny, time.UTC, time.FixedZone("", 0)} {
		time.Local = local
		instant := time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC)
		vals := []time.Time{
			{},
			instant,
			instant.In(time.Local),
			instant.In(time.FixedZone("", -5*3600)), // sqlite: "-05:00" parsed in UTC
			instant.In(time.FixedZone("", 0)),
			instant.In(time.FixedZone("UTC", 0)),
			instant.In(time.FixedZone("X", 5*3600+30*60)),
			instant.In(time.FixedZone("", -60)), // MarshalBinary refuses this offset
			instant.In(time.FixedZone("LMT", -(4*3600 + 56*60 + 2))),
			instant.In(ny),
			time.Date(1850, 1, 1, 0, 0, 0, 0, ny), // local mean time
		}
		e := NewEncoder()
		for _, v := range vals {
			e.Time(v)
		}
		d := NewDecoder(e.Bytes())
		for _, want := range vals {
			if got := d.Time(); !reflect.DeepEqual(got, want) {
				t.Errorf("Local %v: Time() = %v (%v), want %v (%v)", local, got, got.Location(), want, want.Location())
			}
		}
		requireNoErr(t, d)
	}
}

func TestCodecBinary(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8::1")
	e := NewEncoder()
	e.Binary(blob{1, 2, 3})
	e.Binary(blob{})
	e.Binary(addr)
	e.Binary(netip.Addr{})
	d := NewDecoder(e.Bytes())
	var b1, b2 blob
	var a1, a2 netip.Addr
	d.Binary(&b1)
	d.Binary(&b2)
	d.Binary(&a1)
	d.Binary(&a2)
	requireNoErr(t, d)
	if !bytes.Equal(b1, []byte{1, 2, 3}) || len(b2) != 0 || a1 != addr || a2.IsValid() {
		t.Fatalf("Binary round trip: %x %x %v %v", b1, b2, a1, a2)
	}
}

func TestCodecBinaryErrors(t *testing.T) {
	t.Run("marshal fails", func(t *testing.T) {
		e := NewEncoder()
		e.Binary(badMarshaler{})
		d := NewDecoder(e.Bytes())
		var b blob
		d.Binary(&b)
		requireCorrupt(t, d.Err())
	})
	t.Run("unmarshal fails", func(t *testing.T) {
		e := NewEncoder()
		e.Binary(blob{1, 2, 3})
		d := NewDecoder(e.Bytes())
		var s strictUnmarshaler
		d.Binary(&s)
		requireCorrupt(t, d.Err())
	})
}

func TestCodecJSON(t *testing.T) {
	type obj struct {
		A int               `json:"a"`
		B []string          `json:"b"`
		C map[string]string `json:"c"`
		D *float64          `json:"d"`
	}
	want := obj{A: 7, B: []string{"x", "ÿ"}, C: map[string]string{"k": "v"}}
	e := NewEncoder()
	e.JSON(want)
	e.JSON(nil)
	e.JSON([]int{})
	e.JSON(map[string]any{"n": 1.5, "s": "t", "l": []any{true, nil}})
	d := NewDecoder(e.Bytes())
	var got obj
	d.JSON(&got)
	var gotNil *obj = &obj{A: 1}
	d.JSON(&gotNil)
	var gotEmpty []int
	d.JSON(&gotEmpty)
	var gotMap map[string]any
	d.JSON(&gotMap)
	requireNoErr(t, d)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON() = %+v, want %+v", got, want)
	}
	if gotNil != nil {
		t.Errorf("JSON(null) = %+v, want nil", gotNil)
	}
	if gotEmpty == nil || len(gotEmpty) != 0 {
		t.Errorf("JSON([]) = %#v, want empty non-nil", gotEmpty)
	}
	if !reflect.DeepEqual(gotMap, map[string]any{"n": 1.5, "s": "t", "l": []any{true, nil}}) {
		t.Errorf("JSON(map) = %#v", gotMap)
	}
}

func TestCodecJSONErrors(t *testing.T) {
	t.Run("marshal fails", func(t *testing.T) {
		e := NewEncoder()
		e.JSON(math.Inf(1))
		d := NewDecoder(e.Bytes())
		var f float64
		d.JSON(&f)
		requireCorrupt(t, d.Err())
	})
	t.Run("wrong type", func(t *testing.T) {
		e := NewEncoder()
		e.JSON("text")
		d := NewDecoder(e.Bytes())
		var n int
		d.JSON(&n)
		requireCorrupt(t, d.Err())
	})
	t.Run("invalid json", func(t *testing.T) {
		body := []byte{1}
		body = binary.AppendUvarint(body, 3)
		body = append(body, "{x:"...)
		d := NewDecoder(frame(body))
		var v any
		d.JSON(&v)
		requireCorrupt(t, d.Err())
	})
}

// encodeAll writes one field of every kind.
func encodeAll() []byte {
	e := NewEncoder()
	e.Int(-42)
	e.Uint(42)
	e.Float(2.5)
	e.Bool(true)
	e.String("héllo")
	e.RawBytes([]byte{9, 8, 7})
	e.RawBytes(nil)
	e.Time(time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)))
	e.Binary(blob("bin"))
	e.JSON(map[string]int{"a": 1})
	return e.Bytes()
}

// decodeAll reads what encodeAll wrote, in order, and reports whether each
// field came back.
func decodeAll(d *Decoder) bool {
	ok := d.Int() == -42
	ok = d.Uint() == 42 && ok
	ok = d.Float() == 2.5 && ok
	ok = d.Bool() && ok
	ok = d.String() == "héllo" && ok
	ok = bytes.Equal(d.RawBytes(), []byte{9, 8, 7}) && ok
	ok = d.RawBytes() == nil && ok
	ok = d.Time().Equal(time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC).Add(-time.Hour)) && ok
	var b blob
	d.Binary(&b)
	ok = string(b) == "bin" && ok
	var m map[string]int
	d.JSON(&m)
	return ok && m["a"] == 1
}

func TestCodecAllFields(t *testing.T) {
	d := NewDecoder(encodeAll())
	if !decodeAll(d) {
		t.Fatal("fields did not round trip")
	}
	requireNoErr(t, d)
	// Err is stable.
	requireNoErr(t, d)
}

func TestCodecEmptyValue(t *testing.T) {
	data := NewEncoder().Bytes()
	if len(data) != len(magic)+4 {
		t.Fatalf("empty value is %d bytes", len(data))
	}
	d := NewDecoder(data)
	requireNoErr(t, d)
	// Reading past the end is an error.
	d.Int()
	requireCorrupt(t, d.Err())
}

func TestCodecTrailingBytes(t *testing.T) {
	e := NewEncoder()
	e.Int(1)
	e.String("left over")
	d := NewDecoder(e.Bytes())
	if d.Int() != 1 {
		t.Fatal("Int")
	}
	err := d.Err()
	requireCorrupt(t, err)
	if err == ErrCorrupt {
		t.Errorf("want the trailing byte count in the error, got %v", err)
	}
	// The error sticks, and later reads return zero values.
	if d.String() != "" {
		t.Error("String after error is not empty")
	}
	requireCorrupt(t, d.Err())
}

func TestCodecFail(t *testing.T) {
	e := NewEncoder()
	e.Int(5)
	e.Int(6)
	d := NewDecoder(e.Bytes())
	if d.Int() != 5 {
		t.Fatal("Int")
	}
	d.Fail()
	if d.Int() != 0 {
		t.Error("read after Fail returned a value")
	}
	if err := d.Err(); err != ErrCorrupt {
		t.Errorf("Err() = %v, want ErrCorrupt", err)
	}
}

func TestCodecStickyErrorZeroValues(t *testing.T) {
	d := NewDecoder(nil)
	requireCorrupt(t, d.Err())
	if d.Int() != 0 || d.Uint() != 0 || d.Float() != 0 || d.Bool() || d.String() != "" ||
		d.RawBytes() != nil || !d.Time().IsZero() {
		t.Fatal("a failed decoder returned a value")
	}
	var b blob
	d.Binary(&b)
	var v any
	d.JSON(&v)
	if b != nil || v != nil {
		t.Fatal("a failed decoder filled a value")
	}
	requireCorrupt(t, d.Err())
}

func TestCodecForeignValues(t *testing.T) {
	valid := encodeAll()
	cases := map[string][]byte{
		"nil":          nil,
		"empty":        {},
		"magic only":   magic[:],
		"short":        {magic[0], magic[1], 0, 0, 0},
		"bad magic":    append([]byte{0xEC, 0x01}, valid[2:]...),
		"swapped":      append([]byte{magic[1], magic[0]}, valid[2:]...),
		"plain text":   []byte("hello, this is not a cached value"),
		"json":         []byte(`{"id":1}`),
		"zero sum":     append(append([]byte{}, valid[:len(valid)-4]...), 0, 0, 0, 0),
		"doubled":      append(append([]byte{}, valid...), valid...),
		"extra byte":   append(append([]byte{}, valid...), 0),
		"leading byte": append([]byte{0}, valid...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(data)
			decodeAll(d)
			requireCorrupt(t, d.Err())
		})
	}
}

func TestCodecTruncated(t *testing.T) {
	valid := encodeAll()
	for n := 0; n < len(valid); n++ {
		d := NewDecoder(valid[:n])
		decodeAll(d)
		if err := d.Err(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: Err() = %v", n, len(valid), err)
		}
	}
}

func TestCodecFlippedBytes(t *testing.T) {
	valid := encodeAll()
	for i := range valid {
		for _, mask := range []byte{0x01, 0x80, 0xff, 0x5a} {
			data := append([]byte{}, valid...)
			data[i] ^= mask
			d := NewDecoder(data)
			decodeAll(d)
			if err := d.Err(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: Err() = %v", i, mask, err)
			}
		}
	}
}

// A body with a valid checksum but broken fields must still decode as
// corrupt, never panic and never over-read.
func TestCodecCorruptFields(t *testing.T) {
	cases := map[string]struct {
		body []byte
		read func(d *Decoder)
	}{
		"varint overflow":     {bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.Int() }},
		"uvarint overflow":    {bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.Uint() }},
		"unterminated varint": {[]byte{0x80}, func(d *Decoder) { d.Int() }},
		"short float":         {[]byte{1, 2, 3}, func(d *Decoder) { d.Float() }},
		"string too long":     {[]byte{5, 'a', 'b'}, func(d *Decoder) { _ = d.String() }},
		"huge string length":  {binary.AppendUvarint(nil, math.MaxUint64), func(d *Decoder) { _ = d.String() }},
		"rawbytes bad flag":   {[]byte{2, 0}, func(d *Decoder) { d.RawBytes() }},
		"rawbytes too long":   {[]byte{1, 9, 1}, func(d *Decoder) { d.RawBytes() }},
		"time bad bytes":      {[]byte{3, 1, 2, 3}, func(d *Decoder) { d.Time() }},
		"time bad version":    {append([]byte{15, 99}, make([]byte, 14)...), func(d *Decoder) { d.Time() }},
		"time empty":          {[]byte{0}, func(d *Decoder) { d.Time() }},
		"binary absent":       {[]byte{0}, func(d *Decoder) { var b blob; d.Binary(&b) }},
		"binary too long":     {[]byte{1, 4, 1}, func(d *Decoder) { var b blob; d.Binary(&b) }},
		"json absent":         {[]byte{0, 2, '{', '}'}, func(d *Decoder) { var v any; d.JSON(&v) }},
		"json bad flag":       {[]byte{7, 2, '{', '}'}, func(d *Decoder) { var v any; d.JSON(&v) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(frame(tc.body))
			tc.read(d)
			requireCorrupt(t, d.Err())
		})
	}
}

func TestCodecDecoderDoesNotAliasStrings(t *testing.T) {
	e := NewEncoder()
	e.String("abc")
	data := e.Bytes()
	d := NewDecoder(data)
	s := d.String()
	for i := range data {
		data[i] = 'z'
	}
	if s != "abc" {
		t.Fatalf("String() changed with its input: %q", s)
	}
}

// decodeSequence runs every read method on d, in an order chosen by ops, and
// checks the decoder's invariants.
func decodeSequence(t *testing.T, d *Decoder, ops []byte) {
	if len(ops) == 0 {
		ops = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	}
	if len(ops) > 64 {
		ops = ops[:64]
	}
	for _, op := range ops {
		failed := d.err != nil
		switch op % 10 {
		case 0:
			d.Int()
		case 1:
			d.Uint()
		case 2:
			d.Float()
		case 3:
			d.Bool()
		case 4:
			s := d.String()
			if failed && s != "" {
				t.Fatal("String after an error returned data")
			}
		case 5:
			b := d.RawBytes()
			if failed && b != nil {
				t.Fatal("RawBytes after an error returned data")
			}
		case 6:
			d.Time()
		case 7:
			var b blob
			d.Binary(&b)
			var a netip.Addr
			d.Binary(&a)
		case 8:
			var v any
			d.JSON(&v)
		case 9:
			var v struct {
				A []int
				B map[string]*float64
			}
			d.JSON(&v)
		}
		if failed && d.err == nil {
			t.Fatal("a decoding error was cleared")
		}
		if d.err != nil && !errors.Is(d.err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", d.err)
		}
	}
	if err := d.Err(); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Err() = %v, not ErrCorrupt", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeAll(), []byte{0, 1, 2, 3, 4, 5, 5, 6, 7, 8})
	f.Add(NewEncoder().Bytes(), []byte{})
	e := NewEncoder()
	e.String("abc")
	e.Time(time.Unix(1e9, 5).In(time.FixedZone("", -7200)))
	e.JSON([]any{1, "x", nil})
	f.Add(e.Bytes(), []byte{4, 6, 8})
	f.Add([]byte{}, []byte{})
	f.Add([]byte("not a value"), []byte{0, 4})
	f.Add([]byte{0xEC, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{1})
	f.Add(bytes.Repeat([]byte{0xff}, 40), []byte{1, 4, 6})
	f.Add([]byte{1, 3, 'a', 'b', 'c', 15, 1}, []byte{5, 6, 7, 9})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		// Raw bytes: almost always rejected by the header or checksum.
		decodeSequence(t, NewDecoder(data), ops)
		// The same bytes as a body with a valid checksum reach the field
		// decoders.
		d := NewDecoder(frame(data))
		if d.err != nil || d.buf != string(data) {
			t.Fatalf("a framed value was rejected: %v", d.err)
		}
		decodeSequence(t, d, ops)
	})
}

func FuzzCodecRoundTrip(f *testing.F) {
	f.Add("", int64(0), uint64(0), 0.0, false, []byte(nil))
	f.Add("héllo\x00wörld", int64(-1), uint64(math.MaxUint64), math.Inf(-1), true, []byte{})
	f.Add("\xff\xfe", int64(math.MinInt64), uint64(1<<63), math.NaN(), true, []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, s string, i int64, u uint64, fl float64, b bool, raw []byte) {
		e := NewEncoder()
		e.String(s)
		e.Int(i)
		e.Uint(u)
		e.Float(fl)
		e.Bool(b)
		e.RawBytes(raw)
		e.String(s + s)
		d := NewDecoder(e.Bytes())
		if got := d.String(); got != s {
			t.Fatalf("String() = %q, want %q", got, s)
		}
		if got := d.Int(); got != i {
			t.Fatalf("Int() = %d, want %d", got, i)
		}
		if got := d.Uint(); got != u {
			t.Fatalf("Uint() = %d, want %d", got, u)
		}
		if got := d.Float(); math.Float64bits(got) != math.Float64bits(fl) {
			t.Fatalf("Float() = %v, want %v", got, fl)
		}
		if got := d.Bool(); got != b {
			t.Fatalf("Bool() = %v, want %v", got, b)
		}
		if got := d.RawBytes(); !bytes.Equal(got, raw) || (got == nil) != (raw == nil) {
			t.Fatalf("RawBytes() = %#v, want %#v", got, raw)
		}
		if got := d.String(); got != s+s {
			t.Fatalf("second String() = %q", got)
		}
		if err := d.Err(); err != nil {
			t.Fatalf("Err() = %v", err)
		}
		if utf8.ValidString(s) {
			// Valid text also survives a JSON field.
			e := NewEncoder()
			e.JSON(s)
			d := NewDecoder(e.Bytes())
			var got string
			d.JSON(&got)
			if d.Err() != nil || got != s {
				t.Fatalf("JSON(%q) = %q, %v", s, got, d.Err())
			}
		}
	})
}
