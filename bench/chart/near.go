//go:build nearcache

package main

import "github.com/entcachemodel/entcachemodel/entcachemodel"

// With -tags nearcache (bench/run: NEAR=1) the curves add a series of
// Cached().Get with the near cache on, once the option exists.
func init() {
	nearOption = func() entcachemodel.Option { return entcachemodel.WithNearCache(10000) }
}
