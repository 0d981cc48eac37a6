// Package cachecli is a ready admin command for the cache of a generated
// ent client: warm, verify, purge, pause, resume, stats. A program of ten
// lines gives it to an application:
//
//	package main
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		defer stop()
//		client := app.OpenClient(ctx) // the application's ent client, with ent.CacheModel
//		defer client.Close()
//		os.Exit(cachecli.Main(ctx, client.CacheAdmin(), os.Args[1:]))
//	}
//
// Run with no arguments (or "help") for the usage. On a terminal, warm and
// verify show a progress bar; otherwise they print a line at every tenth
// of the table, with the cursor to resume from.
package cachecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// Exit codes of Main.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitDivergences: verify found the cache differing from the database
	// (also with --repair: what it repaired was wrong until then).
	ExitDivergences = 1
	// ExitUsage: an unknown command, flag or type, or a bad value.
	ExitUsage = 2
	// ExitFailed: the command failed (Redis or the database), or was
	// cancelled; warm and verify print how to resume.
	ExitFailed = 3
)

// Option configures Main.
type Option func(*config)

type config struct {
	stdout, stderr io.Writer
	terminal       *bool
	name           string
}

// Output sends Main's results to stdout and its progress, errors and
// usage to stderr (default os.Stdout and os.Stderr).
func Output(stdout, stderr io.Writer) Option {
	return func(c *config) { c.stdout, c.stderr = stdout, stderr }
}

// Terminal turns the progress bar on or off (default: on when stderr is a
// terminal); off, progress is printed as plain lines.
func Terminal(on bool) Option { return func(c *config) { c.terminal = &on } }

// Name sets the program name that usage and hints show (default "cache").
func Name(name string) Option { return func(c *config) { c.name = name } }

// commands are the commands, in the order the usage lists them.
var commands = []struct{ name, args, help string }{
	{"warm", "[--type T[,T...]] [--batch N] [--resume CURSOR] [--rate N]", "publish the rows of every cached type (or those named) ahead of traffic"},
	{"verify", "[--type T[,T...]] [--repair] [--sample F] [--batch N] [--resume CURSOR] [--rate N]", "compare the cache with the database; exit 1 when they differ"},
	{"purge", "[--type T[,T...]]", "remove the cache's keys: of the types named, or of the whole prefix"},
	{"pause", "", "make every process read the database (writes still publish)"},
	{"resume", "", "make every process serve from the cache again"},
	{"stats", "", "the state of reads, and the keys of each type in Redis"},
}

// Main runs the admin command args (without the program name) on admin and
// returns the exit code.
func Main(ctx context.Context, admin *entcachemodel.Admin, args []string, opts ...Option) int {
	cfg := &config{stdout: os.Stdout, stderr: os.Stderr, name: "cache"}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.terminal == nil {
		on := false
		if f, ok := cfg.stderr.(*os.File); ok {
			on = term.IsTerminal(int(f.Fd()))
		}
		cfg.terminal = &on
	}
	r := &run{cfg: cfg, admin: admin}
	if len(args) == 0 {
		r.usage(cfg.stderr)
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		r.usage(cfg.stdout)
		return ExitOK
	case "warm":
		return r.warm(ctx, args[1:])
	case "verify":
		return r.verify(ctx, args[1:])
	case "purge":
		return r.purge(ctx, args[1:])
	case "pause":
		return r.pause(ctx, args[1:], true)
	case "resume":
		return r.pause(ctx, args[1:], false)
	case "stats":
		return r.stats(ctx, args[1:])
	}
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return r.usageError("", fmt.Errorf("unknown command %q; the commands are: %s", args[0], strings.Join(names, ", ")))
}

type run struct {
	cfg   *config
	admin *entcachemodel.Admin
}

func (r *run) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [FLAGS]\n\ncommands:\n", r.cfg.name)
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	fmt.Fprintf(w, "\ncached types: %s\n", strings.Join(r.admin.Types(), ", "))
	fmt.Fprintf(w, "resume an interrupted warm or verify with the cursor it printed: --resume TYPE:CURSOR\n")
}

