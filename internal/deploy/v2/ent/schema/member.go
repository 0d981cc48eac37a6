// Package schema is version 2 of the rolling-deploy schema. Against
// version 1 it adds a field (nick, Optional, with a list on it), its JSON
// profile gains a member, and its lists differ: no list by team, a list by
// level.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/deploy/v2/profile"
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
		field.String("nick").Optional(),
	}
}

// Annotations of the Member.
func (Member) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("age"),
		cachemodel.PublishBy("level"),
		cachemodel.PublishBy("nick"),
	}
}
