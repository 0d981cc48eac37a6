// Package cachemodel is the schema side of entcachemodel: the annotation
// that declares which lookups of an ent type are published to Redis.
//
//	func (User) Annotations() []schema.Annotation {
//		return []schema.Annotation{
//			cachemodel.PublishBy("email"),
//			cachemodel.PublishBy("first_name", "last_name"),
//		}
//	}
//
// It imports only entgo.io/ent/schema, so schema packages stay light.
package cachemodel

import "entgo.io/ent/schema"

// Name is the annotation name the code generator looks for.
const Name = "CacheModel"

// Annotation lists the field sets whose lookups are published. The primary
// key is always published, with or without it.
type Annotation struct {
	// PublishBy holds one field list per PublishBy call, in call order.
	PublishBy [][]string `json:"PublishBy,omitempty"`
}

// Publish caches the type by id alone: client.T.Cached().Get and GetMany,
// with no lookup beyond the id. PublishBy implies it.
func Publish() *Annotation {
	return &Annotation{}
}

// PublishBy publishes the lookup by the given fields. A unique field set
// (a Unique field among them, or a unique index on exactly them) gets a
// GetBy helper; any other set gets a ListBy helper. It may be used any
// number of times on one schema.
func PublishBy(fields ...string) *Annotation {
	return &Annotation{PublishBy: [][]string{fields}}
}

// Name implements schema.Annotation.
func (Annotation) Name() string { return Name }

// Merge implements schema.Merger, so that PublishBy may repeat.
func (a *Annotation) Merge(other schema.Annotation) schema.Annotation {
	var b *Annotation
	switch o := other.(type) {
	case Annotation:
		b = &o
	case *Annotation:
		b = o
	default:
		return a
	}
	if b != nil {
		a.PublishBy = append(a.PublishBy, b.PublishBy...)
	}
	return a
}

var (
	_ schema.Annotation = (*Annotation)(nil)
	_ schema.Merger     = (*Annotation)(nil)
)
