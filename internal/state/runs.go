package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Run is one sync run as recorded in sync_runs.
type Run struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time
	DryRun     bool
	Trigger    string
	// Runner names the process that ran it (host/pid).
	Runner         string
	Outcome        RunOutcome
	SourceComplete bool
	SourceCount    int
	// GroupSourceComplete and GroupSourceCount are the group read's.
	GroupSourceComplete bool
	GroupSourceCount    int
	Created             int
	Updated             int
	Reactivated         int
	Deprovisioned       int
	Unchanged           int
	Skipped             int
	Failed              int
	GuardTrips          []string
	Error               string
}

// RunOutcome is how a run ended, as sync_runs.outcome's CHECK lists it.
type RunOutcome string

const (
	// OutcomeRunning: started and not finished; a run left so was
	// interrupted by a crash.
	OutcomeRunning RunOutcome = "running"
	OutcomeSuccess RunOutcome = "success"
	// OutcomePartial: something failed or a guard tripped; what could be
	// done was done.
	OutcomePartial     RunOutcome = "partial"
	OutcomeFailed      RunOutcome = "failed"
	OutcomeInterrupted RunOutcome = "interrupted"
	// OutcomeSkipped: another replica held the run lock.
	OutcomeSkipped RunOutcome = "skipped"
	// OutcomeCrashed: left running, and found so by a later run holding
	// the run lock.
	OutcomeCrashed RunOutcome = "crashed"
)

// StartRun records r as running and returns it with its ID and start time
// (now, unless r has one). Runs an earlier process left running are closed
// as crashed first: the caller holds the run lock, so none of them is alive.
func (s *Store) StartRun(ctx context.Context, r Run) (Run, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	r.Outcome = OutcomeRunning
	if _, err := s.pool.Exec(ctx, `
		UPDATE sync_runs SET outcome = $1, finished_at = now(),
			error = 'the process ended before the run finished (killed or crashed)'
		WHERE outcome = $2 AND NOT dry_run`, OutcomeCrashed, OutcomeRunning); err != nil {
		return Run{}, fmt.Errorf("close crashed runs: %w", err)
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO sync_runs (started_at, dry_run, trigger, outcome, runner)
		VALUES (coalesce($1, now()), $2, $3, $4, $5)
		RETURNING id, started_at`,
		timestamptz(r.StartedAt), r.DryRun, r.Trigger, r.Outcome, bound(r.Runner)).Scan(&r.ID, &r.StartedAt)
	if err != nil {
		return Run{}, fmt.Errorf("record run start: %w", err)
	}
	r.StartedAt = r.StartedAt.UTC()
	return r, nil
}

// FinishRun records r's outcome, counts and finish time (now, unless r has
// one).
func (s *Store) FinishRun(ctx context.Context, r Run) error {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	trips := r.GuardTrips
	if trips == nil {
		trips = []string{}
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_runs SET finished_at = coalesce($2, now()), outcome = $3, source_complete = $4, source_count = $5,
			created = $6, updated = $7, reactivated = $8, deprovisioned = $9, unchanged = $10, skipped = $11, failed = $12,
			guard_trips = $13, error = $14, group_source_complete = $15, group_source_count = $16
		WHERE id = $1`,
		r.ID, timestamptz(r.FinishedAt), r.Outcome, r.SourceComplete, r.SourceCount,
		r.Created, r.Updated, r.Reactivated, r.Deprovisioned, r.Unchanged, r.Skipped, r.Failed,
		trips, bound(r.Error), r.GroupSourceComplete, r.GroupSourceCount)
	if err != nil {
		return fmt.Errorf("record run %d finish: %w", r.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("record run %d finish: no such run", r.ID)
	}
	return nil
}

// LastGoodRun returns the latest run whose result can be trusted as a
// baseline: not a dry run, finished as success or partial, with a complete
// directory read. ok is false when there is none yet.
func (s *Store) LastGoodRun(ctx context.Context) (r Run, ok bool, err error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	row := s.pool.QueryRow(ctx, `
		SELECT `+runColumns+` FROM sync_runs
		WHERE NOT dry_run AND source_complete AND outcome IN ($1, $2)
		ORDER BY id DESC LIMIT 1`, OutcomeSuccess, OutcomePartial)
	r, err = scanRun(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("load last good run: %w", err)
	}
	return r, true, nil
}

const runColumns = `id, started_at, finished_at, dry_run, trigger, outcome, source_complete, source_count,
	created, updated, reactivated, deprovisioned, unchanged, skipped, failed, guard_trips, error`

func scanRun(row pgx.Row) (Run, error) {
	var (
		r        Run
		finished pgtype.Timestamptz
	)
	err := row.Scan(&r.ID, &r.StartedAt, &finished, &r.DryRun, &r.Trigger, &r.Outcome, &r.SourceComplete, &r.SourceCount,
		&r.Created, &r.Updated, &r.Reactivated, &r.Deprovisioned, &r.Unchanged, &r.Skipped, &r.Failed, &r.GuardTrips, &r.Error)
	if err != nil {
		return Run{}, err
	}
	r.StartedAt = r.StartedAt.UTC()
	if finished.Valid {
		r.FinishedAt = finished.Time.UTC()
	}
	return r, nil
}

// GetRun returns the run with the given id.
func (s *Store) GetRun(ctx context.Context, id int64) (Run, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM sync_runs WHERE id = $1`, id))
	if err != nil {
		return Run{}, fmt.Errorf("load run %d: %w", id, err)
	}
	return r, nil
}
