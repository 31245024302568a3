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

// GroupChangeSource reads group entries as they change, with the mechanism
// the users are read with.
type GroupChangeSource interface {
	// GroupChangesProblem says why the groups cannot be read so, or "".
	GroupChangesProblem(mechanism string) string
	// ReadGroupChanges reads the group entries changed since cookie (nil:
	// every entry) and returns them with the cookie to resume from.
	ReadGroupChanges(ctx context.Context, mechanism string, cookie []byte) (*source.Delta, []byte, error)
	// FlattenGroups flattens group entries as a full read does.
	FlattenGroups(entries []identity.GroupEntry) ([]identity.Group, []identity.Skipped)
}

// groupCursorName names the groups' read cursor in state.
const groupCursorName = "groups"

// groupSync is what a run read of the groups with a mechanism: every
// entry (full), or those changed since the stored position, and what they
// made the run work out again.
type groupSync struct {
	full bool
	// entries are the entries read, kept in state with the cursor;
	// deleted, the ids gone.
	entries []identity.GroupEntry
	deleted map[string]bool
	cursor  state.Cursor
	// ids are the groups an incremental run works out again.
	ids []string
}

// groupChangesRead is the groups' changes an incremental run read before
// the users', or why they could not be read.
type groupChangesRead struct {
	delta  *source.Delta
	cookie []byte
	failed string
}

// groupChangesFirst reads the groups' changes when p reads incrementally
// with the groups through the mechanism, before the users: a directory
// that cannot say what changed in them makes the whole run a full one (p
// is changed so). A failed read spoils only the groups.
func (r *run) groupChangesFirst(ctx context.Context, p *readPlan) groupChangesRead {
	var g groupChangesRead
	if !p.incremental || p.groups == nil {
		return g
	}
	delta, cookie, err := p.groups.ReadGroupChanges(ctx, p.mech, p.gcur.Cookie)
	switch {
	case err != nil:
		r.log.Error().Err(err).Msg("read directory group changes; no member is removed and no group deleted this run")
		g.failed = "group read failed: " + err.Error()
	case delta.FullReadNeeded:
		r.log.Info().Str("mechanism", p.mech).Msg("the directory cannot say what changed in the groups; reading in full")
		p.incremental, p.why = false, "the directory asked for a full read of the groups"
	case delta.Incomplete != "":
		g.failed = "group changes incomplete: " + delta.Incomplete
	default:
		g.delta, g.cookie = delta, cookie
	}
	return g
}

// readGroupsBeforeState reads the groups as the users were read: in full
// (through the mechanism when it serves them) after a full read of the
// users, and nothing yet after an incremental one, whose groups are worked
// out once the users' state is loaded (readChangedGroups).
func (r *run) readGroupsBeforeState(ctx context.Context, p readPlan, rd *read, g groupChangesRead) diff.GroupRead {
	switch {
	case p.groups == nil:
		return r.readGroups(ctx)
	case !rd.partial:
		return r.readAllGroups(ctx, p.groups, p.mech)
	case g.failed != "":
		return diff.GroupRead{Enabled: true, Incomplete: g.failed}
	}
	return diff.GroupRead{}
}

// readAllGroups reads every group entry through the mechanism, so that the
// next runs can read only what changed. It falls back to a plain read when
// that fails.
func (r *run) readAllGroups(ctx context.Context, gs GroupChangeSource, mech string) diff.GroupRead {
	delta, cookie, err := gs.ReadGroupChanges(ctx, mech, nil)
	if err != nil || delta.FullReadNeeded || delta.Incomplete != "" {
		r.log.Warn().AnErr("error", err).Msg("groups could not be read through the incremental mechanism; reading them in full")
		return r.readGroups(ctx)
	}
	r.rep.GroupEntries = delta.Entries
	groups, skipped := gs.FlattenGroups(delta.Groups)
	// An entry without an id could not be found again: the next runs read
	// in full, as this one did.
	if !slices.ContainsFunc(delta.Groups, func(e identity.GroupEntry) bool { return e.Group.ID == "" }) {
		r.gsync = &groupSync{full: true, entries: delta.Groups,
			cursor: state.Cursor{Name: groupCursorName, Mechanism: mech, Cookie: cookie, FullReadAt: r.now, SourceCount: len(groups)}}
	}
	return diff.GroupRead{Enabled: true, Groups: groups, Skipped: skipped}
}

