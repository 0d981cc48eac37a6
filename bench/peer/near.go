//go:build nearcache

package main

import "github.com/entcachemodel/entcachemodel/entcachemodel"

// With -tags nearcache (bench/run: NEAR=1) the stale-read test adds a
// reader with the near cache on, once the option exists.
func init() {
	nearOption = func() entcachemodel.Option { return entcachemodel.WithNearCache(10000) }
}
