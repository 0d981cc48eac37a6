package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// SemAccount is the semantics tests' type: a secret that hooks scrub from
// returned entities, and a soft-delete flag that interceptors filter on.
type SemAccount struct {
	ent.Schema
}

// Fields of the SemAccount.
func (SemAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.String("password").Default(""),
		field.String("name").Default(""),
		field.Int("age").Default(0),
		field.Bool("deleted").Default(false),
	}
}

// Annotations of the SemAccount.
func (SemAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("age"),
	}
}

// SemNote is a second cached type of the semantics tests, written by
// clients made without the cache.
type SemNote struct {
	ent.Schema
}

// Fields of the SemNote.
func (SemNote) Fields() []ent.Field {
	return []ent.Field{
		field.String("text").Default(""),
	}
}

// Annotations of the SemNote.
func (SemNote) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("text")}
}