// usageError prints err, for the command cmd ("" for none), and returns
// ExitUsage.
func (r *run) usageError(cmd string, err error) int {
	if cmd != "" {
		cmd += ": "
	}
	fmt.Fprintf(r.cfg.stderr, "%s: %s%v\nrun %q for the usage\n", r.cfg.name, cmd, err, r.cfg.name+" help")
	return ExitUsage
}

// failed prints err and returns ExitFailed.
func (r *run) failed(cmd string, err error) int {
	fmt.Fprintf(r.cfg.stderr, "%s: %s: %v\n", r.cfg.name, cmd, err)
	return ExitFailed
}

// typeList is a flag of type names, comma-separated or repeated.
type typeList []string

func (t *typeList) String() string { return strings.Join(*t, ",") }

func (t *typeList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*t = append(*t, s)
		}
	}
	return nil
}

// flags parses the flags of cmd and reports an error as a usage error.
func (r *run) flags(cmd string, fs *flag.FlagSet, args []string) (ok bool, code int) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if errors.Is(err, flag.ErrHelp) {
		r.usage(r.cfg.stdout)
		return false, ExitOK
	}
	if err == nil {
		return true, 0
	}
	var valid []string
	fs.VisitAll(func(f *flag.Flag) { valid = append(valid, "--"+f.Name) })
	list := "none"
	if len(valid) > 0 {
		list = strings.Join(valid, ", ")
	}
	msg := err.Error()
	if name, found := strings.CutPrefix(msg, "flag provided but not defined: "); found {
		msg = "unknown flag --" + strings.TrimLeft(name, "-")
	}
	return false, r.usageError(cmd, fmt.Errorf("%s; the flags of %s are: %s", msg, cmd, list))
}

// runFlags are the flags shared by warm and verify.
type runFlags struct {
	types  typeList
	batch  int
	resume string
	rate   float64
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.types, "type", "the types to run (comma-separated; default every cached type)")
	fs.IntVar(&f.batch, "batch", 0, "rows per page (default 1000)")
	fs.StringVar(&f.resume, "resume", "", "the cursor an interrupted run printed (TYPE:CURSOR)")
	fs.Float64Var(&f.rate, "rate", 0, "rows per second at most (0: no limit)")
}

// step is one type of a run, with the cursor it resumes after.
type step struct {
	m      entcachemodel.Maintainer
	cursor string
}

// plan checks the shared flags and returns the types to run.
func (r *run) plan(cmd string, f *runFlags) ([]step, int) {
	if f.batch < 0 {
		return nil, r.usageError(cmd, fmt.Errorf("--batch %d: want a positive number of rows", f.batch))
	}
	if f.rate < 0 {
		return nil, r.usageError(cmd, fmt.Errorf("--rate %v: want 0 (no limit) or more rows per second", f.rate))
	}
	ms, err := r.admin.Select(f.types...)
	if err != nil {
		return nil, r.usageError(cmd, err)
	}
	steps := make([]step, len(ms))
	for i, m := range ms {
		steps[i] = step{m: m}
	}
	if f.resume == "" {
		return steps, 0
	}
	typ, cursor, found := strings.Cut(f.resume, ":")
	if !found {
		// A bare cursor: of the one type named.
		if len(steps) != 1 {
			return nil, r.usageError(cmd, fmt.Errorf("--resume %q: name the type, as TYPE:CURSOR (or run one --type)", f.resume))
		}
		steps[0].cursor = f.resume
		return steps, 0
	}
	for i, s := range steps {
		if s.m.Type() == typ {
			steps = steps[i:]
			steps[0].cursor = cursor
			return steps, 0
		}
	}
	if _, err := r.admin.Maintainer(typ); err != nil {
		return nil, r.usageError(cmd, fmt.Errorf("--resume: %w", err))
	}
	return nil, r.usageError(cmd, fmt.Errorf("--resume: type %s is not among the types of this run (%s)", typ, f.types.String()))
}

