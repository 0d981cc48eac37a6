package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/privacy"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
)

// SemAccount is the semantics tests' type: a secret that hooks scrub from
// returned entities, and a soft-delete flag that interceptors filter on.
type SemAccount struct {
	ent.Schema
}

// Fields of the SemAccount.
func (SemAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").Unique(),
		field.String("password").Default(""),
		field.String("name").Default(""),
		field.Int("age").Default(0),
		field.Bool("deleted").Default(false),
	}
}

// Annotations of the SemAccount.
func (SemAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("email"),
		cachemodel.PublishBy("age"),
	}
}

// SemNote is a second cached type of the semantics tests, written by
// clients made without the cache.
type SemNote struct {
	ent.Schema
}

// Fields of the SemNote.
func (SemNote) Fields() []ent.Field {
	return []ent.Field{
		field.String("text").Default(""),
	}
}

// Annotations of the SemNote.
func (SemNote) Annotations() []schema.Annotation {
	return []schema.Annotation{cachemodel.PublishBy("text")}
}

// SemSecret is a cached type with a privacy policy: queries are denied
// unless the context names a viewer (SemViewerContext); writes are allowed.
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
	return []schema.Annotation{cachemodel.PublishBy("name")}
}

// Policy of the SemSecret.
func (SemSecret) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{semViewerRule{}, privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysAllowRule()},
	}
}

type semViewerKey struct{}

// SemViewerContext returns ctx naming a viewer, whom SemSecret's policy
// lets query.
func SemViewerContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, semViewerKey{}, true)
}

type semViewerRule struct{}

// EvalQuery allows the query of a viewer.
func (semViewerRule) EvalQuery(ctx context.Context, _ ent.Query) error {
	if ctx.Value(semViewerKey{}) != nil {
		return privacy.Allow
	}
	return privacy.Skip
}
