package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
)

// Comment has a UUID id (from the clock's sequence), a required edge field
// to its post (deleted by cascade with it, so with the post's author too)
// and a hidden key to its author account (set to NULL when it goes).
type Comment struct {
	ent.Schema
}

// Fields of the Comment.
func (Comment) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(broadtype.NewUUID),
		field.Text("body"),
		field.Int("post_id"),
		field.Float("score").Optional(),
		field.Int("likes").Optional().Nillable(),
	}
}

// Edges of the Comment.
func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("post", Post.Type).Ref("comments").Field("post_id").Unique().Required(),
		edge.From("author", Account.Type).Ref("comments").Unique(),
	}
}

// Annotations of the Comment.
func (Comment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("post_id"),
		cachemodel.PublishBy("likes"),
	}
}
