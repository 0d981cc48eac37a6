// Package codec benchmarks msgpack on the fields of the test schema's
// User, as the reference the cache's own codec is measured against
// (ent.BenchmarkDecodeUser, on the same values). It is a module of its
// own so that msgpack stays out of the main module's dependencies.
package codec

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// user has the fields of ent.User that the cache stores, of the same
// types (the role as its string type).
type user struct {
	ID        int
	Email     string
	FirstName string
	LastName  string
	Age       int
	Nickname  *string
	Password  string
	Tags      []string
	Role      string
	Score     float64
	Avatar    []byte
	JoinedAt  *time.Time
	Active    bool
}

// asArray is user encoded as an array (msgpack's compact and fastest form).
type asArray struct {
	_msgpack struct{} `msgpack:",as_array"`
	user
}

// benchUser holds the values of ent's benchUser.
func benchUser() user {
	nick := "ada"
	joined := time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC)
	return user{
		ID: 123456, Email: "ada.lovelace@example.com", FirstName: "Ada", LastName: "Lovelace",
		Age: 36, Nickname: &nick, Password: "s3cr3t-hash-0123456789", Tags: []string{"math", "poetry", "engines"},
		Role: "admin", Score: 97.5, Avatar: []byte("0123456789abcdef"), JoinedAt: &joined, Active: true,
	}
}

func benchDecode[T any](b *testing.B, v T) {
	data, err := msgpack.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var out T
		if err := msgpack.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeUser decodes the user with msgpack: as a map of field
// names (its default) and as an array.
func BenchmarkDecodeUser(b *testing.B) {
	b.Run("map", func(b *testing.B) { benchDecode(b, benchUser()) })
	b.Run("array", func(b *testing.B) { benchDecode(b, asArray{user: benchUser()}) })
}

// TestRoundTrip checks that msgpack decodes what the benchmark gives it.
func TestRoundTrip(t *testing.T) {
	data, err := msgpack.Marshal(benchUser())
	if err != nil {
		t.Fatal(err)
	}
	var out user
	if err := msgpack.Unmarshal(data, &out); err != nil || out.Email != benchUser().Email || len(out.Tags) != 3 || *out.Nickname != "ada" {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
}
