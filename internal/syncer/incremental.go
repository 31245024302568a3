package syncer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
)

// IncrementalSource can read only what changed since a stored position.
type IncrementalSource interface {
	// IncrementalMode says which mechanism reads changes (syncrepl or
	// usn), or "" for none, and why.
	IncrementalMode(ctx context.Context) (mechanism, reason string)
	// ReadIncremental reads the changes since cookie (nil: from the start,
	// which for syncrepl is a full read) and returns them with the cookie
	// to resume from.
	ReadIncremental(ctx context.Context, mechanism string, cookie []byte) (*source.Delta, []byte, error)
}

// cursorName names the users' read cursor in state.
const cursorName = "users"

// read is one run's directory read, in full or incremental.
type read struct {
	res *source.Result
	// partial: res holds only what changed; deleted are the ids gone,
	// which may name objects never in scope.
	partial bool
	deleted map[string]bool
	// present, after a syncrepl present phase, are the ids of every entry
	// in scope (and the count is final); without one, the count has yet
	// to lose the linked users among the deleted.
	present []string
	// count is the users in scope: counted by a full read, carried forward
	// by an incremental one.
	count int
	// cursor is where the next run resumes, saved only if this run ends
	// with nothing held back or failed.
	cursor *state.Cursor
	why    string
}

// readPlan is how a run reads the users, decided before it reads: in full
// (mech names the mechanism whose position a full read takes, "" for none),
// or only what changed since cur.
type readPlan struct {
	is          IncrementalSource
	mech, why   string
	cur         state.Cursor
	incremental bool
	// groups reads the groups with mech, from gcur when incremental; nil
	// when groups are off or read in full every run.
	groups GroupChangeSource
	gcur   state.Cursor
}

// planRead decides how to read the users: only what changed when an
// incremental mechanism is on, a cursor is stored and fresh, the groups (if
// synced) can be read as they change too, and no full read was asked for;
// in full otherwise. Knowing it before the read lets a full run load its
// state while the directory is read.
func (r *run) planRead(ctx context.Context, groupsOn bool) (readPlan, error) {
	is, ok := r.source.(IncrementalSource)
	if !ok || r.fromOmni || r.opts.DryRun && r.store == nil {
		return readPlan{}, nil
	}
	mech, why := is.IncrementalMode(ctx)
	if mech == "" {
		return readPlan{why: why}, nil
	}
	p := readPlan{is: is, mech: mech}
	if groupsOn {
		gs, ok := r.source.(GroupChangeSource)
		if !ok {
			p.mech, p.why = "", "group sync needs every user"
			return p, nil
		}
		if why := gs.GroupChangesProblem(mech); why != "" {
			p.mech, p.why = "", "groups are read in full ("+why+"), and their members need every user"
			return p, nil
		}
		p.groups = gs
	}
	cur, have, err := r.store.LoadCursor(ctx, cursorName)
	if err != nil {
		return readPlan{}, err
	}
	var (
		gcur  state.Cursor
		ghave bool
	)
	if p.groups != nil {
		if gcur, ghave, err = r.store.LoadCursor(ctx, groupCursorName); err != nil {
			return readPlan{}, err
		}
	}
	switch {
	case r.opts.FullRead:
		p.why = "a full read was asked for"
	case !have || cur.Mechanism != mech:
		p.why = "no position stored for " + mech
	case p.groups != nil && (!ghave || gcur.Mechanism != mech):
		p.why = "no position stored for the groups with " + mech
	case r.now.Sub(cur.FullReadAt) >= r.opts.FullReadEvery:
		p.why = fmt.Sprintf("the last full read is older than ldap.fullReadEvery (%s)", r.opts.FullReadEvery)
	default:
		p.cur, p.gcur, p.incremental = cur, gcur, true
	}
	return p, nil
}

// readUsers reads the users as p says. A full read through syncrepl is its
// initial refresh, so the cookie that follows it is exact.
func (r *run) readUsers(ctx context.Context, p readPlan) (*read, error) {
	switch {
	case p.incremental:
		delta, cookie, err := p.is.ReadIncremental(ctx, p.mech, p.cur.Cookie)
		if err != nil {
			return nil, fmt.Errorf("read directory changes (%s): %w", p.mech, err)
		}
		if delta.FullReadNeeded {
			r.log.Info().Str("mechanism", p.mech).Msg("the directory cannot say what changed; reading in full")
			return r.fullWith(ctx, p.is, p.mech, "the directory asked for a full read")
		}
		return r.incremental(ctx, p.mech, p.cur, delta, cookie)
	case p.mech != "":
		return r.fullWith(ctx, p.is, p.mech, p.why)
	}
	return r.fullRead(ctx, p.why, nil)
}

// fullWith reads in full and takes the mechanism's position, so the next run
// can read only what changed.
func (r *run) fullWith(ctx context.Context, is IncrementalSource, mech, why string) (*read, error) {
	delta, cookie, err := is.ReadIncremental(ctx, mech, nil)
	if err != nil {
		return nil, fmt.Errorf("read directory (%s): %w", mech, err)
	}
	cur := &state.Cursor{Name: cursorName, Mechanism: mech, Cookie: cookie, FullReadAt: r.now}
	if delta.FullReadNeeded {
		// usn: the position is the DC's; the entries come from a full read.
		return r.fullRead(ctx, why, cur)
	}
	res := &source.Result{Users: delta.Users, Skipped: delta.Skipped, Incomplete: delta.Incomplete, Entries: delta.Entries}
	return r.finishFull(res, why, cur), nil
}

