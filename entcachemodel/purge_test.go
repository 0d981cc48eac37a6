package entcachemodel

import (
	"testing"
	"time"
)

func TestKeyClass(t *testing.T) {
	p := KeyPart("app")
	for _, tc := range []struct {
		key  string
		typ  string
		kind keyKind
	}{
		{"{" + p + ":User:0.h1.0:r:r5}", "User", kindRow},
		{"{" + p + ":User:0.h1.0:r:r5}:lk", "User", kindLease},
		{"{" + p + ":User:3.h2.17:u:email:ra@x.io}", "User", kindUnique},
		{"{" + p + ":User:3.h2.17:u:email:ra@x.io}:lk", "User", kindLease},
		{"{" + p + ":User:0.h1.0:l:age:r30}", "User", kindList},
		{"{" + p + ":User:0.h1.0:z:new}", "User", kindData},
		{"{" + p + ":User:w:user_pets:r7}", "User", kindWatch},
		{"{" + p + ":User}:versions", "User", kindRegistry},
		{"{" + p + ":User}:other", "User", kindOther},
		{"{" + p + ":User:junk", "User", kindOther},
		{"{" + p + ":User:a}b}", "User", kindOther},
		{"{" + p + ":User", "User", kindOther},
		{"{" + p + "}:servers", "", kindControl},
		{"{" + p + "2:User:0.h1.0:r:r5}", "", kindControl}, // another prefix
		{"{" + p, "", kindControl},
	} {
		typ, kind := keyClass("app", tc.key)
		if typ != tc.typ || kind != tc.kind {
			t.Errorf("keyClass(%q) = %q, %d; want %q, %d", tc.key, typ, kind, tc.typ, tc.kind)
		}
	}
}

func TestTypeMatchEscapesAndSeparatesTypes(t *testing.T) {
	if got, want := typeMatch("a*b", "User"), `{x612a62:User[:}]*`; got != want {
		// KeyPart hex-encodes "a*b": nothing to escape there.
		t.Errorf("typeMatch = %q, want %q", got, want)
	}
	if got, want := globEscape(`a*b?[c]\`), `a\*b\?\[c\]\\`; got != want {
		t.Errorf("globEscape = %q, want %q", got, want)
	}
}

// A purge refuses the fills that were pending (they may have read the
// database before the write the purge cleans up after), and keeps the mark
// of a write in flight, which still publishes.
func TestPurgeUnderTheProtocol(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	e.c.prefix = "test" // the prefix of e.ks
	filling := e.ks.row("1")
	marked := e.ks.row("2")
	reader := e.lease(filling)
	if reader == "" {
		t.Fatal("no lease")
	}
	writer := e.mark(marked)
	if n := e.set(marked, "w-earlier-published-value", "old", "fill"); n != 0 {
		t.Fatalf("a foreign token stored: %d", n)
	}
	n, err := e.c.purgeKeys(e.ctx, []string{lease(filling), lease(marked)})
	if err != nil {
		t.Fatal(err)
	}
	// The reader's lease key goes; the marked key's lease stays (no data
	// key existed for either).
	if n != 1 {
		t.Errorf("removed %d keys, want 1", n)
	}
	if e.m.Exists(lease(filling)) {
		t.Error("the reader's lease survived")
	}
	if !e.m.Exists(lease(marked)) {
		t.Error("the writer's mark was removed")
	}
	if got := e.set(filling, reader, "read before the purge", "fill"); got != 0 {
		t.Error("a fill pending before the purge stored its value")
	}
	e.requireNoValue(filling)
	// Another reader cannot fill the marked key while the write runs.
	if tok := e.lease(marked); tok != "" {
		t.Error("a reader got a lease on a key a running write marked")
	}
	if got := e.set(marked, writer, "new", "publish"); got != 1 {
		t.Error("the write's publish was refused after the purge")
	}
	e.requireValue(marked, "new")
}

// A purge removes a mark that ran out (its writer may have died) with the
// data, and a lease key of a type the protocol never writes.
func TestPurgeRemovesExpiredMarksAndForeignLeases(t *testing.T) {
	e := newScriptEnv(t, 200*time.Millisecond)
	e.c.prefix = "test"
	k := e.ks.row("1")
	e.mark(k)
	if err := e.c.rdb.Set(e.ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	foreign := e.ks.row("2")
	if err := e.c.rdb.Set(e.ctx, lease(foreign), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // the scripts read the server's clock
	n, err := e.c.purgeKeys(e.ctx, []string{k, lease(foreign)})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("removed %d keys, want 3", n)
	}
	for _, key := range []string{k, lease(k), lease(foreign)} {
		if e.m.Exists(key) {
			t.Errorf("%s survived", key)
		}
	}
}
