package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Serve runs a sync at start and then on every tick of the cron schedule
// until ctx is done. Runs never overlap: a run that outlasts a tick makes
// the scheduler skip to the next tick after it. A run's failure is logged
// and recorded, never fatal; only a bad schedule is.
func (s *Syncer) Serve(ctx context.Context, schedule string) error {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return fmt.Errorf("parse schedule %q: %w", schedule, err)
	}
	for {
		if _, err := s.Run(ctx); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, ErrLocked):
				s.Log.Info().Msg("another replica holds the run lock; skipped this tick")
			case Hint(err) != "":
				// Run logged the summary with the error; the hint is what
				// the admin should do about it.
				s.Log.Error().Str("hint", Hint(err)).Msg("sync run needs attention")
			}
		}
		next := sched.Next(s.now())
		s.Log.Debug().Time("next_run", next).Msg("waiting for the next tick")
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