func (r *run) fullRead(ctx context.Context, why string, cur *state.Cursor) (*read, error) {
	res, err := r.source.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	return r.finishFull(res, why, cur), nil
}

func (r *run) finishFull(res *source.Result, why string, cur *state.Cursor) *read {
	if cur != nil {
		cur.SourceCount = len(res.Users)
		if res.Incomplete != "" {
			cur = nil // an incomplete read is no baseline
		}
	}
	return &read{res: res, count: len(res.Users), cursor: cur, why: why}
}

// incremental turns a delta into the run's read. Deleted ids include, after
// a present phase, every active linked user the server did not name.
func (r *run) incremental(ctx context.Context, mech string, cur state.Cursor, delta *source.Delta, cookie []byte) (*read, error) {
	if delta.Incomplete != "" {
		return nil, fmt.Errorf("read directory changes (%s): incomplete (%s); nothing changed and the old position is kept", mech, delta.Incomplete)
	}
	deleted := make(map[string]bool, len(delta.Deleted))
	for _, id := range delta.Deleted {
		deleted[id] = true
	}
	// The count the guards judge: the last full read's, less every linked
	// user reported deleted, whatever its state (a disabled or
	// deprovisioned user was counted too); see loadPartial. Not every id
	// reported deleted was in scope: Active Directory's tombstones are of
	// any object, and syncprov names the entries under the base DN that
	// changed and do not match the filter (groups, say) as deleted. Entries
	// added since count from the next full read, as an incremental read
	// cannot tell a new entry from one it never linked.
	count := cur.SourceCount
	if delta.PresentPhase {
		present := make(map[string]bool, len(delta.Present)+len(delta.Users))
		for _, id := range delta.Present {
			present[id] = true
		}
		for _, u := range delta.Users {
			present[u.ID] = true
		}
		ids, err := r.store.ActiveUserIDs(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if !present[id] {
				deleted[id] = true
			}
		}
		// A present phase names every entry in scope: those not skipped
		// are the users (the skips recorded among them, and this read's).
		recorded, err := r.store.SkippedAmong(ctx, slices.Collect(maps.Keys(present)))
		if err != nil {
			return nil, err
		}
		skipped := setOf(recorded)
		noID := 0
		for _, sk := range delta.Skipped {
			if sk.ID == "" {
				noID++
			}
			skipped[sk.ID] = true
		}
		delete(skipped, "")
		count = len(present) - len(skipped) - noID
	}
	res := &source.Result{Users: delta.Users, Skipped: delta.Skipped, Entries: delta.Entries}
	next := cur
	next.Cookie = cookie
	rd := &read{res: res, partial: true, deleted: deleted, cursor: &next, count: max(count, 0)}
	if delta.PresentPhase {
		// Never nil, even when nothing is present.
		rd.present = append([]string{}, slices.Concat(delta.Present, userIDs(res), skippedIDs(res))...)
	}
	return rd, nil
}

// loadPartial loads the users an incremental read concerns, and puts the
// count of users in scope (see incremental) on the cursor it will save.
func (r *run) loadPartial(ctx context.Context, rd *read) (known, holders map[string]identity.Linked, active int, err error) {
	ids := make([]string, 0, len(rd.res.Users)+len(rd.deleted)+len(rd.res.Skipped))
	names := make([]string, 0, len(rd.res.Users))
	for _, u := range rd.res.Users {
		ids, names = append(ids, u.ID), append(names, u.UserName)
	}
	for id := range rd.deleted {
		ids = append(ids, id)
	}
	for _, sk := range rd.res.Skipped {
		if sk.ID != "" {
			ids = append(ids, sk.ID)
		}
	}
	// Writes an earlier run left pending are settled against the users
	// they name, whether or not those changed since.
	pending, err := r.store.PendingOps(ctx)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("load pending operations: %w", err)
	}
	for _, op := range pending {
		ids = append(ids, op.LDAPID)
	}
	slices.Sort(ids)
	known, holders, err = r.store.LoadChangedUsers(ctx, slices.Compact(ids), names)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("load state: %w", err)
	}
	if rd.present == nil {
		// Only the linked users among the ids deleted, whatever their
		// state, were counted in scope.
		for id := range rd.deleted {
			if _, ok := known[id]; ok {
				rd.count--
			}
		}
	}
	active, err = r.store.CountActiveUsers(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	rd.count = max(rd.count, 0)
	if rd.cursor != nil {
		rd.cursor.SourceCount = rd.count
	}
	return known, holders, active, nil
}

// waitsOnOthers reports whether the plan holds back a change that an
// incremental run would not read again: a blocked operation (an email still
// held, a refusal to retry), or deletions held because an entry without a
// readable id may be any missing user.
func waitsOnOthers(p diff.Plan) bool {
	if len(p.Blocked) > 0 {
		return true
	}
	for _, op := range p.Held {
		if strings.Contains(op.Reason, "without a readable id") {
			return true
		}
	}
	return false
}
