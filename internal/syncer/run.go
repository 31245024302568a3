package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/state"
)

// run is the state of one Run.
type run struct {
	opts    Options
	log     zerolog.Logger
	metrics *Metrics
	clock   func() time.Time
	source  Source
	// sink and store are the Syncer's, or for a dry run decorators that
	// discard every write.
	sink   Sink
	store  Store
	lister Lister
	// fromOmni: a dry run without a database plans against a listing of
	// Omni users.
	fromOmni bool

	// takeRefused returns the API keys Omni refused since it was last
	// called.
	takeRefused func() []KeyRefusal
	// mu guards rep, applied and failures while operations run in
	// parallel.
	mu         sync.Mutex
	rep        *Report
	now        time.Time // when the run started
	stored     *state.Run
	sourceRead bool
	applied    bool // at least one operation succeeded
	failures   []string
	// known is the loaded state after settlement; held, the operations
	// Omni refused for good, by directory id.
	known map[string]identity.Linked
	held  map[string]state.HeldOp
	// bySCIM indexes known by Omni id, built when first needed.
	bySCIM map[string]string
	// desired are the directory's users sorted by id, for names in
	// reports.
	desired []identity.User

	// knownGroups are the linked groups; omniByName, Omni's groups by
	// lower-cased name, listed once when a create needs it.
	knownGroups map[string]identity.LinkedGroup
	groupRead   diff.GroupRead
	// userTrips and groupTrips: a guard held the users' or the groups'
	// deprovisions back, so this run's read is no baseline.
	userTrips, groupTrips bool
	// gsync is the read of the groups through the incremental mechanism,
	// nil when they were read otherwise; settledGroups, the groups whose
	// pending writes this run settled, which it plans again.
	gsync         *groupSync
	settledGroups []string
	// groupsByMech: the groups are read through the mechanism this run.
	groupsByMech bool
	// lock is the run lock, checked before every write.
	lock *state.Lock
	// read is the run's directory read; its cursor is saved when the run
	// ends with nothing held back.
	read       *read
	groupsMu   sync.Mutex
	omniByName map[string]sink.Group
}

// Errors a run ends with when it did what it could, but not all of it.
var (
	// ErrGuard: a safety guard held back deprovisions (the source was
	// incomplete or implausible, or the caps were exceeded).
	ErrGuard = errors.New("safety guard tripped, no user deprovisioned")
	// ErrOpsFailed: some operations failed; they are journaled and the next
	// run retries them.
	ErrOpsFailed = errors.New("operations failed")
)

