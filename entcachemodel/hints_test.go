package entcachemodel

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// Hints hold at most about the number asked (a full shard is emptied), and
// none when asked for none.
func TestLookupHintsAreBounded(t *testing.T) {
	h := newLookupHints(128)
	for i := range 10000 {
		h.put(fmt.Sprint("k", i), i)
	}
	assert.LessOrEqual(t, h.len(), 128, "hints held")
	assert.Positive(t, h.len())
	h.put("k", 1)
	id, ok := h.get("k")
	assert.True(t, ok)
	assert.Equal(t, 1, id)
	h.put("k", 2) // a key held is replaced, not counted again
	id, _ = h.get("k")
	assert.Equal(t, 2, id)
	h.drop("k")
	_, ok = h.get("k")
	assert.False(t, ok)

	var none *lookupHints = newLookupHints(0)
	none.put("k", 1)
	_, ok = none.get("k")
	assert.False(t, ok)
	assert.Zero(t, none.len())
}

// A hinted string id (of a named string type too) is a copy: the one given
// may be a substring of a whole Redis reply.
func TestLookupHintsCopyStringIDs(t *testing.T) {
	type tagID string
	reply := strings.Repeat("x", 1<<10) + "id-1" + strings.Repeat("y", 1<<10)
	sub := reply[1<<10 : 1<<10+4]
	h := newLookupHints(64)
	h.put("a", sub)
	h.put("b", tagID(sub))
	h.put("c", 7)
	for _, k := range []string{"a", "b"} {
		id, _ := h.get(k)
		s := reflect.ValueOf(id).String()
		assert.Equal(t, "id-1", s, k)
		assert.NotEqual(t, uintptr(unsafe.Pointer(unsafe.StringData(sub))), uintptr(unsafe.Pointer(unsafe.StringData(s))), "hint %s shares the reply's bytes", k)
	}
	id, _ := h.get("b")
	assert.IsType(t, tagID(""), id)
	id, _ = h.get("c")
	assert.Equal(t, 7, id)
}
