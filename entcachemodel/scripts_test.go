package entcachemodel

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// scriptEnv is a Cache on its own miniredis.
type scriptEnv struct {
	t   *testing.T
	ctx context.Context
	m   *miniredis.Miniredis
	c   *Cache
	ks  keyspace
}

func newScriptEnv(t *testing.T, leaseDur time.Duration) *scriptEnv {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	c := New(rdb, WithLease(leaseDur), WithTimeout(2*time.Second))
	return &scriptEnv{t: t, ctx: context.Background(), m: m, c: c, ks: newKeyspace("test", "User", "h1")}
}

// expire lets every token taken so far run out: the scripts read the
// server's clock (real time), miniredis expires keys only when told.
func (e *scriptEnv) expire() {
	time.Sleep(e.c.lease + 50*time.Millisecond)
	e.m.FastForward(e.c.lease + 50*time.Millisecond)
}

func (e *scriptEnv) mark(key string) string {
	e.t.Helper()
	tokens, err := e.c.marks(e.ctx, []string{key})
	if err != nil {
		e.t.Fatalf("marks: %v", err)
	}
	if len(tokens) != 1 || tokens[0] == "" {
		e.t.Fatalf("marks returned %q", tokens)
	}
	return tokens[0]
}

// lease asks for a fill lease, without the value check; "" means busy.
func (e *scriptEnv) lease(key string) string {
	e.t.Helper()
	tokens, values, err := e.c.leases(e.ctx, []string{key}, false)
	if err != nil {
		e.t.Fatalf("leases: %v", err)
	}
	if values[0] != nil {
		e.t.Fatalf("leases without check returned a value %q", values[0])
	}
	return tokens[0]
}

func (e *scriptEnv) script(s *redis.Script, key string, args ...any) int64 {
	e.t.Helper()
	cmds, err := e.c.runScripts(e.ctx, 1, func(pipe redis.Pipeliner, _ int) *redis.Cmd {
		return s.EvalSha(e.ctx, pipe, []string{key, lease(key)}, args...)
	})
	if err != nil {
		e.t.Fatalf("script: %v", err)
	}
	n, err := cmds[0].Int64()
	if err != nil {
		e.t.Fatalf("script result: %v", err)
	}
	return n
}

func (e *scriptEnv) set(key, token, value, mode string) int64 {
	e.t.Helper()
	return e.script(setScript, key, token, value, mode)
}

func (e *scriptEnv) listFill(key, token string, members ...string) int64 {
	e.t.Helper()
	args := []any{token, "-inf", listPresent}
	for _, m := range members {
		args = append(args, testScore(m), m)
	}
	return e.script(listFillScript, key, args...)
}

func (e *scriptEnv) listAdd(key, token, member string) int64 {
	e.t.Helper()
	return e.script(listAddScript, key, token, testScore(member), member)
}

func (e *scriptEnv) value(key string) (string, bool) {
	v, err := e.m.Get(key)
	if err == miniredis.ErrKeyNotFound {
		return "", false
	}
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	return v, true
}

func (e *scriptEnv) requireValue(key, want string) {
	e.t.Helper()
	if v, ok := e.value(key); !ok || v != want {
		e.t.Fatalf("value = %q (present %v), want %q", v, ok, want)
	}
}

func (e *scriptEnv) requireNoValue(key string) {
	e.t.Helper()
	if v, ok := e.value(key); ok {
		e.t.Fatalf("value = %q, want none", v)
	}
}

func (e *scriptEnv) requireTTL(key string, bounded bool) {
	e.t.Helper()
	ttl := e.m.TTL(key)
	switch {
	case bounded && (ttl <= 0 || ttl > e.c.lease):
		e.t.Fatalf("TTL of %s = %v, want one in (0, %v]", key, ttl, e.c.lease)
	case !bounded && ttl != 0:
		e.t.Fatalf("TTL of %s = %v, want none", key, ttl)
	}
}

func (e *scriptEnv) members(key string) []string {
	e.t.Helper()
	if !e.m.Exists(key) {
		return nil
	}
	ms, err := e.m.ZMembers(key)
	if err != nil {
		e.t.Fatalf("members: %v", err)
	}
	slices.Sort(ms)
	return ms
}

