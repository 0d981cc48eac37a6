package ent_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/user"
)

// chaosStaleness measures, in a chaos run with CHAOS_NEAR=1, how long a
// write committed by one process takes to be seen by the cached Get (near
// cache on) of every other process, while the run's faults are injected:
// Redis outages of the writer or of a reader, flushes, crashes of the
// writer right after its commit (with or without Redis), lost commit
// acknowledgements, corrupt keys and the database delays.
//
// It writes one row of its own (the probe), which the workers leave alone
// (pickID never returns it; their bulk updates touch its age and flags,
// not the field measured): each write sets the probe's joined_at one
// second later than the write before, so a process has seen a write when
// its Get returns that value or a later one. Before each write every other
// process reads the row (it holds the old value); the write is timed from
// its return on the writer and counts as seen when the last other process
// live at the end returns it. The processes are polled in turn, with a
// pause of chaosStalePoll between rounds: that is the resolution.
//
// What it asserts holds whatever the timing: some writes committed, and
// once the run has converged every surviving process returns the value
// the database holds (so no write stays unseen). The figures are logged
// in one fixed format, never compared with a bound; a write not seen by
// every process when the load ends is counted apart, not timed.
type chaosStaleness struct {
	c  *chaos
	id int // the probe's id

	last     int             // the value of the last write attempted
	lags     []time.Duration // per write seen during the load
	outcomes map[string]int  // committed writes by the writer's result
	failed   int             // writes that did not commit
	unseen   int             // committed writes some process had not seen when the load ended
	readErrs map[string]int  // Gets that failed while polling, by kind
	worst    string          // what the slowest write went through, for the log
	// reads counts the polling Gets, nearReads those during which the
	// process's near hits rose (an upper bound of the probe's near hits:
	// the process's workers read too).
	reads, nearReads int
}

// chaosStalePoll is the pause between two rounds of reads of the probe.
const chaosStalePoll = 200 * time.Microsecond

// chaosStaleBase is the probe's joined_at before its first write.
var chaosStaleBase = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// newStaleness creates the probe row when CHAOS_NEAR=1, and returns nil
// otherwise.
func (c *chaos) newStaleness() *chaosStaleness {
	if os.Getenv("CHAOS_NEAR") != "1" {
		return nil
	}
	b := c.e.client.User.Create().SetEmail("stale@x.io").SetFirstName("S").SetLastName("probe").
		SetAge(20).SetJoinedAt(chaosStaleBase)
	c.note(b)
	u, err := b.Save(c.e.ctx)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.probe, c.maxID = u.ID, max(c.maxID, u.ID)
	c.mu.Unlock()
	return &chaosStaleness{c: c, id: u.ID, outcomes: map[string]int{}, readErrs: map[string]int{}}
}

// stamp is the probe's joined_at after write v.
func (s *chaosStaleness) stamp(v int) time.Time {
	return chaosStaleBase.Add(time.Duration(v) * time.Second)
}

// value returns the write a read of the probe shows (0 before the first).
func (s *chaosStaleness) value(u *ent.User) int {
	if u.JoinedAt == nil {
		return -1
	}
	return int(u.JoinedAt.Unix() - chaosStaleBase.Unix())
}

