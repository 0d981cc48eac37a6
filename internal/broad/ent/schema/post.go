package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
)

// Post is the M2O side of Account.posts, declared with a required edge
// field (author_id) and deleted by cascade with its author; it cascades to
// its comments and sets its featured profiles' hidden key to NULL, two
// levels below an account delete. A unique edge index (slug per author), a
// partial unique index (title among the live posts), a GoType enum, a
// uint64 counter and a soft-delete flag that an interceptor hides.
type Post struct {
	ent.Schema
}

// Mixin of the Post.
func (Post) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Post.
func (Post) Fields() []ent.Field {
	return []ent.Field{
		field.String("title"),
		field.String("slug"),
		field.Int("author_id"),
		field.Enum("status").GoType(broadtype.Status("")).Default(string(broadtype.StatusDraft)),
		field.Uint64("views").Default(0),
		field.Bool("deleted").Default(false),
	}
}

// Edges of the Post.
func (Post) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("author", Account.Type).Ref("posts").Field("author_id").Unique().Required(),
		edge.To("comments", Comment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("featured_in", Profile.Type).Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("tags", Tag.Type),
	}
}

// Indexes of the Post.
func (Post) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("slug").Edges("author").Unique(),
		index.Fields("title").Unique().Annotations(entsql.IndexWhere("deleted = false")),
	}
}

// Annotations of the Post.
func (Post) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("author_id"),
		cachemodel.PublishBy("author_id", "slug"),
		cachemodel.PublishBy("title"),
		cachemodel.PublishBy("status"),
		cachemodel.PublishBy("deleted"),
		cachemodel.PublishBy("views"),
	}
}
