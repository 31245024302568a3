package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one entry of the append-only audit log.
type AuditEvent struct {
	ID         int64
	RunID      int64 // zero: not part of a run
	At         time.Time
	Action     string // must not be empty
	LDAPID     string
	SCIMID     string
	UserName   string
	Changes    map[string]Change
	Outcome    AuditOutcome // must not be empty
	HTTPStatus int
	Error      string
	Detail     string
}

// AuditOutcome is what came of an audited event.
type AuditOutcome string

const (
	AuditOK      AuditOutcome = "ok"
	AuditFailed  AuditOutcome = "failed"
	AuditUnknown AuditOutcome = "unknown" // the write may or may not have been applied
	AuditSkipped AuditOutcome = "skipped"
	AuditTripped AuditOutcome = "tripped"
	AuditAllowed AuditOutcome = "allowed"
)

// Change is one field's value before and after a write.
type Change struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// Audit appends evs, such as skipped entries and tripped guards, in one
// transaction, chaining them in order. An event without a time gets now.
func (s *Store) Audit(ctx context.Context, evs ...AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	err := s.inTx(ctx, queryTimeout, func(tx pgx.Tx) error {
		return appendAudit(ctx, tx, evs...)
	})
	if err != nil {
		return fmt.Errorf("write %d audit event(s): %w", len(evs), err)
	}
	return nil
}

// AuditFilter narrows ListAudit. Zero fields do not filter; UserName
// matches regardless of case; Limit 0 means no limit.
type AuditFilter struct {
	Since    time.Time
	UserName string
	RunID    int64
	Limit    int
}

// ListAudit returns the events matching f, oldest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since))
	}
	if f.UserName != "" {
		where = append(where, "lower(user_name) = lower("+arg(f.UserName)+")")
	}
	if f.RunID != 0 {
		where = append(where, "run_id = "+arg(f.RunID))
	}
	q := `SELECT id, coalesce(run_id, 0), at, action, ldap_id, scim_id, user_name, changes, outcome, http_status, error, detail
		FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at, id"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEvent, error) {
		var (
			ev      AuditEvent
			changes []byte
		)
		if err := row.Scan(&ev.ID, &ev.RunID, &ev.At, &ev.Action, &ev.LDAPID, &ev.SCIMID, &ev.UserName, &changes,
			&ev.Outcome, &ev.HTTPStatus, &ev.Error, &ev.Detail); err != nil {
			return AuditEvent{}, err
		}
		ev.At = ev.At.UTC()
		if len(changes) > 0 {
			if err := json.Unmarshal(changes, &ev.Changes); err != nil {
				return AuditEvent{}, fmt.Errorf("decode changes of event %d: %w", ev.ID, err)
			}
		}
		return ev, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return evs, nil
}