func (e *scriptEnv) requireMembers(key string, want ...string) {
	e.t.Helper()
	slices.Sort(want)
	if got := e.members(key); !slices.Equal(got, want) {
		e.t.Fatalf("members of %s = %q, want %q", key, got, want)
	}
}

func TestTokensAreUnique(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	other := New(e.c.rdb)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		for _, tok := range []string{e.c.token(), other.token()} {
			if seen[tok] || tok == "" || tok == "~" {
				t.Fatalf("token %q repeated or reserved", tok)
			}
			seen[tok] = true
		}
	}
}

func TestLeaseThenFill(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	r := e.lease(key)
	if r == "" {
		t.Fatal("no lease on an idle key")
	}
	if e.set(key, r, "v1", "fill") != 1 {
		t.Fatal("fill under a held lease was refused")
	}
	e.requireValue(key, "v1")
	e.requireTTL(key, false)
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
	// The lease is spent: filling again is refused and keeps the value.
	if e.set(key, r, "v2", "fill") != 0 {
		t.Fatal("a spent lease filled twice")
	}
	e.requireValue(key, "v1")
}

func TestLeaseCheckReturnsValue(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	e.m.Set(key, "cached")
	tokens, values, err := e.c.leases(e.ctx, []string{key, e.ks.row("2")}, true)
	if err != nil {
		t.Fatal(err)
	}
	if tokens[0] != "" || string(values[0]) != "cached" {
		t.Fatalf("present key: token %q value %q", tokens[0], values[0])
	}
	if tokens[1] == "" || values[1] != nil {
		t.Fatalf("missing key: token %q value %q", tokens[1], values[1])
	}
	// Without the check the present key is leased too.
	if e.lease(key) == "" {
		t.Fatal("no lease without the check")
	}
}

func TestLeaseBusyWhileReaderHolds(t *testing.T) {
	e := newScriptEnv(t, 200*time.Millisecond)
	key := e.ks.row("1")
	r1 := e.lease(key)
	if r1 == "" {
		t.Fatal("no first lease")
	}
	if r2 := e.lease(key); r2 != "" {
		t.Fatal("a second reader got a lease while the first holds one")
	}
	// Once the first lease runs out, the key can be leased again, and the
	// expired reader can no longer fill.
	e.expire()
	r3 := e.lease(key)
	if r3 == "" {
		t.Fatal("no lease after the first one expired")
	}
	if e.set(key, r1, "old", "fill") != 0 {
		t.Fatal("an expired lease filled")
	}
	if e.set(key, r3, "new", "fill") != 1 {
		t.Fatal("the current lease was refused")
	}
	e.requireValue(key, "new")
}

func TestLeaseBusyWhileWriterMarked(t *testing.T) {
	e := newScriptEnv(t, 200*time.Millisecond)
	key := e.ks.row("1")
	w := e.mark(key)
	if r := e.lease(key); r != "" {
		t.Fatal("a reader got a lease while a writer mark is outstanding")
	}
	if err := e.c.release(e.ctx, []string{key}, []string{w}); err != nil {
		t.Fatal(err)
	}
	if r := e.lease(key); r == "" {
		t.Fatal("no lease after the writer released its mark")
	}

	// A mark that runs out frees the key too.
	key2 := e.ks.row("2")
	e.mark(key2)
	if r := e.lease(key2); r != "" {
		t.Fatal("a reader got a lease while a writer mark is outstanding")
	}
	e.expire()
	if r := e.lease(key2); r == "" {
		t.Fatal("no lease after the writer's mark expired")
	}
}

func TestReaderLeaseThenWriterMarkRefusesFill(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	r := e.lease(key)
	if r == "" {
		t.Fatal("no lease")
	}
	w := e.mark(key)
	// The reader may have read the database before the write: refused.
	if e.set(key, r, "stale", "fill") != 0 {
		t.Fatal("a fill was stored after a writer marked the key")
	}
	e.requireNoValue(key)
	if e.set(key, w, "fresh", "publish") != 1 {
		t.Fatal("the writer's publish was refused")
	}
	e.requireValue(key, "fresh")
	e.requireTTL(key, false)
}

