package entcachemodel

import (
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
)

// maxRawPart is the longest key part kept readable; longer parts are hashed.
const maxRawPart = 64

// KeyPart encodes one value of a key so that distinct values never share an
// encoding and the result holds no ':' and no '{' or '}' (which would break
// Redis Cluster hash tags): short plain values stay readable ("r" + value),
// other short values are hex-encoded ("x" + hex), and long values are
// replaced by their SHA-256 ("h" + hex).
func KeyPart(v string) string {
	if len(v) > maxRawPart {
		sum := sha256.Sum256([]byte(v))
		return "h" + hex.EncodeToString(sum[:])
	}
	return rawPart(v)
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '@', c == '+':
		default:
			return false
		}
	}
	return true
}

// IndexKey encodes the values of a (possibly composite) index lookup. The
// parts are encoded as KeyPart does, but never hashed, and joined with ':',
// so the result is injective in its parts and can be decoded: the cache
// normalizes the parts as the database compares them (see Schema.Collations)
// and hashes long ones when it builds a Redis key.
func IndexKey(parts ...string) string {
	if len(parts) == 1 {
		return rawPart(parts[0])
	}
	enc := make([]string, len(parts))
	for i, p := range parts {
		enc[i] = rawPart(p)
	}
	return strings.Join(enc, ":")
}

// rawPart is KeyPart without the hashing of long values.
func rawPart(v string) string {
	if v != "" && isPlain(v) {
		return "r" + v
	}
	return "x" + hex.EncodeToString([]byte(v))
}

// keyspace builds the Redis keys of one entity type. Every logical key is a
// whole Redis Cluster hash tag, so a value and its lease share a slot.
type keyspace struct {
	base string // "<prefix>:<Type>:<schema hash>"
}

func newKeyspace(prefix, typ, hash string) keyspace {
	return keyspace{base: KeyPart(prefix) + ":" + typ + ":" + hash}
}

// row returns the data key of the entity with the given encoded id.
func (k keyspace) row(id string) string { return "{" + k.base + ":r:" + KeyPart(id) + "}" }

// rowStart returns what every row key of k starts with: row(id) is
// rowStart() + KeyPart(id) + "}".
func (k keyspace) rowStart() string { return "{" + k.base + ":r:" }

// rowDigits is row of an id whose text is digits (with a sign): KeyPart
// keeps it readable, so the key is built in one allocation.
func (k keyspace) rowDigits(id []byte) string {
	return "{" + k.base + ":r:r" + string(id) + "}"
}

// appendRowDigits appends the key rowDigits returns to b.
func (k keyspace) appendRowDigits(b, id []byte) []byte {
	b = append(b, '{')
	b = append(b, k.base...)
	b = append(b, ":r:r"...)
	b = append(b, id...)
	return append(b, '}')
}

// unique returns the key of a unique index entry (value: the id).
func (k keyspace) unique(index, key string) string {
	return "{" + k.base + ":u:" + index + ":" + key + "}"
}

// list returns the key of a non-unique index entry (a set of ids).
func (k keyspace) list(index, key string) string {
	return "{" + k.base + ":l:" + index + ":" + key + "}"
}

// rebase returns the key of another keyspace (another schema version) that
// names the same entry as key.
func (k keyspace) rebase(key string, other keyspace) string { return other.at(relKey(key)) }

// relKey returns a data key without its keyspace: the same entry in every
// version, "r:<id>", "u:<index>:<key>" or "l:<index>:<key>". Neither the
// prefix's KeyPart, nor a type name, nor a keyspace's version holds ':'.
func relKey(key string) string {
	rest := strings.TrimSuffix(strings.TrimPrefix(key, "{"), "}")
	for range 3 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	return rest
}

// isListKey reports whether key is the data key of a list.
func isListKey(key string) bool { return strings.HasPrefix(relKey(key), "l:") }

// listIndex returns the index a list's relKey names.
func listIndex(rel string) (string, bool) {
	rest, ok := strings.CutPrefix(rel, "l:")
	if !ok {
		return "", false
	}
	index, _, ok := strings.Cut(rest, ":")
	return index, ok
}

// at returns the key of this keyspace that rel names.
func (k keyspace) at(rel string) string { return "{" + k.base + ":" + rel + "}" }

// onServers returns a data key of newKeyspace's form as the same key in
// another server epoch; other keys (watches) are returned as they are.
func onServers(key, epoch string) string {
	// "{<prefix>:<Type>:<server>.<hash>.<version>:..."; neither the
	// prefix's KeyPart nor a type name holds ':'.
	first := strings.IndexByte(key, ':')
	if first < 0 {
		return key
	}
	second := strings.IndexByte(key[first+1:], ':')
	if second < 0 {
		return key
	}
	start := first + 1 + second + 1
	dot := strings.IndexByte(key[start:], '.')
	colon := strings.IndexByte(key[start:], ':')
	if dot <= 0 || colon >= 0 && colon < dot {
		return key
	}
	for _, c := range key[start : start+dot] {
		if c < '0' || c > '9' {
			return key
		}
	}
	return key[:start] + epoch + key[start+dot:]
}

// lease returns the lease key that guards a data key.
func lease(dataKey string) string { return dataKey + ":lk" }

// ValueKey returns the key text of a published field whose Go type has its
// own driver.Valuer: the text of the value the database stores. It returns
// false for a nil v, a NULL value or a Value error: no index entry holds
// such a value, and a lookup by it reads the database.
func ValueKey(v driver.Valuer) (string, bool) { return valueKey(v, false) }

// OptionalValueKey is ValueKey for an Optional field that is not Nillable:
// it also returns false for the zero value of the stored kind ("", 0,
// false), and for the value the type's Scan reads NULL as, either of which
// the entity may hold for NULL.
func OptionalValueKey(v driver.Valuer) (string, bool) {
	k, ok := valueKey(v, true)
	if !ok {
		return "", false
	}
	if null, ok := nullKey(v); ok && null == k {
		return "", false
	}
	return k, true
}

// nullKey returns the key of the value that v's type scans NULL into.
func nullKey(v driver.Valuer) (string, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		return "", false
	}
	n := reflect.New(rv.Type().Elem()).Interface()
	s, ok := n.(sql.Scanner)
	if !ok || s.Scan(nil) != nil {
		return "", false
	}
	nv, ok := n.(driver.Valuer)
	if !ok {
		return "", false
	}
	return valueKey(nv, false)
}

func valueKey(v driver.Valuer, optional bool) (string, bool) {
	if v == nil {
		return "", false
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "", false
	}
	x, err := v.Value()
	if err == nil {
		x, err = driver.DefaultParameterConverter.ConvertValue(x)
	}
	if err != nil {
		return "", false
	}
	switch x := x.(type) {
	case int64:
		return strconv.FormatInt(x, 10), !optional || x != 0
	case bool:
		return strconv.FormatBool(x), !optional || x
	case string:
		return x, !optional || x != ""
	case []byte:
		return string(x), !optional || len(x) > 0
	}
	// NULL, and kinds no published field has (floats, times).
	return "", false
}
