package state

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Audit actions for skipped directory entries.
const (
	ActionSkip         = "skip"
	ActionSkipResolved = "skip_resolved"
)

// RecordSkips audits the directory entries a run skipped, but only those
// skipped for the first time or for another reason than before, so that one
// bad entry (or ten thousand entries sharing one email) costs one audit row,
// not one per run. When complete is true (the directory read was whole), an
// entry skipped before and not now is audited as resolved and forgotten. It
// returns how many skip events it wrote.
func (s *Store) RecordSkips(ctx context.Context, runID int64, at time.Time, skips []identity.Skipped, complete bool) (int, error) {
	known, err := s.loadSkips(ctx)
	if err != nil {
		return 0, err
	}
	var (
		evs     []AuditEvent
		changed []identity.Skipped
		now     = make(map[string]bool, len(skips))
	)
	for _, sk := range skips {
		key := strings.ToLower(sk.DN)
		if now[key] {
			continue
		}
		now[key] = true
		if prev, ok := known[key]; ok && prev.Reason == sk.Reason {
			continue
		}
		changed = append(changed, sk)
		evs = append(evs, AuditEvent{RunID: runID, At: at, Action: ActionSkip, LDAPID: sk.ID, Outcome: AuditSkipped,
			Detail: fmt.Sprintf("%s: %s: %s", sk.DN, sk.Reason, sk.Detail)})
	}
	skipped := len(evs)
	var resolved []string
	if complete {
		for key, prev := range known {
			if !now[key] {
				resolved = append(resolved, key)
				evs = append(evs, AuditEvent{RunID: runID, At: at, Action: ActionSkipResolved, LDAPID: prev.ID, Outcome: AuditOK,
					Detail: fmt.Sprintf("%s: no longer skipped (was %s)", prev.DN, prev.Reason)})
			}
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	if err := s.Audit(ctx, evs...); err != nil {
		return 0, err
	}
	err = s.inTx(ctx, bulkTimeout, func(tx pgx.Tx) error {
		if len(resolved) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM skipped_entries WHERE dn_key = ANY($1)`, resolved); err != nil {
				return err
			}
		}
		if len(changed) == 0 {
			return nil
		}
		keys := make([]string, len(changed))
		dns := make([]string, len(changed))
		ids := make([]string, len(changed))
		reasons := make([]string, len(changed))
		details := make([]string, len(changed))
		for i, sk := range changed {
			keys[i], dns[i], ids[i], reasons[i], details[i] = strings.ToLower(sk.DN), sk.DN, sk.ID, string(sk.Reason), bound(sk.Detail)
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO skipped_entries (dn_key, dn, ldap_id, reason, detail, first_run_id)
			SELECT k, d, i, r, x, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, d, i, r, x)
			ON CONFLICT (dn_key) DO UPDATE SET dn = excluded.dn, ldap_id = excluded.ldap_id, reason = excluded.reason,
				detail = excluded.detail, first_run_id = excluded.first_run_id, first_seen_at = now()`,
			keys, dns, ids, reasons, details, nullID(runID))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("record skipped entries: %w", err)
	}
	return skipped, nil
}

type skipRow struct {
	DN, ID string
	Reason identity.SkipReason
}

func (s *Store) loadSkips(ctx context.Context) (map[string]skipRow, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT dn_key, dn, ldap_id, reason FROM skipped_entries`)
	if err != nil {
		return nil, fmt.Errorf("load skipped entries: %w", err)
	}
	defer rows.Close()
	m := make(map[string]skipRow)
	for rows.Next() {
		var (
			key string
			r   skipRow
		)
		if err := rows.Scan(&key, &r.DN, &r.ID, &r.Reason); err != nil {
			return nil, fmt.Errorf("load skipped entries: %w", err)
		}
		m[key] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load skipped entries: %w", err)
	}
	return m, nil
}

// SkippedAmong returns which of ids are recorded as skipped (in the
// directory, but not mappable): an incremental run that learns the whole
// set of entries in scope (a syncrepl present phase) takes them off it to
// count the users. Skipped entries of another scope (groups) are not among
// its ids.
func (s *Store) SkippedAmong(ctx context.Context, ids []string) ([]string, error) {
	return s.queryIDs(ctx, "count skipped entries", `SELECT DISTINCT ldap_id FROM skipped_entries WHERE ldap_id = ANY($1)`, ids)
}
