// Package schema is the schema of the semantics tests of privacy policies:
// a policy moves ent's runtime code into the generated runtime package,
// which the main test schema keeps out of.
package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/privacy"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// SemSecret is a cached type with a privacy policy: queries are denied
// unless the context names a viewer (ViewerContext); writes are allowed.
type SemSecret struct {
	ent.Schema
}

// Fields of the SemSecret.
func (SemSecret) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique(),
		field.Int("level").Default(0),
	}
}

// Annotations of the SemSecret.
func (SemSecret) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("name"), cachemodel.PublishBy("level")}
}

// Policy of the SemSecret.
func (SemSecret) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{viewerRule{}, privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysAllowRule()},
	}
}

type viewerKey struct{}

// ViewerContext returns ctx naming a viewer, whom SemSecret's policy lets
// query.
func ViewerContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, viewerKey{}, true)
}

type viewerRule struct{}

// EvalQuery allows the queries of a viewer.
func (viewerRule) EvalQuery(ctx context.Context, _ ent.Query) error {
	if ctx.Value(viewerKey{}) != nil {
		return privacy.Allow
	}
	return privacy.Skip
}
