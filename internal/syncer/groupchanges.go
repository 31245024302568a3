package syncer

import (
	"context"
	"fmt"
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
	r.gsync = &groupSync{full: true, entries: delta.Groups,
		cursor: state.Cursor{Name: groupCursorName, Mechanism: mech, Cookie: cookie, FullReadAt: r.now, SourceCount: len(groups)}}
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
	gc := &groupSync{entries: delta.Groups, deleted: map[string]bool{}}
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
		present := make(map[string]bool, len(delta.Present))
		for _, id := range delta.Present {
			present[id] = true
		}
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
	old, err := r.store.GroupEntries(ctx, state.ByID, slices.Concat(keys(changed), keys(gc.deleted)))
	if err != nil {
		return diff.GroupRead{}, err
	}
	w := groupWalk{r: r, changed: changed, deleted: gc.deleted, pool: map[string]identity.GroupEntry{}, seen: map[string]bool{}}
	// The DNs whose holders are worked out again: changed users' old and
	// new ones, and changed groups'.
	var seeds []string
	for _, u := range rd.res.Users {
		seeds = append(seeds, u.DN)
	}
	for _, sk := range rd.res.Skipped {
		seeds = append(seeds, sk.DN)
	}
	for _, id := range slices.Concat(userIDs(rd), skippedIDs(rd), keys(rd.deleted)) {
		if k, ok := r.known[id]; ok {
			seeds = append(seeds, k.DN)
		}
	}
	for id, e := range changed {
		w.add(id, e)
		seeds = append(seeds, e.Group.DN)
	}
	for _, e := range old {
		seeds = append(seeds, e.Group.DN)
	}
	if err := w.up(ctx, seeds); err != nil {
		return diff.GroupRead{}, err
	}
	names := make([]string, 0, len(w.pool)+len(old))
	for _, e := range slices.Concat(values(w.pool), values(old)) {
		names = append(names, strings.ToLower(e.Group.Name))
	}
	if err := w.sameName(ctx, names); err != nil {
		return diff.GroupRead{}, err
	}
	out := keys(w.pool)
	if err := w.down(ctx); err != nil {
		return diff.GroupRead{}, err
	}
	groups, skipped := gs.FlattenGroups(values(w.pool))
	isOut := setOf(out)
	groups = slices.DeleteFunc(groups, func(g identity.Group) bool { return !isOut[g.ID] })
	skipped = slices.DeleteFunc(skipped, func(sk identity.Skipped) bool { return !isOut[sk.ID] })
	gc.ids = out
	// The count the guards judge: the last full read's, less the groups
	// deleted since (a group a duplicate name skipped included, so never
	// above what a full read counts), plus the groups new since.
	count := cur.SourceCount
	for id := range gc.deleted {
		if e, ok := old[id]; ok && e.Skip == nil {
			count--
		}
	}
	for _, g := range groups {
		if _, known := old[g.ID]; !known && changed[g.ID].Group.ID != "" {
			count++
		}
	}
	next := cur
	next.Cookie, next.SourceCount = cookie, max(count, 0)
	gc.cursor = next
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
// group, and the linked users the groups name.
func (r *run) partialGroupInput(ctx context.Context, in *diff.GroupInput) (map[string]identity.LinkedGroup, error) {
	gc := r.gsync
	known, err := r.store.LoadChangedGroups(ctx, slices.Concat(gc.ids, keys(gc.deleted)))
	if err != nil {
		return nil, err
	}
	groups, memberships, err := r.store.GroupCounts(ctx)
	if err != nil {
		return nil, err
	}
	in.Partial, in.Deleted = true, gc.deleted
	in.SourceCount, in.ActiveGroups, in.Memberships = gc.cursor.SourceCount, groups, memberships
	// The users the groups name now, and those syncd keeps in them: the
	// ones this run read (changed or gone) are resolved from the read and
	// their stored links; the others are as they were.
	var dns, ids []string
	for _, g := range in.Read.Groups {
		dns = append(dns, g.MemberDNs...)
	}
	for _, k := range known {
		ids = append(ids, k.Members...)
	}
	slices.Sort(dns)
	slices.Sort(ids)
	members, skipped, err := r.store.UsersAt(ctx, slices.Compact(dns), slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	named := setOf(slices.Concat(userIDs(r.read), skippedIDs(r.read), keys(r.read.deleted)))
	unchanged := make(map[string]identity.Linked, len(members))
	r.mu.Lock()
	for id, k := range members {
		if named[id] {
			continue
		}
		unchanged[id] = k
		if _, ok := r.known[id]; !ok {
			r.known[id] = k
			if r.bySCIM != nil {
				r.bySCIM[k.SCIMID] = id
			}
		}
	}
	r.mu.Unlock()
	in.Members.AddUnchanged(unchanged, skipped)
	return known, nil
}

func userIDs(rd *read) []string {
	ids := make([]string, 0, len(rd.res.Users))
	for _, u := range rd.res.Users {
		ids = append(ids, u.ID)
	}
	return ids
}

func skippedIDs(rd *read) []string {
	var ids []string
	for _, sk := range rd.res.Skipped {
		if sk.ID != "" {
			ids = append(ids, sk.ID)
		}
	}
	return ids
}

// keys returns m's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func values[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
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

// savePosition stores where the next run's reads resume: the group entries
// read with the groups' cursor, then the users' cursor. The entries go
// first: kept without their cursor, the next run reads the same changes
// again over them, which changes nothing.
func (r *run) savePosition(ctx context.Context) error {
	if err := r.lock.Alive(ctx); err != nil {
		return err
	}
	if gs := r.gsync; gs != nil && r.groupRead.Enabled && r.groupRead.Incomplete == "" {
		if err := r.store.SaveGroupEntries(ctx, gs.full, gs.entries, keys(gs.deleted)); err != nil {
			return err
		}
		if err := r.store.SaveCursor(ctx, gs.cursor); err != nil {
			return err
		}
	}
	if r.read != nil && r.read.cursor != nil {
		return r.store.SaveCursor(ctx, *r.read.cursor)
	}
	return nil
}
