package cachecli_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
	"github.com/entcachemodel/entcachemodel/entcachemodel/cachecli"
	"github.com/entcachemodel/entcachemodel/internal/testenv"
)

// fake is a Maintainer that records what it was asked and pages through
// rows of its own.
type fake struct {
	typ      string
	rows     int
	page     int
	warmErr  error // returned after the first page
	verify   entcachemodel.VerifyReport
	calls    []string
	settings []entcachemodel.RunSettings
	purged   int
}

func (f *fake) Type() string { return f.typ }

func (f *fake) pages(opts []entcachemodel.RunOption) (entcachemodel.RunSettings, int, string, error) {
	s := entcachemodel.Settings(opts...)
	f.settings = append(f.settings, s)
	start := 0
	if s.StartAfter != "" {
		start, _ = strconv.Atoi(s.StartAfter)
	}
	done, cursor := 0, s.StartAfter
	for at := start; at < f.rows; at += f.page {
		n := min(f.page, f.rows-at)
		done += n
		cursor = strconv.Itoa(at + n)
		if s.OnProgress != nil {
			s.OnProgress(entcachemodel.Progress{Type: f.typ, Done: done, Total: f.rows - start, Cursor: cursor, Elapsed: time.Duration(done) * time.Millisecond})
		}
		if f.warmErr != nil {
			return s, done, cursor, f.warmErr
		}
	}
	return s, done, cursor, nil
}

func (f *fake) Warm(ctx context.Context, opts ...entcachemodel.RunOption) (entcachemodel.WarmReport, error) {
	f.calls = append(f.calls, "warm")
	_, done, cursor, err := f.pages(opts)
	return entcachemodel.WarmReport{Type: f.typ, Rows: done, Published: done, Cursor: cursor}, err
}

func (f *fake) Verify(ctx context.Context, opts ...entcachemodel.RunOption) (entcachemodel.VerifyReport, error) {
	f.calls = append(f.calls, "verify")
	_, done, cursor, err := f.pages(opts)
	rep := f.verify
	rep.Type, rep.Checked, rep.Cursor = f.typ, done, cursor
	return rep, err
}

func (f *fake) Purge(ctx context.Context) (int, error) {
	f.calls = append(f.calls, "purge")
	return f.purged, nil
}

type cli struct {
	t              *testing.T
	admin          *entcachemodel.Admin
	cache          *entcachemodel.Cache
	redis          *testenv.Redis
	user, pet      *fake
	stdout, stderr bytes.Buffer
}

func newCLI(t *testing.T) *cli {
	r, err := testenv.OpenRedis()
	require.NoError(t, err)
	t.Cleanup(r.Close)
	c := &cli{t: t, redis: r,
		user: &fake{typ: "User", rows: 100, page: 10},
		pet:  &fake{typ: "Pet", rows: 5, page: 10},
	}
	c.cache = entcachemodel.New(r.Client, entcachemodel.WithPrefix(r.Prefix))
	c.admin = entcachemodel.NewAdmin(c.cache, c.user, c.pet)
	return c
}

// run runs the command line and returns its exit code.
func (c *cli) run(args ...string) int {
	c.stdout.Reset()
	c.stderr.Reset()
	return cachecli.Main(context.Background(), c.admin, args, cachecli.Output(&c.stdout, &c.stderr), cachecli.Terminal(false))
}

func TestUsageAndUnknownCommand(t *testing.T) {
	c := newCLI(t)
	assert.Equal(t, cachecli.ExitUsage, c.run())
	assert.Contains(t, c.stderr.String(), "usage: cache COMMAND")
	assert.Equal(t, cachecli.ExitOK, c.run("help"))
	for _, cmd := range []string{"warm", "verify", "purge", "pause", "resume", "stats"} {
		assert.Contains(t, c.stdout.String(), "  "+cmd)
	}
	assert.Contains(t, c.stdout.String(), "cached types: Pet, User")
	assert.Equal(t, cachecli.ExitUsage, c.run("frob"))
	assert.Contains(t, c.stderr.String(), `unknown command "frob"; the commands are: warm, verify, purge, pause, resume, stats`)
	assert.Empty(t, c.user.calls)
}

