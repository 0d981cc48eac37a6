// Package profile holds the JSON member of version 1 of the deploy schema.
package profile

// Profile is a member's profile, stored as JSON.
type Profile struct {
	City string `json:"city"`
}
