package state

import (
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/migrations"
)

// TestCheckAuditIntegrity: a freshly migrated database passes; each way the
// table's owner can switch off the append-only protection fails, naming it.
func TestCheckAuditIntegrity(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sql    string
		saysAs string // "" : passes
	}{
		{name: "as migrated"},
		{name: "update trigger disabled", sql: "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
			saysAs: "trigger audit_events_no_update_delete on audit_events is disabled"},
		{name: "truncate trigger disabled", sql: "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate",
			saysAs: "trigger audit_events_no_truncate on audit_events is disabled"},
		{name: "all triggers disabled", sql: "ALTER TABLE audit_events DISABLE TRIGGER USER",
			saysAs: "audit_events_no_update_delete on audit_events is disabled (tgenabled D); trigger audit_events_no_truncate"},
		{name: "trigger fires on replicas only", sql: "ALTER TABLE audit_events ENABLE REPLICA TRIGGER audit_events_no_update_delete",
			saysAs: "audit_events_no_update_delete on audit_events is disabled (tgenabled R)"},
		{name: "function replaced by a no-op", sql: `CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
			LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$`,
			saysAs: "function audit_events_append_only was replaced"},
		{name: "trigger dropped", sql: "DROP TRIGGER audit_events_no_truncate ON audit_events",
			saysAs: "trigger audit_events_no_truncate on audit_events is missing"},
		{name: "trigger narrowed", sql: `DROP TRIGGER audit_events_no_update_delete ON audit_events;
			CREATE TRIGGER audit_events_no_update_delete BEFORE DELETE ON audit_events
			FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`,
			saysAs: "no longer fires before UPDATE or DELETE"},
		{name: "trigger calls another function", sql: `CREATE FUNCTION allow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$;
			DROP TRIGGER audit_events_no_update_delete ON audit_events;
			CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
			FOR EACH STATEMENT EXECUTE FUNCTION allow()`,
			saysAs: "trigger audit_events_no_update_delete on audit_events calls allow, not audit_events_append_only"},
		{name: "table dropped", sql: "DROP TABLE audit_events CASCADE", saysAs: "table audit_events is missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			if tt.sql != "" {
				if _, err := s.pool.Exec(ctx, tt.sql); err != nil {
					t.Fatal(err)
				}
			}
			err := s.CheckAuditIntegrity(ctx)
			if tt.saysAs == "" {
				if err != nil {
					t.Fatalf("CheckAuditIntegrity: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAuditTampered) {
				t.Fatalf("error = %v, want ErrAuditTampered", err)
			}
			if !strings.Contains(err.Error(), tt.saysAs) || !strings.Contains(err.Error(), "refuses to start") {
				t.Errorf("error %q does not say %q and that the run refuses to start", err, tt.saysAs)
			}
		})
	}
}

// TestAppendOnlyBodyMatchesMigrations holds appendOnlyBody to the body the
// last migration that defines the function installs.
func TestAppendOnlyBodyMatchesMigrations(t *testing.T) {
	names, err := migrationFiles(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`(?s)FUNCTION\s+audit_events_append_only\(\).*?AS \$\$(.*?)\$\$`)
	var body, from string
	for _, name := range names {
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range def.FindAllStringSubmatch(string(b), -1) {
			body, from = m[1], name
		}
	}
	if from == "" {
		t.Fatal("no migration defines audit_events_append_only")
	}
	if normaliseSpace(body) != normaliseSpace(appendOnlyBody) {
		t.Errorf("appendOnlyBody differs from the body in %s:\n%s", from, body)
	}
}
