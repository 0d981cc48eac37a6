package entcachemodel

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// This file is a bounded explicit-state model checker of the consistency
// protocol. It explores every interleaving of two writers, a reader filling
// the row and a reader filling a list, over one row key and one list key,
// with the clock advancing between any two steps. Every step that touches
// Redis runs the real Lua script of scripts.go on miniredis, whose clock
// (TIME in scripts, PEXPIREAT, key expiry) is set by the checker. The
// writers' and readers' steps mirror writer.go (Mutate, abort, flush) and
// reader.go (GetMany, fill, ListBy, fillList); the database is a model: the
// committed row and the time of the last commit.
//
// States are deduplicated on a canonical form (times relative to the clock),
// so "every interleaving" means every reachable state is expanded once. The
// invariants are checked in every state; after every complete run the
// checker also lets every lease run out, fills the row and the list once
// more, and checks that the cache answers as the database does.

const (
	mLease = 1000              // lease, ms
	mTick  = 601               // one clock step: two run out a lease, one does not
	mT0    = 1_700_000_000_000 // ms
	mRowID = "1"
	mInA   = "A" // rows whose value starts with it belong to the list
)

// The four keys: the row and its lease, the list of age A and its lease.
var mKeyNames = func() [4]string {
	ks := newKeyspace("m", "User", "h")
	row, list := ks.row(mRowID), ks.list("age", "A")
	return [4]string{row, lease(row), list, lease(list)}
}()

const (
	kRow, kRowLease, kList, kListLease = 0, 1, 2, 3
)

func mInList(v string) bool { return strings.HasPrefix(v, mInA) }

// mData is one Redis key as the checker sees it.
type mData struct {
	typ  string // "", "string", "zset" (a list), "hash"
	str  string
	set  []string    // sorted
	hash [][2]string // sorted by field
	exp  int64       // absolute expiry, ms; 0 for none
}

// mWriterMode is how a writer runs.
type mWriterMode int

const (
	// mPlain: UpdateOne outside a transaction, publishing the row ent
	// returns; a failure removes what it marked.
	mPlain mWriterMode = iota
	// mTx: UpdateOne inside a transaction (or a type with ReloadUpdates):
	// the row is read back after the commit; a rollback releases.
	mTx
	// mCreate: a create outside a transaction, marking the row after the
	// insert and reading it back.
	mCreate
	// mDelete: DeleteOne outside a transaction.
	mDelete
)

func (m mWriterMode) String() string {
	return [...]string{"update", "tx-update", "create", "delete"}[m]
}

// mOp is one script call.
type mOp struct {
	script string // mark, publish, fill, remove, release, listAdd, listFill, lease, leaseGet
	key    int    // data key index (the lease key is key+1)
	token  string
	args   []string
}

func (o mOp) String() string {
	name := [4]string{"row", "", "list", ""}[o.key]
	s := o.script + " " + name
	if o.token != "" {
		s += " token=" + o.token
	}
	if len(o.args) > 0 {
		s += " " + strings.Join(o.args, ",")
	}
	return s
}

const (
	pcStart = iota
	pcMark
	pcDB
	pcPostMark
	pcReload
	pcOps
	pcDone
	pcCrashed
)

type mWriter struct {
	name    string
	mode    mWriterMode
	value   string // the row it writes ("" for a delete)
	pc      int
	tokens  [4]string // data key -> token held, "" for none
	marks   []int     // keys still to mark, in order
	ops     []mOp     // script calls still to run
	ordered bool      // ops run in order (one pipeline); else in any order (a map)
	due     int64     // its first mark's expiry: the write commits before it
	// Redis faults (mEnv.faults): broken once a call of this writer failed;
	// open while its process's breaker stays open for the rest of the
	// write; unmarked holds the keys (kRow, kList) it named but could not
	// mark, which its outbox record names, committed with its database
	// write; opsKind is what its ops are ("flush", "remove", "release",
	// "repair").
	broken, open bool
	unmarked     [2]bool
	opsKind      string
}

type mReader struct {
	pc    int
	token string
	read  string // what it read from the database
	has   bool   // for the list reader: the row is a member
}

// mState is one state of the model.
type mState struct {
	now        int64
	ticks      int
	redis      [4]mData
	row        string // the committed row, "" for none
	lastCommit int64
	crashed    bool
	w          [3]mWriter
	r          mReader // fills the row
	l          mReader // fills the list
	noRow      bool    // no row reader
	noList     bool    // no list reader
	fault      bool    // a Redis fault happened in this run (at most one)
	outbox     [2]bool // committed outbox records not drained: kRow, kList
}

func (s *mState) clone() *mState {
	c := *s // slices are never changed in place
	return &c
}

// key is the canonical form of the state: times relative to the clock.
func (s *mState) key() string {
	b := make([]byte, 0, 512)
	rel := func(t int64) {
		if t == 0 {
			b = append(b, '-')
			return
		}
		b = strconv.AppendInt(b, t-s.now, 10)
	}
	str := func(ss ...string) {
		for _, x := range ss {
			b = append(b, x...)
			b = append(b, ',')
		}
	}
	b = strconv.AppendInt(b, int64(s.ticks), 10)
	for _, d := range s.redis {
		str("|", d.typ, d.str)
		str(d.set...)
		for _, f := range d.hash {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				str(f[0])
				rel(n)
			} else {
				str(f[0], f[1])
			}
		}
		rel(d.exp)
	}
	str("|", s.row, strconv.FormatBool(s.crashed), strconv.FormatBool(s.fault), fmt.Sprint(s.outbox))
	rel(max(s.lastCommit, s.now-mLease-1)) // any older commit bounds nothing alive
	for _, w := range s.w {
		str("|", strconv.Itoa(w.pc), w.tokens[kRow], w.tokens[kList], strconv.FormatBool(w.ordered),
			fmt.Sprint(w.broken, w.open, w.unmarked), w.opsKind)
		rel(w.due)
		for _, k := range w.marks {
			b = strconv.AppendInt(b, int64(k), 10)
		}
		for _, o := range w.ops {
			str(";", o.script, strconv.Itoa(o.key), o.token)
			str(o.args...)
		}
	}
	for _, r := range []mReader{s.r, s.l} {
		str("|", strconv.Itoa(r.pc), r.token, r.read, strconv.FormatBool(r.has))
	}
	return string(b)
}

