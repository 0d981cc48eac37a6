package ent

import (
	"context"

	"github.com/entcachemodel/entcachemodel/ent/linkbadge"
	"github.com/entcachemodel/entcachemodel/ent/linkcat"
	"github.com/entcachemodel/entcachemodel/ent/linkdog"
	"github.com/entcachemodel/entcachemodel/ent/linkgroup"
	"github.com/entcachemodel/entcachemodel/ent/linknode"
	"github.com/entcachemodel/entcachemodel/ent/linktoy"
)

// Stored returns the cat as the database has it.
func (c *LinkCatClient) Stored(ctx context.Context, id int) (*LinkCat, error) {
	return c.cacheQuery().Where(linkcat.ID(id)).Only(ctx)
}

// Stored returns the dog as the database has it.
func (c *LinkDogClient) Stored(ctx context.Context, id int) (*LinkDog, error) {
	return c.cacheQuery().Where(linkdog.ID(id)).Only(ctx)
}

// Stored returns the toy as the database has it, hidden keys included.
func (c *LinkToyClient) Stored(ctx context.Context, id int) (*LinkToy, error) {
	return c.cacheQuery().Where(linktoy.ID(id)).Only(ctx)
}

// Stored returns the node as the database has it, hidden keys included.
func (c *LinkNodeClient) Stored(ctx context.Context, id int) (*LinkNode, error) {
	return c.cacheQuery().Where(linknode.ID(id)).Only(ctx)
}

// Stored returns the group as the database has it, hidden keys included.
func (c *LinkGroupClient) Stored(ctx context.Context, id int) (*LinkGroup, error) {
	return c.cacheQuery().Where(linkgroup.ID(id)).Only(ctx)
}

// Stored returns the badge as the database has it, hidden keys included.
func (c *LinkBadgeClient) Stored(ctx context.Context, id int) (*LinkBadge, error) {
	return c.cacheQuery().Where(linkbadge.ID(id)).Only(ctx)
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkCat) Fields() LinkCat {
	c := *v
	c.config, c.Edges = config{}, LinkCatEdges{}
	return c
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkDog) Fields() LinkDog {
	c := *v
	c.config, c.Edges = config{}, LinkDogEdges{}
	return c
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkToy) Fields() LinkToy {
	c := *v
	c.config, c.Edges = config{}, LinkToyEdges{}
	return c
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkNode) Fields() LinkNode {
	c := *v
	c.config, c.Edges = config{}, LinkNodeEdges{}
	return c
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkGroup) Fields() LinkGroup {
	c := *v
	c.config, c.Edges = config{}, LinkGroupEdges{}
	return c
}

// Fields returns a copy of v without its client binding and loaded edges.
func (v *LinkBadge) Fields() LinkBadge {
	c := *v
	c.config, c.Edges = config{}, LinkBadgeEdges{}
	return c
}

// BoxID returns the toy's hidden box key.
func (v *LinkToy) BoxID() *int { return v.link_box_toys }

// MomID and PrevID return the node's hidden keys.
func (v *LinkNode) MomID() *int { return v.link_node_kids }

// PrevID returns the node's hidden key of its prev edge.
func (v *LinkNode) PrevID() *int { return v.link_node_next }

// InfoID returns the group's hidden info key.
func (v *LinkGroup) InfoID() *int { return v.link_group_info }

// TagID returns the group's hidden tag key.
func (v *LinkGroup) TagID() *int { return v.link_group_tag }

// GroupID returns the badge's hidden group key.
func (v *LinkBadge) GroupID() *int { return v.link_group_badge }
