package entcachemodel

import (
	"fmt"
	"testing"

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
