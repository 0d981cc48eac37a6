// Package ent is the generated client of the privacy semantics tests.
package ent

//go:generate go run -mod=mod entc.go
