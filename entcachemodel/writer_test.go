package entcachemodel

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inChunks keeps each query within reloadChunk keys and returns every
// result in order.
func TestInChunks(t *testing.T) {
	keys := make([]int, 2*reloadChunk+7)
	for i := range keys {
		keys[i] = i
	}
	var sizes []int
	got, err := inChunks(context.Background(), keys, func(_ context.Context, chunk []int) ([]int, error) {
		sizes = append(sizes, len(chunk))
		out := make([]int, len(chunk))
		for i, k := range chunk {
			out[i] = -k
		}
		return out, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int{reloadChunk, reloadChunk, 7}, sizes)
	require.Len(t, got, len(keys))
	for i, v := range got {
		assert.Equal(t, -i, v)
	}

	boom := errors.New("boom")
	_, err = inChunks(context.Background(), keys, func(context.Context, []int) ([]int, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)

	none, err := inChunks(context.Background(), []int(nil), func(context.Context, []int) ([]int, error) {
		t.Fatal("no keys, no query")
		return nil, nil
	})
	require.NoError(t, err)
	assert.Empty(t, none)
}
