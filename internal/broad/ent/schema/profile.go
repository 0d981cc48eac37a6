package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// Profile holds two hidden keys written from the other side: the O2O
// account_profile (Account.profile) and the O2M post_featured_in
// (Post.featured_in, set to NULL when the post goes, itself deleted by
// cascade with its author).
type Profile struct {
	ent.Schema
}

// Fields of the Profile.
func (Profile) Fields() []ent.Field {
	return []ent.Field{
		field.String("handle").Unique(),
		field.String("bio").Optional(),
	}
}

// Edges of the Profile.
func (Profile) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("account", Account.Type).Ref("profile").Unique(),
		edge.From("featured", Post.Type).Ref("featured_in").Unique(),
	}
}

// Annotations of the Profile.
func (Profile) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("handle"),
		cachemodel.PublishBy("bio"),
	}
}
