package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// Group is the inverse side of the Account.groups M2M edge, beside cached
// types, and an M2O edge declared from its owning side (manager: the key
// group_manager lives in the groups table).
type Group struct {
	ent.Schema
}

// Fields of the Group.
func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique(),
		field.Bool("open").Default(true),
	}
}

// Edges of the Group.
func (Group) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("members", Account.Type).Ref("groups"),
		edge.To("manager", Account.Type).Unique(),
	}
}

// Annotations of the Group.
func (Group) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("name"),
		cachemodel.PublishBy("open"),
	}
}