func (r *run) do(ctx context.Context) error {
	// The audit log is the proof of what syncd did; a run that could not
	// be proven does not start.
	if err := r.store.CheckAuditIntegrity(ctx); err != nil {
		return err
	}
	stored, err := r.store.StartRun(ctx, state.Run{DryRun: false, Trigger: r.opts.Trigger, Runner: runner()})
	if err != nil {
		return fmt.Errorf("record run start: %w", err)
	}
	r.stored, r.rep.RunID = &stored, stored.ID

	gs, groupsOn := r.source.(GroupSource)
	groupsOn = groupsOn && gs.GroupsEnabled()
	rp, err := r.planRead(ctx, groupsOn)
	if err != nil {
		return err
	}
	r.groupsByMech = rp.groups != nil
	gch := r.groupChangesFirst(ctx, &rp)
	// The last good run's count: the baseline of the guards, and the size
	// a full read can expect.
	lastGood := -1
	if !r.fromOmni {
		if lastGood, err = r.lastGood(ctx); err != nil {
			return err
		}
	}
	// A full read is met by all the state: load it while the directory
	// is read, they are independent until the plan.
	var preload *loading
	if !rp.incremental && !r.fromOmni {
		if us, ok := r.source.(userSizer); ok && lastGood > 0 {
			us.ExpectUsers(lastGood)
		}
		lctx, cancel := context.WithCancel(ctx)
		preload = r.startLoadKnown(lctx)
		// A read that fails does not wait for the whole state to load.
		defer func() { cancel(); preload.wait() }()
	}
	rd, err := r.readUsers(ctx, rp)
	if err != nil {
		return err
	}
	res := rd.res
	r.read = rd
	r.sourceRead = true
	r.rep.Entries, r.rep.Incomplete, r.rep.Incremental = res.Entries, res.Incomplete, rd.partial
	r.metrics.observeSource(res)
	groupRead := r.readGroupsBeforeState(ctx, rp, rd, gch)

	var (
		known, holders map[string]identity.Linked
		active         int
	)
	switch {
	case rd.partial:
		known, holders, active, err = r.loadPartial(ctx, rd)
	case preload != nil:
		known, err = preload.wait()
	default:
		known, err = r.loadKnown(ctx, res.Users)
	}
	if err != nil {
		return err
	}
	if err := r.recoverPending(ctx, res.Users, known); err != nil {
		return err
	}
	r.known = known
	if rd.partial && rp.groups != nil && gch.failed == "" {
		// What the changes can alter in the groups, once the users they
		// name are loaded.
		if groupRead, err = r.readChangedGroups(ctx, rp.groups, rd, gch.delta, rp.gcur, gch.cookie); err != nil {
			return err
		}
	}
	r.rep.GroupsEnabled, r.rep.GroupSkipped = groupRead.Enabled, groupRead.Skipped
	r.rep.GroupsIncremental = r.gsync != nil && !r.gsync.full
	r.groupRead = groupRead
	refused, err := r.loadRefused(ctx)
	if err != nil {
		return err
	}
	d := diff.Decide(diff.Input{
		Read:     diff.Read{Users: res.Users, Skipped: res.Skipped, Incomplete: res.Incomplete},
		Known:    known,
		LastGood: lastGood,
		Refused:  refused,
		Now:      r.now,

		Partial:      rd.partial,
		Deleted:      rd.deleted,
		Holders:      holders,
		SourceCount:  rd.count,
		ActiveLinked: active,
	}, r.policy())
	plan, trips := d.Plan, d.Trips
	r.userTrips = len(d.Trips) > 0
	for _, o := range d.Overrides {
		r.audit(ctx, state.AuditEvent{Action: "guard_override", Outcome: state.AuditAllowed, Detail: o + "; overridden by --allow-mass-deprovision"})
		r.log.Warn().Str("guard", o).Msg("deprovision cap overridden by --allow-mass-deprovision")
	}
	r.rep.InScope, r.rep.Skipped = len(d.Users), d.Skipped
	if rd.partial {
		r.rep.InScope = rd.count
	} else if rd.cursor != nil {
		// The baseline the next incremental run carries is the count this
		// run is recorded with (users linked through a shared email kept).
		rd.cursor.SourceCount = len(d.Users)
	}
	if r.rep.Skipped == nil {
		r.rep.Skipped = []identity.Skipped{}
	}
	r.rep.Plan, r.rep.GuardTrips = plan, trips
	if rd.partial && waitsOnOthers(plan) {
		// A change waiting on another user (an email still held) is not
		// read again by an incremental run: keep the old position, so the
		// next run reads it again.
		rd.cursor = nil
	}
	if r.rep.GuardTrips == nil {
		r.rep.GuardTrips = []string{}
	}
	r.metrics.observePlan(&plan)
	// Only a full read can say an entry is no longer skipped.
	complete := res.Incomplete == "" && groupRead.Incomplete == "" && !rd.partial
	if err := r.recordSkippedAndTrips(ctx, slices.Concat(r.rep.Skipped, groupRead.Skipped), complete); err != nil {
		return err
	}

	// Creates, then updates, then reactivations; deprovisions last, after
	// the guards. Within a group, operations on different users go in
	// parallel, one per API key; renames on a chain go one after another,
	// in the order that frees each address before it is taken.
	// Groups go after the users' creates and updates, so that new members
	// exist, and before their deprovisions; group deletions go last.
	r.indexLinks()
	r.desired = d.Users
	if !slices.IsSortedFunc(r.desired, byID) {
		r.desired = slices.Clone(r.desired)
		slices.SortFunc(r.desired, byID)
	}
	workers := r.workers()
	for _, group := range [][]diff.Op{plan.Create, plan.Update, plan.Reactivate} {
		if err := r.applyPhase(ctx, group, workers); err != nil {
			return err
		}
	}
	gplan, err := r.planGroups(ctx, groupRead, d)
	if err != nil {
		return err
	}
	r.rep.Groups, r.rep.memberName = gplan, r.memberName
	for _, t := range gplan.Trips {
		trips = append(trips, "groups: "+t)
		r.log.Error().Str("guard", t).Msg("safety guard tripped: no group member removed and no group deleted this run")
		r.audit(ctx, state.AuditEvent{Action: "guard", Outcome: state.AuditTripped, Detail: "groups: " + t})
	}
	r.rep.GuardTrips = append(r.rep.GuardTrips, prefixed("groups: ", gplan.Trips)...)
	r.groupTrips = len(gplan.Trips) > 0
	if err := r.applyGroups(ctx, slices.Concat(gplan.Create, gplan.Update), workers); err != nil {
		return err
	}
	if err := r.applyPhase(ctx, plan.Deprovision, workers); err != nil {
		return err
	}
	if err := r.lock.Alive(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if err := r.store.DropMemberships(ctx, r.deprovisioned()); err != nil {
		return fmt.Errorf("record memberships of deprovisioned users: %w", err)
	}
	if err := r.applyGroups(ctx, gplan.Delete, workers); err != nil {
		return err
	}
	if err := r.store.SetGroupMissing(ctx, missingMarks(gplan.Marks)); err != nil {
		return fmt.Errorf("record missing groups: %w", err)
	}
	if groupRead.Enabled && !r.opts.DryRun && r.metrics != nil {
		if groups, memberships, err := r.store.GroupCounts(ctx); err == nil {
			r.metrics.observeGroups(r.groupCount(), groups, memberships)
		}
	}
	if err := r.lock.Alive(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if err := r.store.SetMissing(ctx, missingMarks(plan.Marks)); err != nil {
		return fmt.Errorf("record missing users: %w", err)
	}
	if err := r.store.SetUserDNs(ctx, r.moved(d.Users)); err != nil {
		return err
	}

	var problems []error
	if err := r.recordRefusedKeys(ctx); err != nil {
		problems = append(problems, err)
	}
	if len(trips) > 0 {
		problems = append(problems, fmt.Errorf("%w: %s", ErrGuard, strings.Join(trips, "; ")))
	}
	if n := r.rep.Counts.Failed; n > 0 {
		problems = append(problems, fmt.Errorf("%w: %d: %s", ErrOpsFailed, n, strings.Join(r.failures, "; ")))
	}
	return errors.Join(problems...)
}

// applyPhase applies one kind of user operation: those on different users
// in parallel, renames on a chain one after another.
func (r *run) applyPhase(ctx context.Context, ops []diff.Op, workers int) error {
	free, sequenced := splitSequenced(ops)
	if err := r.applyAll(ctx, free, workers); err != nil {
		return err
	}
	// A rename chain goes one step at a time, and stops at the first step
	// that fails: the steps after it would take an address still held.
	// The next run plans the chain again from where it stopped.
	for i, op := range sequenced {
		failed := r.failedCount()
		if err := r.applyAll(ctx, sequenced[i:i+1], 1); err != nil {
			return err
		}
		if r.failedCount() > failed {
			r.log.Warn().Str("user", op.User.UserName).Int("left", len(sequenced)-i-1).Msg("a rename in a chain failed; the rest of the chain waits for the next run")
			break
		}
	}
	return nil
}

func (r *run) failedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep.Counts.Failed
}

// moved returns the new DNs of the linked users whose entries moved.
func (r *run) moved(users []identity.User) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	dns := map[string]string{}
	for _, u := range users {
		if k, ok := r.known[u.ID]; ok && k.DN != u.DN {
			dns[u.ID] = u.DN
		}
	}
	return dns
}

