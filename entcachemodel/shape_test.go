package entcachemodel

import (
	"reflect"
	"testing"
	"time"
)

type shapeV1 struct {
	Name string `json:"name"`
	Tags []string
}

type shapeV2 struct {
	Name string `json:"name"`
	Tags []string
	Note string `json:"note,omitempty"` // a member added by a later version
}

type shapeRenamed struct {
	Name string `json:"title"`
	Tags []string
}

type shapeTree struct {
	Children []*shapeTree
	At       time.Time
}

// A JSON field's shape is part of the schema hash: a member added, renamed
// or retyped gives another hash; the same shape under another type name
// gives the same.
func TestShapedHashFollowsTheJSONShape(t *testing.T) {
	v1 := ShapedHash("abc", reflect.TypeFor[[]shapeV1]())
	if v1 == ShapedHash("abc", reflect.TypeFor[[]shapeV2]()) {
		t.Error("a member added to the struct kept the hash")
	}
	if v1 == ShapedHash("abc", reflect.TypeFor[[]shapeRenamed]()) {
		t.Error("a member's JSON name changed and kept the hash")
	}
	if v1 == ShapedHash("abd", reflect.TypeFor[[]shapeV1]()) {
		t.Error("the generated hash is not part of it")
	}
	type sameShape struct {
		Name string `json:"name"`
		Tags []string
	}
	if v1 != ShapedHash("abc", reflect.TypeFor[[]sameShape]()) {
		t.Error("the same shape under another name changed the hash")
	}
	if v1 != ShapedHash("abc", reflect.TypeFor[[]shapeV1]()) {
		t.Error("not deterministic")
	}
	// Recursive types and types with their own encoding end.
	if ShapedHash("abc", reflect.TypeFor[shapeTree]()) == "" {
		t.Error("no hash for a recursive type")
	}
	for _, h := range []string{v1, ShapedHash("abc")} {
		if len(h) != 12 {
			t.Errorf("hash %q is not 12 hex digits", h)
		}
	}
}
