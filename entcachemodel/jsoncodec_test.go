package entcachemodel

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// viaJSON returns what ent returns for a JSON field holding v: json.Unmarshal,
// into a zero value of T, of json.Marshal(v); ok false when Marshal fails.
func viaJSON[T any](t *testing.T, v T) (T, bool) {
	t.Helper()
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, false
	}
	require.NoError(t, json.Unmarshal(b, &out))
	return out, true
}

// viaCodec returns v through Encoder.JSONField and Decoder.JSON, and the
// form it was stored in.
func viaCodec[T any](t *testing.T, v T) (T, byte, error) {
	t.Helper()
	e := NewEncoder()
	e.JSONField(&v)
	data := e.Bytes()
	var out T
	d := NewDecoder(data)
	d.JSON(&out)
	return out, data[len(magic)], d.Err()
}

// checkJSON asserts that the codec returns what encoding/json would, in
// the form expected.
func checkJSON[T any](t *testing.T, v T, form byte) {
	t.Helper()
	want, ok := viaJSON(t, v)
	got, stored, err := viaCodec(t, v)
	assert.Equal(t, form, stored, "the form %T %#v is stored in", v, v)
	if !ok {
		assert.ErrorIs(t, err, ErrCorrupt, "a value Marshal refuses reads as corrupt: %#v", v)
		return
	}
	require.NoError(t, err, "%T %#v", v, v)
	assert.True(t, reflect.DeepEqual(want, got), "%T: codec %#v, encoding/json %#v", v, got, want)
}

type jsonPoint struct {
	X, Y int
	Name string   `json:"name,omitempty"`
	Tags []string `json:"tags,omitempty"`
	Skip string   `json:"-"`
	Ptr  *float64 `json:"ptr"`
	Zero []int    `json:",omitzero"`
	Any  any      `json:"any,omitempty"`
	hide int
}

type jsonNested struct {
	Points []jsonPoint            `json:"points"`
	ByName map[string]*jsonPoint  `json:"by_name"`
	Grid   [2][3]int8             `json:"grid"`
	Flags  map[string]bool        `json:"flags"`
	Deep   map[string][]*[]string `json:"deep"`
	U      uint16
	F32    float32
}

type jsonLevel string

type jsonEmbedded struct {
	jsonPoint
	Extra int
}

type jsonOwn struct{ V int }

func (o jsonOwn) MarshalJSON() ([]byte, error) { return json.Marshal(o.V * 2) }
func (o *jsonOwn) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &o.V)
}

type jsonStringOpt struct {
	N int `json:"n,string"`
}

type jsonFold struct {
	A int `json:"name"`
	B int `json:"Name"`
}

type jsonList struct {
	Next *jsonList
	V    int
}

func TestJSONFieldNative(t *testing.T) {
	f := 2.5
	checkJSON(t, []string(nil), jsonNative)
	checkJSON(t, []string{}, jsonNative)
	checkJSON(t, []string{"a", "", "héllo", "\x00"}, jsonNative)
	checkJSON(t, []int{1, -2, math.MaxInt64, math.MinInt64}, jsonNative)
	checkJSON(t, []float64{0, -1.5, math.MaxFloat64, math.SmallestNonzeroFloat64}, jsonNative)
	checkJSON(t, map[string]string(nil), jsonNative)
	checkJSON(t, map[string]string{}, jsonNative)
	checkJSON(t, map[string]string{"k": "v", "": "e"}, jsonNative)
	checkJSON(t, map[jsonLevel][]jsonLevel{"a": {"b"}}, jsonNative)
	checkJSON(t, jsonPoint{}, jsonNative)
	checkJSON(t, jsonPoint{X: 1, Y: -1, Name: "p", Tags: []string{}, Skip: "gone", Ptr: &f, Zero: []int{}, hide: 3}, jsonNative)
	checkJSON(t, &jsonPoint{Tags: []string{"x"}, Zero: []int{1}}, jsonNative)
	checkJSON(t, (*jsonPoint)(nil), jsonNative)
	checkJSON(t, jsonNested{
		Points: []jsonPoint{{X: 1}, {Name: "n", Any: "s"}},
		ByName: map[string]*jsonPoint{"a": {Y: 2}, "nil": nil},
		Grid:   [2][3]int8{{1, 2, 3}, {-4, -5, -6}},
		Flags:  map[string]bool{"on": true, "off": false},
		Deep:   map[string][]*[]string{"d": {nil, {}, {"x"}}},
		U:      65535, F32: 1.25,
	}, jsonNative)
	// Interfaces hold what Unmarshal makes of JSON.
	checkJSON(t, []any{nil, true, 1.5, "s", []any{}, map[string]any{"k": []any{false}}}, jsonNative)
	checkJSON(t, map[string]any{}, jsonNative)
	checkJSON(t, jsonPoint{Any: map[string]any{"n": 3.0}}, jsonNative)
}

