package state

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// HeldOp is an operation Omni refused in a way no retry can fix. While the
// directory still asks for the same values (DesiredHash), the run does not
// send it again; Action tells the admin what to do instead.
type HeldOp struct {
	LDAPID      string
	Kind        string
	UserName    string
	DesiredHash string
	Reason      string
	Action      string
	HTTPStatus  int
	RunID       int64
	FirstAt     time.Time
	LastTriedAt time.Time
	Attempts    int
}

// HoldOp records op as held, or records one more refusal of an op already
// held.
func (s *Store) HoldOp(ctx context.Context, op HeldOp) error {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	runID := nullID(op.RunID)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO held_operations (ldap_id, kind, user_name, desired_hash, reason, action, http_status, run_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (ldap_id) DO UPDATE SET
			kind = excluded.kind, user_name = excluded.user_name, desired_hash = excluded.desired_hash,
			reason = excluded.reason, action = excluded.action, http_status = excluded.http_status,
			run_id = excluded.run_id, last_tried_at = now(), attempts = held_operations.attempts + 1`,
		op.LDAPID, op.Kind, op.UserName, op.DesiredHash, bound(op.Reason), bound(op.Action), op.HTTPStatus, runID)
	if err != nil {
		return fmt.Errorf("hold %s of %s: %w", op.Kind, op.LDAPID, err)
	}
	return nil
}

// ReleaseHeldOps forgets the held operations of the given directory ids:
// they succeeded, or are no longer wanted.
func (s *Store) ReleaseHeldOps(ctx context.Context, ldapIDs ...string) error {
	if len(ldapIDs) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM held_operations WHERE ldap_id = ANY($1)`, ldapIDs); err != nil {
		return fmt.Errorf("release held operations: %w", err)
	}
	return nil
}

// HeldOps returns every held operation keyed by directory id.
func (s *Store) HeldOps(ctx context.Context) (map[string]HeldOp, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
		SELECT ldap_id, kind, user_name, desired_hash, reason, action, http_status, coalesce(run_id, 0),
			first_at, last_tried_at, attempts
		FROM held_operations ORDER BY ldap_id`)
	if err != nil {
		return nil, fmt.Errorf("load held operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HeldOp, error) {
		var h HeldOp
		err := row.Scan(&h.LDAPID, &h.Kind, &h.UserName, &h.DesiredHash, &h.Reason, &h.Action, &h.HTTPStatus,
			&h.RunID, &h.FirstAt, &h.LastTriedAt, &h.Attempts)
		h.FirstAt, h.LastTriedAt = h.FirstAt.UTC(), h.LastTriedAt.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("load held operations: %w", err)
	}
	m := make(map[string]HeldOp, len(ops))
	for _, h := range ops {
		m[h.LDAPID] = h
	}
	return m, nil
}

// nullID stores a zero id as NULL.
func nullID(id int64) pgtype.Int8 { return pgtype.Int8{Int64: id, Valid: id != 0} }
