// Package syncer runs one sync end to end — read the directory, load state,
// plan, guard, apply, record — and schedules runs for the daemon. A dry run
// goes through the very same code with a sink that records instead of
// sending and a journal that writes nothing, so it cannot drift from a real
// run.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
)

// Source reads the users in scope from the directory.
type Source interface {
	Read(ctx context.Context) (*source.Result, error)
}

// Sink sends changes to Omni.
type Sink interface {
	Create(ctx context.Context, u identity.User) (sink.User, error)
	Patch(ctx context.Context, id string, changes []sink.Change) error
	SetActive(ctx context.Context, id string, active bool) error
	Delete(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (sink.User, error)
	FindByUserName(ctx context.Context, userName string) (sink.User, bool, error)
}

// Lister lists every Omni user; a dry run without a database plans from it.
type Lister interface {
	List(ctx context.Context, fn func(sink.User) error) error
}

// Outcomes of a run.
const (
	OutcomeSuccess     = state.OutcomeSuccess
	OutcomePartial     = state.OutcomePartial // something failed or a guard tripped; what could be done was done
	OutcomeFailed      = state.OutcomeFailed
	OutcomeInterrupted = state.OutcomeInterrupted
	OutcomeSkipped     = state.OutcomeSkipped // another replica holds the lock
)

// Deprovision modes.
const (
	DeprovisionDeactivate = "deactivate"
	DeprovisionDelete     = "delete"
	DeprovisionNone       = "none"
)

// Options tune a Syncer.
type Options struct {
	// Deprovision is the deprovision mode: deactivate (default), delete or
	// none.
	Deprovision string
	// Policy is the safety policy every run decides under.
	Policy diff.Policy
	// DryRun sends nothing to Omni and writes nothing to state.
	DryRun bool
	// Trigger is recorded with the run: "once" or "schedule".
	Trigger string
	// OpTimeout bounds one operation when the run is being stopped, so the
	// request in flight can finish and be recorded.
	OpTimeout time.Duration
	// Groups tunes group sync.
	Groups GroupOptions
	// FullRead makes the run read the directory in full even when an
	// incremental mechanism could read only what changed; FullReadEvery is
	// the longest time between full reads.
	FullRead      bool
	FullReadEvery time.Duration
}

// GroupOptions are the group settings that are not part of the users'
// policy.
type GroupOptions struct {
	// Delete deletes a group syncd created that left the directory.
	Delete            bool
	MaxDeletions      int
	MaxRemovalPercent float64
}

// Syncer runs syncs. Store may be nil only for a dry run, which then plans
// against Lister.
type Syncer struct {
	Source Source
	Sink   Sink
	// Store is the state database, nil only for a dry run, which then
	// plans against a listing of Omni users (Lister).
	Store   Store
	Lister  Lister
	Options Options
	Log     zerolog.Logger
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnRun, when set, is told of every run that started (dry runs
	// included), after it is recorded, with its error: for notifications.
	// It must not block.
	OnRun func(rep *Report, err error)

	// refused are the API keys Omni refused since a run last took them.
	refusedMu sync.Mutex
	refused   []KeyRefusal
}

// errNotStarted marks a run that could not start (the lock could not be
// asked for): the daemon logs it once, not on every tick.
var errNotStarted = errors.New("sync run not started")

// ErrLocked is returned when another replica holds the run lock.
var ErrLocked = &HintError{Err: errors.New("another syncd holds the run lock; run skipped"),
	Hint: "another syncd is running against this database"}

// HintError carries, beside the error, what the person reading it should
// try, so that the daemon's log and the one-shot command's output say the
// same thing.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// Hint returns the hint that err carries, or "".
func Hint(err error) string {
	var h *HintError
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// hintUnauthorized is the hint for a key Omni refuses.
const hintUnauthorized = "check scim.token: Omni needs an organisation API key (Settings > API Keys); personal access tokens are refused"

// Report is what one run did (or, for a dry run, would do). WriteText and
// WriteJSON render it.
type Report struct {
	RunID      int64
	DryRun     bool
	Outcome    state.RunOutcome
	StartedAt  time.Time
	Duration   time.Duration
	Entries    int
	InScope    int
	Incomplete string
	Skipped    []identity.Skipped
	Plan       diff.Plan
	// Deprovision is the mode deprovisions are carried out in.
	Deprovision string
	// GuardTrips says why deprovisions were held back, if they were.
	GuardTrips []string
	// Unmanaged lists Omni users a dry run without a database could not
	// match to the directory; nothing is planned for them.
	Unmanaged []sink.User
	// KeysRefused are the API keys Omni refused during the run.
	KeysRefused []KeyRefusal
	// GroupsEnabled says group sync is on; Groups is its plan, GroupEntries
	// the group entries read and GroupSkipped those that could not be
	// mapped.
	GroupsEnabled bool
	// Incremental says the run read only what changed since the last;
	// GroupsIncremental, the same of the groups.
	Incremental       bool
	GroupsIncremental bool
	Groups            diff.GroupPlan
	GroupEntries      int
	GroupSkipped      []identity.Skipped
	// memberName names a user by userName for the report's group lines.
	memberName func(id string) string
	Results    []OpResult
	Counts     Counts
	Error      string
}

// Counts are the operations a run carried out, by kind, and those that failed.
type Counts struct {
	Created       int `json:"created"`
	Adopted       int `json:"adopted"`
	Updated       int `json:"updated"`
	Reactivated   int `json:"reactivated"`
	Deprovisioned int `json:"deprovisioned"`
	// GroupOps counts group writes done; MembersAdded and MembersRemoved
	// the memberships they changed.
	GroupOps       int `json:"groupOperations"`
	MembersAdded   int `json:"membersAdded"`
	MembersRemoved int `json:"membersRemoved"`
	Failed         int `json:"failed"`
}

// OpResult is the outcome of one applied operation.
type OpResult struct {
	Action   state.OpKind       `json:"action"`
	UserName string             `json:"userName"`
	ID       string             `json:"id"`
	SCIMID   string             `json:"scimId,omitempty"`
	Outcome  state.AuditOutcome `json:"outcome"`
	Status   int                `json:"httpStatus,omitempty"`
	Error    string             `json:"error,omitempty"`
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Run performs one sync. The error is non-nil when the run could not do its
// job completely: the source failed or was incomplete, a guard tripped, an
// operation failed, or the API key was refused. The report is filled in as
// far as the run got, even with an error.
func (s *Syncer) Run(ctx context.Context) (*Report, error) {
	start := s.now()
	rep := &Report{DryRun: s.Options.DryRun, StartedAt: start, Deprovision: deprovisionMode(s.Options)}
	r := &run{opts: s.Options, log: s.Log, metrics: s.Metrics, clock: s.now, source: s.Source,
		sink: s.Sink, store: s.Store, lister: s.Lister, rep: rep, now: start, takeRefused: s.takeRefused}
	switch {
	case s.Options.DryRun && s.Store == nil:
		r.sink, r.store, r.fromOmni = dryRunSink{}, &dryStore{empty: true}, true
	case s.Options.DryRun:
		ds, err := newDryStore(ctx, s.Store)
		if err != nil {
			return rep, err
		}
		r.sink, r.store = dryRunSink{}, ds
	case s.Store == nil:
		return rep, errors.New("a database is required unless --dry-run")
	}
	if b, ok := s.Sink.(interface{ ResetBreaker() }); ok {
		// Each run judges Omni afresh: the failures that stopped the last
		// run's writes do not stop this one's before it has tried.
		b.ResetBreaker()
	}
	if k, ok := s.Sink.(interface{ ResetKeys() }); ok {
		// Likewise the keys: a key refused in the last run is tried again.
		k.ResetKeys()
	}
	lock, ok, err := r.store.TakeLock(ctx)
	if err != nil {
		rep.Outcome = OutcomeNotStarted
		r.metrics.observeNotStarted()
		return rep, fmt.Errorf("%w: take run lock: %w", errNotStarted, err)
	}
	if !ok {
		rep.Outcome = OutcomeSkipped
		r.metrics.observeSkipped()
		return rep, ErrLocked
	}
	defer lock.Release()
	r.lock = lock
	err = r.do(ctx)
	if err == nil && ctx.Err() == nil {
		// Only a run that held nothing back and failed nothing moves the
		// position on: otherwise the next run reads the same changes again.
		if serr := r.savePosition(context.WithoutCancel(ctx)); serr != nil {
			err = fmt.Errorf("save where the next read resumes: %w", serr)
		}
	}
	rep.Duration = s.now().Sub(start)
	if err != nil && rep.Error == "" {
		rep.Error = err.Error()
	}
	r.finish(ctx, err)
	if s.OnRun != nil {
		s.OnRun(rep, err)
	}
	return rep, err
}

func deprovisionMode(o Options) string {
	if o.Deprovision == "" {
		return DeprovisionDeactivate
	}
	return o.Deprovision
}

// finish records the run and logs its summary line.
func (r *run) finish(ctx context.Context, err error) {
	rep := r.rep
	switch {
	case rep.Outcome != "":
	case ctx.Err() != nil:
		rep.Outcome = OutcomeInterrupted
	case err == nil:
		rep.Outcome = OutcomeSuccess
	case r.applied:
		rep.Outcome = OutcomePartial
	default:
		rep.Outcome = OutcomeFailed
	}
	if r.stored != nil {
		run := *r.stored
		run.FinishedAt = r.clock()
		run.Outcome = rep.Outcome
		// Only a full read that tripped no guard is a baseline for the
		// next one's plausibility: a read a guard distrusted must not
		// become what the next read is judged against, or a drop would
		// trip once and pass the run after.
		run.SourceComplete = r.sourceRead && rep.Incomplete == "" && !rep.Incremental && !r.userTrips
		run.SourceCount = rep.InScope
		run.GroupSourceComplete = r.sourceRead && r.groupRead.Enabled && r.groupRead.Incomplete == "" && !r.groupTrips && !rep.GroupsIncremental
		run.GroupSourceCount = r.groupCount()
		run.Created = rep.Counts.Created + rep.Counts.Adopted
		run.Updated = rep.Counts.Updated
		run.Reactivated = rep.Counts.Reactivated
		run.Deprovisioned = rep.Counts.Deprovisioned
		run.Unchanged = rep.Plan.Unchanged
		run.Skipped = len(rep.Skipped)
		run.Failed = rep.Counts.Failed
		run.GuardTrips = rep.GuardTrips
		run.Error = rep.Error
		// Record the run even when the run's context was cancelled by a
		// signal: the journal must say how it ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if ferr := r.store.FinishRun(rctx, run); ferr != nil {
			r.log.Error().Err(ferr).Int64("run", run.ID).Msg("record run")
		}
		cancel()
	}
	r.metrics.observeRun(rep)
	// An idle scheduled run (nothing to do, nothing wrong) logs at debug
	// only, so a quiet directory gives a quiet log.
	ev := r.log.Info()
	switch {
	case rep.Outcome != OutcomeSuccess:
		ev = r.log.Warn()
	case len(rep.Results) == 0 && !rep.Plan.Changes() && len(rep.Plan.Waiting) == 0:
		ev = r.log.Debug()
	}
	p := rep.Plan
	ev.Int64("run", rep.RunID).Bool("dry_run", rep.DryRun).Str("outcome", string(rep.Outcome)).
		Int("entries", rep.Entries).Int("in_scope", rep.InScope).Int("skipped", len(rep.Skipped)).
		Int("create", len(p.Create)).Int("update", len(p.Update)).Int("reactivate", len(p.Reactivate)).
		Int("deprovision", len(p.Deprovision)).Int("waiting", len(p.Waiting)).Int("held", len(p.Held)).
		Int("unchanged", p.Unchanged).Int("failed", rep.Counts.Failed).
		Strs("guard_trips", rep.GuardTrips).Dur("duration", rep.Duration)
	if rep.Incomplete != "" {
		ev.Str("incomplete", rep.Incomplete)
	}
	if err != nil {
		ev.Str("error", err.Error())
	}
	ev.Msg("sync run finished")
}
