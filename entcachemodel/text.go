package entcachemodel

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// IDKind tells the cache how the database compares and orders ids.
type IDKind int

const (
	// IntID is an integer id, ordered as a number.
	IntID IDKind = iota
	// StringID is a string id, compared and ordered under its column's
	// collation.
	StringID
	// UUIDID is a UUID id (ordered by the database's uuid type).
	UUIDID
)

// DefaultMySQLCollation is the collation ent gives the tables it creates on
// MySQL and MariaDB, unless the schema names another one.
const DefaultMySQLCollation = "utf8mb4_bin"

// textRule is how a database compares the values of one string column.
type textRule uint8

const (
	// textExact: byte for byte (sqlite, PostgreSQL's deterministic
	// collations, MySQL's NO PAD binary collations).
	textExact textRule = iota
	// textPad: byte for byte once trailing spaces are removed (MySQL's
	// PAD SPACE binary collations, utf8mb4_bin among them: 'go' = 'go ').
	textPad
	// textFolded: under a collation Go does not reproduce (case or accent
	// insensitive, or another character set). Two values that are equal
	// byte for byte are equal, but unequal ones may be equal too.
	textFolded
)

// mysqlRule classifies a MySQL or MariaDB collation.
func mysqlRule(collation string) textRule {
	c := strings.ToLower(collation)
	if c == "" {
		c = DefaultMySQLCollation
	}
	if c == "binary" {
		return textExact
	}
	if !strings.HasPrefix(c, "utf8mb4_") || !strings.HasSuffix(c, "_bin") {
		return textFolded
	}
	// MariaDB's *_nopad_bin and MySQL 8's utf8mb4_0900_bin compare
	// trailing spaces; the older binary collations pad.
	if strings.Contains(c, "nopad") || strings.Contains(c, "_0900_") {
		return textExact
	}
	return textPad
}

// textRule returns the rule of field (the id is "id") on dialect d, and
// false when the field is not a string. ent applies a field's collation on
// every database, a table's on MySQL only.
func (s *Schema[T, ID]) textRule(d, field string) (textRule, bool) {
	coll, ok := s.Collations[field]
	if !ok {
		return textExact, false
	}
	if d == dialect.MySQL {
		if coll == "" {
			coll = s.TableCollation
		}
		return mysqlRule(coll), true
	}
	if coll != "" {
		// Not ent's MySQL default: its equality is not known here (sqlite's
		// NOCASE and PostgreSQL's nondeterministic collations fold).
		return textFolded, true
	}
	return textExact, true
}

// idRule returns the rule of string ids on dialect d (exact for others).
func (s *Schema[T, ID]) idRule(d string) textRule {
	r, _ := s.textRule(d, "id")
	return r
}

// normal returns the text that stands for v under rule r: equal texts for
// values the database finds equal, except under textFolded.
func normal(r textRule, v string) string {
	if r == textPad {
		return strings.TrimRight(v, " ")
	}
	return v
}

// idText returns the key text of id on dialect d: ids the database finds
// equal under a padding collation share it.
func (s *Schema[T, ID]) idText(d string, id ID) string {
	return normal(s.idRule(d), s.FormatID(id))
}

// indexKey returns the key text of an IndexKey of index idx on dialect d:
// its parts are normalized as their fields' collations compare them, and
// long parts are hashed.
func (s *Schema[T, ID]) indexKey(d string, idx *Index[T], key string) string {
	if !strings.ContainsAny(idx.Name, ",") && !strings.ContainsAny(key, ":") {
		// One field, one part: no splitting.
		v, ok := decodePart(key)
		if !ok {
			return key
		}
		r, _ := s.textRule(d, idx.Name)
		n := normal(r, v)
		if n == v && len(v) <= maxRawPart && key[0] == 'r' && v != "" && isPlain(v) {
			return key // KeyPart(v) is key
		}
		return KeyPart(n)
	}
	fields := strings.Split(idx.Name, ",")
	parts := strings.Split(key, ":")
	for i, p := range parts {
		v, ok := decodePart(p)
		if !ok {
			continue // not written by IndexKey: used as it is
		}
		if i < len(fields) {
			r, _ := s.textRule(d, fields[i])
			v = normal(r, v)
		}
		parts[i] = KeyPart(v)
	}
	return strings.Join(parts, ":")
}

