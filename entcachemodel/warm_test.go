package entcachemodel

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A key's state, written raw: its data and its lease hash (expiries
// relative to the server's clock, in ms; 0 for none).
type keyState struct {
	name  string
	data  string // "", "value", "set", "hash"
	lease [][2]string
	// leaseKind, when set, replaces the lease hash with a key of that type.
	leaseKind string
}

// tokens of the states; "rT" is the caller's.
const (
	future = "+5000"
	past   = "-5000"
)

func keyStates() []keyState {
	var out []keyState
	for _, data := range []string{"", "value", "set", "hash"} {
		for _, l := range []struct {
			name  string
			lease [][2]string
			kind  string
		}{
			{"no lease", nil, ""},
			{"a writer's mark", [][2]string{{"wA", future}, {"~", "wA"}}, ""},
			{"a reader's lease", [][2]string{{"rA", future}, {"~", "rA"}}, ""},
			{"a mark run out", [][2]string{{"wA", past}, {"~", "wA"}}, ""},
			{"a lease run out", [][2]string{{"rA", past}, {"~", "rA"}}, ""},
			{"the caller's lease", [][2]string{{"rT", future}, {"~", "rT"}}, ""},
			{"the caller's lease, run out", [][2]string{{"rT", past}, {"~", "rT"}}, ""},
			{"the caller's lease, then a mark", [][2]string{{"rT", future}, {"wA", future}, {"~", "wA"}}, ""},
			{"the caller's lease beside a reader's", [][2]string{{"rT", future}, {"rA", future}, {"~", "rT"}}, ""},
			{"the caller's lease, no latest", [][2]string{{"rT", future}}, ""},
			{"a lease key of another type", nil, "string"},
		} {
			out = append(out, keyState{name: fmt.Sprintf("data %q, %s", data, l.name), data: data, lease: l.lease, leaseKind: l.kind})
		}
	}
	return out
}

// put writes st at key.
func (e *scriptEnv) put(key string, st keyState) {
	e.t.Helper()
	now, err := e.c.rdb.Time(e.ctx).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	ms := now.UnixMilli()
	switch st.data {
	case "value":
		e.c.rdb.Set(e.ctx, key, "old", 0)
	case "set":
		e.c.rdb.SAdd(e.ctx, key, "x")
	case "hash":
		e.c.rdb.HSet(e.ctx, key, "f", "v")
	}
	if st.leaseKind == "string" {
		e.c.rdb.Set(e.ctx, lease(key), "junk", 0)
	}
	for _, f := range st.lease {
		v := f[1]
		if d, err := strconv.ParseInt(v, 10, 64); err == nil && (v[0] == '+' || v[0] == '-') {
			v = strconv.FormatInt(ms+d, 10)
		}
		e.c.rdb.HSet(e.ctx, lease(key), f[0], v)
	}
}

// state describes what key holds now: its data, and its lease's fields
// (their names, and '~').
func (e *scriptEnv) state(key string) string {
	e.t.Helper()
	typ := e.c.rdb.Type(e.ctx, key).Val()
	data := typ
	if typ == "string" {
		data += "=" + e.c.rdb.Get(e.ctx, key).Val()
	}
	if e.c.rdb.PTTL(e.ctx, key).Val() > 0 {
		data += " (expires)"
	}
	lt := e.c.rdb.Type(e.ctx, lease(key)).Val()
	if lt != "hash" {
		return data + ", lease " + lt
	}
	kv := e.c.rdb.HGetAll(e.ctx, lease(key)).Val()
	var fields []string
	for f, v := range kv {
		if f == "~" {
			f += "=" + v
		} else if f != "rT" && f != "wA" && f != "rA" {
			f = "(a new token)"
		}
		fields = append(fields, f)
	}
	slices.Sort(fields)
	return fmt.Sprintf("%s, lease %v", data, fields)
}

// answer is a script's answer as text.
func answer(cmd *redis.Cmd) string {
	if cmd.Err() != nil {
		return "error " + cmd.Err().Error()
	}
	return fmt.Sprint(cmd.Val())
}

