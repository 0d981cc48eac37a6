package entcachemodel

import (
	"sync"

	"entgo.io/ent"
)

// A CreateBulk runs each row's create through its hooks, nested: the first
// row's hook calls the second's, and so on, and the last one runs the one
// INSERT of all the rows; then the hooks return, the last row's first. Each
// cache write would mark its row, read it back and publish it on its own:
// three round trips and a query per row. Just before the INSERT, the
// generated code names the bulk's mutations (BeginBulk): each write but the
// first's then hands what it would publish to the first's, which returns
// last, and that one marks, reads back and publishes every row at once.
//
// The writes have marked their lists before the INSERT, one round trip each
// (a hook cannot tell that it is part of a bulk before then), so several of
// them may hold a token on the same list key. The marks were taken in row
// order, so the last row's is the latest: the first write keeps, for each
// key, the token of the latest row that holds one, and releases the others
// when it publishes (a publish with an older token would be refused).

// bulks maps each mutation of a CreateBulk about to insert to its bulk.
var bulks sync.Map // ent.Mutation -> *bulk

// bulk collects the writes of one CreateBulk.
type bulk struct {
	first  ent.Mutation
	mu     sync.Mutex
	handed []any // *bulkShare[T, ID], in the order the writes returned
}

// bulkShare is what one write of a bulk hands to the first.
type bulkShare[T any, ID comparable] struct {
	p       any // *part[T, ID]
	created []ID
	ids     []ID
}

// The INSERT of a CreateBulk runs on the bulk's driver, while each row's
// hooks run with its own builder's config: a bulk saved on a transaction's
// client may hold builders of the client the transaction was opened on
// (whose cache writes take themselves to run outside it), and the reverse.
// So each create's cache writes (the row's own and its link writes) note
// themselves before the statement, and BeginBulk tells the notes where it
// runs. A write whose statement ran in another transaction than its own
// ends with the statement's transaction (Schema.adopt); one whose statement
// ran outside any, inside its own transaction, is not undone by that
// transaction's rollback (part.escaped).

// stmtNote is what a create's cache writes learn of their statement.
type stmtNote struct {
	own   any    // the writes' transaction key, nil outside one
	cache *Cache // of the row's own cache write, nil if only links noted
	refs  int
	told  bool // BeginBulk named the statement's transaction
	tx    Tx
	key   any
}

// stmts holds the notes of the creates whose cache writes are running
// (waiting for their statement), by mutation. A user hook may hand ent
// another mutation than the one the cache write holds: no note is told of
// that one's statement, nor is it noted in a bulk.
var stmts = struct {
	sync.Mutex
	m map[ent.Mutation]*stmtNote
}{m: map[ent.Mutation]*stmtNote{}}

// noteStatement notes a cache write of the create m before its statement:
// own is the write's transaction key; c is set by the row's own write.
func noteStatement(m ent.Mutation, own any, c *Cache) *stmtNote {
	stmts.Lock()
	defer stmts.Unlock()
	n := stmts.m[m]
	if n == nil {
		n = &stmtNote{own: own}
		stmts.m[m] = n
	}
	if c != nil {
		n.cache = c
	}
	n.refs++
	return n
}

// done ends one write's use of the note of m.
func (n *stmtNote) done(m ent.Mutation) {
	stmts.Lock()
	defer stmts.Unlock()
	if n.refs--; n.refs == 0 && stmts.m[m] == n {
		delete(stmts.m, m)
	}
}

// elsewhere reports whether the statement ran in another transaction than
// the write's own, and which (tx nil: outside any).
func (n *stmtNote) elsewhere() (tx Tx, key any, ok bool) {
	if n == nil {
		return nil, nil, false
	}
	stmts.Lock()
	defer stmts.Unlock()
	if !n.told || n.key == n.own {
		return nil, nil, false
	}
	return n.tx, n.key, true
}