// folded reports whether a field of idx compares under a collation Go does
// not reproduce on dialect d: its lists cannot be kept complete.
func (s *Schema[T, ID]) folded(d string, idx *Index[T]) bool {
	for _, f := range strings.Split(idx.Name, ",") {
		if r, _ := s.textRule(d, f); r == textFolded {
			return true
		}
	}
	return false
}

// decodePart decodes a part written by IndexKey.
func decodePart(p string) (string, bool) {
	switch {
	case strings.HasPrefix(p, "r"):
		return p[1:], true
	case strings.HasPrefix(p, "x"):
		b, err := hex.DecodeString(p[1:])
		return string(b), err == nil
	}
	return "", false
}

// padCompare orders strings as a PAD SPACE binary collation does: by code
// point (UTF-8 bytes have the same order), the shorter padded with spaces.
func padCompare(a, b string) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	for i := n; i < len(a); i++ {
		if a[i] != ' ' {
			return cmpByte(a[i], ' ')
		}
	}
	for i := n; i < len(b); i++ {
		if b[i] != ' ' {
			return cmpByte(' ', b[i])
		}
	}
	return 0
}

func cmpByte(a, b byte) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MariaDBUUIDCompare orders UUIDs (in their text form) as MariaDB's native
// uuid type does since 10.10: a UUID of versions 1 to 5 whose variant is
// RFC 4122's is compared by its segments in reverse order
// (nnnnnnnnnnnn-vsss-Vhhh-mmmm-llllllll, so that version 1 UUIDs sort by
// time), any other byte for byte, and the two forms compare by their
// stored bytes. Text that is not a UUID sorts by its text.
func MariaDBUUIDCompare(a, b string) int {
	ra, oka := mariaRecord(a)
	rb, okb := mariaRecord(b)
	if !oka || !okb {
		return strings.Compare(a, b)
	}
	return bytes.Compare(ra[:], rb[:])
}

// mariaRecord returns the bytes MariaDB stores for the UUID u.
func mariaRecord(u string) ([16]byte, bool) {
	var m, rec [16]byte
	h := strings.ReplaceAll(u, "-", "")
	if len(h) != 32 {
		return rec, false
	}
	if _, err := hex.Decode(m[:], []byte(h)); err != nil {
		return rec, false
	}
	// version > 0 && version < 6 && variant != 0 (MariaDB's
	// mem_need_swap; s[6] is a signed char there).
	if m[6] == 0 || m[6] >= 0x60 || m[8]&0x80 == 0 {
		return m, true
	}
	copy(rec[0:6], m[10:16])
	copy(rec[6:8], m[8:10])
	copy(rec[8:10], m[6:8])
	copy(rec[10:12], m[4:6])
	copy(rec[12:16], m[0:4])
	return rec, true
}

// server is what the cache learned of a database server: how it orders the
// ids it cannot tell from the dialect alone.
type server struct {
	// mariaUUID: MariaDB 10.7 or later, where ent's UUID columns are the
	// native uuid type.
	mariaUUID bool
	// bytesText: PostgreSQL whose database collation orders text byte for
	// byte ("C", "POSIX", "C.UTF-8").
	bytesText bool
}

