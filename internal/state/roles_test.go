package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
)

// appGrantsFile is the grant script docs/database-roles.md quotes.
const appGrantsFile = "testdata/app_role_grants.sql"

// asRole is dbURL with its user replaced by role (the test server trusts
// local connections, so no password is needed).
func asRole(t *testing.T, dbURL, role string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal("parse test database URL")
	}
	u.User = url.User(role)
	return u.String()
}

// TestAppRoleLeastPrivilege sets up the roles as docs/database-roles.md
// says: the owner migrates and runs the grant script, and the daemon works
// as the app role. The app role can append to the audit log but cannot
// change it or switch off its protection.
func TestAppRoleLeastPrivilege(t *testing.T) {
	ctx := testContext(t)
	grants, err := os.ReadFile(appGrantsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/database-roles.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), string(grants)) {
		t.Errorf("docs/database-roles.md does not quote %s as it is", appGrantsFile)
	}

	// Roles are shared by every database on the server: unique names.
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	suffix := "_" + hex.EncodeToString(rnd[:])
	owner, app := "syncd_owner"+suffix, "syncd_app"+suffix
	script := strings.NewReplacer("syncd_owner", owner, "syncd_app", app).Replace(string(grants))

	// As the superuser, step 1 of the document.
	dbURL := pgtest.NewDatabase(t)
	admin := openStore(t, dbURL)
	var dbName string
	if err := admin.pool.QueryRow(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	adminExec := func(sql string) {
		t.Helper()
		if _, err := admin.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	ownerID, appID, dbID := pgx.Identifier{owner}.Sanitize(), pgx.Identifier{app}.Sanitize(), pgx.Identifier{dbName}.Sanitize()
	adminExec("CREATE ROLE " + ownerID + " LOGIN")
	adminExec("CREATE ROLE " + appID + " LOGIN")
	t.Cleanup(func() {
		// Runs before the database is dropped and after the role's pools
		// are closed: give everything back, then drop the roles.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, sql := range []string{
			"ALTER DATABASE " + dbID + " OWNER TO CURRENT_USER",
			// One role at a time: naming both trips over their shared
			// default privileges.
			"DROP OWNED BY " + appID,
			"DROP OWNED BY " + ownerID,
			"DROP ROLE " + appID,
			"DROP ROLE " + ownerID,
		} {
			if _, err := admin.pool.Exec(ctx, sql); err != nil {
				t.Errorf("clean up roles: %s: %v", sql, err)
			}
		}
	})
	adminExec("ALTER DATABASE " + dbID + " OWNER TO " + ownerID)
	adminExec("REVOKE CREATE ON SCHEMA public FROM PUBLIC")

	// As the owner, steps 2 and 3.
	ownerStore := openStore(t, asRole(t, dbURL, owner))
	if _, err := ownerStore.Migrate(ctx); err != nil {
		t.Fatalf("migrate as the owner: %v", err)
	}
	if _, err := ownerStore.pool.Exec(ctx, script); err != nil {
		t.Fatalf("grant script as the owner: %v", err)
	}

	// As the app role, what the daemon does.
	s := openStore(t, asRole(t, dbURL, app))
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Fatalf("start-up migrate as the app role: applied %v, %v", applied, err)
	}
	if err := s.CheckAuditIntegrity(ctx); err != nil {
		t.Fatal(err)
	}
	release, ok, err := s.TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("run lock: %v %v", ok, err)
	}
	defer release()
	run, err := s.StartRun(ctx, Run{Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, AuditEvent{RunID: run.ID, Action: "skip", Outcome: "skipped"}, AuditEvent{Action: "guard", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	link(t, s, run.ID, identity.Linked{
		User:   identity.User{ID: "id-1", UserName: "ada@example.org", DisplayName: "Ada", Active: true},
		SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated,
	})
	if err := s.SetMissing(ctx, []MissingMark{{LDAPID: "id-1", FirstMissingAt: time.Now(), MissingRuns: 1}}); err != nil {
		t.Fatal(err)
	}
	run.Outcome = "success"
	if err := s.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK || v.Checked != 3 {
		t.Fatalf("verify as the app role: %+v, %v", v, err)
	}

	// Refused to the app role, triggers or not.
	for _, stmt := range []string{
		"UPDATE audit_events SET detail = 'changed'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
		"ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
		"CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$",
		"DROP TABLE audit_events CASCADE",
		"DELETE FROM schema_migrations",
		"CREATE TABLE shadow (id int)",
	} {
		_, err := s.pool.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as the app role: %v, want insufficient privilege", stmt, err)
		}
	}

	// Exactly the privileges the document lists, and on a table a later
	// migration creates, the state tables' ones.
	if _, err := ownerStore.pool.Exec(ctx, "CREATE TABLE later (id bigserial PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"users": "SELECT,INSERT,UPDATE,DELETE", "operations": "SELECT,INSERT,UPDATE,DELETE",
		"sync_runs": "SELECT,INSERT,UPDATE,DELETE", "later": "SELECT,INSERT,UPDATE,DELETE", "directory_groups": "SELECT,INSERT,UPDATE,DELETE", "directory_users": "SELECT,INSERT,UPDATE,DELETE",
		"schema_migrations": "SELECT", "audit_events": "SELECT,INSERT",
		"held_operations": "SELECT,INSERT,UPDATE,DELETE", "skipped_entries": "SELECT,INSERT,UPDATE,DELETE",
		"groups": "SELECT,INSERT,UPDATE,DELETE", "read_cursors": "SELECT,INSERT,UPDATE,DELETE",
	}
	rows, err := admin.pool.Query(ctx, `
		SELECT c.relname, c.relowner = r.oid,
			array_to_string(array_remove(ARRAY[
				CASE WHEN has_table_privilege(r.oid, c.oid, 'SELECT') THEN 'SELECT' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'INSERT') THEN 'INSERT' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'UPDATE') THEN 'UPDATE' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'DELETE') THEN 'DELETE' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'REFERENCES') THEN 'REFERENCES' END,
				CASE WHEN has_table_privilege(r.oid, c.oid, 'TRIGGER') THEN 'TRIGGER' END], NULL), ','),
			(SELECT bool_and(has_sequence_privilege(r.oid, q.oid, 'USAGE'))
				FROM pg_depend d JOIN pg_class q ON q.oid = d.objid AND q.relkind = 'S'
				WHERE d.refobjid = c.oid AND d.deptype IN ('a', 'i'))
		FROM pg_class c, pg_roles r
		WHERE r.rolname = $1 AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace`, app)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var (
			table, privs string
			owns         bool
			seqUsage     *bool
		)
		if err := rows.Scan(&table, &owns, &privs, &seqUsage); err != nil {
			t.Fatal(err)
		}
		got[table] = privs
		if owns {
			t.Errorf("the app role owns %s", table)
		}
		if seqUsage != nil && !*seqUsage {
			t.Errorf("the app role may not use the id sequence of %s", table)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for table, privs := range want {
		if got[table] != privs {
			t.Errorf("app role on %s: %q, want %q", table, got[table], privs)
		}
	}
	if len(got) != len(want) {
		t.Errorf("app role's tables: %v, want %v", got, want)
	}
}