func TestJSONFieldText(t *testing.T) {
	// Types whose trip through encoding/json the codec does not reproduce
	// are stored as the JSON text, and read back as ent would.
	checkJSON(t, []byte("base64"), jsonText)
	checkJSON(t, map[int]string{1: "a"}, jsonText)
	checkJSON(t, jsonEmbedded{jsonPoint: jsonPoint{X: 1}, Extra: 2}, jsonText)
	checkJSON(t, jsonOwn{V: 2}, jsonText)
	checkJSON(t, []jsonOwn{{1}}, jsonText)
	checkJSON(t, time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), jsonText)
	checkJSON(t, jsonStringOpt{N: 3}, jsonText)
	checkJSON(t, jsonFold{A: 1, B: 2}, jsonText)
	checkJSON(t, jsonList{Next: &jsonList{V: 2}, V: 1}, jsonText)
	// Values: invalid UTF-8 (Marshal replaces it), an int in an interface
	// (Unmarshal reads a float64), a nil []any in an interface.
	checkJSON(t, []string{"ok", "\xff"}, jsonText)
	checkJSON(t, map[string]int{"\xfe": 1}, jsonText)
	checkJSON(t, []any{1}, jsonText)
	checkJSON(t, jsonPoint{Any: []any(nil)}, jsonText)
	checkJSON(t, any(map[string]any{"a": 1}), jsonText)
	// Values Marshal refuses: the field reads as corrupt.
	checkJSON(t, []float64{math.NaN()}, jsonFailed)
	checkJSON(t, map[string]any{"inf": math.Inf(1)}, jsonFailed)
}

// A JSON field typed as an interface: the static type decides the form,
// and the value it holds is what ent marshals.
func TestJSONFieldInterface(t *testing.T) {
	for _, v := range []any{nil, 1.5, "s", true, []any{"x", 2.0}, map[string]any{"k": nil}, 3, []string{"a"}} {
		// An int reads back as a float64, a []string as a []any: text.
		checkJSON(t, v, map[bool]byte{true: jsonText, false: jsonNative}[v == 3 || reflect.TypeOf(v) == reflect.TypeFor[[]string]()])
	}
}

// Random values of a nested type, through both paths.
func TestJSONFieldRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, r.IntN(6))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(4) > 0 {
				b[i] = 'a' + byte(r.IntN(26))
			}
		}
		return string(b)
	}
	for range 500 {
		var v jsonNested
		for range r.IntN(3) {
			p := jsonPoint{X: r.Int(), Y: -r.IntN(100), Name: str()}
			if r.IntN(2) == 0 {
				p.Tags = []string{}
				for range r.IntN(3) {
					p.Tags = append(p.Tags, str())
				}
			}
			if r.IntN(3) == 0 {
				p.Any = []any{str(), float64(r.IntN(10)), r.IntN(2) == 0}
			}
			v.Points = append(v.Points, p)
		}
		if r.IntN(2) == 0 {
			v.ByName = map[string]*jsonPoint{str(): nil}
			v.Flags = map[string]bool{}
		}
		v.F32 = r.Float32() * 1e6
		v.U = uint16(r.Uint32())
		want, _ := viaJSON(t, v)
		got, _, err := viaCodec(t, v)
		require.NoError(t, err)
		require.True(t, reflect.DeepEqual(want, got), "codec %#v, encoding/json %#v", got, want)
	}
}

// Native values cut short or with lengths past their end read as corrupt,
// never panic.
func TestJSONFieldCorrupt(t *testing.T) {
	v := jsonNested{Points: []jsonPoint{{Name: "x", Tags: []string{"a"}}}, Flags: map[string]bool{"a": true}}
	e := NewEncoder()
	e.JSONField(&v)
	body := e.Bytes()
	body = body[len(magic) : len(body)-4]
	for cut := range len(body) {
		var out jsonNested
		d := NewDecoder(frame(body[:cut]))
		d.JSON(&out)
		assert.Error(t, d.Err(), "cut at %d", cut)
	}
	// A huge length.
	var out []string
	d := NewDecoder(frame([]byte{jsonNative, 0xff, 0xff, 0xff, 0xff, 0x0f}))
	d.JSON(&out)
	assert.ErrorIs(t, d.Err(), ErrCorrupt)
	// A map with a key twice.
	var m map[string]string
	d = NewDecoder(frame([]byte{jsonNative, 3, 1, 'k', 1, 'a', 1, 'k', 1, 'b'}))
	d.JSON(&m)
	assert.ErrorIs(t, d.Err(), ErrCorrupt)
}
