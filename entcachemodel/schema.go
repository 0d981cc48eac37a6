package entcachemodel

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Schema describes one entity type to the cache. Generated code declares one
// per annotated type; it holds no connection and is safe to share.
type Schema[T any, ID comparable] struct {
	// Type is the ent type name, part of every key.
	Type string
	// Hash identifies the type's fields and their encoding. A value written
	// under another hash is never read.
	Hash string
	// ID returns the id of an entity.
	ID func(T) ID
	// FormatID and ParseID convert ids to and from their key text. An
	// IntID of a built-in integer type must be formatted as
	// strconv.FormatInt (FormatUint) does: the cache builds the keys of
	// such ids itself.
	FormatID func(ID) string
	ParseID  func(string) (ID, error)
	// CompareID orders integer ids (IDKind tells how the database orders
	// the others).
	CompareID func(a, b ID) int
	// IDKind is the kind of the id: how the database compares and orders it.
	IDKind IDKind
	// Collations has an entry for the id, named "id", when it is a string,
	// and for every string or enum field of the indexes: the collation the
	// schema declares for its column (entsql.Annotation on the field), ""
	// for none. Key texts follow the collations: on MySQL and MariaDB, a
	// PAD SPACE binary collation (utf8mb4_bin, ent's default) shares the
	// key of values equal but for trailing spaces ('go' = 'go '); under a
	// collation Go cannot reproduce (utf8mb4_general_ci), or one declared
	// for another database, only values stored byte for byte as asked are
	// served from the cache. Undeclared strings compare byte for byte on
	// sqlite and PostgreSQL.
	Collations map[string]string
	// TableCollation is the collation the schema declares for the type's
	// table (entsql.Annotation on the type): on MySQL and MariaDB, that of
	// the columns without their own (other databases ignore it).
	TableCollation string
	// Encode and Decode convert an entity to and from its cached value.
	Encode func(*Encoder, T)
	Decode func(*Decoder) T
	// Clone returns a deep copy of an entity: the near cache (WithNearCache)
	// returns copies, so a caller may change what it is given. Without it
	// the type is not held in the near cache.
	Clone func(T) T
	// Indexes are the published lookups besides the id.
	Indexes []*Index[T]

	layoutOnce sync.Once
	lists      layout
	// version names the schema's versionState in a Cache (built once, so
	// that a read finds it without building its name).
	version string
}

// Index is one published lookup (a PublishBy annotation).
type Index[T any] struct {
	// Name is the field names joined by ",".
	Name string
	// Def identifies the lookup's definition: its fields and how their
	// values are keyed. Versions of a schema that define a list alike share
	// its entries; a list is served only while every live version defines
	// it alike.
	Def string
	// Unique tells a Get helper (one row) from a List helper (rows by id).
	Unique bool
	// Key returns the IndexKey of the entity's values, and false when one of
	// them is NULL, or the zero value of an Optional field that is not
	// Nillable (which the entity also holds for NULL): such a row is in no
	// entry of the index, and lookups by such values read the database.
	Key func(T) (string, bool)
}

func (s *Schema[T, ID]) generation(ctx context.Context, c *Cache) *generation {
	now := time.Now()
	return s.generationAt(ctx, c, &now)
}

// generationAt is generation at the time *now, which it reads again after
// a round trip.
func (s *Schema[T, ID]) generationAt(ctx context.Context, c *Cache, now *time.Time) *generation {
	l := s.layout()
	return c.generationOf(ctx, c.versionStateOf(s.version), s.Type, s.Hash, l, now)
}

// rowKey returns the key of the row with the given id in ks, on dialect d:
// ks.row(s.idText(d, id)), built with one allocation for integer ids.
func (s *Schema[T, ID]) rowKey(ks keyspace, d string, id ID) string {
	if s.IDKind == IntID {
		var buf [24]byte
		if b, ok := appendInt(buf[:0], id); ok {
			return ks.rowDigits(b)
		}
	}
	return ks.row(s.idText(d, id))
}

