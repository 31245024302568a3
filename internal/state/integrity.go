package state

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrAuditTampered means the audit log's append-only protection is not the
// one the migrations installed: the table, a trigger or the trigger
// function is missing, disabled or replaced.
var ErrAuditTampered = errors.New("audit log protection tampered with")

// appendOnlyFunc is the trigger function that refuses changes to the audit
// log, and appendOnlyBody its body as the migrations installed it. A
// migration that replaces the function must update appendOnlyBody;
// TestAppendOnlyBodyMatchesMigrations holds them together.
const (
	appendOnlyFunc = "audit_events_append_only"
	appendOnlyBody = `BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit events are never changed or removed';
END;`
)

// appendOnlyTriggers are the triggers on audit_events and the pg_trigger
// tgtype each must have: statement-level BEFORE (2) with UPDATE (16) and
// DELETE (8), or TRUNCATE (32).
var appendOnlyTriggers = []struct {
	name   string
	tgtype int16
	fires  string
}{
	{"audit_events_no_update_delete", 2 | 8 | 16, "before UPDATE or DELETE"},
	{"audit_events_no_truncate", 2 | 32, "before TRUNCATE"},
}

// CheckAuditIntegrity checks that the audit log is still protected as the
// migrations left it: the audit_events table exists, both append-only
// triggers exist, are enabled and call audit_events_append_only, and that
// function's body is the one installed. Any difference is an error
// wrapping ErrAuditTampered that names each problem, for a run to refuse
// to start on.
func (s *Store) CheckAuditIntegrity(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	problems, err := s.auditProtectionProblems(ctx)
	if err != nil {
		return fmt.Errorf("check audit log protection: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s; the run refuses to start until the table owner restores it (see migrations/0001_init.sql) and syncd audit --verify passes",
			ErrAuditTampered, strings.Join(problems, "; "))
	}
	return nil
}

func (s *Store) auditProtectionProblems(ctx context.Context) ([]string, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('audit_events') IS NOT NULL").Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return []string{"table audit_events is missing"}, nil
	}
	var problems []string

	// The function in the table's schema, as the migrations created it.
	var (
		funcOID   uint32
		body, lng string
	)
	err := s.pool.QueryRow(ctx, `
		SELECT p.oid, p.prosrc, l.lanname
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE p.proname = $1 AND p.pronargs = 0
			AND p.pronamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'audit_events'::regclass)`,
		appendOnlyFunc).Scan(&funcOID, &body, &lng)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		problems = append(problems, "function "+appendOnlyFunc+" is missing")
	case err != nil:
		return nil, err
	case lng != "plpgsql" || normaliseSpace(body) != normaliseSpace(appendOnlyBody):
		problems = append(problems, "function "+appendOnlyFunc+" was replaced: its body differs from the one the migrations installed")
	}

	rows, err := s.pool.Query(ctx, `
		SELECT t.tgname, t.tgenabled, t.tgtype, t.tgfoid, t.tgfoid::regproc::text
		FROM pg_trigger t WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal`)
	if err != nil {
		return nil, err
	}
	type trigger struct {
		enabled string
		tgtype  int16
		fn      uint32
		fnName  string
	}
	found := map[string]trigger{}
	for rows.Next() {
		var (
			name string
			tr   trigger
		)
		if err := rows.Scan(&name, &tr.enabled, &tr.tgtype, &tr.fn, &tr.fnName); err != nil {
			rows.Close()
			return nil, err
		}
		found[name] = tr
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, want := range appendOnlyTriggers {
		tr, ok := found[want.name]
		switch {
		case !ok:
			problems = append(problems, "trigger "+want.name+" on audit_events is missing")
			continue
		case tr.enabled != "O" && tr.enabled != "A":
			// D is disabled; R fires only on replicas, so not here.
			problems = append(problems, fmt.Sprintf("trigger %s on audit_events is disabled (tgenabled %s)", want.name, tr.enabled))
		}
		if tr.tgtype != want.tgtype {
			problems = append(problems, fmt.Sprintf("trigger %s on audit_events no longer fires %s for each statement", want.name, want.fires))
		}
		if funcOID != 0 && tr.fn != funcOID {
			problems = append(problems, fmt.Sprintf("trigger %s on audit_events calls %s, not %s", want.name, tr.fnName, appendOnlyFunc))
		}
	}
	return problems, nil
}

// normaliseSpace collapses every run of white space to one space.
func normaliseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }
