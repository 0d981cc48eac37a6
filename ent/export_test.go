package ent

import "github.com/entcachemodel/entcachemodel/entcachemodel"

// Fields returns a copy of u without its client binding and loaded edges,
// so tests can compare entities read from the cache and from the database
// field by field, hidden foreign keys included.
func (u *User) Fields() User {
	c := *u
	c.config, c.Edges = config{}, UserEdges{}
	return c
}

// Fields returns a copy of p without its client binding and loaded edges.
func (p *Pet) Fields() Pet {
	c := *p
	c.config, c.Edges = config{}, PetEdges{}
	return c
}

// OwnerID returns the hidden foreign key of the pet's owner edge.
func (p *Pet) OwnerID() *int { return p.user_pets }

// Fields returns a copy of a without its client binding.
func (a *SemAccount) Fields() SemAccount {
	c := *a
	c.config = config{}
	return c
}

// EncodeUser returns the cached value of u, as the cache writes it (for
// the benchmarks' baselines).
func EncodeUser(u *User) []byte {
	e := entcachemodel.NewEncoder()
	userCacheSchema.Encode(e, u)
	return e.Bytes()
}