// mEnv runs scripts on one miniredis and explores the model.
type mEnv struct {
	t       testing.TB
	ctx     context.Context
	m       *miniredis.Miniredis
	rdb     *redis.Client
	visited map[string]uint64 // state -> complete runs from it
	memo    map[string]mResult
	scripts int // script calls run on miniredis
	runs    int // distinct ends of runs checked
	steps   int // transitions executed
	fail    []string
	maxPath int
	// quiet skips the descriptions of steps (the search replays a
	// counterexample to describe it).
	quiet bool
	// observeOnly makes replay run on past invariant violations.
	observeOnly bool
	// slowWrites lets a write commit more than a lease after its mark.
	slowWrites bool
	// faults lets one Redis call of a writer fail per run (see faultSteps);
	// noOutbox then drops the outbox record of a write that could not mark.
	faults, noOutbox bool
	// allFaults adds the faults after which the breaker closes again.
	allFaults bool
}

func newMEnv(t testing.TB) *mEnv {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return &mEnv{t: t, ctx: context.Background(), m: m, rdb: rdb, visited: map[string]uint64{}, memo: map[string]mResult{},
		slowWrites: os.Getenv("MODEL_SLOW_WRITES") != ""}
}

// shift moves d's times by delta ms: key expiry and token expiries.
func (d mData) shift(delta int64) mData {
	if d.exp != 0 {
		d.exp += delta
	}
	if d.hash != nil {
		h := slices.Clone(d.hash)
		for i, f := range h {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				h[i][1] = strconv.FormatInt(n+delta, 10)
			}
		}
		d.hash = h
	}
	return d
}

func (d mData) String() string {
	var b strings.Builder
	b.WriteString(d.typ + ":" + d.str + ":" + strings.Join(d.set, ",") + ":")
	for _, f := range d.hash {
		b.WriteString(f[0] + "=" + f[1] + ",")
	}
	b.WriteString(":" + strconv.FormatInt(d.exp, 10))
	return b.String()
}

// mResult is what one script call did to its two keys, times relative to
// the clock.
type mResult struct {
	op    mOp
	in    [2]mData // the keys before
	reply any
	keys  [2]mData // and after
}

// run executes one script call on s's keys: on miniredis, holding exactly
// those two keys at s's clock. A script reads only its two keys and the
// clock, so its effect is memoized on them, relative to the clock.
func (e *mEnv) run(s *mState, o mOp) any {
	memo := o.script + "|" + strconv.Itoa(o.key) + "|" + o.token + "|" + strings.Join(o.args, ",") + "|" + s.redis[o.key].shift(-s.now).String() + "|" + s.redis[o.key+1].shift(-s.now).String()
	res, ok := e.memo[memo]
	if !ok {
		e.scripts++
		m := e.m
		m.FlushAll()
		m.SetTime(time.UnixMilli(s.now))
		m.ClockTTL(true) // key expiry follows SetTime from now on
		for i := o.key; i <= o.key+1; i++ {
			e.load(mKeyNames[i], s.redis[i], s.now)
		}
		res.op = o
		res.in = [2]mData{s.redis[o.key].shift(-s.now), s.redis[o.key+1].shift(-s.now)}
		res.reply = e.call(e.rdb, mKeyNames[o.key:o.key+2], o)
		for i := o.key; i <= o.key+1; i++ {
			res.keys[i-o.key] = e.read(mKeyNames[i], s.now).shift(-s.now)
		}
		e.memo[memo] = res
	}
	s.redis[o.key], s.redis[o.key+1] = res.keys[0].shift(s.now), res.keys[1].shift(s.now)
	return res.reply
}

// load writes d into miniredis as key k at clock now.
func (e *mEnv) load(k string, d mData, now int64) {
	m := e.m
	switch d.typ {
	case "":
		return
	case "string":
		if err := m.Set(k, d.str); err != nil {
			e.t.Fatal(err)
		}
	case "zset":
		for _, x := range d.set {
			if _, err := m.ZAdd(k, mScore(x), x); err != nil {
				e.t.Fatal(err)
			}
		}
	case "hash":
		for _, f := range d.hash {
			m.HSet(k, f[0], f[1])
		}
	}
	if d.exp != 0 {
		if d.exp <= now {
			e.t.Fatalf("key %s loaded expired", k)
		}
		m.SetTTL(k, time.Duration(d.exp-now)*time.Millisecond)
	}
}

// read reads key k back from miniredis at clock now.
func (e *mEnv) read(k string, now int64) mData {
	m := e.m
	d := mData{}
	if !m.Exists(k) {
		return d
	}
	d.typ = m.Type(k)
	switch d.typ {
	case "string":
		d.str, _ = m.Get(k)
	case "zset":
		d.set, _ = m.ZMembers(k)
		slices.Sort(d.set)
	case "hash":
		fs, _ := m.HKeys(k)
		slices.Sort(fs)
		for _, f := range fs {
			d.hash = append(d.hash, [2]string{f, m.HGet(k, f)})
		}
	default:
		e.t.Fatalf("key %s has type %s", k, d.typ)
	}
	if ttl := m.TTL(k); ttl > 0 {
		d.exp = now + ttl.Milliseconds()
	}
	return d
}

// advance moves s's clock by d; keys whose expiry has come are gone.
func (s *mState) advance(d int64) {
	s.now += d
	for i, k := range s.redis {
		if k.exp != 0 && k.exp <= s.now {
			s.redis[i] = mData{}
		}
	}
}