// rowKeys returns the keys of ids in ks on dialect d (rowKey), and for
// each id the index of its key: ids the database finds equal (whose key
// texts are equal) share one key, that of the first of them. The keys of
// integer ids are substrings of one string, built in one allocation.
func (s *Schema[T, ID]) rowKeys(ks keyspace, d string, ids []ID) (keys []string, slot []int, uniq []ID) {
	slot = make([]int, len(ids))
	keys = make([]string, 0, len(ids))
	uniq = make([]ID, 0, len(ids))
	if s.IDKind == IntID {
		// Integer ids are equal when their texts are: one map by id.
		var seen map[ID]int
		if len(ids) > 1 {
			seen = make(map[ID]int, len(ids))
		}
		buf := make([]byte, 0, len(ids)*(len(ks.base)+12))
		ends := make([]int, 0, len(ids))
		var digits [24]byte
		for i, id := range ids {
			if j, ok := seen[id]; ok {
				slot[i] = j
				continue
			}
			b, ok := appendInt(digits[:0], id)
			if !ok {
				return s.rowKeysByText(ks, d, ids)
			}
			if seen != nil {
				seen[id] = len(uniq)
			}
			slot[i] = len(uniq)
			uniq = append(uniq, id)
			buf = ks.appendRowDigits(buf, b)
			ends = append(ends, len(buf))
		}
		all := string(buf)
		start := 0
		for _, end := range ends {
			keys = append(keys, all[start:end])
			start = end
		}
		return keys, slot, uniq
	}
	return s.rowKeysByText(ks, d, ids)
}

// rowKeysByText is rowKeys for ids of any kind.
func (s *Schema[T, ID]) rowKeysByText(ks keyspace, d string, ids []ID) (keys []string, slot []int, uniq []ID) {
	slot = make([]int, len(ids))
	keys = make([]string, 0, len(ids))
	uniq = make([]ID, 0, len(ids))
	seen := make(map[string]int, len(ids))
	for i, id := range ids {
		k := s.rowKey(ks, d, id)
		if j, ok := seen[k]; ok {
			slot[i] = j
			continue
		}
		seen[k] = len(keys)
		slot[i] = len(keys)
		keys, uniq = append(keys, k), append(uniq, id)
	}
	return keys, slot, uniq
}

// sameID reports whether the entity v, read under the key of id, is the
// row of id: the one whose key text is id's.
func (s *Schema[T, ID]) sameID(d string, v T, id ID) bool {
	got := s.ID(v)
	return got == id || s.idText(d, got) == s.idText(d, id)
}

// appendInt appends the decimal text of id, as strconv.FormatInt or
// FormatUint (the FormatID of integer ids), when id is of a built-in
// integer type.
func appendInt(b []byte, id any) ([]byte, bool) {
	switch x := id.(type) {
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case int16:
		return strconv.AppendInt(b, int64(x), 10), true
	case int8:
		return strconv.AppendInt(b, int64(x), 10), true
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), true
	}
	return b, false
}

// layout returns the lists the schema defines.
func (s *Schema[T, ID]) layout() layout {
	s.layoutOnce.Do(func() {
		var names, defs []string
		for _, idx := range s.Indexes {
			if !idx.Unique {
				names, defs = append(names, idx.Name), append(defs, idx.Def)
			}
		}
		s.lists = newLayout(s.Type, s.Hash, names, defs)
		s.version = versionName(s.Type, s.Hash, s.lists)
	})
	return s.lists
}

func (s *Schema[T, ID]) encode(v T) []byte {
	e := NewEncoder()
	s.Encode(e, v)
	return e.Bytes()
}

// decode returns the entity in data, or false when data is corrupt or foreign.
func (s *Schema[T, ID]) decode(data []byte) (v T, ok bool) {
	return s.decodeString(string(data))
}

// decodeString is decode on a string, as Redis replies hold values: the
// entity's strings are substrings of data.
func (s *Schema[T, ID]) decodeString(data string) (v T, ok bool) {
	d := decoders.Get().(*Decoder)
	v, ok = s.decodeWith(d, data)
	*d = Decoder{}
	decoders.Put(d)
	return v, ok
}

// decodeWith is decodeString with the Decoder d, which it resets.
func (s *Schema[T, ID]) decodeWith(d *Decoder, data string) (v T, ok bool) {
	defer func() {
		// Generated decoders do not panic on bad input; this guards
		// hand-written Decode functions and JSON field types.
		if recover() != nil {
			var zero T
			v, ok = zero, false
		}
	}()
	d.reset(data)
	v = s.Decode(d)
	if d.Err() != nil {
		var zero T
		return zero, false
	}
	return v, true
}