func TestReaderFillAfterWriterPublishIsRefused(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	r := e.lease(key)
	w := e.mark(key)
	if e.set(key, w, "fresh", "publish") != 1 {
		t.Fatal("the writer's publish was refused")
	}
	// The reader's lease is still outstanding, so the value is bounded
	// until it ends.
	e.requireTTL(key, true)
	if e.set(key, r, "stale", "fill") != 0 {
		t.Fatal("a late fill overwrote a publish")
	}
	e.requireValue(key, "fresh")
}

func TestPublishByLatestWriter(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	e.m.Set(key, "old")
	w := e.mark(key)
	// The mark bounds the life of the value it may replace.
	e.requireTTL(key, true)
	if e.set(key, w, "new", "publish") != 1 {
		t.Fatal("publish by the latest writer was refused")
	}
	e.requireValue(key, "new")
	e.requireTTL(key, false)
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
	// A publish on a key that had no value stores it as well.
	key2 := e.ks.row("2")
	w2 := e.mark(key2)
	if e.set(key2, w2, "v", "publish") != 1 {
		t.Fatal("publish on an empty key was refused")
	}
	e.requireValue(key2, "v")
	e.requireTTL(key2, false)
}

func TestTwoWritersLatestPublishesFirst(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	e.m.Set(key, "v0")
	w1 := e.mark(key)
	w2 := e.mark(key)
	if e.set(key, w2, "v2", "publish") != 1 {
		t.Fatal("the latest writer's publish was refused")
	}
	e.requireValue(key, "v2")
	// W1 may have committed and died: the value lives at most one lease.
	e.requireTTL(key, true)
	// W1 cannot tell whether its value is older or newer: it invalidates.
	if e.set(key, w1, "v1", "publish") != 0 {
		t.Fatal("an earlier writer's publish was stored")
	}
	e.requireNoValue(key)
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
	// The key is free for readers again.
	if e.lease(key) == "" {
		t.Fatal("no lease after both writers finished")
	}
}

func TestTwoWritersEarlierPublishesFirst(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	e.m.Set(key, "v0")
	w1 := e.mark(key)
	w2 := e.mark(key)
	if e.set(key, w1, "v1", "publish") != 0 {
		t.Fatal("an earlier writer's publish was stored")
	}
	e.requireNoValue(key)
	// Once a refused publish has invalidated the key, no writer of that
	// round stores a value: the safe outcome is a miss.
	if e.set(key, w2, "v2", "publish") != 0 {
		t.Fatal("publish after an invalidation was stored")
	}
	e.requireNoValue(key)
}

func TestLatestPublishCarriesEarlierWritersBound(t *testing.T) {
	// With W1 still out, W2's value carries W1's expiry, not its own.
	e := newScriptEnv(t, 300*time.Millisecond)
	key := e.ks.row("1")
	e.mark(key)
	time.Sleep(100 * time.Millisecond)
	w2 := e.mark(key)
	if e.set(key, w2, "v2", "publish") != 1 {
		t.Fatal("publish refused")
	}
	if ttl := e.m.TTL(key); ttl <= 0 || ttl > 250*time.Millisecond {
		t.Fatalf("TTL = %v, want W1's remaining lease (about 200ms)", ttl)
	}
	// W1 dies: its mark and the value it bounds go away together.
	e.expire()
	e.requireNoValue(key)
	if e.lease(key) == "" {
		t.Fatal("no lease after the dead writer's mark expired")
	}
}

func TestExpiredWriterTokenIsRefused(t *testing.T) {
	for _, fastForward := range []bool{false, true} {
		t.Run(fmt.Sprintf("fastforward=%v", fastForward), func(t *testing.T) {
			e := newScriptEnv(t, 100*time.Millisecond)
			key := e.ks.row("1")
			e.m.Set(key, "old")
			w := e.mark(key)
			// Real time passes: the token is out by the server's clock. With
			// the fast-forward the lease key itself is gone as well.
			time.Sleep(150 * time.Millisecond)
			if fastForward {
				e.m.FastForward(150 * time.Millisecond)
			} else {
				e.requireValue(key, "old") // miniredis has not expired it
			}
			if e.set(key, w, "new", "publish") != 0 {
				t.Fatal("publish under an expired token was stored")
			}
			e.requireNoValue(key)
		})
	}
}