// BeginBulk tells the cache writes of ms that their INSERT is about to run
// in tx, whose key is txKey (both nil outside a transaction): the generated
// statement code of a CreateBulk calls it just before the insert, on the
// bulk's cache c. If every row's cache write is running on c in that same
// transaction, they are noted as one bulk; not with c disabled, nor when a
// mutation of ms is not one a cache write of c is running for (a user hook
// passed ent another one, or the builder is another client's).
func BeginBulk(c *Cache, tx Tx, txKey any, ms []ent.Mutation) {
	one := len(ms) >= 2 && c.Enabled()
	stmts.Lock()
	for _, m := range ms {
		n := stmts.m[m]
		if n == nil {
			one = false
			continue
		}
		n.told, n.tx, n.key = true, tx, txKey
		if n.cache != c || n.own != txKey {
			one = false // rows that end elsewhere: each publishes alone
		}
	}
	stmts.Unlock()
	if !one {
		return
	}
	b := &bulk{first: ms[0]}
	for _, m := range ms {
		bulks.Store(m, b)
	}
}

// bulkOf returns the bulk m is part of, if any.
func bulkOf(m ent.Mutation) *bulk {
	if m == nil {
		return nil
	}
	if b, ok := bulks.Load(m); ok {
		return b.(*bulk)
	}
	return nil
}

// handBulk hands a write of a bulk, other than the first, to the first: its
// part, the rows it created and the rows it found before (an upsert's). It
// reports false when the write must publish by itself (its part watches
// owners, which its own return stops).
func handBulk[T any, ID comparable](b *bulk, m ent.Mutation, p *part[T, ID], created, ids []ID) bool {
	p.mu.Lock()
	watching := len(p.watches) > 0 || p.renew != nil
	p.mu.Unlock()
	bulks.Delete(m)
	if watching {
		return false
	}
	b.mu.Lock()
	b.handed = append(b.handed, &bulkShare[T, ID]{p: p, created: created, ids: ids})
	b.mu.Unlock()
	return true
}

// takeBulk is the first write of b taking the others over, after they all
// returned: their parts join p (a transaction's writes share p already),
// and it returns their rows, to mark and read back with its own.
func takeBulk[T any, ID comparable](b *bulk, p *part[T, ID]) (created, ids []ID) {
	bulks.Delete(b.first)
	b.mu.Lock()
	handed := b.handed
	b.handed = nil
	b.mu.Unlock()
	var parts []*part[T, ID]
	for _, h := range handed {
		sh, ok := h.(*bulkShare[T, ID])
		if !ok {
			continue
		}
		created = append(created, sh.created...)
		ids = append(ids, sh.ids...)
		if q := sh.p.(*part[T, ID]); q != p {
			parts = append(parts, q)
		}
	}
	if len(parts) > 0 {
		p.absorb(parts)
	}
	return created, ids
}

// absorb takes into p the writes buffered in parts, which are no longer
// used, listed latest-marked first; p's own marks are the oldest. Of
// several tokens on one key, the latest is kept and the others are
// released when p ends.
func (p *part[T, ID]) absorb(parts []*part[T, ID]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	own := p.tokens
	p.tokens = make(map[string]string, len(own)*(len(parts)+1))
	take := func(tokens map[string]string) {
		for k, t := range tokens {
			if _, held := p.tokens[k]; held {
				if t != "" {
					p.superseded = append(p.superseded, [2]string{k, t})
				}
				continue
			}
			p.tokens[k] = t
		}
	}
	for _, q := range parts {
		q.mu.Lock()
		take(q.tokens)
		p.superseded = append(p.superseded, q.superseded...)
		for _, t := range q.order {
			if _, ok := p.rows[t]; !ok {
				p.order = append(p.order, t)
			}
			p.rows[t] = q.rows[t]
		}
		p.rels = append(p.rels, q.rels...)
		p.unmarked = p.unmarked || q.unmarked
		p.unsure = p.unsure || q.unsure
		p.all = p.all || q.all
		for f := range q.touched {
			if p.touched == nil {
				p.touched = map[string]bool{}
			}
			p.touched[f] = true
		}
		p.moves = append(p.moves, q.moves...)
		q.tokens, q.rows, q.order = map[string]string{}, map[string]*pending[T, ID]{}, nil
		q.mu.Unlock()
	}
	take(own)
}
