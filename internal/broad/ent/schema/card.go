package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// Card has a string id set by the caller, an O2O edge field (owner_id)
// that Account.card writes from the other side, an Immutable field with
// its own StorageKey, and an optional time.
type Card struct {
	ent.Schema
}

// Fields of the Card.
func (Card) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty(),
		field.String("number").Immutable().StorageKey("card_number"),
		field.Enum("kind").Values("debit", "credit").Default("debit"),
		field.Int("owner_id").Optional().Nillable().Unique(),
		field.Time("expires_at").Optional().Nillable(),
	}
}

// Edges of the Card.
func (Card) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", Account.Type).Ref("card").Field("owner_id").Unique(),
	}
}

// Annotations of the Card.
func (Card) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("owner_id"),
		cachemodel.PublishBy("kind"),
		cachemodel.PublishBy("number"),
	}
}
