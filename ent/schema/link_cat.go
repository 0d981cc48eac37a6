package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// LinkCat is a cached row with an edge field (owner_id, Nillable so that it
// may be published) that its owner's writes change.
type LinkCat struct {
	ent.Schema
}

// Fields of the LinkCat.
func (LinkCat) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Default(""),
		field.Int("owner_id").Optional().Nillable(),
	}
}

// Edges of the LinkCat.
func (LinkCat) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", LinkOwner.Type).Ref("cats").Field("owner_id").Unique(),
		edge.To("toys", LinkToy.Type),
	}
}

// Annotations of the LinkCat.
func (LinkCat) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("owner_id"), cachemodel.PublishBy("name")}
}

// LinkDog is a cached row with an edge field that is Optional but not
// Nillable (it cannot be published, only cached).
type LinkDog struct {
	ent.Schema
}

// Fields of the LinkDog.
func (LinkDog) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Default(""),
		field.Int("owner_id").Optional(),
	}
}

// Edges of the LinkDog.
func (LinkDog) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", LinkOwner.Type).Ref("dogs").Field("owner_id").Unique(),
	}
}

// Annotations of the LinkDog.
func (LinkDog) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// LinkToy has two links of two kinds: an edge field to its cat (SET NULL when
// the cat is deleted, also by a cascade from the cat's owner) and a hidden
// key to its box (SET NULL when a cascade deletes the box).
type LinkToy struct {
	ent.Schema
}

// Fields of the LinkToy.
func (LinkToy) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Default(""),
		field.Int("cat_id").Optional().Nillable(),
	}
}

// Edges of the LinkToy.
func (LinkToy) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("cat", LinkCat.Type).Ref("toys").Field("cat_id").Unique(),
		edge.From("box", LinkBox.Type).Ref("toys").Unique(),
	}
}

// Annotations of the LinkToy.
func (LinkToy) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("cat_id")}
}