// call runs o's script on miniredis and returns its reply.
func (e *mEnv) call(rdb redis.Scripter, keys []string, o mOp) any {
	var sc *redis.Script
	args := []any{o.token}
	ms := strconv.Itoa(mLease)
	switch o.script {
	case "mark":
		sc, args = markScript, append(args, ms)
	case "lease":
		sc, args = leaseScript, append(args, ms, "")
	case "leaseGet":
		sc, args = leaseScript, append(args, ms, "get")
	case "publish", "fill":
		sc, args = setScript, append(args, o.args[0], o.script)
	case "remove":
		sc = removeScript
	case "release":
		sc = releaseScript
	case "listAdd":
		sc, args = listAddScript, append(args, o.args[0], o.args[1])
	case "listFill":
		sc = listFillScript
		for _, a := range o.args {
			args = append(args, a)
		}
	default:
		e.t.Fatalf("unknown script %q", o.script)
	}
	v, err := sc.Run(e.ctx, rdb, keys, args...).Result()
	if err != nil && err != redis.Nil {
		e.t.Fatalf("%s: %v", o, err)
	}
	return v
}

// say formats a step's description, unless the search is quiet.
func (e *mEnv) say(format string, args ...any) string {
	if e.quiet {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

// mStep is one transition: who moves, and which choice it makes.
type mStep struct {
	actor  string // W1, W2, R, L, tick
	choice string // the database outcome, or the op run out of order
}

func (st mStep) String() string {
	if st.choice == "" {
		return st.actor
	}
	return st.actor + ":" + st.choice
}

// enabled lists the transitions from s.
func (e *mEnv) enabled(s *mState, maxTicks int) []mStep {
	var out []mStep
	running := false
	for i := range s.w {
		w := &s.w[i]
		if w.name == "" {
			continue // no such writer
		}
		switch w.pc {
		case pcDone, pcCrashed:
			continue
		case pcDB:
			for _, c := range e.outcomes(s, w) {
				out = append(out, mStep{w.name, c})
			}
		case pcOps:
			if w.ordered {
				out = append(out, mStep{w.name, ""})
			} else {
				for j := range w.ops {
					out = append(out, mStep{w.name, strconv.Itoa(j)})
				}
			}
			out = append(out, e.faultSteps(s, w)...)
		case pcReload:
			out = append(out, mStep{w.name, ""}, mStep{w.name, "fail"})
		default:
			out = append(out, mStep{w.name, ""})
			if (w.pc == pcStart || w.pc == pcMark && len(w.marks) > 0) && !w.broken {
				out = append(out, e.faultSteps(s, w)...)
			}
		}
		if w.pc == pcDB || w.pc == pcPostMark || w.pc == pcReload || w.pc == pcOps {
			// The process may die at any point once it holds its marks:
			// before its write, or anywhere in its publish or abort.
			out = append(out, mStep{w.name, "die"})
		}
		running = true
	}
	if s.outbox != [2]bool{} {
		out = append(out, mStep{"O", ""}) // a process drains the outbox
		running = true
	}
	if !s.noRow && s.r.pc != pcDone {
		out = append(out, mStep{"R", ""})
		running = true
	}
	if !s.noList && s.l.pc != pcDone {
		out = append(out, mStep{"L", ""})
		running = true
	}
	if running && s.ticks < maxTicks && (e.slowWrites || !s.writeOutlivesLease(mTick)) {
		out = append(out, mStep{"tick", ""})
	}
	return out
}

// writeOutlivesLease reports whether advancing the clock by d would let a
// writer's database write finish more than a lease after its mark. The
// protocol assumes it does not (see the README's limits): a reader may then
// fill the old row after the mark ran out, and if the writer dies after its
// commit that value stays.
func (s *mState) writeOutlivesLease(d int64) bool {
	for _, w := range s.w {
		if w.due != 0 && (w.pc == pcMark || w.pc == pcDB) && s.now+d >= w.due {
			return true
		}
	}
	return false
}

// outcomes are the ways a writer's database write can end.
func (e *mEnv) outcomes(s *mState, w *mWriter) []string {
	switch {
	case w.mode == mCreate && s.row != "":
		return []string{"conflict"} // the insert fails, nothing changed
	case w.mode != mCreate && s.row == "":
		return []string{"notfound"} // UpdateOne/DeleteOne of no row
	}
	out := []string{"commit", "crash", "fail", "lost"} // lost: committed, error returned
	if w.mode == mTx {
		out = append(out, "rollback")
	}
	return out
}

// step applies st to a copy of s and returns it with a description of what
// happened.
func (e *mEnv) step(s *mState, st mStep) (*mState, string) {
	n := s.clone()
	e.steps++
	if st.actor == "tick" {
		n.advance(mTick)
		n.ticks++
		return n, e.say("tick: clock +%dms", mTick)
	}
	var desc string
	switch st.actor {
	case "R":
		desc = e.stepRowReader(n)
	case "L":
		desc = e.stepListReader(n)
	case "O":
		desc = e.stepOutbox(n)
	default:
		desc = e.stepWriter(n, &n.w[st.actor[1]-'1'], st.choice)
	}
	return n, st.actor + ": " + desc
}

func (e *mEnv) stepWriter(s *mState, w *mWriter, choice string) string {
	tok := func(k int) string { return strings.ToLower(w.name) + [4]string{"r", "", "l", ""}[k] }
	if choice == "die" {
		w.pc, w.ops, w.marks = pcCrashed, nil, nil
		s.crashed = true
		return e.say("the process dies")
	}
	if strings.HasPrefix(choice, "rfail") || strings.HasPrefix(choice, "rlost") {
		return e.fault(s, w, choice, tok)
	}
	switch w.pc {
	case pcStart:
		// Mutate: the keys the write names, marked before it runs.
		if w.mode != mCreate {
			w.marks = append(w.marks, kRow)
		}
		if w.mode != mDelete && mInList(w.value) {
			w.marks = append(w.marks, kList) // Write.Lists
		}
		w.pc = pcMark
		if choice == "start" {
			return ""
		}
		return e.stepWriter(s, w, choice)
	case pcMark, pcPostMark:
		if len(w.marks) == 0 {
			if w.pc == pcMark {
				w.pc = pcDB
				return "nothing to mark"
			}
			w.pc = pcReload
			return e.stepWriter(s, w, choice)
		}
		k := w.marks[0]
		w.marks = w.marks[1:]
		o := mOp{script: "mark", key: k, token: tok(k)}
		e.run(s, o)
		w.tokens[k] = o.token
		if w.pc == pcMark && w.due == 0 {
			w.due = s.now + mLease
		}
		if len(w.marks) == 0 {
			w.pc = map[int]int{pcMark: pcDB, pcPostMark: pcReload}[w.pc]
		}
		return o.String()
	case pcDB:
		changes := choice == "commit" || choice == "crash" || choice == "lost"
		if changes {
			s.row = w.value
			s.lastCommit = s.now
			// The outbox record commits with the write (outbox.record).
			if !e.noOutbox {
				s.outbox[0] = s.outbox[0] || w.unmarked[0]
				s.outbox[1] = s.outbox[1] || w.unmarked[1]
			}
		}
		switch choice {
		case "crash":
			w.pc = pcCrashed
			s.crashed = true
			return e.say("db write %q commits; the process dies", w.value)
		case "commit":
			switch w.mode {
			case mCreate:
				// The id is known only now: mark the row, read it back.
				w.marks = []int{kRow}
				w.pc = pcPostMark
			case mTx:
				w.pc = pcReload
			default:
				w.pc = pcOps
				e.flushOps(w, w.value, false)
			}
			return e.say("db write %q commits", w.value)
		case "rollback":
			e.abortOps(w, "release")
			return "db transaction rolls back"
		}
		e.abortOps(w, "remove")
		if changes {
			return e.say("db write %q commits but returns an error", w.value)
		}
		return e.say("db write fails (%s), nothing changed", choice)
	case pcReload:
		w.pc = pcOps
		if choice == "fail" {
			e.flushOps(w, "", true)
			return e.say("reading the row back fails")
		}
		e.flushOps(w, s.row, false)
		return e.say("reads the row back: %q", s.row)
	case pcOps:
		i := 0
		if !w.ordered {
			i, _ = strconv.Atoi(choice)
		}
		o := w.ops[i]
		w.ops = append(slices.Clone(w.ops[:i]), w.ops[i+1:]...)
		if len(w.ops) == 0 {
			w.pc = pcDone
		}
		return e.say("%s -> %v", o, e.run(s, o))
	}
	e.t.Fatalf("writer %s at pc %d", w.name, w.pc)
	return ""
}

// flushOps mirrors part.flush for one row whose committed value is ent.
// With failed, reading the row back failed: the row is removed, and so are
// the lists it marked, which may now miss the row.
func (e *mEnv) flushOps(w *mWriter, ent string, failed bool) {
	if w.broken && w.open {
		// The breaker is open: nothing is sent, every key goes to the
		// repair queue (part.flush's repair).
		e.repairOps(w, e.flushRepairKeys(w, ent))
		return
	}
	w.opsKind = "flush"
	w.ordered = true
	w.ops = nil
	used := map[int]bool{kRow: true}
	if ent == "" {
		w.ops = append(w.ops, mOp{script: "remove", key: kRow, token: w.tokens[kRow]})
	} else {
		w.ops = append(w.ops, mOp{script: "publish", key: kRow, token: w.tokens[kRow], args: []string{ent}})
		if mInList(ent) {
			used[kList] = true
			w.ops = append(w.ops, mOp{script: "listAdd", key: kList, token: w.tokens[kList], args: []string{mRowID, listMemberOf(IntID, mRowID)}})
		}
	}
	for _, k := range []int{kRow, kList} {
		if t := w.tokens[k]; t != "" && !used[k] {
			if failed && k == kList {
				w.ops = append(w.ops, mOp{script: "remove", key: k, token: t})
			} else {
				w.ops = append(w.ops, mOp{script: "release", key: k, token: t})
			}
		}
	}
}

// abortOps mirrors part.abort: every token ends, in map order.
func (e *mEnv) abortOps(w *mWriter, script string) {
	if w.broken && w.open {
		// removeHeld (or release) fails at once: what is removed goes to
		// the repair queue, with what could not be marked; a release is
		// left to the marks' expiry.
		var keys [2]bool
		if script == "remove" {
			keys = removeRepairKeys(w)
		}
		e.repairOps(w, keys)
		return
	}
	w.opsKind = script
	w.ordered = false
	w.ops = nil
	for _, k := range []int{kRow, kList} {
		if t := w.tokens[k]; t != "" {
			w.ops = append(w.ops, mOp{script: script, key: k, token: t})
		}
	}
	if script == "remove" && w.broken {
		// What could not be marked is removed in every version once Redis
		// answers (part.abort: unmarked).
		for i, k := range []int{kRow, kList} {
			if w.unmarked[i] {
				w.ops = append(w.ops, mOp{script: "remove", key: k})
			}
		}
	}
	w.pc = pcOps
	if len(w.ops) == 0 {
		w.pc = pcDone
	}
}

// faultSteps are the Redis faults a writer's next call may meet: at most
// one per run, and never in a repair (which runs once Redis answers) or a
// create. "rfail": the call did not run; "rlost": it ran and its reply was
// lost (after op j, for ops that run in any order). A suffix "-c" on a mark
// lets the breaker close again before the writer's next call.
func (e *mEnv) faultSteps(s *mState, w *mWriter) []mStep {
	if !e.faults || s.fault || w.mode == mCreate || w.opsKind == "repair" {
		return nil
	}
	if w.pc == pcStart || w.pc == pcMark {
		if !e.allFaults {
			return []mStep{{w.name, "rfail"}, {w.name, "rlost"}}
		}
		return []mStep{{w.name, "rfail"}, {w.name, "rlost"}, {w.name, "rfail-c"}, {w.name, "rlost-c"}}
	}
	out := []mStep{{w.name, "rfail"}}
	if w.ordered {
		return append(out, mStep{w.name, "rlost"})
	}
	for j := range w.ops {
		out = append(out, mStep{w.name, "rlost/" + strconv.Itoa(j)})
	}
	return out
}

// fault applies a Redis fault to the writer's next call.
func (e *mEnv) fault(s *mState, w *mWriter, choice string, tok func(int) string) string {
	s.fault, w.broken = true, true
	lost := strings.HasPrefix(choice, "rlost")
	if w.pc == pcStart {
		e.stepWriter(s, w, "start") // names the keys to mark
	}
	if w.pc == pcMark {
		// One call marks every key of the write (part.mark): on an error
		// the writer holds none of them, and records them all in the
		// outbox (Schema.Mutate).
		w.open = !strings.HasSuffix(choice, "-c")
		k := w.marks[0]
		if lost {
			e.run(s, mOp{script: "mark", key: k, token: tok(k)})
			if w.due == 0 {
				w.due = s.now + mLease
			}
		}
		w.tokens, w.marks = [4]string{}, nil
		w.unmarked = [2]bool{w.mode != mCreate, w.mode != mDelete && mInList(w.value)}
		w.pc = pcDB
		return e.say("mark fails (ran: %v); unmarked %v", lost, w.unmarked)
	}
	w.open = true
	i := 0
	if _, j, ok := strings.Cut(choice, "/"); ok {
		i, _ = strconv.Atoi(j)
	}
	ran := ""
	if lost {
		o := w.ops[i]
		ran = e.say("%s ran (%v), ", o, e.run(s, o))
	}
	// The pipeline failed: its keys go to the repair queue (a release is
	// left to the marks' expiry).
	var keys [2]bool
	switch w.opsKind {
	case "flush":
		keys = e.flushRepairKeys(w, "")
	case "remove":
		keys = removeRepairKeys(w)
	}
	e.repairOps(w, keys)
	return ran + e.say("the pipeline fails; repair %v", keys)
}

// flushRepairKeys are the keys part.flush's repair queues: those of its
// ops, and every key the write names (its rows and the lists they are in,
// or may have been moved into).
func (e *mEnv) flushRepairKeys(w *mWriter, ent string) [2]bool {
	return [2]bool{true, mInList(ent) || w.tokens[kList] != "" || w.mode != mDelete && mInList(w.value)}
}

// removeRepairKeys are the keys part.abort's repair queues when its
// removal fails: those it holds tokens on, and those it could not mark.
func removeRepairKeys(w *mWriter) [2]bool {
	return [2]bool{w.unmarked[0] || w.tokens[kRow] != "", w.unmarked[1] || w.tokens[kList] != ""}
}

// repairOps makes the writer's ops the repair queue's removals of keys:
// without a token, once Redis answers (repairQueue.run).
func (e *mEnv) repairOps(w *mWriter, keys [2]bool) {
	w.opsKind, w.ordered, w.ops = "repair", true, nil
	for i, k := range []int{kRow, kList} {
		if keys[i] {
			w.ops = append(w.ops, mOp{script: "remove", key: k})
		}
	}
	w.pc = pcOps
	if len(w.ops) == 0 {
		w.pc = pcDone
	}
}

// stepOutbox drains one key of the outbox: a removal without a token
// (outbox.drain).
func (e *mEnv) stepOutbox(s *mState) string {
	for i, k := range []int{kRow, kList} {
		if s.outbox[i] {
			s.outbox[i] = false
			o := mOp{script: "remove", key: k}
			return e.say("drain %s -> %v", o, e.run(s, o))
		}
	}
	return ""
}

// covered reports whether a stale key is still to be fixed by something
// other than its expiry: an outbox record, or a live writer that met a
// Redis fault (its repair, or its publish once the breaker closes).
func (s *mState) covered(i int) bool {
	if s.outbox[i] {
		return true
	}
	for _, w := range s.w {
		if w.broken && w.pc != pcDone && w.pc != pcCrashed {
			return true
		}
	}
	return false
}

// stepRowReader mirrors Reader.GetMany and fill for one id.
func (e *mEnv) stepRowReader(s *mState) string {
	r := &s.r
	switch r.pc {
	case 0:
		if d := s.redis[kRow]; d.typ == "string" {
			r.pc = pcDone
			return e.say("GET row -> hit %q", d.str)
		}
		r.pc = 1
		return "GET row -> miss"
	case 1:
		o := mOp{script: "leaseGet", key: kRow, token: "r1"}
		switch v := e.run(s, o).(type) {
		case string:
			r.pc = pcDone
			return e.say("%s -> value %q", o, v)
		case int64:
			if v == 1 {
				r.pc, r.token = 2, o.token
			} else {
				r.pc = pcDone // waits, then reads the database, stores nothing
			}
			return e.say("%s -> %d", o, v)
		}
	case 2:
		r.read = s.row
		r.pc = 3
		return e.say("db read -> %q", s.row)
	case 3:
		r.pc = pcDone
		o := mOp{script: "fill", key: kRow, token: r.token, args: []string{r.read}}
		if r.read == "" {
			o = mOp{script: "release", key: kRow, token: r.token}
		}
		return e.say("%s -> %v", o, e.run(s, o))
	}
	e.t.Fatalf("row reader at pc %d", r.pc)
	return ""
}

// stepListReader mirrors Reader.ListBy and fillList.
func (e *mEnv) stepListReader(s *mState) string {
	r := &s.l
	switch r.pc {
	case 0:
		if ms := s.redis[kList].set; slices.Contains(ms, listPresent) {
			r.pc = pcDone
			return e.say("ZRANGE list -> %v", ms)
		}
		r.pc = 1
		return "SMEMBERS list -> miss"
	case 1:
		o := mOp{script: "lease", key: kList, token: "r2"}
		v := e.run(s, o)
		if v == int64(1) {
			r.pc, r.token = 2, o.token
		} else {
			r.pc = pcDone
		}
		return e.say("%s -> %v", o, v)
	case 2:
		r.has = mInList(s.row)
		r.pc = 3
		return e.say("db list -> member %v", r.has)
	case 3:
		r.pc = pcDone
		o := mOp{script: "listFill", key: kList, token: r.token, args: []string{listPresentScore(IntID), listPresent}}
		if r.has {
			o.args = append(o.args, mRowID, listMemberOf(IntID, mRowID))
		}
		return e.say("%s -> %v", o, e.run(s, o))
	}
	e.t.Fatalf("list reader at pc %d", r.pc)
	return ""
}

// invariant checks what must hold in every state; "" when it does.
func (s *mState) invariant() string {
	row, list := s.redis[kRow], s.redis[kList]
	for i, d := range []mData{row, list} {
		if d.exp != 0 && d.exp > s.now+mLease {
			return fmt.Sprintf("%s expires in %dms, beyond one lease", [2]string{"row", "list"}[i], d.exp-s.now)
		}
	}
	bound := s.lastCommit + mLease
	if row.typ == "string" && row.str != s.row && !s.covered(0) {
		switch {
		case row.exp == 0:
			return fmt.Sprintf("row cached as %q with no expiry; the database holds %q", row.str, s.row)
		case row.exp > bound:
			return fmt.Sprintf("stale row %q (database %q) lives until +%dms, %dms past one lease after the last commit", row.str, s.row, row.exp-s.now, row.exp-bound)
		}
	}
	if list.typ != "" && list.typ != "zset" || row.typ != "" && row.typ != "string" {
		return "a key holds the wrong type"
	}
	if slices.Contains(list.set, listPresent) && mInList(s.row) && !slices.Contains(list.set, listMemberOf(IntID, mRowID)) && !s.covered(1) {
		switch {
		case list.exp == 0:
			return fmt.Sprintf("list cached as %v with no expiry, missing the row (database %q)", list.set, s.row)
		case list.exp > bound:
			return fmt.Sprintf("list %v misses the row (database %q) until +%dms, %dms past one lease after the last commit", list.set, s.row, list.exp-s.now, list.exp-bound)
		}
	}
	return ""
}

// converged checks that the cache answers as the database does.
func (s *mState) converged() string {
	row, list := s.redis[kRow], s.redis[kList]
	if row.typ == "string" && row.str != s.row {
		return fmt.Sprintf("row cached as %q (expiry %v), the database holds %q", row.str, row.exp != 0, s.row)
	}
	if slices.Contains(list.set, listPresent) && mInList(s.row) && !slices.Contains(list.set, listMemberOf(IntID, mRowID)) {
		return fmt.Sprintf("list cached as %v misses the row (database %q)", list.set, s.row)
	}
	return ""
}

// finish checks a complete run: converged at once unless a writer died; and
// after every lease runs out and a reader fills the row and the list again.
func (e *mEnv) finish(s *mState) (string, []string) {
	e.runs++
	var log []string
	if !s.crashed {
		if msg := s.converged(); msg != "" {
			return "after the run: " + msg, log
		}
	}
	n := s.clone()
	n.advance(mLease + 1)
	log = append(log, fmt.Sprintf("clock +%dms: every lease runs out", mLease+1))
	if msg := n.converged(); msg != "" && !n.crashed {
		return "after the leases: " + msg, log
	}
	n.r, n.l = mReader{}, mReader{}
	n.noRow, n.noList = false, false
	for n.r.pc != pcDone {
		log = append(log, "R': "+e.stepRowReader(n))
	}
	for n.l.pc != pcDone {
		log = append(log, "L': "+e.stepListReader(n))
	}
	if msg := n.converged(); msg != "" {
		return "after the leases and one more fill: " + msg, log
	}
	return "", log
}

// explore runs a depth-first search from s, expanding each state once.
// path is the schedule from start to s. It returns the number of complete
// runs (interleavings) from s; the state graph has no cycles (every step
// moves an actor on or uses up a clock step).
func (e *mEnv) explore(start, s *mState, maxTicks int, path []mStep) uint64 {
	k := s.key()
	if n, ok := e.visited[k]; ok {
		return n
	}
	e.visited[k] = 0
	e.maxPath = max(e.maxPath, len(path))
	if msg := s.invariant(); msg != "" {
		e.counterexample(start, path)
		return 0
	}
	var runs uint64
	steps := e.enabled(s, maxTicks)
	if len(steps) == 0 || len(steps) == 1 && steps[0].actor == "tick" {
		runs++
		if msg, _ := e.finish(s); msg != "" {
			e.counterexample(start, path)
		}
	}
	for _, st := range steps {
		if e.fail != nil {
			return 0
		}
		n, _ := e.step(s, st)
		runs += e.explore(start, n, maxTicks, append(path, st))
	}
	e.visited[k] = runs
	return runs
}

// counterexample records the violation path leads to, replayed with every
// step described.
func (e *mEnv) counterexample(start *mState, path []mStep) {
	schedule := make([]string, len(path))
	for i, st := range path {
		schedule[i] = st.String()
	}
	quiet := e.quiet
	e.quiet = false
	steps, msg := e.replayFrom(start, schedule)
	e.quiet = quiet
	if msg == "" {
		msg = "(not reproduced by the replay)"
	}
	e.fail = append(steps, "VIOLATION: "+msg)
}

// mScenario is a starting point of the model.
type mScenario struct {
	name   string
	row    string   // the committed row at the start, "" for none
	cached bool     // the row is cached (persistent) at the start
	list   []string // the list's members at the start, nil for not cached
	w      [3]mWriter
	noRow  bool
	noList bool
}

func (sc mScenario) state() *mState {
	s := &mState{now: mT0, row: sc.row, lastCommit: mT0 - 10*mLease, w: sc.w, noRow: sc.noRow, noList: sc.noList}
	if sc.cached && sc.row != "" {
		s.redis[kRow] = mData{typ: "string", str: sc.row}
	}
	if sc.list != nil {
		s.redis[kList] = mData{typ: "zset", set: slices.Sorted(slices.Values(sc.list))}
	}
	return s
}

func mW(name string, mode mWriterMode, value string) mWriter {
	return mWriter{name: name, mode: mode, value: value}
}

// mScenarios are the starting points for writer modes a and b: W1 moves
// the row into the list (or creates it there), W2 moves it out (or deletes
// it); the row starts in or out of the list, cached or not.
func mScenarios(a, b mWriterMode) []mScenario {
	starts := []string{"B0", "A0"}
	if a == mCreate {
		starts = []string{""}
	}
	w2 := "B2"
	if b == mDelete {
		w2 = ""
	}
	var third mWriter
	if os.Getenv("MODEL_WRITERS") == "3" {
		// A third writer moves the row into the list again.
		third = mW("W3", mPlain, "A3")
	}
	var out []mScenario
	for _, start := range starts {
		for _, cached := range []bool{false, true} {
			if cached && start == "" {
				continue
			}
			var list []string
			if cached {
				list = []string{listPresent}
				if mInList(start) {
					list = append(list, listMemberOf(IntID, mRowID))
				}
			}
			// The readers touch disjoint keys and the writers never look
			// at a script's reply, so each reader runs with the writers
			// alone (MODEL_READERS=both runs them together). The row key
			// does not care whether the row starts in the list.
			for _, rd := range mReaders() {
				if rd == "row" && mInList(start) {
					continue
				}
				out = append(out, mScenario{
					name:   fmt.Sprintf("%s+%s_db=%s_%s_%s", a, b, cmp.Or(start, "none"), map[bool]string{false: "cold", true: "cached"}[cached], rd),
					row:    start,
					cached: cached,
					list:   list,
					w:      [3]mWriter{mW("W1", a, "A1"), mW("W2", b, w2), third},
					noRow:  rd == "list",
					noList: rd == "row",
				})
			}
		}
	}
	return out
}

func mReaders() []string {
	if os.Getenv("MODEL_READERS") == "both" {
		return []string{"both"}
	}
	return []string{"row", "list"}
}

// modelBounds returns the clock steps, the pairs of writer modes, and
// whether to run the row's reader only.
func modelBounds(t *testing.T) (int, [][3]mWriterMode, bool) {
	ticks := 1
	modes := [][3]mWriterMode{{mPlain, mTx}, {mCreate, mDelete}}
	short := testing.Short()
	if short {
		modes = modes[:1]
	}
	if v := os.Getenv("MODEL_TICKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("MODEL_TICKS: %v", err)
		}
		ticks, short = n, false
		modes = [][3]mWriterMode{{mPlain, mPlain}, {mPlain, mTx}, {mTx, mTx}, {mCreate, mPlain}, {mTx, mDelete}, {mCreate, mDelete}}
	}
	return ticks, modes, short
}

// TestModel explores every interleaving of the scenarios, with at most one
// clock step per run, for two pairs of writer modes (one with -short, and
// only the row's reader). MODEL_TICKS=n allows n clock steps and runs all
// six pairs; MODEL_READERS=both runs the two readers together;
// MODEL_WRITERS=3 adds a third writer (an update into the list);
// MODEL_SLOW_WRITES=1 drops the assumption that a write commits within a
// lease of its mark (and finds the documented limit, with two clock steps).
func TestModel(t *testing.T) {
	ticks, modes, short := modelBounds(t)
	var total, steps, scripts int
	var runs uint64
	start := time.Now()
	for _, ms := range modes {
		for _, sc := range mScenarios(ms[0], ms[1]) {
			if short && !sc.noList {
				continue
			}
			t.Run(sc.name, func(t *testing.T) {
				e := newMEnv(t)
				t0 := time.Now()
				e.quiet = true
				start := sc.state()
				n := e.explore(start, start, ticks, nil)
				total, runs, steps, scripts = total+len(e.visited), runs+n, steps+e.steps, scripts+e.scripts
				t.Logf("%d states, %d interleavings (%d distinct ends), %d steps (%d distinct script calls), longest run %d steps, %v",
					len(e.visited), n, e.runs, e.steps, e.scripts, e.maxPath, time.Since(t0).Round(time.Millisecond))
				if e.fail != nil {
					t.Fatalf("counterexample:\n  %s", strings.Join(e.fail, "\n  "))
				}
			})
		}
	}
	t.Logf("model: %d states, %d interleavings, %d steps, %d distinct script calls on miniredis, %d clock steps at most, %v",
		total, runs, steps, scripts, ticks, time.Since(start).Round(time.Millisecond))
}

// The model's clock is miniredis's: TIME in a script and key expiry follow
// SetTime, so a lease runs out exactly when the checker says.
func TestModelClock(t *testing.T) {
	e := newMEnv(t)
	s := &mState{now: mT0}
	e.run(s, mOp{script: "mark", key: kRow, token: "w1r"})
	lk := s.redis[kRowLease]
	if lk.typ != "hash" || lk.exp != mT0+mLease {
		t.Fatalf("lease key after a mark: %v", lk)
	}
	if got := lk.hash[0]; got != [2]string{"w1r", strconv.Itoa(mT0 + mLease)} {
		t.Fatalf("token field %v, want its expiry at TIME + lease", got)
	}
	e.m.FlushAll()
	e.m.SetTime(time.UnixMilli(mT0))
	e.m.ClockTTL(true)
	e.load(mKeyNames[kRowLease], lk, mT0)
	e.m.SetTime(time.UnixMilli(mT0 + mLease - 1))
	if !e.m.Exists(mKeyNames[kRowLease]) {
		t.Fatal("the lease ran out early")
	}
	e.m.SetTime(time.UnixMilli(mT0 + mLease))
	if e.m.Exists(mKeyNames[kRowLease]) {
		t.Fatal("the lease outlived its expiry")
	}
}

// replay runs one schedule of steps (as the counterexamples print them,
// e.g. "W1", "W1:crash", "tick") from sc, checking the invariant after each,
// and the complete run at the end. It returns the steps taken and the
// violation, "" for none.
func (e *mEnv) replay(sc mScenario, schedule []string) ([]string, string) {
	return e.replayFrom(sc.state(), schedule)
}

func (e *mEnv) replayFrom(s *mState, schedule []string) ([]string, string) {
	var path []string
	for _, id := range schedule {
		var st *mStep
		for _, c := range e.enabled(s, len(schedule)) {
			if c.String() == id {
				st = &c
				break
			}
		}
		if st == nil {
			e.t.Fatalf("step %s is not enabled after %v", id, path)
		}
		var desc string
		s, desc = e.step(s, *st)
		path = append(path, fmt.Sprintf("%-10s %s", "["+id+"]", desc))
		if msg := s.invariant(); msg != "" && !e.observeOnly {
			return path, msg
		}
	}
	if steps := e.enabled(s, 0); len(steps) == 0 {
		msg, log := e.finish(s)
		return append(path, log...), msg
	}
	return path, ""
}

// A mark must not extend the life of a value another writer's mark bounded.
// W1 commits and dies before publishing; the old row may be served for one
// lease after W1's mark. W2 marks the row 0.6 lease later and its
// transaction rolls back. Before the fix, W2's mark gave the old row W2's
// whole lease: a reader still got it 1.2 leases after W1's commit (and
// would for every further mark within a lease of the last).
func TestModelMarkDoesNotExtendAStaleValue(t *testing.T) {
	sc := mScenario{row: "B0", cached: true, noList: true,
		w: [3]mWriter{mW("W1", mPlain, "A1"), mW("W2", mTx, "B2")}}
	schedule := []string{"W1", "W1", "W1:crash", "tick", "W2", "tick", "R", "W2:rollback", "W2:0"}
	e := newMEnv(t)
	e.observeOnly = true
	path, _ := e.replay(sc, schedule)
	if got := path[6]; !strings.Contains(got, "GET row -> miss") {
		t.Errorf("1.2 leases after W1's commit the reader got %q, want a miss:\n  %s", got, strings.Join(path, "\n  "))
	}
	path, msg := newMEnv(t).replay(sc, schedule)
	if msg != "" {
		t.Fatalf("%s\n  %s", msg, strings.Join(path, "\n  "))
	}
}

// The checker is not vacuous: without the assumption that a write commits
// within a lease of its mark (a documented limit), it finds the old row
// filled after the mark ran out and kept with no expiry, the write's own
// publish being the only thing that removes it (a crash would keep it).
func TestModelFindsAWriteThatOutlivesItsLease(t *testing.T) {
	sc := mScenario{row: "B0", noList: true, w: [3]mWriter{mW("W1", mPlain, "A1"), mW("W2", mPlain, "B2")}}
	e := newMEnv(t)
	e.quiet, e.slowWrites = true, true
	start := sc.state()
	e.explore(start, start, 2, nil)
	if e.fail == nil {
		t.Fatalf("no counterexample in %d states", len(e.visited))
	}
	t.Logf("found in %d states:\n  %s", len(e.visited), strings.Join(e.fail, "\n  "))
	if v := e.fail[len(e.fail)-1]; !strings.Contains(v, "no expiry") {
		t.Fatalf("found %s", v)
	}
	// A statement slower than the lease, or a transaction open for longer
	// than a lease after its first write, whose process dies after the
	// commit: the old row stays with no expiry.
	for _, mode := range []mWriterMode{mPlain, mTx} {
		sc.w[1].mode = mode
		e = newMEnv(t)
		e.slowWrites = true
		path, msg := e.replay(sc, []string{"W2", "tick", "tick", "R", "R", "R", "W2:crash", "R"})
		if !strings.Contains(msg, "with no expiry") {
			t.Fatalf("%s: the documented limit did not show: %q\n  %s", mode, msg, strings.Join(path, "\n  "))
		}
	}
}

// faultScenarios are the starting points of the Redis-fault model: updates
// and deletes (creates mark after their insert, and are not faulted). In
// go test: an update beside a transaction, on a cached row and list (the
// states where a stale value could stay); MODEL_FAULTS=all runs every
// start of two pairs of modes, with the breaker closing again too.
func faultScenarios() ([]mScenario, bool) {
	all := os.Getenv("MODEL_FAULTS") == "all"
	var out []mScenario
	for _, ms := range [][2]mWriterMode{{mPlain, mTx}, {mTx, mDelete}} {
		for _, sc := range mScenarios(ms[0], ms[1]) {
			if all || ms[1] == mTx && (sc.name == "update+tx-update_db=B0_cached_row" || sc.name == "update+tx-update_db=A0_cached_list") {
				out = append(out, sc)
			}
		}
	}
	return out, all
}

// TestModelRedisFaults explores the model with one Redis fault per run: a
// writer's mark or publish pipeline fails, having run or not, with the
// breaker open for the rest of the write (or, MODEL_FAULTS=all, closed
// again). A write that could not mark records its keys in the outbox,
// committed with it, which another process drains at any later time; a
// pipeline that failed goes to the writer's repair queue (lost if the
// process dies). A stale key is allowed only while such a repair is due;
// every run must end as the database, once the leases ran out.
func TestModelRedisFaults(t *testing.T) {
	var total int
	var runs uint64
	start := time.Now()
	scenarios, all := faultScenarios()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newMEnv(t)
			e.quiet, e.faults, e.allFaults = true, true, all
			s := sc.state()
			runs += e.explore(s, s, 1, nil)
			total += len(e.visited)
			if e.fail != nil {
				t.Fatalf("counterexample:\n  %s", strings.Join(e.fail, "\n  "))
			}
		})
	}
	t.Logf("model with Redis faults: %d states, %d interleavings, %v", total, runs, time.Since(start).Round(time.Millisecond))
}

