// Package schema is the test schema of entcachemodel: it exercises every
// field kind the cache encodes and every kind of published lookup.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// User holds the schema definition for the User entity.
type User struct {
	ent.Schema
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.String("first_name").Default(""),
		field.String("last_name").Default(""),
		field.Int("age").Default(0),
		field.String("nickname").Optional().Nillable(),
		field.String("password").Sensitive().Default(""),
		field.JSON("tags", []string{}).Optional(),
		field.Enum("role").Values("admin", "member").Default("member"),
		field.Float("score").Default(0),
		field.Bytes("avatar").Optional(),
		field.Time("joined_at").Optional().Nillable(),
		field.Bool("active").Default(true),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("pets", Pet.Type),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("first_name", "last_name").Unique(),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("first_name", "last_name"),
		cachemodel.PublishBy("age"),
		cachemodel.PublishBy("role", "active"),
	}
}