// readChangedGroups works out, for an incremental run, the groups its
// changes can alter, and only those: the group entries changed; the groups
// listing a changed user (by its old or new DN) or a changed group, and
// the groups holding those, up to the top; and the groups sharing a name
// with any of them (a duplicate name skips them all). Each is flattened
// from its entry and those of the groups below it, as a full read would.
// Their members are resolved against the users this run read and the
// linked users at their DNs.
func (r *run) readChangedGroups(ctx context.Context, gs GroupChangeSource, rd *read, delta *source.Delta, cur state.Cursor, cookie []byte) (diff.GroupRead, error) {
	gc := &groupSync{entries: delta.Groups, deleted: map[string]bool{}, cursor: cur}
	r.gsync = gc
	r.rep.GroupEntries = delta.Entries
	changed := make(map[string]identity.GroupEntry, len(delta.Groups))
	for _, e := range delta.Groups {
		if e.Group.ID == "" {
			return diff.GroupRead{Enabled: true, Incomplete: fmt.Sprintf("changed group entry %s has no readable id", e.Group.DN)}, nil
		}
		changed[e.Group.ID] = e
	}
	for _, id := range delta.Deleted {
		gc.deleted[id] = true
	}
	if delta.PresentPhase {
		present := setOf(delta.Present)
		ids, err := r.store.GroupEntryIDs(ctx)
		if err != nil {
			return diff.GroupRead{}, err
		}
		for _, id := range ids {
			if !present[id] && changed[id].Group.ID == "" {
				gc.deleted[id] = true
			}
		}
	}
	// The groups skipped now are held each run, as a full read holds them.
	skippedNow, err := r.store.SkippedGroupEntries(ctx)
	if err != nil {
		return diff.GroupRead{}, err
	}
	old, err := r.store.GroupEntries(ctx, state.ByID, slices.Concat(slices.Sorted(maps.Keys(changed)), slices.Sorted(maps.Keys(gc.deleted)), r.settledGroups, skippedNow))
	if err != nil {
		return diff.GroupRead{}, err
	}
	for _, id := range r.settledGroups {
		if _, kept := old[id]; !kept && changed[id].Group.ID == "" {
			// Created by a run whose position was not saved, and not in
			// the changes since: no longer in the directory.
			gc.deleted[id] = true
		}
	}
	w := groupWalk{r: r, changed: changed, deleted: gc.deleted, pool: map[string]identity.GroupEntry{}, seen: map[string]bool{}}
	// The DNs whose holders are worked out again: changed users' old and
	// new ones (as kept with the position, and as last recorded of a
	// linked user), and changed groups'.
	var seeds []string
	for _, u := range rd.res.Users {
		seeds = append(seeds, u.DN)
	}
	for _, sk := range rd.res.Skipped {
		seeds = append(seeds, sk.DN)
	}
	named := slices.Concat(userIDs(rd.res), skippedIDs(rd.res), slices.Sorted(maps.Keys(rd.deleted)))
	was, err := r.store.DirectoryUsers(ctx, nil, named)
	if err != nil {
		return diff.GroupRead{}, err
	}
	for _, u := range was {
		seeds = append(seeds, u.DNKey)
	}
	for _, id := range named {
		if k, ok := r.known[id]; ok {
			seeds = append(seeds, k.DN)
		}
	}
	for id, e := range changed {
		w.add(id, e)
		seeds = append(seeds, e.Group.DN)
	}
	for id, e := range old {
		seeds = append(seeds, e.Group.DN)
		// A group whose write an earlier run left pending is planned
		// again, as a full read would; so is one skipped.
		w.add(id, e)
	}
	if err := w.up(ctx, seeds); err != nil {
		return diff.GroupRead{}, err
	}
	names := make([]string, 0, len(w.pool)+len(old))
	for _, m := range []map[string]identity.GroupEntry{w.pool, old} {
		for _, e := range m {
			names = append(names, strings.ToLower(e.Group.Name))
		}
	}
	if err := w.sameName(ctx, names); err != nil {
		return diff.GroupRead{}, err
	}
	out := slices.Sorted(maps.Keys(w.pool))
	if err := w.down(ctx); err != nil {
		return diff.GroupRead{}, err
	}
	groups, skipped := gs.FlattenGroups(slices.Collect(maps.Values(w.pool)))
	isOut := setOf(out)
	groups = slices.DeleteFunc(groups, func(g identity.Group) bool { return !isOut[g.ID] })
	skipped = slices.DeleteFunc(skipped, func(sk identity.Skipped) bool { return !isOut[sk.ID] })
	gc.ids = out
	// The count the guards judge: what a full read would count now.
	count, err := r.store.CountGroupEntries(ctx, delta.Groups, slices.Sorted(maps.Keys(gc.deleted)))
	if err != nil {
		return diff.GroupRead{}, err
	}
	gc.cursor.Cookie, gc.cursor.SourceCount = cookie, count
	return diff.GroupRead{Enabled: true, Groups: groups, Skipped: skipped}, nil
}