func TestBadFlagsAndValues(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"warm", "--frob"}, "warm: unknown flag --frob; the flags of warm are: --batch, --rate, --resume, --type"},
		{[]string{"verify", "-x=1"}, "verify: unknown flag --x; the flags of verify are: --batch, --rate, --repair, --resume, --sample, --type"},
		{[]string{"purge", "--batch", "10"}, "purge: unknown flag --batch; the flags of purge are: --type"},
		{[]string{"pause", "--type", "User"}, "pause: unknown flag --type; the flags of pause are: none"},
		{[]string{"warm", "--type", "Nope"}, `warm: entcachemodel: unknown type "Nope"; the cached types are: Pet, User`},
		{[]string{"verify", "--type", "User,Nope"}, `unknown type "Nope"; the cached types are: Pet, User`},
		{[]string{"purge", "--type", "Nope"}, `unknown type "Nope"; the cached types are: Pet, User`},
		{[]string{"warm", "--batch", "x"}, `invalid value "x" for flag -batch`},
		{[]string{"warm", "--batch", "-1"}, "--batch -1: want a positive number of rows"},
		{[]string{"warm", "--rate", "-3"}, "--rate -3: want 0 (no limit) or more rows per second"},
		{[]string{"verify", "--sample", "2"}, "--sample 2: want a fraction in (0, 1]"},
		{[]string{"verify", "--sample", "0"}, "--sample 0: want a fraction in (0, 1]"},
		{[]string{"warm", "User"}, `warm: unexpected argument "User"`},
		{[]string{"warm", "--resume", "42"}, `--resume "42": name the type, as TYPE:CURSOR`},
		{[]string{"warm", "--resume", "Nope:42"}, `--resume: entcachemodel: unknown type "Nope"`},
		{[]string{"warm", "--type", "Pet", "--resume", "User:42"}, "--resume: type User is not among the types of this run (Pet)"},
	} {
		assert.Equal(t, cachecli.ExitUsage, c.run(tc.args...), "%q", tc.args)
		assert.Contains(t, c.stderr.String(), tc.want, "%q", tc.args)
		assert.Contains(t, c.stderr.String(), `run "cache help" for the usage`, "%q", tc.args)
	}
	assert.Empty(t, c.user.calls, "no run started on bad input")
	assert.Empty(t, c.pet.calls)
}

func TestWarmPassesOptionsAndPrintsProgressLines(t *testing.T) {
	c := newCLI(t)
	require.Equal(t, cachecli.ExitOK, c.run("warm", "--type", "User", "--batch", "50", "--rate", "100"))
	require.Len(t, c.user.settings, 1)
	s := c.user.settings[0]
	assert.Equal(t, 50, s.Batch)
	assert.Equal(t, 100.0, s.RowsPerSecond)
	assert.Empty(t, s.StartAfter)
	assert.Empty(t, c.pet.calls, "only the type named")
	assert.Equal(t, "warm User: 100 rows read, 100 published, 0 skipped (a newer write had them), cursor 100\n", c.stdout.String())
	lines := strings.Split(strings.TrimSpace(c.stderr.String()), "\n")
	// A page of 10 rows of 100: a line at every tenth.
	require.Len(t, lines, 10, c.stderr.String())
	assert.Equal(t, "warm User: 10/100 rows (10%), cursor 10, 10ms", lines[0])
	assert.Equal(t, "warm User: 100/100 rows (100%), cursor 100, 100ms", lines[9])

	// Every type, in order, and the total.
	require.Equal(t, cachecli.ExitOK, c.run("warm"))
	assert.Equal(t, []string{"warm"}, c.pet.calls)
	assert.Contains(t, c.stdout.String(), "warm Pet: 5 rows read")
	assert.Contains(t, c.stdout.String(), "warm: 2 types, 105 rows read, 105 published, 0 skipped\n")
	assert.Less(t, strings.Index(c.stdout.String(), "warm Pet"), strings.Index(c.stdout.String(), "warm User"))
}