func TestExpiredWriterTokenAfterReaderFill(t *testing.T) {
	// A writer stalled past its lease; a reader filled meanwhile. The
	// writer's late publish must not leave its value, nor keep the fill.
	e := newScriptEnv(t, 100*time.Millisecond)
	key := e.ks.row("1")
	w := e.mark(key)
	e.expire()
	r := e.lease(key)
	if r == "" {
		t.Fatal("no lease after the writer's mark expired")
	}
	if e.set(key, r, "filled", "fill") != 1 {
		t.Fatal("fill refused")
	}
	if e.set(key, w, "late", "publish") != 0 {
		t.Fatal("a late publish was stored")
	}
	e.requireNoValue(key)
}

func TestReleaseKeepsData(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	e.m.Set(key, "v")
	w := e.mark(key)
	if err := e.c.release(e.ctx, []string{key}, []string{w}); err != nil {
		t.Fatal(err)
	}
	e.requireValue(key, "v")
	// The expiry the mark gave stays: the write may have happened.
	e.requireTTL(key, true)
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
	// A released token publishes nothing.
	if e.set(key, w, "x", "fill") != 0 {
		t.Fatal("a released token filled")
	}
	e.requireValue(key, "v")
}

func TestReleaseReaderLease(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	r := e.lease(key)
	if err := e.c.release(e.ctx, []string{key}, []string{r}); err != nil {
		t.Fatal(err)
	}
	if e.lease(key) == "" {
		t.Fatal("no lease after the first one was released")
	}
}

func TestReleaseOfEarlierWriterKeepsLatest(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	w1 := e.mark(key)
	w2 := e.mark(key)
	if err := e.c.release(e.ctx, []string{key}, []string{w1}); err != nil {
		t.Fatal(err)
	}
	if e.set(key, w2, "v2", "publish") != 1 {
		t.Fatal("the latest writer was refused after an earlier one aborted")
	}
	e.requireValue(key, "v2")
	e.requireTTL(key, false)
}

