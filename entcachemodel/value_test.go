package entcachemodel

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"testing"
	"time"
)

// failingValuer is a driver.Valuer whose Value fails.
type failingValuer struct{}

func (failingValuer) Value() (driver.Value, error) { return nil, errors.New("no") }

// Driver values round trip through Encoder.Value and Decoder.Scan, as the
// database would return them to a field's sql.Scanner.
func TestCodecValue(t *testing.T) {
	at := time.Date(2024, 1, 15, 10, 30, 0, 5, time.FixedZone("", -5*3600))
	vals := []driver.Value{nil, int64(-7), 2.5, true, []byte{}, []byte("b"), "s", at, int32(3), uint8(4), float32(1.5)}
	e := NewEncoder()
	for _, v := range vals {
		e.Value(v, nil)
	}
	d := NewDecoder(e.Bytes())
	want := []driver.Value{nil, int64(-7), 2.5, true, []byte{}, []byte("b"), "s", at, int64(3), int64(4), 1.5}
	for i, w := range want {
		var got any
		if got = d.Value(); !reflect.DeepEqual(got, w) {
			t.Errorf("value %d: got %#v, want %#v", i, got, w)
		}
	}
	requireNoErr(t, d)

	e = NewEncoder()
	e.Value(sql.NullString{String: "x", Valid: true}.Value())
	e.Value(sql.NullTime{}.Value())
	e.Value(sql.NullTime{Time: at, Valid: true}.Value())
	d = NewDecoder(e.Bytes())
	var s sql.NullString
	var n, tm sql.NullTime
	d.Scan(&s)
	d.Scan(&n)
	d.Scan(&tm)
	requireNoErr(t, d)
	if s != (sql.NullString{String: "x", Valid: true}) || n.Valid || !reflect.DeepEqual(tm, sql.NullTime{Time: at, Valid: true}) {
		t.Fatalf("Scan: %#v %#v %#v", s, n, tm)
	}
}

// A value the database could not take either is stored as a marker that
// decodes as corrupt: such a row is always read from the database.
func TestCodecValueErrors(t *testing.T) {
	for _, v := range []func(*Encoder){
		func(e *Encoder) { e.Value(failingValuer{}.Value()) },
		func(e *Encoder) { e.Value(struct{}{}, nil) },
		func(e *Encoder) { e.Value(uint64(1<<63), nil) },
	} {
		e := NewEncoder()
		v(e)
		d := NewDecoder(e.Bytes())
		var s sql.NullString
		d.Scan(&s)
		requireCorrupt(t, d.Err())
	}
	// A Scan error is corrupt too.
	e := NewEncoder()
	e.Value("not a time", nil)
	d := NewDecoder(e.Bytes())
	var tm sql.NullInt64
	d.Scan(&tm)
	requireCorrupt(t, d.Err())
}

// naValuer scans NULL as "n/a".
type naValuer string

func (v *naValuer) Value() (driver.Value, error) { return string(*v), nil }

func (v *naValuer) Scan(src any) error {
	if src == nil {
		*v = "n/a"
		return nil
	}
	*v = naValuer(src.(string))
	return nil
}

// textValuer is a Valuer of a string kind.
type textValuer string

func (v *textValuer) Value() (driver.Value, error) { return string(*v), nil }

func TestValueKey(t *testing.T) {
	s, empty := textValuer("a"), textValuer("")
	var nilPtr *textValuer
	na, yes := naValuer("n/a"), naValuer("yes")
	tests := []struct {
		v       driver.Valuer
		key     string
		ok, opt bool
	}{
		{v: &s, key: "a", ok: true, opt: true},
		{v: &empty, key: "", ok: true, opt: false},
		{v: nilPtr, ok: false},
		{v: nil, ok: false},
		{v: sql.NullString{}, ok: false},
		{v: sql.NullInt64{Int64: 0, Valid: true}, key: "0", ok: true, opt: false},
		{v: sql.NullInt64{Int64: -3, Valid: true}, key: "-3", ok: true, opt: true},
		{v: sql.NullBool{Bool: false, Valid: true}, key: "false", ok: true, opt: false},
		{v: failingValuer{}, ok: false},
		{v: sql.NullFloat64{Float64: 1, Valid: true}, ok: false},
		{v: &na, key: "n/a", ok: true, opt: false}, // what an Optional field holds for NULL
		{v: &yes, key: "yes", ok: true, opt: true},
	}
	for i, tt := range tests {
		k, ok := ValueKey(tt.v)
		if ok != tt.ok || ok && k != tt.key {
			t.Errorf("%d: ValueKey = %q, %v; want %q, %v", i, k, ok, tt.key, tt.ok)
		}
		if _, ok := OptionalValueKey(tt.v); ok != tt.opt {
			t.Errorf("%d: OptionalValueKey ok = %v, want %v", i, ok, tt.opt)
		}
	}
}