func TestWarmResumes(t *testing.T) {
	c := newCLI(t)
	// TYPE:CURSOR skips the types before it.
	require.Equal(t, cachecli.ExitOK, c.run("warm", "--resume", "User:40"))
	assert.Empty(t, c.pet.calls)
	require.Len(t, c.user.settings, 1)
	assert.Equal(t, "40", c.user.settings[0].StartAfter)
	assert.Contains(t, c.stdout.String(), "warm User: 60 rows read")
	// A bare cursor, with one type; and a cursor holding ':'.
	require.Equal(t, cachecli.ExitOK, c.run("warm", "--type", "User", "--resume", "90"))
	assert.Equal(t, "90", c.user.settings[1].StartAfter)
	require.Equal(t, cachecli.ExitOK, c.run("warm", "--resume", "Pet:a:b"))
	assert.Equal(t, "a:b", c.pet.settings[0].StartAfter)
	assert.Empty(t, c.user.settings[2].StartAfter, "the types after the one resumed start from the beginning")
}

func TestWarmFailurePrintsHowToResume(t *testing.T) {
	c := newCLI(t)
	c.user.warmErr = errors.New("redis: connection refused")
	assert.Equal(t, cachecli.ExitFailed, c.run("warm", "--batch", "10"))
	assert.Contains(t, c.stderr.String(), "cache: warm User: redis: connection refused\n")
	assert.Contains(t, c.stderr.String(), "resume with: cache warm --batch 10 --resume User:10\n")
	assert.Contains(t, c.stdout.String(), "warm Pet: 5 rows read", "the types before ran")
	c.user.warmErr = context.Canceled
	assert.Equal(t, cachecli.ExitFailed, c.run("verify", "--type", "User", "--resume", "User:30", "--repair"))
	assert.Contains(t, c.stderr.String(), "resume with: cache verify --type User --repair --resume User:40\n")
}

func TestVerifyExitCodes(t *testing.T) {
	c := newCLI(t)
	c.user.verify = entcachemodel.VerifyReport{Cached: 90}
	require.Equal(t, cachecli.ExitOK, c.run("verify", "--sample", "0.25"))
	assert.Equal(t, 0.25, c.user.settings[0].Sample)
	assert.False(t, c.user.settings[0].Repair)
	assert.Contains(t, c.stdout.String(), "verify User: 100 rows checked, 90 cached, 0 stale, 0 orphans, 0 bad index entries, 0 repaired, cursor 100\n")

	c.user.verify = entcachemodel.VerifyReport{Cached: 90, Stale: 2, Orphans: 1, Divergences: []entcachemodel.Divergence{
		{Key: "{k:User:1}", Kind: "stale", Cached: "age=30", Database: "age=31"},
		{Key: "{k:User:2}", Kind: "orphan", Cached: "age=1", Database: "(none)"},
	}}
	assert.Equal(t, cachecli.ExitDivergences, c.run("verify", "--type", "User"))
	out := c.stdout.String()
	assert.Contains(t, out, "2 stale, 1 orphans")
	assert.Contains(t, out, "  stale {k:User:1}\n    cached:   age=30\n    database: age=31\n")
	assert.Contains(t, out, "  (and 1 more)\n")
	assert.Contains(t, c.stderr.String(), "verify: 3 divergences between the cache and the database (run verify --repair to repair them)")

	c.user.verify.Repaired = 3
	assert.Equal(t, cachecli.ExitDivergences, c.run("verify", "--type", "User", "--repair"), "found, even if repaired")
	assert.True(t, c.user.settings[2].Repair)
	assert.Equal(t, 1.0, c.user.settings[2].Sample)
}

