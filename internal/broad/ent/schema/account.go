package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// Account is the hub: an int id, the time mixin, a Sensitive field that a
// user hook blanks in what it returns, a self-referential O2M edge with an
// edge field (parent/children) and a self-referential O2O edge with a
// hidden key (spouse), and the owner side of O2M, O2O and M2M edges.
type Account struct {
	ent.Schema
}

// Mixin of the Account.
func (Account) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Account.
func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.String("name").Default(""),
		field.Int("age").Default(0),
		field.String("nickname").Optional().Nillable(),
		field.String("password").Sensitive().Optional(),
		field.Enum("role").Values("admin", "member").Default("member"),
		field.Int("parent_id").Optional().Nillable(),
	}
}

// Edges of the Account.
func (Account) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", Account.Type).From("parent").Field("parent_id").Unique(),
		edge.To("spouse", Account.Type).Unique(),
		edge.To("posts", Post.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("comments", Comment.Type),
		edge.To("profile", Profile.Type).Unique(),
		edge.To("card", Card.Type).Unique(),
		edge.To("groups", Group.Type),
		edge.From("managed_groups", Group.Type).Ref("manager"),
	}
}

// Indexes of the Account.
func (Account) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name", "age"),
	}
}

// Annotations of the Account.
func (Account) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("age"),
		cachemodel.PublishBy("name", "age"),
		cachemodel.PublishBy("nickname"),
		cachemodel.PublishBy("role"),
		cachemodel.PublishBy("parent_id"),
	}
}