// The scripts of Warm's fast paths answer, in every state of a key, as the
// protocol's own scripts do: either exactly as they do, or -1 without
// changing anything (then Warm asks the protocol's script).
func TestWarmScriptsAnswerAsTheProtocol(t *testing.T) {
	e := newScriptEnv(t, 5*time.Second)
	states := keyStates()
	for _, batch := range []bool{false, true} {
		// fast and full hold the same states, key by key.
		fast := make([]string, len(states))
		full := make([]string, len(states))
		for i, st := range states {
			fast[i] = e.ks.row(fmt.Sprintf("fast%v-%d", batch, i))
			full[i] = e.ks.row(fmt.Sprintf("full%v-%d", batch, i))
			e.put(fast[i], st)
			e.put(full[i], st)
		}
		check := func(step string, fastRun func() []string, fullRun func(i int) *redis.Cmd, fallback func(i int) *redis.Cmd) {
			t.Helper()
			before := make([]string, len(states))
			for i := range states {
				before[i] = e.state(fast[i])
			}
			got := fastRun()
			for i, st := range states {
				if got[i] == "-1" {
					if s := e.state(fast[i]); s != before[i] {
						t.Errorf("%s, batch %v, %s: -1 changed the key: %s, was %s", step, batch, st.name, s, before[i])
					}
					got[i] = answer(fallback(i))
				}
				want := answer(fullRun(i))
				if got[i] != want {
					t.Errorf("%s, batch %v, %s: answered %s, the protocol %s", step, batch, st.name, got[i], want)
				}
				if g, w := e.state(fast[i]), e.state(full[i]); g != w {
					t.Errorf("%s, batch %v, %s: left %s, the protocol %s", step, batch, st.name, g, w)
				}
			}
		}
		script := func(s *redis.Script, key string, args ...any) *redis.Cmd {
			return s.Run(e.ctx, e.c.rdb, []string{key, lease(key)}, args...)
		}
		lm := e.c.leaseMillis()
		check("lease", func() []string {
			out := make([]string, len(states))
			if batch {
				var keys []string
				args := []any{lm}
				for i := range states {
					keys, args = append(keys, fast[i], lease(fast[i])), append(args, "rT")
				}
				vals, err := warmLeasesScript.Run(e.ctx, e.c.rdb, keys, args...).Slice()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					out[i] = fmt.Sprint(v)
				}
				return out
			}
			for i := range states {
				out[i] = answer(script(warmLeaseScript, fast[i], "rT", lm))
			}
			return out
		}, func(i int) *redis.Cmd { return script(leaseScript, full[i], "rT", lm, "get") },
			func(i int) *redis.Cmd { return script(leaseScript, fast[i], "rT", lm, "get") })

		// The same keys, as the lease left them, then a store.
		check("store", func() []string {
			out := make([]string, len(states))
			if batch {
				var keys []string
				var args []any
				for i := range states {
					keys, args = append(keys, fast[i], lease(fast[i])), append(args, "rT", "new")
				}
				vals, err := warmSetsScript.Run(e.ctx, e.c.rdb, keys, args...).Slice()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					out[i] = fmt.Sprint(v)
				}
				return out
			}
			for i := range states {
				out[i] = answer(script(warmSetScript, fast[i], "rT", "new"))
			}
			return out
		}, func(i int) *redis.Cmd { return script(setScript, full[i], "rT", "new", "fill") },
			func(i int) *redis.Cmd { return script(setScript, fast[i], "rT", "new", "fill") })
	}

	// And a store on each state as it is (not after a lease of its own).
	for i, st := range states {
		a, b := e.ks.row(fmt.Sprintf("a%d", i)), e.ks.row(fmt.Sprintf("b%d", i))
		e.put(a, st)
		e.put(b, st)
		before := e.state(a)
		got := answer(warmSetScript.Run(e.ctx, e.c.rdb, []string{a, lease(a)}, "rT", "new"))
		if got == "-1" {
			if s := e.state(a); s != before {
				t.Errorf("store, %s: -1 changed the key: %s, was %s", st.name, s, before)
			}
			got = answer(setScript.Run(e.ctx, e.c.rdb, []string{a, lease(a)}, "rT", "new", "fill"))
		}
		if want := answer(setScript.Run(e.ctx, e.c.rdb, []string{b, lease(b)}, "rT", "new", "fill")); got != want {
			t.Errorf("store, %s: answered %s, the protocol %s", st.name, got, want)
		}
		if g, w := e.state(a), e.state(b); g != w {
			t.Errorf("store, %s: left %s, the protocol %s", st.name, g, w)
		}
	}
}
