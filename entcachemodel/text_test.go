package entcachemodel

import (
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
)

func TestMySQLRule(t *testing.T) {
	for coll, want := range map[string]textRule{
		"":                         textPad, // ent's default, utf8mb4_bin
		"utf8mb4_bin":              textPad,
		"UTF8MB4_BIN":              textPad,
		"utf8mb4_nopad_bin":        textExact,
		"utf8mb4_0900_bin":         textExact,
		"binary":                   textExact,
		"utf8mb4_general_ci":       textFolded,
		"utf8mb4_unicode_ci":       textFolded,
		"utf8mb4_0900_ai_ci":       textFolded,
		"utf8mb4_uca1400_as_cs":    textFolded,
		"utf8mb3_bin":              textFolded, // another character set
		"latin1_bin":               textFolded,
		"utf8mb4_general_nopad_ci": textFolded,
	} {
		if got := mysqlRule(coll); got != want {
			t.Errorf("mysqlRule(%q) = %d, want %d", coll, got, want)
		}
	}
}

// TestPadCompare checks padCompare against its definition: the shorter
// string padded with spaces, then compared byte for byte.
func TestPadCompare(t *testing.T) {
	vals := []string{"", " ", "a", "a ", "a  ", "a\t", "a\x00", "a\x1f", "a!", "a~", "ab", "aé", "a\u00a0", "b", "é", "日本", " a", "\ta"}
	for _, a := range vals {
		for _, b := range vals {
			n := max(len(a), len(b))
			want := strings.Compare(a+strings.Repeat(" ", n-len(a)), b+strings.Repeat(" ", n-len(b)))
			if got := padCompare(a, b); got != want {
				t.Errorf("padCompare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if padCompare("a\t", "a") >= 0 || padCompare("a", "a ") != 0 || padCompare("a", "a!") >= 0 {
		t.Error("PAD SPACE: 'a\\t' < 'a' = 'a ' < 'a!'")
	}
}

// TestMariaDBUUIDCompare checks MariaDB's order on known cases: version 1
// UUIDs sort by time (their segments reversed), versions 6 and above and
// non-RFC variants by their bytes. ent/coll_test.go checks it against a
// real server.
func TestMariaDBUUIDCompare(t *testing.T) {
	sorted := []string{
		// swapped: the last segment first
		"ffffffff-ffff-1fff-8fff-000000000000",
		"00000000-0000-1000-8000-000000000001",
		"00000001-0000-1000-9000-000000000001",
		"00000000-0001-1000-9000-000000000001",
		"00000000-0000-4000-9000-000000000001",
	}
	for i := 1; i < len(sorted); i++ {
		if MariaDBUUIDCompare(sorted[i-1], sorted[i]) >= 0 {
			t.Errorf("%s should sort before %s", sorted[i-1], sorted[i])
		}
	}
	// Not swapped (version 7, variant 0): byte order, compared with the
	// stored bytes of swapped ones.
	v7a, v7b := "018c0000-0000-7000-8000-000000000000", "018c0001-0000-7000-8000-000000000000"
	if MariaDBUUIDCompare(v7a, v7b) >= 0 {
		t.Errorf("version 7 UUIDs sort by time")
	}
	// A swapped UUID is stored from its last segment: 0000000000ff... starts
	// with 0x00, before a version 7 UUID starting with 0x01.
	if MariaDBUUIDCompare("ff000000-0000-4000-8000-0000000000ff", v7a) >= 0 {
		t.Errorf("stored bytes order a swapped UUID and an unswapped one")
	}
	if MariaDBUUIDCompare(v7a, v7a) != 0 || MariaDBUUIDCompare("not a uuid", v7a) == 0 {
		t.Error("equal and invalid UUIDs")
	}
}

func TestMariaDBAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"10.11.19-MariaDB-0+deb12u1": true,
		"10.7.0-MariaDB":             true,
		"10.6.12-MariaDB":            false,
		"11.4.2-MariaDB":             true,
		"8.0.36":                     false,
		"5.5.5-10.11.6-MariaDB":      true, // the replication banner
	} {
		if got := mariaDBAtLeast(v, 10, 7); got != want {
			t.Errorf("mariaDBAtLeast(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestIndexKeyFollowsCollations checks the key texts of index values: on
// MySQL, trailing spaces are trimmed under PAD SPACE binary collations (long,
// hashed values too), kept under others; elsewhere keys are those of KeyPart.
func TestIndexKeyFollowsCollations(t *testing.T) {
	idx := &Index[string]{Name: "label,n,code"}
	s := &Schema[string, string]{
		Collations:     map[string]string{"id": "", "label": "", "code": "utf8mb4_general_ci"},
		TableCollation: "",
		FormatID:       func(s string) string { return s },
	}
	long := strings.Repeat("z", maxRawPart+10)
	key := func(d string, parts ...string) string { return s.indexKey(d, idx, IndexKey(parts...)) }
	for _, d := range []string{dialect.MySQL, dialect.Postgres, dialect.SQLite} {
		for _, parts := range [][]string{{"a", "1", "b"}, {"a b", "-1", "é"}, {long, "2", long + " "}} {
			want := make([]string, len(parts))
			for i, p := range parts {
				want[i] = KeyPart(p)
			}
			if d != dialect.MySQL {
				if got := key(d, parts...); got != strings.Join(want, ":") {
					t.Errorf("%s: key of %q = %q, want KeyPart's %q", d, parts, got, strings.Join(want, ":"))
				}
			}
		}
	}
	if key(dialect.MySQL, "go ", "1", "x") != key(dialect.MySQL, "go", "1", "x") {
		t.Error("MySQL: 'go ' = 'go' under utf8mb4_bin")
	}
	if key(dialect.MySQL, long+"  ", "1", "x") != key(dialect.MySQL, long, "1", "x") {
		t.Error("MySQL: long values are trimmed before they are hashed")
	}
	if key(dialect.MySQL, "go\t", "1", "x") == key(dialect.MySQL, "go", "1", "x") {
		t.Error("MySQL: only spaces pad")
	}
	if key(dialect.MySQL, "a", "1", "x ") == key(dialect.MySQL, "a", "1", "x") {
		t.Error("MySQL: a folded collation keeps its value as it is")
	}
	if key(dialect.Postgres, "go ", "1", "x") == key(dialect.Postgres, "go", "1", "x") {
		t.Error("PostgreSQL: 'go ' <> 'go'")
	}
	if !s.folded(dialect.MySQL, idx) || !s.folded(dialect.Postgres, idx) {
		t.Error("the code field folds: its collation is not known to compare bytes")
	}
	if plain := (&Index[string]{Name: "label,n"}); s.folded(dialect.MySQL, plain) || s.folded(dialect.Postgres, plain) {
		t.Error("the label field folds nowhere")
	}
	if s.idText(dialect.MySQL, "go  ") != "go" || s.idText(dialect.SQLite, "go ") != "go " {
		t.Error("id texts")
	}
	s.TableCollation = "utf8mb4_general_ci"
	if s.idRule(dialect.MySQL) != textFolded || s.idRule(dialect.SQLite) != textExact {
		t.Error("a table collation applies on MySQL only")
	}
	s.Collations["id"] = "NOCASE"
	if s.idRule(dialect.SQLite) != textFolded {
		t.Error("a collation declared for another database folds")
	}
}

// TestOrderByDialect checks which id orders Go reproduces without asking
// the server.
func TestOrderByDialect(t *testing.T) {
	ids := []string{"a", "a\t", "b", "a!"}
	s := &Schema[string, string]{IDKind: StringID, Collations: map[string]string{"id": ""}, FormatID: func(s string) string { return s }}
	sorted := func(d string) []string {
		order, err := s.order(t.Context(), &Cache{}, &fakeDriver{name: d})
		if err != nil || order == nil {
			return nil
		}
		out := slices.Clone(ids)
		slices.SortFunc(out, order)
		return out
	}
	if got := sorted(dialect.MySQL); !slices.Equal(got, []string{"a\t", "a", "a!", "b"}) {
		t.Errorf("MySQL, utf8mb4_bin: %q", got)
	}
	if got := sorted(dialect.SQLite); !slices.Equal(got, []string{"a", "a\t", "a!", "b"}) {
		t.Errorf("sqlite: %q", got)
	}
	s.TableCollation = "utf8mb4_general_ci"
	if got := sorted(dialect.MySQL); got != nil {
		t.Errorf("MySQL, utf8mb4_general_ci: the database orders, not %q", got)
	}
}

// fakeDriver is a dialect.Driver of a dialect that runs no statement.
type fakeDriver struct {
	dialect.Driver
	name string
}

func (d *fakeDriver) Dialect() string { return d.name }

// TestIndexKeyOneField checks that the key text of a one-field index (built
// without splitting) is the one the general path builds: each part
// normalized as its field compares, then KeyPart.
func TestIndexKeyOneField(t *testing.T) {
	s := &Schema[string, string]{
		Collations: map[string]string{"label": "", "code": "utf8mb4_general_ci"},
		FormatID:   func(s string) string { return s },
	}
	long := strings.Repeat("z", maxRawPart+10)
	values := []string{"", "a", "a b", "go ", "go", "x@y.io", "é", "ra", "x41", "a:b", "{t}", long, long + " ", strings.Repeat("y", maxRawPart)}
	for _, d := range []string{dialect.MySQL, dialect.Postgres, dialect.SQLite} {
		for _, field := range []string{"label", "code", "plain"} {
			idx := &Index[string]{Name: field}
			for _, v := range values {
				r, _ := s.textRule(d, field)
				want := KeyPart(normal(r, v))
				if got := s.indexKey(d, idx, IndexKey(v)); got != want {
					t.Errorf("%s %s: key of %q = %q, want %q", d, field, v, got, want)
				}
			}
		}
	}
}
