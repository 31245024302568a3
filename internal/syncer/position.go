package syncer

import (
	"context"
	"maps"
	"slices"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
)

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
