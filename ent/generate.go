// Package ent is the generated client of entcachemodel's test schema.
package ent

//go:generate go run -mod=mod entc.go