// run writes the probe from a random live process, then polls the others
// until each returns the write, until the load ends.
func (s *chaosStaleness) run(until time.Time) {
	c, ctx := s.c, s.c.e.ctx
	r := rand.New(rand.NewPCG(c.seed, 1<<37))
	for time.Now().Before(until) {
		alive := c.alive()
		if len(alive) < 2 {
			return
		}
		w := alive[r.IntN(len(alive))]
		readers := slices.DeleteFunc(slices.Clone(alive), func(p *chaosProc) bool { return p == w })
		for _, q := range readers {
			_, _ = q.client.User.Cached().Get(ctx, s.id) // it holds the row (unless its Redis is down)
		}
		s.last++
		v := s.last
		outage := w.faults.Down.Load()
		err := w.client.User.UpdateOneID(s.id).SetJoinedAt(s.stamp(v)).Exec(ctx)
		written := time.Now()
		outcome := "ok"
		switch {
		case err == nil:
		case errors.Is(err, errCrashed):
			outcome = "crash" // committed; the writer died before publishing
		case errors.Is(err, errLostAck):
			outcome = "lost ack" // committed; the writer was told it failed
		default:
			// A conflict or a lock: the database says whether it committed.
			u, qerr := c.e.client.User.Query().Where(user.ID(s.id)).Only(ctx)
			if qerr != nil || s.value(u) < v {
				s.failed++
				continue
			}
			outcome = "error, committed"
		}
		if outage {
			outcome += " (writer's Redis down)"
		}
		s.outcomes[outcome]++
		seen := make([]bool, len(readers))
		left := len(readers)
		for left > 0 && time.Now().Before(until) {
			for i, q := range readers {
				if seen[i] {
					continue
				}
				if q.dead.Load() { // a process that crashed reads no more
					seen[i], left = true, left-1
					continue
				}
				before := q.cache.NearStats().Hits
				u, err := q.client.User.Cached().Get(ctx, s.id)
				s.reads++
				if q.cache.NearStats().Hits > before {
					s.nearReads++ // at most: the process's other readers count too
				}
				if err != nil {
					kind := err.Error()
					if strings.Contains(kind, "locked") || strings.Contains(kind, "busy") {
						kind = "database locked" // sqlite, on a read that fell back to it
					}
					s.readErrs[kind]++
					continue
				}
				if s.value(u) >= v {
					seen[i], left = true, left-1
				}
			}
			if left > 0 {
				time.Sleep(chaosStalePoll)
			}
		}
		if left > 0 {
			s.unseen++
			continue
		}
		lag := time.Since(written)
		if len(s.lags) == 0 || lag > slices.Max(s.lags) {
			s.worst = fmt.Sprintf("write %d by %s, %s", v, w, outcome)
		}
		s.lags = append(s.lags, lag)
	}
}

// report checks, once the run has converged, that every surviving process
// returns the probe as the database holds it, and logs the figures.
func (s *chaosStaleness) report(alive []*chaosProc) {
	c, t := s.c, s.c.t
	db, err := c.e.client.User.Query().Where(user.ID(s.id)).Only(c.e.ctx)
	require.NoError(t, err)
	want := s.value(db)
	committed := 0
	for _, n := range s.outcomes {
		committed += n
	}
	assert.Positive(t, committed, "no write of the probe committed")
	// Right after a late flush (a new server epoch, read from the database
	// for its trust delay) or a last write to the probe (repaired from the
	// outbox), a Get may come from the database: each process is read
	// until a Get is served from the cache, for a few seconds at most (not
	// asserted: the count is logged), and every answer must be the
	// database's.
	fromCache := 0
	for _, p := range alive {
		for start := time.Now(); ; {
			before := p.cache.Stats().Hits
			u, err := p.client.User.Cached().Get(c.e.ctx, s.id)
			if !assert.NoError(t, err, "%s: get the probe", p) ||
				!assert.Equal(t, want, s.value(u), "%s serves write %d of the probe after convergence; the database holds write %d", p, s.value(u), want) {
				break
			}
			if p.cache.Stats().Hits > before {
				fromCache++
				break
			}
			if time.Since(start) > 5*time.Second {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	lags := slices.Clone(s.lags)
	slices.Sort(lags)
	pct := func(q int) string {
		if len(lags) == 0 {
			return "n/a"
		}
		return lags[min(len(lags)-1, len(lags)*q/100)].Round(10 * time.Microsecond).String()
	}
	t.Logf("near-cache staleness under chaos: %d writes committed by one process (%v), %d seen by every other process during the load: "+
		"p50 %s p99 %s max %s (slowest: %s); %d not seen by all when the load ended (all seen after convergence, by %d of %d processes from the cache); %d did not commit; polling reads %d, near hits during them at most %d; reads failed %v; poll %v",
		committed, s.outcomes, len(lags), pct(50), pct(99), pct(100), s.worst, s.unseen, fromCache, len(alive), s.failed, s.reads, s.nearReads, s.readErrs, chaosStalePoll)
}
