package state

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/syncd-dev/syncd/internal/identity"
)

const groupColumns = `ldap_id, scim_id, name, members, status, origin, first_missing_at, missing_runs`

// LoadGroups returns every linked group, keyed by directory id.
func (s *Store) LoadGroups(ctx context.Context) (map[string]identity.LinkedGroup, error) {
	return s.queryGroups(ctx, `SELECT `+groupColumns+` FROM groups`)
}

// LoadChangedGroups returns, for an incremental run, only the linked groups
// it can concern: those with the given directory ids, and those still
// marked missing (their grace clock runs on).
func (s *Store) LoadChangedGroups(ctx context.Context, ids []string) (map[string]identity.LinkedGroup, error) {
	return s.queryGroups(ctx, `SELECT `+groupColumns+` FROM groups
		WHERE ldap_id = ANY($1) OR (status = 'active' AND first_missing_at IS NOT NULL)`, ids)
}

// GroupCounts counts the active linked groups and the memberships syncd
// manages in them, for the guards and gauges of a run that loaded only
// some groups.
func (s *Store) GroupCounts(ctx context.Context) (groups, memberships int, err error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	err = s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(cardinality(members)), 0) FROM groups WHERE status = 'active'`).Scan(&groups, &memberships)
	if err != nil {
		return 0, 0, fmt.Errorf("count groups: %w", err)
	}
	return groups, memberships, nil
}

// GroupLinkedTo returns the directory group other than self actively
// linked to the Omni group scimID, or "".
func (s *Store) GroupLinkedTo(ctx context.Context, scimID, self string) (string, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	var id string
	err := s.pool.QueryRow(ctx, `SELECT ldap_id FROM groups WHERE scim_id = $1 AND ldap_id <> $2 AND status = 'active' LIMIT 1`, scimID, self).Scan(&id)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up the link of group %s: %w", scimID, err)
	}
	return id, nil
}

func (s *Store) queryGroups(ctx context.Context, q string, args ...any) (map[string]identity.LinkedGroup, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	defer rows.Close()
	groups := make(map[string]identity.LinkedGroup)
	for rows.Next() {
		var (
			g       identity.LinkedGroup
			missing pgtype.Timestamptz
		)
		if err := rows.Scan(&g.ID, &g.SCIMID, &g.Name, &g.Members, &g.Status, &g.Origin, &missing, &g.MissingRuns); err != nil {
			return nil, fmt.Errorf("load groups: %w", err)
		}
		if len(g.Members) == 0 {
			g.Members = nil
		}
		if missing.Valid {
			g.FirstMissingAt = missing.Time.UTC()
		}
		groups[g.ID] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	return groups, nil
}

func upsertGroup(ctx context.Context, tx pgx.Tx, g identity.LinkedGroup) error {
	if g.ID == "" {
		return fmt.Errorf("group link has no directory id")
	}
	members := slices.Clone(g.Members)
	slices.Sort(members)
	members = slices.Compact(members)
	if members == nil {
		members = []string{}
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO groups (ldap_id, scim_id, name, members, status, origin, first_missing_at, missing_runs)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (ldap_id) DO UPDATE SET
			scim_id = excluded.scim_id, name = excluded.name, members = excluded.members, status = excluded.status,
			origin = excluded.origin, first_missing_at = excluded.first_missing_at, missing_runs = excluded.missing_runs,
			updated_at = now()`,
		g.ID, g.SCIMID, bound(g.Name), members, string(g.Status), string(g.Origin), timestamptz(g.FirstMissingAt), g.MissingRuns)
	return err
}

// DropMemberships forgets the given users' memberships in every group: Omni
// drops a user's memberships itself when the user is deprovisioned, so no
// request is needed, only the record.
func (s *Store) DropMemberships(ctx context.Context, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `
		UPDATE groups SET members = ARRAY(SELECT m FROM unnest(members) AS m WHERE m <> ALL($1)), updated_at = now()
		WHERE members && $1`, userIDs)
	if err != nil {
		return fmt.Errorf("drop memberships: %w", err)
	}
	return nil
}

// SetGroupMissing applies the groups' missing marks in one statement.
func (s *Store) SetGroupMissing(ctx context.Context, marks []MissingMark) error {
	return s.setMissing(ctx, "groups", marks)
}

// LastGoodGroupCount returns the group count of the latest run whose group
// read was complete; ok is false when there is none.
func (s *Store) LastGoodGroupCount(ctx context.Context) (n int, ok bool, err error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	err = s.pool.QueryRow(ctx, `
		SELECT group_source_count FROM sync_runs
		WHERE NOT dry_run AND group_source_complete AND outcome IN ($1, $2)
		ORDER BY id DESC LIMIT 1`, OutcomeSuccess, OutcomePartial).Scan(&n)
	if err == pgx.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("load last good group read: %w", err)
	}
	return n, true, nil
}