// deprovisioned lists the users this run deprovisioned.
func (r *run) deprovisioned() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, res := range r.rep.Results {
		if (res.Action == actDeactivate || res.Action == actDelete) && res.Outcome == state.AuditOK {
			ids = append(ids, res.ID)
		}
	}
	return ids
}

func missingMarks(ms []diff.Mark) []state.MissingMark {
	marks := make([]state.MissingMark, 0, len(ms))
	for _, m := range ms {
		marks = append(marks, state.MissingMark{LDAPID: m.ID, FirstMissingAt: m.FirstMissingAt, MissingRuns: m.MissingRuns, Reason: m.Reason})
	}
	return marks
}

func prefixed(p string, ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, p+s)
	}
	return out
}

// policy is the run's safety policy with this run's deprovision mode and
// override folded in.
func (r *run) policy() diff.Policy {
	p := r.opts.Policy
	p.NoDeprovision = p.NoDeprovision || deprovisionMode(r.opts) == DeprovisionNone
	return p
}

func byID(a, b identity.User) int { return strings.Compare(a.ID, b.ID) }

// recordSkippedAndTrips audits the entries the source skipped (once, when
// first skipped or skipped for a new reason) and the guards that tripped,
// so that an admin can see them later.
func (r *run) recordSkippedAndTrips(ctx context.Context, skipped []identity.Skipped, complete bool) error {
	for _, t := range r.rep.GuardTrips {
		r.log.Error().Str("guard", t).Msg("safety guard tripped: no user will be deprovisioned this run")
	}
	if _, err := r.store.RecordSkips(ctx, r.rep.RunID, r.now, skipped, complete); err != nil {
		return fmt.Errorf("audit skipped entries: %w", err)
	}
	evs := make([]state.AuditEvent, 0, len(r.rep.GuardTrips))
	for _, t := range r.rep.GuardTrips {
		evs = append(evs, state.AuditEvent{Action: "guard", Outcome: state.AuditTripped, Detail: t})
	}
	r.audit(ctx, evs...)
	return nil
}

func (r *run) audit(ctx context.Context, evs ...state.AuditEvent) {
	if len(evs) == 0 {
		return
	}
	for i := range evs {
		evs[i].RunID = r.rep.RunID
		if evs[i].At.IsZero() {
			evs[i].At = r.now
		}
	}
	if err := r.store.Audit(ctx, evs...); err != nil {
		r.log.Error().Err(err).Msg("write audit events")
	}
}

// runner names this process in the runs it records: replicas are told
// apart by host and pid.
func runner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