// options returns the run options of the shared flags for one step.
func (f *runFlags) options(s step, p *progress) []entcachemodel.RunOption {
	var opts []entcachemodel.RunOption
	if f.batch > 0 {
		opts = append(opts, entcachemodel.BatchSize(f.batch))
	}
	if s.cursor != "" {
		opts = append(opts, entcachemodel.StartAfter(s.cursor))
	}
	if f.rate > 0 {
		opts = append(opts, entcachemodel.RowsPerSecond(f.rate))
	}
	return append(opts, entcachemodel.OnProgress(p.update))
}

// resumeHint prints how to go on after a failed step.
func (r *run) resumeHint(cmd string, f *runFlags, typ, cursor string, extra []string) {
	args := []string{r.cfg.name, cmd}
	if len(f.types) > 0 {
		args = append(args, "--type", f.types.String())
	}
	args = append(args, extra...)
	if cursor != "" {
		args = append(args, "--resume", shellQuote(typ+":"+cursor))
	} else {
		args = append(args, "--resume", shellQuote(typ+":"))
	}
	fmt.Fprintf(r.cfg.stderr, "resume with: %s\n", strings.Join(args, " "))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:@+/=,", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (r *run) warm(ctx context.Context, args []string) int {
	var f runFlags
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	f.register(fs)
	if ok, code := r.flags("warm", fs, args); !ok {
		return code
	}
	steps, code := r.plan("warm", &f)
	if steps == nil {
		return code
	}
	var rows, published, skipped int
	for _, s := range steps {
		p := r.progress("warm", s.m.Type())
		rep, err := s.m.Warm(ctx, f.options(s, p)...)
		p.finish(err == nil)
		rows, published, skipped = rows+rep.Rows, published+rep.Published, skipped+rep.Skipped
		fmt.Fprintf(r.cfg.stdout, "warm %s: %d rows read, %d published, %d skipped (a newer write had them), cursor %s\n",
			s.m.Type(), rep.Rows, rep.Published, rep.Skipped, orNone(rep.Cursor))
		if err != nil {
			code := r.failed("warm "+s.m.Type(), err)
			r.resumeHint("warm", &f, s.m.Type(), resumeCursor(rep.Cursor, s.cursor), f.extra())
			return code
		}
	}
	if len(steps) > 1 {
		fmt.Fprintf(r.cfg.stdout, "warm: %d types, %d rows read, %d published, %d skipped\n", len(steps), rows, published, skipped)
	}
	return ExitOK
}

// extra returns the flags of f besides --type and --resume, for a hint.
func (f *runFlags) extra() []string {
	var out []string
	if f.batch > 0 {
		out = append(out, "--batch", strconv.Itoa(f.batch))
	}
	if f.rate > 0 {
		out = append(out, "--rate", strconv.FormatFloat(f.rate, 'f', -1, 64))
	}
	return out
}

