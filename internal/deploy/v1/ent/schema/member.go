// Package schema is version 1 of the rolling-deploy schema: the version
// that version 2 replaces (and that a rollback brings back).
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/deploy/v1/profile"
)

// Member is the one type of the deploy schema.
type Member struct {
	ent.Schema
}

// Fields of the Member.
func (Member) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.Int("age").Default(0),
		field.String("team").Default(""),
		field.Int("level").Default(0),
		field.JSON("profile", profile.Profile{}).Optional(),
	}
}

// Annotations of the Member: version 2 drops the team list and adds
// others.
func (Member) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("age"),
		cachemodel.PublishBy("team"),
	}
}
