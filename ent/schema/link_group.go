package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// LinkGroup holds the keys of edges declared on its own side: a many-to-one
// to LinkInfo (the key in LinkGroup's table, written by LinkInfo's inverse
// edge too), a many-to-one to LinkTag that LinkTag has no edge back for, and
// a one-to-one to LinkBadge (the key in LinkBadge's table).
type LinkGroup struct {
	ent.Schema
}

// Fields of the LinkGroup.
func (LinkGroup) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// Edges of the LinkGroup.
func (LinkGroup) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("info", LinkInfo.Type).Unique(),
		edge.To("tag", LinkTag.Type).Unique(),
		edge.To("badge", LinkBadge.Type).Unique(),
	}
}

// Annotations of the LinkGroup.
func (LinkGroup) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// LinkInfo is cached too; its groups edge is the inverse of LinkGroup.info.
type LinkInfo struct {
	ent.Schema
}

// Fields of the LinkInfo.
func (LinkInfo) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// Edges of the LinkInfo.
func (LinkInfo) Edges() []ent.Edge {
	return []ent.Edge{edge.From("groups", LinkGroup.Type).Ref("info")}
}

// Annotations of the LinkInfo.
func (LinkInfo) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// LinkTag is uncached and has no edge back to LinkGroup: only deleting it
// changes a group.
type LinkTag struct {
	ent.Schema
}

// Fields of the LinkTag.
func (LinkTag) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// LinkBadge holds the key of LinkGroup.badge (one-to-one).
type LinkBadge struct {
	ent.Schema
}

// Fields of the LinkBadge.
func (LinkBadge) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// Edges of the LinkBadge.
func (LinkBadge) Edges() []ent.Edge {
	return []ent.Edge{edge.From("group", LinkGroup.Type).Ref("badge").Unique()}
}

// Annotations of the LinkBadge.
func (LinkBadge) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}