// resumeCursor is where a failed step resumes: the cursor it reached, or
// the one it started from.
func resumeCursor(reached, started string) string {
	if reached != "" {
		return reached
	}
	return started
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (r *run) verify(ctx context.Context, args []string) int {
	var f runFlags
	var repair bool
	sample := 1.0
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	f.register(fs)
	fs.BoolVar(&repair, "repair", false, "remove or republish what differs")
	fs.Float64Var(&sample, "sample", 1, "the fraction of rows to check, in (0, 1]")
	if ok, code := r.flags("verify", fs, args); !ok {
		return code
	}
	if !(sample > 0 && sample <= 1) {
		return r.usageError("verify", fmt.Errorf("--sample %v: want a fraction in (0, 1]", sample))
	}
	steps, code := r.plan("verify", &f)
	if steps == nil {
		return code
	}
	var extra []string
	if repair {
		extra = append(extra, "--repair")
	}
	if sample < 1 {
		extra = append(extra, "--sample", strconv.FormatFloat(sample, 'f', -1, 64))
	}
	extra = append(extra, f.extra()...)
	diverged := 0
	for _, s := range steps {
		p := r.progress("verify", s.m.Type())
		opts := f.options(s, p)
		if repair {
			opts = append(opts, entcachemodel.Repair())
		}
		if sample < 1 {
			opts = append(opts, entcachemodel.Sample(sample))
		}
		rep, err := s.m.Verify(ctx, opts...)
		p.finish(err == nil)
		n := rep.Stale + rep.Orphans + rep.BadIndex
		diverged += n
		fmt.Fprintf(r.cfg.stdout, "verify %s: %d rows checked, %d cached, %d stale, %d orphans, %d bad index entries, %d repaired, cursor %s\n",
			s.m.Type(), rep.Checked, rep.Cached, rep.Stale, rep.Orphans, rep.BadIndex, rep.Repaired, orNone(rep.Cursor))
		for _, d := range rep.Divergences {
			fmt.Fprintf(r.cfg.stdout, "  %s %s\n    cached:   %s\n    database: %s\n", d.Kind, d.Key, d.Cached, d.Database)
		}
		if len(rep.Divergences) < n {
			fmt.Fprintf(r.cfg.stdout, "  (and %d more)\n", n-len(rep.Divergences))
		}
		if err != nil {
			code := r.failed("verify "+s.m.Type(), err)
			r.resumeHint("verify", &f, s.m.Type(), resumeCursor(rep.Cursor, s.cursor), extra)
			return code
		}
	}
	if diverged > 0 {
		what := "run verify --repair to repair them"
		if repair {
			what = "repaired; they were served until now"
		}
		fmt.Fprintf(r.cfg.stderr, "%s: verify: %d divergences between the cache and the database (%s)\n", r.cfg.name, diverged, what)
		return ExitDivergences
	}
	return ExitOK
}

func (r *run) purge(ctx context.Context, args []string) int {
	var types typeList
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.Var(&types, "type", "the types to purge (comma-separated; default the whole prefix)")
	if ok, code := r.flags("purge", fs, args); !ok {
		return code
	}
	if _, err := r.admin.Select(types...); err != nil {
		return r.usageError("purge", err)
	}
	n, err := r.admin.Purge(ctx, types...)
	what := "every type"
	if len(types) > 0 {
		what = types.String()
	}
	if err != nil {
		fmt.Fprintf(r.cfg.stdout, "purge %s: removed %d keys before the error\n", what, n)
		return r.failed("purge", err)
	}
	fmt.Fprintf(r.cfg.stdout, "purge %s: removed %d keys\n", what, n)
	// What stays: the state of running writes and processes.
	st, err := r.admin.Stats(ctx, types...)
	if err != nil {
		return r.failed("purge", err)
	}
	for _, t := range st.Types {
		var left []string
		if t.Leases > 0 {
			left = append(left, fmt.Sprintf("%d marks of writes in flight", t.Leases))
		}
		if t.Watches > 0 {
			left = append(left, fmt.Sprintf("%d watches of running writes", t.Watches))
		}
		if running := runningVersions(t.Versions); running > 0 {
			left = append(left, fmt.Sprintf("the registry entries of %d running schema versions", running))
		}
		if n := t.Rows + t.Entries + t.Lists + t.Other; n > 0 {
			left = append(left, fmt.Sprintf("%d keys written since (reads and writes go on)", n))
		}
		if len(left) > 0 {
			fmt.Fprintf(r.cfg.stdout, "  kept for %s: %s\n", t.Type, strings.Join(left, ", "))
		}
	}
	if len(types) == 0 {
		fmt.Fprintf(r.cfg.stdout, "  kept: the server stamp {%s}:servers (the server epoch and the state of reads)\n", entcachemodel.KeyPart(st.Prefix))
	}
	return ExitOK
}

func runningVersions(vs []entcachemodel.Version) int {
	n := 0
	for _, v := range vs {
		if v.Alive {
			n++
		}
	}
	return n
}

func (r *run) pause(ctx context.Context, args []string, pause bool) int {
	cmd := "resume"
	if pause {
		cmd = "pause"
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	if ok, code := r.flags(cmd, fs, args); !ok {
		return code
	}
	if pause {
		if err := r.admin.Pause(ctx); err != nil {
			return r.failed(cmd, err)
		}
		fmt.Fprintln(r.cfg.stdout, "reads paused: every process reads the database within its version check (WithVersionCheck, 5s by default); writes still publish")
		return ExitOK
	}
	if err := r.admin.Resume(ctx); err != nil {
		return r.failed(cmd, err)
	}
	fmt.Fprintln(r.cfg.stdout, "reads resumed: every process serves from the cache within its version check (WithVersionCheck, 5s by default)")
	return ExitOK
}

func (r *run) stats(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	if ok, code := r.flags("stats", fs, args); !ok {
		return code
	}
	st, err := r.admin.Stats(ctx)
	if err != nil {
		return r.failed("stats", err)
	}
	reads := map[entcachemodel.ReadState]string{
		entcachemodel.ReadsServing: "serving",
		entcachemodel.ReadsPaused:  "paused (every process reads the database)",
		entcachemodel.ReadsUnset:   "unset (processes started WithReadsPaused are paused, the others serve)",
	}[st.Reads]
	fmt.Fprintf(r.cfg.stdout, "prefix %q: reads %s; server epoch %s\n", st.Prefix, reads, st.ServerEpoch)
	tw := tabwriter.NewWriter(r.cfg.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tROWS\tENTRIES\tLISTS\tLEASES\tWATCHES\tOTHER\tVERSIONS")
	unknown := false
	for _, t := range st.Types {
		name := t.Type
		if !t.Known {
			name += "*"
			unknown = true
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", name, t.Rows, t.Entries, t.Lists, t.Leases, t.Watches, t.Other, versions(t.Versions))
	}
	tw.Flush()
	if unknown {
		fmt.Fprintf(r.cfg.stdout, "* not a cached type of this client (removed from the schema?): %s purge removes its keys with the whole prefix\n", r.cfg.name)
	}
	return ExitOK
}

// versions describes a registry of schema versions.
func versions(vs []entcachemodel.Version) string {
	if len(vs) == 0 {
		return "-"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		state := "gone"
		if v.Alive {
			state = "running"
		}
		parts[i] = fmt.Sprintf("%s %s (seen %s)", short(v.Hash), state, v.Seen.UTC().Format(time.DateTime))
	}
	return strings.Join(parts, "; ")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// progress shows the progress of one run: a bar on a terminal, otherwise
// a line at every tenth of the table.
type progress struct {
	r        *run
	label    string
	bar      *progressbar.ProgressBar
	lastStep int
}

func (r *run) progress(verb, typ string) *progress {
	return &progress{r: r, label: verb + " " + typ, lastStep: -1}
}

// update is the OnProgress of a run.
func (p *progress) update(pr entcachemodel.Progress) {
	if *p.r.cfg.terminal {
		total := int64(pr.Total)
		if total < int64(pr.Done) {
			total = int64(pr.Done) // rows inserted since the count
		}
		if p.bar == nil {
			p.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(p.r.cfg.stderr),
				progressbar.OptionSetDescription(p.label),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("rows"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		} else if total != p.bar.GetMax64() {
			p.bar.ChangeMax64(total)
		}
		_ = p.bar.Set64(int64(pr.Done))
		return
	}
	step := 10
	if pr.Total > 0 {
		step = min(10, pr.Done*10/pr.Total)
	}
	if step == p.lastStep {
		return
	}
	p.lastStep = step
	pct := ""
	if pr.Total > 0 {
		pct = fmt.Sprintf(" (%d%%)", min(100, pr.Done*100/pr.Total))
	}
	fmt.Fprintf(p.r.cfg.stderr, "%s: %d/%d rows%s, cursor %s, %s\n", p.label, pr.Done, pr.Total, pct, orNone(pr.Cursor), pr.Elapsed.Round(time.Millisecond))
}

// finish ends the bar (on success, at its end).
func (p *progress) finish(ok bool) {
	if p.bar == nil {
		return
	}
	if ok {
		_ = p.bar.Finish()
	}
	fmt.Fprintln(p.r.cfg.stderr)
}
