package entcachemodel

import (
	"crypto/sha256"
	"encoding/hex"
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

// unique returns the key of a unique index entry (value: the id).
func (k keyspace) unique(index, key string) string {
	return "{" + k.base + ":u:" + index + ":" + key + "}"
}

// list returns the key of a non-unique index entry (a set of ids).
func (k keyspace) list(index, key string) string {
	return "{" + k.base + ":l:" + index + ":" + key + "}"
}

// isList reports whether key is a list key of this keyspace.
func (k keyspace) isList(key string) bool { return strings.HasPrefix(key, "{"+k.base+":l:") }

// rebase returns the key of another keyspace (another schema version) that
// names the same entry as key.
func (k keyspace) rebase(key string, other keyspace) string { return other.at(k.rel(key)) }

// rel returns key without its keyspace: the same entry in every version.
func (k keyspace) rel(key string) string {
	return strings.TrimSuffix(strings.TrimPrefix(key, "{"+k.base+":"), "}")
}

// at returns the key of this keyspace that rel names.
func (k keyspace) at(rel string) string { return "{" + k.base + ":" + rel + "}" }

// lease returns the lease key that guards a data key.
func lease(dataKey string) string { return dataKey + ":lk" }
