package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// CollTag has a string id and indexed strings under MySQL's default
// collation as ent migrates it (utf8mb4_bin, PAD SPACE: 'go' = 'go '); the
// cache must answer as the database compares them.
type CollTag struct {
	ent.Schema
}

// Fields of the CollTag.
func (CollTag) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64),
		field.String("label").Default(""),
		field.String("slug").Unique().MaxLen(64),
	}
}

// Annotations of the CollTag.
func (CollTag) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("label"),
		cachemodel.PublishBy("slug"),
	}
}

// CollWord is a table whose collation is case-insensitive on MySQL and
// MariaDB (other databases ignore a table's collation, so the annotation
// is on the type, not on its fields): its string id, its label and its
// unique code compare under it.
type CollWord struct {
	ent.Schema
}

// Fields of the CollWord.
func (CollWord) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64),
		field.String("label").Default(""),
		field.String("code").Unique().MaxLen(64),
		field.Int("rank").Default(0),
	}
}

// Annotations of the CollWord.
func (CollWord) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Collation: "utf8mb4_general_ci"},
		cachemodel.PublishBy("label"),
		cachemodel.PublishBy("code"),
		cachemodel.PublishBy("rank"),
	}
}

// CollDoc has UUID ids and a list lookup: lists are ordered as the
// database orders its uuid type.
type CollDoc struct {
	ent.Schema
}

// Fields of the CollDoc.
func (CollDoc) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New),
		field.String("kind").Default(""),
	}
}

// Annotations of the CollDoc.
func (CollDoc) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("kind"),
	}
}

// CollName has integer ids (whose order Go reproduces) and strings under a
// case-insensitive table collation on MySQL and MariaDB: its lists cannot
// be kept by the cache there.
type CollName struct {
	ent.Schema
}

// Fields of the CollName.
func (CollName) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Default(""),
		field.String("nick").Unique().MaxLen(64),
	}
}

// Annotations of the CollName.
func (CollName) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Collation: "utf8mb4_general_ci"},
		cachemodel.PublishBy("name"),
		cachemodel.PublishBy("nick"),
	}
}