// The fault model is not vacuous: a write that could not mark, and whose
// process dies after its commit, leaves the old row a reader filled before
// the commit with no expiry, unless the outbox record removes it.
func TestModelFindsAMarkFailureWithoutTheOutbox(t *testing.T) {
	sc := mScenario{row: "B0", noList: true, w: [3]mWriter{mW("W1", mPlain, "A1"), mW("W2", mTx, "B2")}}
	schedule := []string{"R", "R", "R", "W1:rfail", "W1:crash", "R"}
	e := newMEnv(t)
	e.faults, e.noOutbox = true, true
	path, msg := e.replay(sc, schedule)
	if !strings.Contains(msg, "with no expiry") {
		t.Fatalf("without the outbox: %q\n  %s", msg, strings.Join(path, "\n  "))
	}
	// With the outbox, the old row is allowed only until the drain, which
	// removes it.
	e = newMEnv(t)
	e.faults = true
	path, msg = e.replay(sc, append(schedule, "O"))
	if msg != "" || !strings.Contains(path[len(path)-1], "drain remove row") {
		t.Fatalf("with the outbox: %q\n  %s", msg, strings.Join(path, "\n  "))
	}
	// And the search finds it on its own.
	e = newMEnv(t)
	e.quiet, e.faults, e.noOutbox = true, true, true
	s := sc.state()
	e.explore(s, s, 1, nil)
	if e.fail == nil {
		t.Fatalf("no counterexample without the outbox in %d states", len(e.visited))
	}
}

// mScore is the score of a list member of the model (integer ids).
func mScore(m string) float64 {
	if m == listPresent {
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(m, 64)
	return f
}
