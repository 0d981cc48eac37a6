// Package profile holds the JSON member of version 2 of the deploy schema:
// the struct gained a member.
package profile

// Profile is a member's profile, stored as JSON.
type Profile struct {
	City string `json:"city"`
	Zip  string `json:"zip,omitempty"`
}