// server returns the server behind db, asking it once.
func (c *Cache) server(ctx context.Context, db dialect.Driver) (server, error) {
	cacheable := reflect.TypeOf(db).Comparable()
	if cacheable {
		if v, ok := c.servers.Load(db); ok {
			return v.(server), nil
		}
	}
	var srv server
	var query string
	switch db.Dialect() {
	case dialect.MySQL:
		query = "SELECT VERSION()"
	case dialect.Postgres:
		query = "SELECT datcollate FROM pg_database WHERE datname = current_database()"
	default:
		return srv, nil
	}
	var rows entsql.Rows
	if err := db.Query(ctx, query, []any{}, &rows); err != nil {
		return srv, fmt.Errorf("entcachemodel: asking the server %q: %w", query, err)
	}
	defer rows.Close()
	var v string
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return srv, fmt.Errorf("entcachemodel: reading %q: %w", query, err)
		}
	}
	if err := rows.Err(); err != nil {
		return srv, fmt.Errorf("entcachemodel: reading %q: %w", query, err)
	}
	switch db.Dialect() {
	case dialect.MySQL:
		srv.mariaUUID = mariaDBAtLeast(v, 10, 7)
	case dialect.Postgres:
		switch strings.ToLower(v) {
		case "c", "posix", "c.utf-8", "c.utf8":
			srv.bytesText = true
		}
	}
	if cacheable {
		c.servers.Store(db, srv)
	}
	return srv, nil
}

// mariaDBAtLeast reports whether a VERSION() is MariaDB's, at least major.minor.
func mariaDBAtLeast(version string, major, minor int) bool {
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return false
	}
	// MariaDB's replication banner puts "5.5.5-" before its version.
	v := strings.SplitN(strings.TrimPrefix(version, "5.5.5-"), "-", 2)[0]
	nums := strings.SplitN(v, ".", 3)
	if len(nums) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(nums[0])
	mi, err2 := strconv.Atoi(nums[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// order returns how the database behind db orders ids, or nil when Go
// cannot reproduce it (then lists are read from the database, ordered there).
func (s *Schema[T, ID]) order(ctx context.Context, c *Cache, db dialect.Driver) (func(a, b ID) int, error) {
	cmp, _, err := s.orderOf(ctx, c, db)
	return cmp, err
}

// orderOf is order, and whether the order is that of the ids' texts'
// bytes (strings.Compare of FormatID).
func (s *Schema[T, ID]) orderOf(ctx context.Context, c *Cache, db dialect.Driver) (_ func(a, b ID) int, bytewise bool, _ error) {
	text := func(cmp func(a, b string) int) func(a, b ID) int {
		return func(a, b ID) int { return cmp(s.FormatID(a), s.FormatID(b)) }
	}
	if db == nil {
		return s.CompareID, false, nil
	}
	d := db.Dialect()
	switch s.IDKind {
	case StringID:
		coll := s.Collations["id"]
		switch d {
		case dialect.MySQL:
			if coll == "" {
				coll = s.TableCollation
			}
			switch mysqlRule(coll) {
			case textPad:
				return text(padCompare), false, nil
			case textExact:
				return text(strings.Compare), true, nil
			}
			return nil, false, nil
		case dialect.SQLite:
			if coll == "" { // BINARY
				return text(strings.Compare), true, nil
			}
			return nil, false, nil
		case dialect.Postgres:
			if coll != "" {
				return nil, false, nil
			}
			srv, err := c.server(ctx, db)
			if err != nil || !srv.bytesText {
				return nil, false, err
			}
			return text(strings.Compare), true, nil
		}
		return nil, false, nil
	case UUIDID:
		if d != dialect.MySQL {
			// PostgreSQL's uuid orders its bytes, as the lower-case
			// text does; sqlite stores ent's UUIDs as that text.
			return text(strings.Compare), true, nil
		}
		srv, err := c.server(ctx, db)
		if err != nil {
			return nil, false, err
		}
		if srv.mariaUUID {
			return text(MariaDBUUIDCompare), false, nil
		}
		return text(strings.Compare), true, nil // char(36), utf8mb4_bin
	}
	return s.CompareID, false, nil
}
