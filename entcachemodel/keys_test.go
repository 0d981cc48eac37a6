package entcachemodel

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// checkPart fails t when p is not a well-formed key part.
func checkPart(t *testing.T, v, p string) {
	t.Helper()
	if p == "" {
		t.Fatalf("KeyPart(%q) is empty", v)
	}
	if strings.ContainsAny(p, ":{}") {
		t.Fatalf("KeyPart(%q) = %q holds ':', '{' or '}'", v, p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f {
			t.Fatalf("KeyPart(%q) = %q holds byte %#x", v, p, c)
		}
	}
}

// unpart inverts KeyPart for parts that are not hashed; ok is false for a
// hashed part.
func unpart(t *testing.T, p string) (v string, ok bool) {
	t.Helper()
	switch p[0] {
	case 'r':
		return p[1:], true
	case 'x':
		b, err := hex.DecodeString(p[1:])
		if err != nil {
			t.Fatalf("part %q: %v", p, err)
		}
		return string(b), true
	case 'h':
		if len(p) != 1+64 {
			t.Fatalf("hashed part %q has the wrong length", p)
		}
		return "", false
	}
	t.Fatalf("part %q has an unknown kind", p)
	return "", false
}

func TestKeyPart(t *testing.T) {
	long := strings.Repeat("a", maxRawPart+1)
	cases := []struct {
		in, want string
	}{
		{"", "x"},
		{"a", "ra"},
		{"abc-DEF_0.9@x+y", "rabc-DEF_0.9@x+y"},
		{"1", "r1"},
		{"-1", "r-1"},
		{"a:b", "x613a62"},
		{":", "x3a"},
		{"{", "x7b"},
		{"}", "x7d"},
		{"{tag}", "x7b7461677d"},
		{" ", "x20"},
		{"a b", "x612062"},
		{"é", "xc3a9"},
		{"日本", "xe697a5e69cac"},
		{"\x00", "x00"},
		{"\xff", "xff"},
		{"r", "rr"},
		{"x", "rx"},
		{"h", "rh"},
		{"x61", "rx61"},
		{"*", "x2a"},
		{"/", "x2f"},
		{strings.Repeat("z", maxRawPart), "r" + strings.Repeat("z", maxRawPart)},
		{strings.Repeat(":", maxRawPart), "x" + strings.Repeat("3a", maxRawPart)},
	}
	for _, tc := range cases {
		got := KeyPart(tc.in)
		if got != tc.want {
			t.Errorf("KeyPart(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkPart(t, tc.in, got)
		if v, ok := unpart(t, got); !ok || v != tc.in {
			t.Errorf("KeyPart(%q) = %q does not decode back (%q)", tc.in, got, v)
		}
	}
	// Long values are hashed, readable or not.
	for _, v := range []string{long, strings.Repeat(":", maxRawPart+1), strings.Repeat("日", 30)} {
		p := KeyPart(v)
		checkPart(t, v, p)
		if p[0] != 'h' || len(p) != 65 {
			t.Errorf("KeyPart of a %d-byte value = %q, want a hash", len(v), p)
		}
	}
}

func TestKeyPartLongValuesDiffer(t *testing.T) {
	base := strings.Repeat("k", 1000)
	seen := map[string]string{}
	add := func(v string) {
		p := KeyPart(v)
		checkPart(t, v, p)
		if prev, ok := seen[p]; ok && prev != v {
			t.Fatalf("KeyPart(%q...) = KeyPart(%q...) = %q", v[:20], prev[:20], p)
		}
		seen[p] = v
	}
	for i := 0; i < 200; i++ {
		// Values differing only at the end, at the start, or in length.
		add(base + string(rune('a'+i%26)) + strings.Repeat("!", i/26))
		add(string(rune('A'+i%26)) + strings.Repeat("!", i/26) + base)
		add(strings.Repeat("q", maxRawPart+1+i))
	}
	// A long value never meets a short one that spells its hash.
	h := KeyPart(base)
	if KeyPart(h) == h || KeyPart(h[1:]) == h {
		t.Fatalf("a short value encodes as the hash of a long one")
	}
}

func TestKeyPartBoundary(t *testing.T) {
	at := strings.Repeat("b", maxRawPart)
	over := at + "b"
	if KeyPart(at)[0] != 'r' {
		t.Errorf("a %d-byte value is hashed", maxRawPart)
	}
	if KeyPart(over)[0] != 'h' {
		t.Errorf("a %d-byte value is not hashed", maxRawPart+1)
	}
	// The limit is in bytes, not runes.
	multi := strings.Repeat("é", maxRawPart/2) // maxRawPart bytes
	if KeyPart(multi)[0] != 'x' {
		t.Errorf("%d bytes of é: %q", len(multi), KeyPart(multi))
	}
	if KeyPart(multi + "é")[0] != 'h' {
		t.Errorf("%d bytes of é are not hashed", len(multi)+2)
	}
}

func TestIndexKey(t *testing.T) {
	cases := []struct {
		parts []string
		want  string
	}{
		{[]string{"a"}, "ra"},
		{[]string{""}, "x"},
		{[]string{"a", "b"}, "ra:rb"},
		{[]string{"a:b"}, "x613a62"},
		{[]string{"", ""}, "x:x"},
		{[]string{"", "a"}, "x:ra"},
		{[]string{"a", ""}, "ra:x"},
		{[]string{"x", "y", "z"}, "rx:ry:rz"},
		{[]string{"a b", "é"}, "x612062:xc3a9"},
	}
	for _, tc := range cases {
		got := IndexKey(tc.parts...)
		if got != tc.want {
			t.Errorf("IndexKey(%q) = %q, want %q", tc.parts, got, tc.want)
		}
		if strings.ContainsAny(got, "{}") {
			t.Errorf("IndexKey(%q) = %q holds a brace", tc.parts, got)
		}
		if n := strings.Count(got, ":"); n != len(tc.parts)-1 {
			t.Errorf("IndexKey(%q) = %q has %d separators", tc.parts, got, n)
		}
	}
	// The classic ambiguities of joined keys.
	distinct := [][]string{
		{"a:b"}, {"a", "b"}, {"a:", "b"}, {"a", ":b"}, {"a", "", "b"},
		{"ab"}, {"a", "b", ""}, {""}, {"", ""}, {"", "", ""},
		{"x"}, {"x", ""}, {"r"}, {"rx"}, {"78"}, {"x78"},
	}
	seen := map[string][]string{}
	for _, parts := range distinct {
		k := IndexKey(parts...)
		if prev, ok := seen[k]; ok {
			t.Errorf("IndexKey(%q) = IndexKey(%q) = %q", parts, prev, k)
		}
		seen[k] = parts
	}
}

func TestKeyspace(t *testing.T) {
	ks := newKeyspace("my:app{x}", "User", "abc123")
	for _, k := range []string{
		ks.row("1"),
		ks.row("a:b}{"),
		ks.unique("email", IndexKey("a@b.c")),
		ks.list("first_name,last_name", IndexKey("a", "b")),
	} {
		// One hash tag that spans the whole logical key.
		if !strings.HasPrefix(k, "{") || !strings.HasSuffix(k, "}") ||
			strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 {
			t.Errorf("key %q is not one whole hash tag", k)
		}
		lk := lease(k)
		if !strings.HasPrefix(lk, k) || strings.Count(lk, "{") != 1 || strings.Count(lk, "}") != 1 {
			t.Errorf("lease key %q does not share the hash tag of %q", lk, k)
		}
	}
	if ks.row("1") == ks.row("2") || ks.row("1") == ks.unique("r1", "") {
		t.Error("keys of different rows or kinds meet")
	}
	if newKeyspace("a", "T", "h").row("1") == newKeyspace("b", "T", "h").row("1") {
		t.Error("prefixes do not separate keys")
	}
	if newKeyspace("a", "T", "h1").row("1") == newKeyspace("a", "T", "h2").row("1") {
		t.Error("schema hashes do not separate keys")
	}
}

// The outbox stores keys relative to their keyspace and drains them in every
// version's: rel and at must name the same entry across keyspaces, with no
// newline (the outbox's separator).
func TestKeyspaceRelative(t *testing.T) {
	v1, v2 := newKeyspace("app", "User", "h1.0"), newKeyspace("app", "User", "h2.17")
	for _, k := range []string{v1.row("1"), v1.row("a\nb"), v1.list("age", IndexKey("30")), v1.list("a,b", IndexKey("x:y", "1")), v1.unique("email", IndexKey("a@b"))} {
		rel := relKey(k)
		if strings.ContainsAny(rel, "\n{}") {
			t.Errorf("rel(%q) = %q holds a newline or a brace", k, rel)
		}
		if got := v1.at(rel); got != k {
			t.Errorf("at(rel(%q)) = %q", k, got)
		}
		if got, want := v1.rebase(k, v2), v2.at(rel); got != want || got == k {
			t.Errorf("rebase(%q) = %q, want %q", k, got, want)
		}
	}
	if !isListKey(v1.list("age", "r1")) || isListKey(v1.row("1")) || isListKey(v1.unique("age", "rl:r1")) {
		t.Error("isListKey does not tell lists")
	}
	if index, ok := listIndex(relKey(v2.list("a,b", IndexKey("x", "y")))); !ok || index != "a,b" {
		t.Errorf("listIndex = %q, %v", index, ok)
	}
}

func FuzzKeyPart(f *testing.F) {
	long := strings.Repeat("a", maxRawPart+1)
	seeds := [][2]string{
		{"", "x"}, {"a", "ra"}, {"a:b", "a_b"}, {"{", "}"}, {"é", "xc3a9"},
		{long, long + "a"}, {long, strings.Repeat("a", maxRawPart)},
		{"\x00", ""}, {"r", "x72"}, {"abc", "616263"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, pb := KeyPart(a), KeyPart(b)
		checkPart(t, a, pa)
		checkPart(t, b, pb)
		if (a == b) != (pa == pb) {
			t.Fatalf("KeyPart(%q) = %q, KeyPart(%q) = %q", a, pa, b, pb)
		}
		if v, ok := unpart(t, pa); ok {
			if v != a {
				t.Fatalf("KeyPart(%q) = %q decodes as %q", a, pa, v)
			}
		} else if len(a) <= maxRawPart {
			t.Fatalf("a %d-byte value was hashed", len(a))
		}
		// A part, as a value, never encodes as itself: parts cannot be
		// confused with raw values of another key space.
		if KeyPart(pa) == pa {
			t.Fatalf("KeyPart(%q) is a fixed point", pa)
		}
	})
}

func FuzzIndexKey(f *testing.F) {
	f.Add("a", "b", "a", "b")
	f.Add("a:b", "", "a", "b:")
	f.Add("a", ":b", "a:", "b")
	f.Add("", "", "", "")
	f.Add("x", "", "", "x")
	f.Add(strings.Repeat("k", 70), "v", strings.Repeat("k", 70), "w")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		k1, k2 := IndexKey(a, b), IndexKey(c, d)
		if (a == c && b == d) != (k1 == k2) {
			t.Fatalf("IndexKey(%q, %q) = %q, IndexKey(%q, %q) = %q", a, b, k1, c, d, k2)
		}
		for _, k := range []string{k1, k2} {
			if strings.Count(k, ":") != 1 || strings.ContainsAny(k, "{}") {
				t.Fatalf("IndexKey = %q", k)
			}
		}
		// Keys of different arities never meet.
		if k := IndexKey(a); k == k1 || k == k2 || k == IndexKey(a, b, c) {
			t.Fatalf("IndexKey(%q) meets a composite key", a)
		}
		if IndexKey(a, b, c) == IndexKey(a, b, d) && c != d {
			t.Fatalf("three-part keys meet")
		}
	})
}

func TestOnServers(t *testing.T) {
	ks := newKeyspace("my.app", "User", "3.abc123.0")
	for _, key := range []string{ks.row("7"), ks.list("age", "r3"), ks.unique("email", "ra@b")} {
		moved := onServers(key, "12")
		assert.Equal(t, strings.Replace(key, ":User:3.", ":User:12.", 1), moved)
	}
	watch := "{rmy.app:User:w:user_pets:r7}"
	assert.Equal(t, watch, onServers(watch, "12"))
	assert.Equal(t, "junk", onServers("junk", "12"))
}
