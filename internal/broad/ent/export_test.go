package ent

// WithFKs makes the query read the hidden foreign keys, as the cache's
// values hold them (ent reads them only when it loads an edge).
func (q *AccountQuery) WithFKs() *AccountQuery { q.withFKs = true; return q }

// WithFKs makes the query read the hidden foreign keys.
func (q *CommentQuery) WithFKs() *CommentQuery { q.withFKs = true; return q }

// WithFKs makes the query read the hidden foreign keys.
func (q *GroupQuery) WithFKs() *GroupQuery { q.withFKs = true; return q }

// WithFKs makes the query read the hidden foreign keys.
func (q *ProfileQuery) WithFKs() *ProfileQuery { q.withFKs = true; return q }

// WithFKs is here for symmetry: posts have no hidden foreign key.
func (q *PostQuery) WithFKs() *PostQuery { return q }

// WithFKs is here for symmetry: cards have no hidden foreign key.
func (q *CardQuery) WithFKs() *CardQuery { return q }

// WithFKs is here for symmetry: tags have no hidden foreign key.
func (q *TagQuery) WithFKs() *TagQuery { return q }

// WithFKs is here for symmetry: scalars have no hidden foreign key.
func (q *ScalarQuery) WithFKs() *ScalarQuery { return q }
