package entcachemodel

import (
	"context"
	"sync"
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
	// FormatID and ParseID convert ids to and from their key text.
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
	// Indexes are the published lookups besides the id.
	Indexes []*Index[T]

	layoutOnce sync.Once
	lists      layout
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
	return c.generation(ctx, s.Type, s.Hash, s.layout())
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
	defer func() {
		// Generated decoders do not panic on bad input; this guards
		// hand-written Decode functions and JSON field types.
		if recover() != nil {
			ok = false
		}
	}()
	d := NewDecoder(data)
	v = s.Decode(d)
	if d.Err() != nil {
		var zero T
		return zero, false
	}
	return v, true
}
