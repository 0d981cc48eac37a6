package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// LinkNode references itself three ways: a tree with an edge field
// (parent_id), a tree with a hidden key (mom/kids) and a one-to-one chain
// (prev/next, hidden), and a tree declared from the child's side
// (boss/staff, hidden), and a symmetric one-to-one (twin, hidden).
type LinkNode struct {
	ent.Schema
}

// Fields of the LinkNode.
func (LinkNode) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Default(""),
		field.Int("parent_id").Optional().Nillable(),
	}
}

// Edges of the LinkNode.
func (LinkNode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", LinkNode.Type).From("parent").Field("parent_id").Unique(),
		// Deleting a mom deletes her kids, and theirs (a cascade with no
		// fixed depth).
		edge.To("kids", LinkNode.Type).Annotations(entsql.OnDelete(entsql.Cascade)).From("mom").Unique(),
		edge.To("next", LinkNode.Type).Unique().From("prev").Unique(),
		// Declared from the child's side: the key (link_node_boss) is the
		// child's, and the parent writes it through the inverse edge.
		edge.To("boss", LinkNode.Type).Unique().From("staff"),
		// Symmetric: setting it on one node sets it on the other too.
		edge.To("twin", LinkNode.Type).Unique(),
	}
}

// Annotations of the LinkNode.
func (LinkNode) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("parent_id"), cachemodel.PublishBy("name")}
}
