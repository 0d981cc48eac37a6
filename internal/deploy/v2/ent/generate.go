// Package ent is the generated client of version 2 of the rolling-deploy
// schema (internal/deploy).
package ent

//go:generate go run -mod=mod entc.go
