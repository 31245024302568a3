package state

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Op is one journaled write to Omni.
type Op struct {
	ID         int64
	RunID      int64
	Kind       OpKind
	LDAPID     string
	UserName   string
	SCIMID     string
	Status     OpStatus
	HTTPStatus int
	Error      string
	CreatedAt  time.Time
}

// OpKind is the kind of a journaled write, as operations.kind's CHECK lists
// it.
type OpKind string

const (
	OpCreate     OpKind = "create"
	OpAdopt      OpKind = "adopt"
	OpUpdate     OpKind = "update"
	OpReactivate OpKind = "reactivate"
	OpDeactivate OpKind = "deactivate"
	OpDelete     OpKind = "delete"

	OpGroupCreate OpKind = "group_create"
	OpGroupAdopt  OpKind = "group_adopt"
	OpGroupUpdate OpKind = "group_update"
	OpGroupDelete OpKind = "group_delete"
)

// OpStatus is where a journaled write stands, as operations.status's CHECK
// lists it.
type OpStatus string

const (
	OpPending OpStatus = "pending"
	OpDone    OpStatus = "done"
	OpFailed  OpStatus = "failed"
)

// BeginOp journals op as pending and returns it with its ID. It commits
// before returning, so the record survives a crash during the request.
func (s *Store) BeginOp(ctx context.Context, op Op) (Op, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	op.Status = OpPending
	err := s.pool.QueryRow(ctx, `
		INSERT INTO operations (run_id, kind, ldap_id, user_name, scim_id, status)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, created_at`,
		op.RunID, op.Kind, op.LDAPID, op.UserName, op.SCIMID, op.Status).Scan(&op.ID, &op.CreatedAt)
	if err != nil {
		return Op{}, fmt.Errorf("journal %s of %s: %w", op.Kind, op.LDAPID, err)
	}
	op.CreatedAt = op.CreatedAt.UTC()
	return op, nil
}

// CompleteOp records the answer to a journaled write in one transaction: the
// operation becomes op.Status (done or failed) with its HTTP status, Omni id
// and error; when link is not nil the user's state becomes link; and ev is
// appended to the audit log under op's run, taking the op's user, Omni id,
// HTTP status and error where ev leaves them empty. Either all of it is
// stored or none. An op that is no longer pending is refused, so an answer
// is never recorded twice.
func (s *Store) CompleteOp(ctx context.Context, op Op, link *identity.Linked, ev AuditEvent) error {
	var write func(ctx context.Context, tx pgx.Tx) error
	if link != nil {
		write = func(ctx context.Context, tx pgx.Tx) error {
			if err := upsertUser(ctx, tx, *link); err != nil {
				return fmt.Errorf("store user %s: %w", link.ID, err)
			}
			return nil
		}
	}
	return s.complete(ctx, op, write, ev)
}

// CompleteGroupOp is CompleteOp for a group write: when g is not nil the
// group's state becomes g.
func (s *Store) CompleteGroupOp(ctx context.Context, op Op, g *identity.LinkedGroup, ev AuditEvent) error {
	var write func(ctx context.Context, tx pgx.Tx) error
	if g != nil {
		write = func(ctx context.Context, tx pgx.Tx) error {
			if err := upsertGroup(ctx, tx, *g); err != nil {
				return fmt.Errorf("store group %s: %w", g.ID, err)
			}
			return nil
		}
	}
	return s.complete(ctx, op, write, ev)
}

// complete records op's answer, the state change write makes (if any) and
// ev, in one transaction.
func (s *Store) complete(ctx context.Context, op Op, write func(context.Context, pgx.Tx) error, ev AuditEvent) error {
	if op.Status != OpDone && op.Status != OpFailed {
		return fmt.Errorf("complete operation %d: status %q is not done or failed", op.ID, op.Status)
	}
	opErr := bound(op.Error)
	err := s.inTx(ctx, queryTimeout, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE operations SET status = $2, http_status = $3, scim_id = coalesce(nullif($4, ''), scim_id),
				error = $5, completed_at = now()
			WHERE id = $1 AND status = $6`,
			op.ID, op.Status, op.HTTPStatus, op.SCIMID, opErr, OpPending)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("operation is not pending")
		}
		if write != nil {
			if err := write(ctx, tx); err != nil {
				return err
			}
		}
		ev.RunID = op.RunID
		if ev.LDAPID == "" {
			ev.LDAPID = op.LDAPID
		}
		if ev.UserName == "" {
			ev.UserName = op.UserName
		}
		if ev.SCIMID == "" {
			ev.SCIMID = op.SCIMID
		}
		if ev.HTTPStatus == 0 {
			ev.HTTPStatus = op.HTTPStatus
		}
		if ev.Error == "" {
			ev.Error = opErr
		}
		if err := appendAudit(ctx, tx, ev); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete operation %d (%s of %s): %w", op.ID, op.Kind, op.LDAPID, err)
	}
	return nil
}

// PendingOps returns the operations still pending, oldest first: writes
// whose outcome a crash left unknown.
func (s *Store) PendingOps(ctx context.Context) ([]Op, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `
		SELECT id, run_id, kind, ldap_id, user_name, scim_id, status, http_status, error, created_at
		FROM operations WHERE status = $1 ORDER BY id`, OpPending)
	if err != nil {
		return nil, fmt.Errorf("load pending operations: %w", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Op, error) {
		var op Op
		err := row.Scan(&op.ID, &op.RunID, &op.Kind, &op.LDAPID, &op.UserName, &op.SCIMID, &op.Status, &op.HTTPStatus, &op.Error, &op.CreatedAt)
		op.CreatedAt = op.CreatedAt.UTC()
		return op, err
	})
	if err != nil {
		return nil, fmt.Errorf("load pending operations: %w", err)
	}
	return ops, nil
}
