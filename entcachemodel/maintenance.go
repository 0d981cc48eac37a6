package entcachemodel

import "time"

// This file holds the vocabulary of the maintenance runs (Warm, Verify) that
// generated code exposes on every cached type: their options and reports.

// RunOption configures a Warm or Verify run.
type RunOption func(*runConfig)

type runConfig struct {
	batch      int
	startAfter string
	rate       float64
	progress   func(Progress)
	repair     bool
	sample     float64
}

func newRunConfig(opts []RunOption) runConfig {
	rc := runConfig{batch: 1000, sample: 1}
	for _, o := range opts {
		o(&rc)
	}
	if rc.batch <= 0 {
		rc.batch = 1000
	}
	if rc.sample <= 0 || rc.sample > 1 {
		rc.sample = 1
	}
	return rc
}

// BatchSize sets the rows read per page (default 1000).
func BatchSize(n int) RunOption { return func(rc *runConfig) { rc.batch = n } }

// StartAfter resumes a run after the cursor a previous run returned.
func StartAfter(cursor string) RunOption { return func(rc *runConfig) { rc.startAfter = cursor } }

// RowsPerSecond throttles a run to about n rows a second (0: no limit), for
// a busy database.
func RowsPerSecond(n float64) RunOption { return func(rc *runConfig) { rc.rate = n } }

// OnProgress calls f after every page, on the run's own goroutine, before
// the run returns.
func OnProgress(f func(Progress)) RunOption { return func(rc *runConfig) { rc.progress = f } }

// Repair makes Verify remove (or republish) every key it finds differing
// from the database.
func Repair() RunOption { return func(rc *runConfig) { rc.repair = true } }

// Sample makes Verify check about the fraction f of the rows (default 1).
func Sample(f float64) RunOption { return func(rc *runConfig) { rc.sample = f } }

// Progress is what a run has done so far.
type Progress struct {
	Type    string        // the ent type
	Done    int           // rows read so far in this run
	Total   int           // the table's row count when the run started
	Cursor  string        // where a run resumed with StartAfter would go on
	Elapsed time.Duration // since the run started
}

// WarmReport is what a Warm run did.
type WarmReport struct {
	Type      string
	Rows      int    // rows read from the database
	Published int    // rows stored in the cache (entries and lists are extra)
	Skipped   int    // rows a newer write owned: left to it
	Cursor    string // the last row reached, for StartAfter
}

// VerifyReport is what a Verify run found.
type VerifyReport struct {
	Type     string
	Checked  int // database rows compared
	Cached   int // of them, cached
	Stale    int // cached values that differ from the database
	Orphans  int // cached values of rows the database no longer holds
	BadIndex int // unique entries or lists that answer wrongly
	Repaired int // keys removed or republished (with Repair)
	// Divergences are the first 20 differences found.
	Divergences []Divergence
	Cursor      string // the last row reached, for StartAfter
}

// Divergence is one difference between the cache and the database.
type Divergence struct {
	Key      string // the Redis key
	Kind     string // "stale", "orphan" or "index"
	Cached   string // what the cache holds, printable
	Database string // what the database holds, printable
}
