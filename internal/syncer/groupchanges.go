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

// groupWalk gathers the group entries an incremental run flattens: pool,
// with the changed entries in place of their stored ones and the deleted
// ones left out.
type groupWalk struct {
	r       *run
	changed map[string]identity.GroupEntry
	deleted map[string]bool
	pool    map[string]identity.GroupEntry
	// seen are the DNs (normalized) already walked from.
	seen map[string]bool
}

// add puts the current form of group id in the pool, and reports whether
// it is new there.
func (w *groupWalk) add(id string, stored identity.GroupEntry) bool {
	if _, ok := w.pool[id]; ok || w.deleted[id] {
		return false
	}
	e := stored
	if c, ok := w.changed[id]; ok {
		e = c
	}
	w.pool[id] = e
	return true
}

// fresh normalizes dns and keeps those not walked from yet.
func (w *groupWalk) fresh(dns []string) []string {
	var out []string
	for _, dn := range dns {
		if dn == "" {
			continue
		}
		k := identity.NormalizeDN(dn)
		if !w.seen[k] {
			w.seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// up adds the groups listing any of dns as a member, and the groups
// listing those, to the top.
func (w *groupWalk) up(ctx context.Context, dns []string) error {
	for frontier := w.fresh(dns); len(frontier) > 0; {
		found, err := w.r.store.GroupEntries(ctx, state.ByMember, frontier)
		if err != nil {
			return err
		}
		in := setOf(frontier)
		for id, e := range w.changed {
			if slices.ContainsFunc(e.Group.MemberDNs, func(dn string) bool { return in[identity.NormalizeDN(dn)] }) {
				found[id] = e
			}
		}
		var next []string
		for id, e := range found {
			if w.add(id, e) {
				next = append(next, e.Group.DN, w.pool[id].Group.DN)
			}
		}
		frontier = w.fresh(next)
	}
	return nil
}

// sameName adds the groups that share a name with the pool's, or with a
// changed or deleted group's former name.
func (w *groupWalk) sameName(ctx context.Context, names []string) error {
	slices.Sort(names)
	found, err := w.r.store.GroupEntries(ctx, state.ByName, slices.Compact(names))
	if err != nil {
		return err
	}
	for id, e := range found {
		w.add(id, e)
	}
	in := setOf(names)
	for id, e := range w.changed {
		if in[strings.ToLower(e.Group.Name)] {
			w.add(id, e)
		}
	}
	return nil
}

// down adds the member groups of the pool's groups, to the bottom, so that
// each can be flattened.
func (w *groupWalk) down(ctx context.Context) error {
	byDN := make(map[string]string, len(w.changed))
	for id, e := range w.changed {
		byDN[identity.NormalizeDN(e.Group.DN)] = id
	}
	w.seen = map[string]bool{}
	var start []string
	for _, e := range w.pool {
		w.seen[identity.NormalizeDN(e.Group.DN)] = true
		start = append(start, e.Group.MemberDNs...)
	}
	for frontier := w.fresh(start); len(frontier) > 0; {
		found, err := w.r.store.GroupEntries(ctx, state.ByDN, frontier)
		if err != nil {
			return err
		}
		for id := range found {
			// A changed group is found at its DN now, below, not at the
			// one stored.
			if _, ok := w.changed[id]; ok {
				delete(found, id)
			}
		}
		for _, dn := range frontier {
			if id, ok := byDN[dn]; ok {
				found[id] = w.changed[id]
			}
		}
		var next []string
		for id, e := range found {
			if w.add(id, e) {
				next = append(next, w.pool[id].Group.MemberDNs...)
			}
		}
		frontier = w.fresh(next)
	}
	return nil
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

// savePosition stores where the next run's reads resume, in one
// transaction: with groups read through the mechanism, the user and group
// entries this run read, then the groups' cursor and the users'.
func (r *run) savePosition(ctx context.Context) error {
	if err := r.lock.Alive(ctx); err != nil {
		return err
	}
	if r.groupsByMech && r.gsync == nil {
		// The groups were to be read through the mechanism and were not:
		// the entries kept would not follow the users' cursor, so neither
		// moves, and the next run reads the same changes again.
		return nil
	}
	var p state.Position
	if gs := r.gsync; gs != nil && r.groupRead.Enabled && r.groupRead.Incomplete == "" && r.read != nil && r.read.cursor != nil {
		p.Users = r.userEntries()
		p.Groups = &state.Snapshot[identity.GroupEntry]{Full: gs.full, Entries: gs.entries, Deleted: slices.Sorted(maps.Keys(gs.deleted))}
		p.Cursors = append(p.Cursors, gs.cursor)
	}
	if r.read != nil && r.read.cursor != nil {
		p.Cursors = append(p.Cursors, *r.read.cursor)
		if p.Users == nil {
			// The user entries kept no longer follow the users' cursor:
			// the groups, when next read through the mechanism, start
			// with a full read.
			p.Drop = []string{groupCursorName}
		}
	}
	if len(p.Cursors) == 0 {
		return nil
	}
	return r.store.SavePosition(ctx, p)
}

// userEntries are the user entries as this run decided them, to keep with
// the position: every one after a full read, the changed and deleted ones
// after an incremental read (and, after a present phase, only those
// present are left).
func (r *run) userEntries() *state.Snapshot[state.DirectoryUser] {
	sn := &state.Snapshot[state.DirectoryUser]{Full: !r.read.partial, Present: r.read.present}
	for _, u := range r.desired {
		sn.Entries = append(sn.Entries, state.DirectoryUser{ID: u.ID, DNKey: identity.NormalizeDN(u.DN), Mapped: true, Active: u.Active})
	}
	for _, sk := range r.rep.Skipped {
		if sk.ID != "" {
			sn.Entries = append(sn.Entries, state.DirectoryUser{ID: sk.ID, DNKey: identity.NormalizeDN(sk.DN)})
		}
	}
	if r.read.partial {
		sn.Deleted = slices.Sorted(maps.Keys(r.read.deleted))
	}
	return sn
}