// partialGroupInput fills what an incremental run's group plan needs beyond
// the read: the linked groups concerned, the counts over every linked
// group, and the members resolved as a full read would resolve them: from
// the user entries kept with the position, amended by this run's decision
// (d), and the linked users at the remaining DNs.
func (r *run) partialGroupInput(ctx context.Context, in *diff.GroupInput, d diff.Decision) (map[string]identity.LinkedGroup, error) {
	gc := r.gsync
	known, err := r.store.LoadChangedGroups(ctx, slices.Concat(gc.ids, slices.Sorted(maps.Keys(gc.deleted))))
	if err != nil {
		return nil, err
	}
	groups, memberships, err := r.store.GroupCounts(ctx)
	if err != nil {
		return nil, err
	}
	in.Partial, in.Deleted = true, gc.deleted
	in.SourceCount, in.ActiveGroups, in.Memberships = gc.cursor.SourceCount, groups, memberships

	// The users the groups name now, and those syncd keeps in them.
	var dns, ids []string
	for _, g := range in.Read.Groups {
		dns = append(dns, g.MemberDNs...)
	}
	for _, k := range known {
		ids = append(ids, k.Members...)
	}
	slices.Sort(dns)
	slices.Sort(ids)
	dns, ids = slices.Compact(dns), slices.Compact(ids)
	entries, err := r.store.DirectoryUsers(ctx, dns, ids)
	if err != nil {
		return nil, err
	}
	linked, err := r.store.LinkedAt(ctx, dns, ids)
	if err != nil {
		return nil, err
	}
	// The entries as they are after this run's read.
	var present map[string]bool
	if r.read.present != nil {
		present = setOf(r.read.present)
	}
	for id := range entries {
		if r.read.deleted[id] || present != nil && !present[id] {
			delete(entries, id)
		}
	}
	for _, u := range d.Users {
		entries[u.ID] = state.DirectoryUser{ID: u.ID, DNKey: identity.NormalizeDN(u.DN), Mapped: true, Active: u.Active}
	}
	for _, sk := range d.Skipped {
		if sk.ID != "" {
			entries[sk.ID] = state.DirectoryUser{ID: sk.ID, DNKey: identity.NormalizeDN(sk.DN)}
		}
	}
	var users []identity.User
	var skips []identity.Skipped
	for _, e := range entries {
		if e.Mapped {
			users = append(users, identity.User{ID: e.ID, DN: e.DNKey, Active: e.Active})
		} else {
			skips = append(skips, identity.Skipped{ID: e.ID, DN: e.DNKey})
		}
	}
	r.mu.Lock()
	for id, k := range linked {
		if _, ok := r.known[id]; !ok {
			r.known[id] = k
			if r.bySCIM != nil {
				r.bySCIM[k.SCIMID] = id
			}
		}
	}
	in.Members = diff.NewMembers(users, skips, r.known)
	r.mu.Unlock()
	return known, nil
}

func userIDs(res *source.Result) []string {
	ids := make([]string, 0, len(res.Users))
	for _, u := range res.Users {
		ids = append(ids, u.ID)
	}
	return ids
}

func skippedIDs(res *source.Result) []string {
	var ids []string
	for _, sk := range res.Skipped {
		if sk.ID != "" {
			ids = append(ids, sk.ID)
		}
	}
	return ids
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// groupCount is the groups in scope: read, or for an incremental read
// carried forward.
func (r *run) groupCount() int {
	if r.gsync != nil && !r.gsync.full {
		return r.gsync.cursor.SourceCount
	}
	return len(r.groupRead.Groups)
}
