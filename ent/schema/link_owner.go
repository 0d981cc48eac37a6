package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// LinkOwner is an uncached owner of cached rows, for the link tests: its
// cats are deleted with it (ON DELETE CASCADE), its boxes too, its dogs keep
// living with no owner (SET NULL).
type LinkOwner struct {
	ent.Schema
}

// Fields of the LinkOwner.
func (LinkOwner) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// Edges of the LinkOwner.
func (LinkOwner) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("cats", LinkCat.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("dogs", LinkDog.Type).Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("boxes", LinkBox.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// LinkBox is an uncached type in the middle of a cascade: deleting its owner
// deletes it, which sets its toys' hidden key NULL.
type LinkBox struct {
	ent.Schema
}

// Fields of the LinkBox.
func (LinkBox) Fields() []ent.Field {
	return []ent.Field{field.String("name").Default("")}
}

// Edges of the LinkBox.
func (LinkBox) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", LinkOwner.Type).Ref("boxes").Unique(),
		edge.To("toys", LinkToy.Type),
	}
}
