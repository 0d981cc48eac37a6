// Package schema is the broad test schema: every ent pattern the cache must
// handle as real projects use them (see internal/broad/PENDING.md for the
// ones switched off until the code generator supports them).
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
)

// TimeMixin adds create_time (immutable) and update_time (set again on
// every update) from the clock.
type TimeMixin struct {
	mixin.Schema
}

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("create_time").Default(broadtype.Now).Immutable(),
		field.Time("update_time").Default(broadtype.Now).UpdateDefault(broadtype.Now),
	}
}
