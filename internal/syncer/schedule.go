package syncer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// OutcomeNotStarted is a tick whose run could not start: the database did
// not answer, or the lock query failed. No run row records it.
const OutcomeNotStarted = "not_started"

// Update replaces what the daemon runs, from the next run on: a reloaded
// configuration's syncer and schedule.
type Update struct {
	Syncer   *Syncer
	Schedule string
}

// ServeOptions tune the daemon loop.
type ServeOptions struct {
	// Jitter delays each tick by a random time up to it, so that a fleet
	// does not hit the directory in the same second.
	Jitter time.Duration
	// Updates brings a reloaded configuration; a run in progress finishes
	// under the old one.
	Updates <-chan Update
	// Health, when set, is kept up to date for /readyz.
	Health *Health
}

// Health is what the daemon's runs say about it, for readiness.
type Health struct {
	mu           sync.Mutex
	failingSince time.Time
}

// FailingSince is when runs began to fail without a success since, or zero
// while the last run succeeded.
func (h *Health) FailingSince() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failingSince
}

func (h *Health) observe(now time.Time, ok bool) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case ok:
		h.failingSince = time.Time{}
	case h.failingSince.IsZero():
		h.failingSince = now
	}
}

// Serve runs a sync at start and then on every tick of the cron schedule
// until ctx is done, with o. Runs never overlap: ticks that pass while a
// run is going are skipped and counted. A run's failure is logged and
// recorded, never fatal; only a bad schedule is.
func Serve(ctx context.Context, s *Syncer, schedule string, o ServeOptions) error {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return fmt.Errorf("parse schedule %q: %w", schedule, err)
	}
	var notStarted error // the pre-run failure last logged
	for {
		started := s.now()
		_, err := s.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		o.Health.observe(s.now(), err == nil || errors.Is(err, ErrLocked))
		switch {
		case err == nil:
		case errors.Is(err, ErrLocked):
			s.Log.Info().Msg("another replica holds the run lock; skipped this tick")
		case errors.Is(err, errNotStarted):
			// Once, not on every tick: a database down for an hour is one
			// event, and its end is another.
			if notStarted == nil {
				s.Log.Error().Err(err).Msg("sync run could not start; retrying on every tick")
			}
			notStarted = err
		case Hint(err) != "":
			// Run logged the summary with the error; the hint is what
			// the admin should do about it.
			s.Log.Error().Str("hint", Hint(err)).Msg("sync run needs attention")
		}
		if notStarted != nil && !errors.Is(err, errNotStarted) {
			s.Log.Info().Msg("sync runs start again")
			notStarted = nil
		}
		now := s.now()
		if skipped := ticksBetween(sched, started, now); skipped > 0 {
			s.Metrics.observeTicksSkipped(skipped)
			s.Log.Debug().Int("ticks", skipped).Msg("ticks passed while the run was going; skipped")
		}
		next := nextTick(sched, now, o.Jitter)
		s.Log.Debug().Time("next_run", next).Msg("waiting for the next tick")
		t := time.NewTimer(time.Until(next))
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case u := <-o.Updates:
				ns, err := cron.ParseStandard(u.Schedule)
				if err != nil {
					s.Log.Error().Err(err).Msg("reloaded schedule refused; keeping the old one")
					continue
				}
				s, sched = u.Syncer, ns
				t.Stop()
				next = nextTick(sched, s.now(), o.Jitter)
				t = time.NewTimer(time.Until(next))
				s.Log.Info().Str("schedule", u.Schedule).Time("next_run", next).Msg("configuration reloaded; it applies from the next run")
			case <-t.C:
				break wait
			}
		}
	}
}

// ticksBetween counts the schedule's ticks after from and before to: ticks
// a run that went from from to to made the loop skip.
func ticksBetween(sched cron.Schedule, from, to time.Time) int {
	n := 0
	for t := sched.Next(from); t.Before(to) && n < 1_000_000; t = sched.Next(t) {
		n++
	}
	return n
}

// nextTick is the schedule's next tick after now, delayed by a random time
// below jitter.
func nextTick(sched cron.Schedule, now time.Time, jitter time.Duration) time.Time {
	next := sched.Next(now)
	if jitter > 0 {
		next = next.Add(rand.N(jitter))
	}
	return next
}