func TestProgressBarOnATerminal(t *testing.T) {
	c := newCLI(t)
	code := cachecli.Main(context.Background(), c.admin, []string{"warm", "--type", "User"},
		cachecli.Output(&c.stdout, &c.stderr), cachecli.Terminal(true))
	require.Equal(t, cachecli.ExitOK, code)
	bar := c.stderr.String()
	assert.Contains(t, bar, "warm User")
	assert.Contains(t, bar, "100%")
	assert.Contains(t, bar, "(100/100")
	assert.Contains(t, bar, "\r", "redrawn in place")
	assert.NotContains(t, bar, "cursor", "no plain lines")
}

func TestPauseResumeStatsPurge(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	require.Equal(t, cachecli.ExitOK, c.run("stats"))
	assert.Contains(t, c.stdout.String(), "reads unset (processes started WithReadsPaused are paused, the others serve)")
	require.Equal(t, cachecli.ExitOK, c.run("pause"))
	assert.Contains(t, c.stdout.String(), "reads paused")
	state, err := c.cache.ReadState(ctx)
	require.NoError(t, err)
	assert.Equal(t, entcachemodel.ReadsPaused, state)
	require.Equal(t, cachecli.ExitOK, c.run("stats"))
	assert.Contains(t, c.stdout.String(), "reads paused (every process reads the database)")
	require.Equal(t, cachecli.ExitOK, c.run("resume"))
	state, err = c.cache.ReadState(ctx)
	require.NoError(t, err)
	assert.Equal(t, entcachemodel.ReadsServing, state)

	// Stats counts keys by type and kind; a type the admin does not know
	// is starred.
	p := entcachemodel.KeyPart(c.redis.Prefix)
	rdb := c.redis.Client
	require.NoError(t, rdb.Set(ctx, "{"+p+":User:0.h.0:r:r1}", "v", 0).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+":User:0.h.0:u:email:ra}", "1", 0).Err())
	require.NoError(t, rdb.Set(ctx, "{"+p+":Gone:0.h.0:r:r1}", "v", 0).Err())
	require.Equal(t, cachecli.ExitOK, c.run("stats"))
	out := c.stdout.String()
	assert.Regexp(t, `(?m)^User\s+1\s+1\s+0\s+0\s+0\s+0\s+-$`, out)
	assert.Regexp(t, `(?m)^Pet\s+0\s+0\s+0\s+0\s+0\s+0\s+-$`, out)
	assert.Regexp(t, `(?m)^Gone\*\s+1\s+`, out)
	assert.Contains(t, out, "* not a cached type of this client")

	// purge --type runs the types' Purge; purge alone the whole prefix.
	c.user.purged = 7
	require.Equal(t, cachecli.ExitOK, c.run("purge", "--type", "User"))
	assert.Equal(t, []string{"purge"}, c.user.calls)
	assert.Empty(t, c.pet.calls)
	assert.Contains(t, c.stdout.String(), "purge User: removed 7 keys\n")
	assert.Contains(t, c.stdout.String(), "kept for User: 2 keys written since", "the fake removed nothing")
	require.Equal(t, cachecli.ExitOK, c.run("purge"))
	assert.Contains(t, c.stdout.String(), "purge every type: removed 3 keys\n")
	assert.Contains(t, c.stdout.String(), "kept: the server stamp {"+p+"}:servers")
	keys, err := c.redis.Keys(ctx, "{"+p+":*")
	require.NoError(t, err)
	assert.Empty(t, keys)
}

func TestWithoutCache(t *testing.T) {
	var stdout, stderr bytes.Buffer
	admin := entcachemodel.NewAdmin(nil, &fake{typ: "User", rows: 1, page: 1})
	for _, cmd := range []string{"pause", "resume", "stats", "purge"} {
		stderr.Reset()
		code := cachecli.Main(context.Background(), admin, []string{cmd}, cachecli.Output(&stdout, &stderr))
		assert.Equal(t, cachecli.ExitFailed, code, cmd)
		assert.Contains(t, stderr.String(), "no cache (the client has no ent.CacheModel", cmd)
	}
}
