// Package ent is the generated client of the broad test schema: a
// catalogue of ent's patterns as real projects use them, each type cached,
// that the equivalence harness runs side by side with and without the cache.
package ent

//go:generate go run -mod=mod entc.go
