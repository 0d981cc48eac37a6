package ent

import (
	"testing"
	"time"

	"github.com/entcachemodel/entcachemodel/ent/user"
	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// benchUser is the user the decode benchmarks decode: every field set,
// the JSON field included. bench/codec decodes the same values, in a
// struct of the same fields, with msgpack.
func benchUser() *User {
	nick := "ada"
	joined := time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC)
	return &User{
		ID: 123456, Email: "ada.lovelace@example.com", FirstName: "Ada", LastName: "Lovelace",
		Age: 36, Nickname: &nick, Password: "s3cr3t-hash-0123456789", Tags: []string{"math", "poetry", "engines"},
		Role: user.RoleAdmin, Score: 97.5, Avatar: []byte("0123456789abcdef"), JoinedAt: &joined, Active: true,
	}
}

// BenchmarkDecodeUser decodes a cached user from its bytes (checksum
// checked, the bytes copied once into a string), as a hit does but for
// that copy: a hit decodes the Redis reply's string itself.
func BenchmarkDecodeUser(b *testing.B) {
	e := entcachemodel.NewEncoder()
	userCacheSchema.Encode(e, benchUser())
	data := e.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := entcachemodel.NewDecoder(data)
		v := userCacheSchema.Decode(d)
		if d.Err() != nil || v.ID != 123456 || len(v.Tags) != 3 {
			b.Fatal(d.Err())
		}
	}
}

// BenchmarkEncodeUser encodes a cached user, as a publish does.
func BenchmarkEncodeUser(b *testing.B) {
	v := benchUser()
	b.ReportAllocs()
	for b.Loop() {
		e := entcachemodel.NewEncoder()
		userCacheSchema.Encode(e, v)
		_ = e.Bytes()
	}
}