func TestReleaseSkipsEmptyTokens(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	keys := []string{e.ks.row("1"), e.ks.row("2")}
	w := e.mark(keys[1])
	if err := e.c.release(e.ctx, keys, []string{"", w}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.release(e.ctx, keys, []string{"", ""}); err != nil {
		t.Fatal(err)
	}
	if e.lease(keys[1]) == "" {
		t.Fatal("the held token was not released")
	}
}

func TestRemove(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	k1, k2 := e.ks.row("1"), e.ks.row("2")
	e.m.Set(k1, "v1")
	e.m.Set(k2, "v2")
	r := e.lease(k1)
	if err := e.c.remove(e.ctx, []string{k1, k2}); err != nil {
		t.Fatal(err)
	}
	e.requireNoValue(k1)
	e.requireNoValue(k2)
	// A fill that started before the removal is refused.
	if e.set(k1, r, "stale", "fill") != 0 {
		t.Fatal("a fill pending across a removal was stored")
	}
	e.requireNoValue(k1)
	if err := e.c.remove(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveRefusesPendingPublish(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	w := e.mark(key)
	if err := e.c.remove(e.ctx, []string{key}); err != nil {
		t.Fatal(err)
	}
	if e.set(key, w, "v", "publish") != 0 {
		t.Fatal("a publish pending across a removal was stored")
	}
	e.requireNoValue(key)
}

func TestMarksMany(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	keys := []string{e.ks.row("1"), e.ks.row("2"), e.ks.row("3")}
	tokens, err := e.c.marks(e.ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 3 || tokens[0] == tokens[1] || tokens[1] == tokens[2] || slices.Contains(tokens, "") {
		t.Fatalf("tokens %q", tokens)
	}
	for i, k := range keys {
		if e.set(k, tokens[i], strconv.Itoa(i), "publish") != 1 {
			t.Fatalf("publish %d refused", i)
		}
		e.requireValue(k, strconv.Itoa(i))
	}
	if tokens, err := e.c.marks(e.ctx, nil); err != nil || tokens != nil {
		t.Fatalf("marks of no keys = %q, %v", tokens, err)
	}
}

func TestMarksRedisDown(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	e.c.timeout = 200 * time.Millisecond
	e.m.Close()
	keys := []string{e.ks.row("1"), e.ks.row("2")}
	tokens, err := e.c.marks(e.ctx, keys)
	if err == nil {
		t.Fatal("marks with Redis down succeeded")
	}
	if len(tokens) != len(keys) || tokens[0] != "" || tokens[1] != "" {
		t.Fatalf("tokens %q, want one empty token per key", tokens)
	}
	if _, _, err := e.c.leases(e.ctx, keys, true); err == nil {
		t.Fatal("leases with Redis down succeeded")
	}
}

func TestListFillThenAdd(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	r := e.lease(key)
	if r == "" {
		t.Fatal("no lease")
	}
	if e.listFill(key, r, "=1", "=2") != 1 {
		t.Fatal("list fill refused")
	}
	e.requireMembers(key, listPresent, "=1", "=2")
	e.requireTTL(key, false)
	// A write without a token adds to the cached list.
	e.listAdd(key, "", "=3")
	e.requireMembers(key, listPresent, "=1", "=2", "=3")
	// A marked writer adds, and its mark's bound on the list is lifted.
	w := e.mark(key)
	e.requireTTL(key, true)
	e.listAdd(key, w, "=4")
	e.requireMembers(key, listPresent, "=1", "=2", "=3", "=4")
	e.requireTTL(key, false)
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
}

func TestListFillEmpty(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	r := e.lease(key)
	if e.listFill(key, r) != 1 {
		t.Fatal("empty list fill refused")
	}
	e.requireMembers(key, listPresent)
}

func TestListFillReplaces(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	e.m.SetAdd(key, "=old", listPresent)
	r := e.lease(key)
	if e.listFill(key, r, "=new") != 1 {
		t.Fatal("list fill refused")
	}
	e.requireMembers(key, listPresent, "=new")
}

func TestListFillLarge(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	var members []string
	for i := 0; i < 2500; i++ {
		members = append(members, "="+strconv.Itoa(i))
	}
	r := e.lease(key)
	if e.listFill(key, r, members...) != 1 {
		t.Fatal("list fill refused")
	}
	if got := len(e.members(key)); got != 2501 {
		t.Fatalf("list has %d members, want 2501", got)
	}
}

func TestListAddOnMissingList(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	e.listAdd(key, "", "=1")
	if e.m.Exists(key) {
		t.Fatal("listAdd without a token created a list")
	}
	w := e.mark(key)
	e.listAdd(key, w, "=1")
	if e.m.Exists(key) {
		t.Fatal("listAdd with a token created a list")
	}
	if e.m.Exists(lease(key)) {
		t.Fatal("the lease key outlived its last token")
	}
}

func TestListAddRefusesPendingFill(t *testing.T) {
	// A write that could not mark the list still refuses fills that may have
	// read the database before it.
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	r := e.lease(key)
	e.listAdd(key, "", "=9")
	if e.listFill(key, r, "=1") != 0 {
		t.Fatal("a list fill pending across an add was stored")
	}
	if e.m.Exists(key) {
		t.Fatal("the refused fill left a list")
	}
}

func TestListFillRefusedAfterMark(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	r := e.lease(key)
	w := e.mark(key)
	if e.listFill(key, r, "=1") != 0 {
		t.Fatal("a list fill was stored after a writer marked the list")
	}
	e.listAdd(key, w, "=2")
	if e.m.Exists(key) {
		t.Fatal("a list appeared")
	}
	if e.lease(key) == "" {
		t.Fatal("no lease after the writer finished")
	}
}

func TestListAddKeepsBoundWhileOtherWriterOut(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.list("age", IndexKey("30"))
	r := e.lease(key)
	e.listFill(key, r, "=1")
	w1 := e.mark(key)
	w2 := e.mark(key)
	e.listAdd(key, w2, "=2")
	e.requireTTL(key, true)
	e.listAdd(key, w1, "=3")
	// Only the latest writer makes a list persistent: an older one cannot
	// tell whether a writer that died after committing preceded it. The
	// list expires after the lease and is refilled.
	e.requireTTL(key, true)
	e.requireMembers(key, listPresent, "=1", "=2", "=3")
}

// A writer dies after committing; another writer, marked later but
// committed earlier, publishes after the first one's mark ran out. Its
// value may lack the lost write, so it must not be stored.
func TestExpiredWriterTokenBlocksOlderPublishes(t *testing.T) {
	e := newScriptEnv(t, 200*time.Millisecond)
	key := e.ks.row("1")
	e.mark(key) // w1: commits, then dies
	time.Sleep(100 * time.Millisecond)
	w2 := e.mark(key)
	time.Sleep(120 * time.Millisecond) // w1 ran out, w2 did not
	e.lease(key)                       // any script notices w1's expiry
	if e.set(key, w2, "v2", "publish") != 0 {
		t.Fatal("a token issued before the lost write stored its value")
	}
	e.requireNoValue(key)
}

func TestNoScriptRecovery(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	key := e.ks.row("1")
	// First use: nothing is loaded yet.
	w := e.mark(key)
	if err := e.c.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if e.set(key, w, "v", "publish") != 1 {
		t.Fatal("publish after SCRIPT FLUSH refused")
	}
	e.requireValue(key, "v")

	// A flush between calls of every kind, on several keys at once.
	keys := []string{e.ks.row("2"), e.ks.row("3")}
	for _, step := range []func() error{
		func() error { _, err := e.c.marks(e.ctx, keys); return err },
		func() error { return e.c.remove(e.ctx, keys) },
		func() error {
			// The writers' marks on keys are still out (remove ends no
			// writer's token): lease other keys.
			tokens, _, err := e.c.leases(e.ctx, []string{e.ks.row("4"), e.ks.row("5")}, true)
			if err == nil && (tokens[0] == "" || tokens[1] == "") {
				err = fmt.Errorf("leases %q", tokens)
			}
			return err
		},
	} {
		if err := e.c.rdb.ScriptFlush(e.ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Fatalf("after SCRIPT FLUSH: %v", err)
		}
	}
	if err := e.c.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	lk := e.ks.list("age", IndexKey("1"))
	r := e.lease(lk)
	if err := e.c.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if e.listFill(lk, r, "=1") != 1 {
		t.Fatal("list fill after SCRIPT FLUSH refused")
	}
	e.requireMembers(lk, listPresent, "=1")
}

func TestRunScriptsNone(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	cmds, err := e.c.runScripts(e.ctx, 0, func(redis.Pipeliner, int) *redis.Cmd {
		t.Fatal("build called for no scripts")
		return nil
	})
	if cmds != nil || err != nil {
		t.Fatalf("runScripts(0) = %v, %v", cmds, err)
	}
}

// Many scripts run in several pipelines, every one of them, in order, also
// when Redis has to load the scripts first.
func TestRunScriptsInBatches(t *testing.T) {
	e := newScriptEnv(t, time.Second)
	n := 2*scriptBatch + 3
	keys := make([]string, n)
	for i := range keys {
		keys[i] = e.ks.row(strconv.Itoa(i))
	}
	if err := e.c.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	tokens, err := e.c.marks(e.ctx, keys)
	if err != nil {
		t.Fatalf("marks: %v", err)
	}
	for i, k := range keys {
		if tokens[i] == "" {
			t.Fatalf("key %d not marked", i)
		}
		if got := e.c.rdb.HGet(e.ctx, lease(k), "~").Val(); got != tokens[i] {
			t.Fatalf("key %d: latest token %q, want %q", i, got, tokens[i])
		}
	}
}

// testScore is the score of a list member of these tests: "=" and a text
// scores 0 (the texts order by their bytes); an integer, itself.
func testScore(m string) string {
	if strings.HasPrefix(m, "=") {
		return "0"
	}
	return m
}
