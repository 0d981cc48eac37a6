package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// KindOpt publishes lookups by Optional fields that are not Nillable (ent's
// edge-field pattern): the entity holds the zero value for NULL.
type KindOpt struct {
	ent.Schema
}

// Fields of the KindOpt.
func (KindOpt) Fields() []ent.Field {
	return []ent.Field{
		field.Int("owner_id").Optional(),
		field.String("handle").Optional().Unique(),
		field.String("team").Default(""),
		field.Int("seat").Optional(),
		field.String("group").Default(""),
		field.Int("slot").Optional(),
		field.Bool("flag").Optional(),
		field.UUID("tag", uuid.UUID{}).Optional(),
		field.Int("counter").Optional(),
	}
}

// Indexes of the KindOpt.
func (KindOpt) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("team", "seat").Unique(),
	}
}

// Annotations of the KindOpt.
func (KindOpt) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("owner_id"),
		cachemodel.PublishBy("handle"),
		cachemodel.PublishBy("team", "seat"),
		cachemodel.PublishBy("group", "slot"),
		cachemodel.PublishBy("flag"),
		cachemodel.PublishBy("tag"),
		cachemodel.PublishBy("counter"),
	}
}

// KindBare is cached by id alone (cachemodel.Publish).
type KindBare struct {
	ent.Schema
}

// Fields of the KindBare.
func (KindBare) Fields() []ent.Field {
	return []ent.Field{field.String("name")}
}

// Annotations of the KindBare.
func (KindBare) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.Publish()}
}
