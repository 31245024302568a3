package state

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
)

// DirectoryUser is a user entry as the directory last gave it: at DNKey
// (normalized), mapped to a user or skipped, and enabled or not.
type DirectoryUser struct {
	ID, DNKey      string
	Mapped, Active bool
}

// DirectoryUsers returns the kept user entries at any of dnKeys or with any
// of ids.
func (s *Store) DirectoryUsers(ctx context.Context, dnKeys, ids []string) (map[string]DirectoryUser, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
		SELECT ldap_id, dn_key, mapped, active FROM directory_users WHERE dn_key = ANY($1)
		UNION ALL
		SELECT ldap_id, dn_key, mapped, active FROM directory_users WHERE ldap_id = ANY($2)`, dnKeys, ids)
	if err != nil {
		return nil, fmt.Errorf("load user entries: %w", err)
	}
	defer rows.Close()
	out := map[string]DirectoryUser{}
	for rows.Next() {
		var u DirectoryUser
		if err := rows.Scan(&u.ID, &u.DNKey, &u.Mapped, &u.Active); err != nil {
			return nil, fmt.Errorf("load user entries: %w", err)
		}
		out[u.ID] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load user entries: %w", err)
	}
	return out, nil
}

// Snapshot is what one read gave of the directory's entries of one kind: in
// full (replacing what was kept), or the entries changed and the ids gone.
type Snapshot[E any] struct {
	Full    bool
	Entries []E
	Deleted []string
	// Present, when not nil, are every id still in scope (a syncrepl
	// present phase): any other is gone.
	Present []string
}

// Position is where the next run's reads resume, saved at once: the user
// and group entries kept for incremental group reads (nil: not kept), and
// the read cursors.
type Position struct {
	Users   *Snapshot[DirectoryUser]
	Groups  *Snapshot[identity.GroupEntry]
	Cursors []Cursor
	// Drop names the cursors the saved ones leave behind, forgotten with
	// them: their next reads are full ones.
	Drop []string
}

// SavePosition stores p in one transaction, so that the entries kept always
// match the cursors: call it only once the run that consumed the changes up
// to p has committed, so that a crash re-reads them.
func (s *Store) SavePosition(ctx context.Context, p Position) error {
	return s.inTx(ctx, bulkTimeout, func(tx pgx.Tx) error {
		if p.Users != nil {
			if err := saveUserEntries(ctx, tx, *p.Users); err != nil {
				return fmt.Errorf("record user entries: %w", err)
			}
		}
		if p.Groups != nil {
			if err := saveGroupEntries(ctx, tx, p.Groups.Full, p.Groups.Entries, p.Groups.Deleted); err != nil {
				return fmt.Errorf("record group entries: %w", err)
			}
		}
		for _, c := range p.Cursors {
			if err := saveCursor(ctx, tx, c); err != nil {
				return err
			}
		}
		if len(p.Drop) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM read_cursors WHERE name = ANY($1)`, p.Drop); err != nil {
				return fmt.Errorf("drop read cursors: %w", err)
			}
		}
		return nil
	})
}

func saveUserEntries(ctx context.Context, tx pgx.Tx, sn Snapshot[DirectoryUser]) error {
	entries, deleted := lastByID(sn.Entries, func(u DirectoryUser) string { return u.ID }), sn.Deleted
	if sn.Full {
		// Only what changed since the entries kept is written: a full read
		// of a directory that did not change writes nothing.
		var err error
		if entries, deleted, err = changedUserEntries(ctx, tx, entries); err != nil {
			return err
		}
	}
	if len(deleted) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM directory_users WHERE ldap_id = ANY($1)`, deleted); err != nil {
			return err
		}
	}
	if sn.Present != nil {
		if _, err := tx.Exec(ctx, `DELETE FROM directory_users WHERE NOT ldap_id = ANY($1)`, sn.Present); err != nil {
			return err
		}
	}
	if len(entries) == 0 {
		return nil
	}
	ids := make([]string, len(entries))
	keys := make([]string, len(entries))
	mapped := make([]bool, len(entries))
	active := make([]bool, len(entries))
	for i, u := range entries {
		ids[i], keys[i], mapped[i], active[i] = u.ID, u.DNKey, u.Mapped, u.Active
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO directory_users (ldap_id, dn_key, mapped, active)
		SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::boolean[])
		ON CONFLICT (ldap_id) DO UPDATE SET dn_key = excluded.dn_key, mapped = excluded.mapped, active = excluded.active`,
		ids, keys, mapped, active)
	return err
}

// lastByID keeps the last of the entries sharing an id, in order: one
// statement may write a row once.
func lastByID[E any](es []E, id func(E) string) []E {
	at := make(map[string]int, len(es))
	out := make([]E, 0, len(es))
	for _, e := range es {
		if i, ok := at[id(e)]; ok {
			out[i] = e
			continue
		}
		at[id(e)] = len(out)
		out = append(out, e)
	}
	return out
}

// changedUserEntries compares a full read's entries with those kept: the
// entries new or changed, and the ids kept that the read no longer has.
func changedUserEntries(ctx context.Context, tx pgx.Tx, entries []DirectoryUser) (changed []DirectoryUser, gone []string, err error) {
	rows, err := tx.Query(ctx, `SELECT ldap_id, dn_key, mapped, active FROM directory_users`)
	if err != nil {
		return nil, nil, err
	}
	kept := make(map[string]DirectoryUser)
	for rows.Next() {
		var u DirectoryUser
		if err := rows.Scan(&u.ID, &u.DNKey, &u.Mapped, &u.Active); err != nil {
			rows.Close()
			return nil, nil, err
		}
		kept[u.ID] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, u := range entries {
		if k, ok := kept[u.ID]; !ok || k != u {
			changed = append(changed, u)
		}
		delete(kept, u.ID)
	}
	for id := range kept {
		gone = append(gone, id)
	}
	return changed, gone, nil
}
