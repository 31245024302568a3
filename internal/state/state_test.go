package state

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
	"github.com/syncd-dev/syncd/migrations"
)

func TestMain(m *testing.M) { testenv.Main(m, pgtest.StopShared) }

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a Store on url and closes it when the test ends.
func openStore(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(testContext(t), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newStore returns a migrated Store on a fresh database.
func newStore(t testing.TB) *Store {
	t.Helper()
	s := openStore(t, pgtest.NewDatabase(t))
	if _, err := s.Migrate(testContext(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// allVersions lists the embedded migrations as Migrate reports them.
func allVersions(t *testing.T) []string {
	t.Helper()
	names, err := migrationFiles(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".sql")
	}
	return names
}

func TestMigrateAppliesOnce(t *testing.T) {
	ctx := testContext(t)
	s := openStore(t, pgtest.NewDatabase(t))
	want := allVersions(t)

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("first migrate applied %v, want %v", applied, want)
	}
	applied, err = s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second migrate applied %v, want nothing", applied)
	}
	var recorded []string
	rows, _ := s.pool.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	recorded, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recorded, want) {
		t.Errorf("schema_migrations holds %v, want %v", recorded, want)
	}
}

// TestMigrateConcurrently has several processes' worth of pools migrate one
// fresh database at once: each migration must be applied exactly once and
// nobody may fail.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openStore(t, url)
	}
	ctx := testContext(t)
	results := make([][]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { results[i], errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	var all []string
	for i := range stores {
		if errs[i] != nil {
			t.Errorf("migrate %d: %v", i, errs[i])
		}
		all = append(all, results[i]...)
	}
	slices.Sort(all)
	if want := allVersions(t); !slices.Equal(all, want) {
		t.Errorf("together the migrations applied %v, want each of %v once", all, want)
	}
}

func TestMigrateStopsAtFailingMigration(t *testing.T) {
	ctx := testContext(t)
	s := openStore(t, pgtest.NewDatabase(t))
	fsys := fstest.MapFS{
		"0001_first.sql":  {Data: []byte("CREATE TABLE first (id int);")},
		"0002_broken.sql": {Data: []byte("CREATE TABLE second (id int); SELECT 1/0;")},
		"0003_later.sql":  {Data: []byte("CREATE TABLE third (id int);")},
	}
	applied, err := s.migrate(ctx, fsys)
	if err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Fatalf("migrate error = %v, want one naming 0002_broken.sql", err)
	}
	if !slices.Equal(applied, []string{"0001_first"}) {
		t.Errorf("applied %v, want [0001_first]", applied)
	}
	for table, want := range map[string]bool{"first": true, "second": false, "third": false} {
		var exists bool
		if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("table %s exists = %v, want %v", table, exists, want)
		}
	}
}

func TestMigrationFileNames(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"ordered by name", []string{"0002_b.sql", "0001_a.sql", "README.md"}, ""},
		{"unnumbered", []string{"init.sql"}, "not named NNNN_name.sql"},
		{"shared number", []string{"0001_a.sql", "0001_b.sql"}, "share number 0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys[f] = &fstest.MapFile{}
			}
			names, err := migrationFiles(fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"0001_a.sql", "0002_b.sql"}; !slices.Equal(names, want) {
				t.Errorf("names = %v, want %v", names, want)
			}
		})
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	if err := s.Audit(ctx, AuditEvent{Action: "skip", Outcome: "skipped", Detail: "kept"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_events SET detail = 'changed'",
		"DELETE FROM audit_events",
		"DELETE FROM audit_events WHERE false",
		"TRUNCATE audit_events",
	} {
		t.Run(stmt, func(t *testing.T) {
			_, err := s.pool.Exec(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
				t.Fatalf("error = %v, want the append-only refusal", err)
			}
		})
	}
	evs, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Detail != "kept" {
		t.Errorf("audit log = %+v, want the one event unchanged", evs)
	}
}

func TestTryLockIsExclusiveAcrossStores(t *testing.T) {
	ctx := testContext(t)
	url := pgtest.NewDatabase(t)
	a, b := openStore(t, url), openStore(t, url)

	releaseA, ok, err := a.TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("first TryLock = %v, %v; want the lock", ok, err)
	}
	if _, ok, err := b.TryLock(ctx); err != nil || ok {
		t.Fatalf("TryLock while held elsewhere = %v, %v; want refused", ok, err)
	}
	// The holder's other queries go on while the lock is held.
	if _, err := a.Migrate(ctx); err != nil {
		t.Fatalf("migrate while holding the lock: %v", err)
	}
	releaseA()
	releaseA() // harmless twice

	releaseB, ok, err := b.TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLock after release = %v, %v; want the lock", ok, err)
	}
	if _, ok, err := a.TryLock(ctx); err != nil || ok {
		t.Fatalf("TryLock while the other store holds it = %v, %v; want refused", ok, err)
	}
	releaseB()
}

func TestTryLockReleasesWithCancelledContext(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx, cancel := context.WithCancel(testContext(t))
	release, ok, err := a.TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	cancel() // the run was stopped
	release()
	releaseB, ok, err := b.TryLock(testContext(t))
	if err != nil || !ok {
		t.Fatalf("TryLock after release = %v, %v; want the lock", ok, err)
	}
	releaseB()
}

func TestOpenKeepsPasswordOutOfErrors(t *testing.T) {
	const password = "s3cr3t-Pa55"
	port, err := testenv.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, url string }{
		{"unreachable URL", fmt.Sprintf("postgres://syncd:%s@127.0.0.1:%d/syncd?sslmode=disable", password, port)},
		{"unreachable keyword form", fmt.Sprintf("host=127.0.0.1 port=%d user=syncd password=%s dbname=syncd sslmode=disable", port, password)},
		{"password in query", fmt.Sprintf("postgres://syncd@127.0.0.1:%d/syncd?sslmode=disable&password=%s", port, password)},
		{"malformed port", fmt.Sprintf("postgres://syncd:%s@127.0.0.1:notaport/syncd", password)},
		{"malformed escape", fmt.Sprintf("postgres://syncd:%s%%zz@127.0.0.1/syncd", password)},
		{"unknown parameter", fmt.Sprintf("postgres://syncd:%s@127.0.0.1/syncd?sslmode=bogus", password)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(testContext(t), tt.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestScrubRemovesPasswordFromWrappedErrors(t *testing.T) {
	const dbURL = "postgres://syncd:p%40ss%20word@db/syncd"
	tests := []struct {
		name string
		err  error
	}{
		{"whole URL", fmt.Errorf("parse %q: bad", dbURL)},
		{"decoded password", errors.New("auth failed for p@ss word")},
		{"escaped password", errors.New("saw p%40ss%20word")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scrub(tt.err, dbURL, "").Error()
			if strings.Contains(got, "p@ss word") || strings.Contains(got, "p%40ss%20word") {
				t.Errorf("scrubbed error still shows the password: %s", got)
			}
		})
	}
	clean := errors.New("connection refused")
	if got := scrub(clean, dbURL, ""); got != clean {
		t.Errorf("clean error replaced: %v", got)
	}
}

func TestBound(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"short", "boom"},
		{"ascii", strings.Repeat("x", 10_000)},
		{"multibyte at the cut", strings.Repeat("é", 3_000)},
		{"four-byte runes", strings.Repeat("😀", 1_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bound(tt.in)
			if len(got) > maxText {
				t.Errorf("len = %d, want at most %d", len(got), maxText)
			}
			if !utf8.ValidString(got) {
				t.Error("cut inside a rune")
			}
			if len(tt.in) <= maxText && got != tt.in {
				t.Errorf("short text changed to %q", got)
			}
		})
	}
}

// mustRun starts a run and returns its id.
func mustRun(t testing.TB, s *Store) int64 {
	t.Helper()
	r, err := s.StartRun(testContext(t), Run{Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// link stores l through the journal, as a run does after a create.
func link(t testing.TB, s *Store, runID int64, l identity.Linked) {
	t.Helper()
	ctx := testContext(t)
	op, err := s.BeginOp(ctx, Op{RunID: runID, Kind: "create", LDAPID: l.ID, UserName: l.UserName})
	if err != nil {
		t.Fatal(err)
	}
	op.Status, op.HTTPStatus, op.SCIMID = OpDone, 201, l.SCIMID
	if err := s.CompleteOp(ctx, op, &l, AuditEvent{Action: "create", Outcome: "done"}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadUsersRoundTrips(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	run := mustRun(t, s)
	missingSince := time.Date(2026, 3, 1, 8, 30, 15, 123456000, time.UTC)
	users := []identity.Linked{
		{
			User: identity.User{
				ID: "4e0b6c1a-0000-4000-8000-000000000001", DN: "uid=ada,ou=people,dc=example,dc=org",
				UserName: "ada@example.org", DisplayName: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace",
				Active: true, Attributes: map[string]string{"department": "Engines", "costCenter": "42", "empty": ""},
			},
			SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated,
		},
		{
			User: identity.User{
				ID: "4e0b6c1a-0000-4000-8000-000000000002", DN: "cn=Zoë Ørsted,ou=Users,dc=example,dc=org",
				UserName: "zoe.orsted@example.org", DisplayName: "Zoë Ørsted 🚀", GivenName: "Zoë", FamilyName: "Ørsted",
				Active: false, Attributes: map[string]string{"title": "Ingénieure « chef »", "quote": `"\ & '`},
			},
			SCIMID: "omni-2", Hash: "custom-hash", Status: identity.StatusDeprovisioned, Origin: identity.OriginAdopted,
			FirstMissingAt: missingSince, MissingRuns: 3,
		},
		{
			User:   identity.User{ID: "4e0b6c1a-0000-4000-8000-000000000003", UserName: "bare@example.org", DisplayName: "bare@example.org", Active: true},
			SCIMID: "omni-3", Status: identity.StatusActive, Origin: identity.OriginCreated,
		},
	}
	want := map[string]identity.Linked{}
	for _, u := range users {
		link(t, s, run, u)
		if u.Hash == "" {
			u.Hash = u.User.Hash()
		}
		want[u.ID] = u
	}
	got, err := s.LoadUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadUsers:\n got %#v\nwant %#v", got, want)
	}
}

func TestCompleteOpIsAtomic(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	run := mustRun(t, s)
	before := identity.Linked{
		User:   identity.User{ID: "id-1", UserName: "old@example.org", DisplayName: "Old", Active: true},
		SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated,
	}
	link(t, s, run, before)
	before.Hash = before.User.Hash()
	other := identity.Linked{
		User:   identity.User{ID: "id-2", UserName: "taken@example.org", DisplayName: "Other", Active: true},
		SCIMID: "omni-2", Status: identity.StatusActive, Origin: identity.OriginCreated,
	}
	link(t, s, run, other)
	other.Hash = other.User.Hash()

	tests := []struct {
		name    string
		link    identity.Linked
		ev      AuditEvent
		wantErr error // nil: any error
	}{
		{
			name: "audit insert fails",
			link: identity.Linked{User: identity.User{ID: "id-1", UserName: "new@example.org", DisplayName: "New", Active: true}, SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated},
			ev:   AuditEvent{Action: "update", Outcome: ""}, // violates the outcome check
		},
		{
			name:    "user name taken by another active user",
			link:    identity.Linked{User: identity.User{ID: "id-1", UserName: "TAKEN@example.org", DisplayName: "New", Active: true}, SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated},
			ev:      AuditEvent{Action: "update", Outcome: "done"},
			wantErr: ErrUserNameTaken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := s.BeginOp(ctx, Op{RunID: run, Kind: "update", LDAPID: "id-1", UserName: tt.link.UserName, SCIMID: "omni-1"})
			if err != nil {
				t.Fatal(err)
			}
			op.Status, op.HTTPStatus = OpDone, 200
			err = s.CompleteOp(ctx, op, &tt.link, tt.ev)
			if err == nil {
				t.Fatal("CompleteOp succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			users, err := s.LoadUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(users["id-1"], before) {
				t.Errorf("user changed by a failed CompleteOp: %+v", users["id-1"])
			}
			pending, err := s.PendingOps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(pending, func(p Op) bool { return p.ID == op.ID }) {
				t.Errorf("operation %d is no longer pending after a failed CompleteOp", op.ID)
			}
			evs, err := s.ListAudit(ctx, AuditFilter{RunID: run})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 { // the two links made above
				t.Errorf("audit log has %d events, want 2", len(evs))
			}
		})
	}
}

func TestCompleteOp(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	run := mustRun(t, s)
	l := identity.Linked{
		User:   identity.User{ID: "id-1", UserName: "ada@example.org", DisplayName: "Ada", Active: true},
		SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated,
	}

	op, err := s.BeginOp(ctx, Op{RunID: run, Kind: "create", LDAPID: l.ID, UserName: l.UserName})
	if err != nil {
		t.Fatal(err)
	}
	if op.ID == 0 || op.Status != OpPending || op.CreatedAt.IsZero() {
		t.Fatalf("BeginOp returned %+v", op)
	}
	op.Status, op.HTTPStatus, op.SCIMID = OpDone, 201, "omni-1"
	changes := map[string]Change{"displayName": {Before: "", After: "Ada"}}
	if err := s.CompleteOp(ctx, op, &l, AuditEvent{Action: "create", Outcome: "done", Changes: changes}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListAudit(ctx, AuditFilter{RunID: run})
	if err != nil {
		t.Fatal(err)
	}
	want := AuditEvent{ID: evs[0].ID, RunID: run, At: evs[0].At, Action: "create", LDAPID: "id-1", SCIMID: "omni-1",
		UserName: "ada@example.org", Changes: changes, Outcome: "done", HTTPStatus: 201}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], want) {
		t.Errorf("audit = %+v, want [%+v]", evs, want)
	}

	if err := s.CompleteOp(ctx, op, &l, AuditEvent{Action: "create", Outcome: "done"}); err == nil {
		t.Error("completing an operation twice succeeded")
	}

	// A failed write records the failure without touching the user.
	failOp, err := s.BeginOp(ctx, Op{RunID: run, Kind: "update", LDAPID: l.ID, UserName: l.UserName, SCIMID: "omni-1"})
	if err != nil {
		t.Fatal(err)
	}
	failOp.Status, failOp.HTTPStatus, failOp.Error = OpFailed, 400, strings.Repeat("bad value ", 1000)
	if err := s.CompleteOp(ctx, failOp, nil, AuditEvent{Action: "update", Outcome: "failed"}); err != nil {
		t.Fatal(err)
	}
	var status, stored string
	var httpStatus int
	if err := s.pool.QueryRow(ctx, "SELECT status, http_status, error FROM operations WHERE id = $1", failOp.ID).Scan(&status, &httpStatus, &stored); err != nil {
		t.Fatal(err)
	}
	if status != string(OpFailed) || httpStatus != 400 || len(stored) > maxText || !strings.HasPrefix(stored, "bad value") {
		t.Errorf("failed operation stored as %s/%d with %d bytes of error", status, httpStatus, len(stored))
	}
	evs, err = s.ListAudit(ctx, AuditFilter{RunID: run})
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Outcome != "failed" || last.HTTPStatus != 400 || last.Error != stored {
		t.Errorf("failure audited as %+v", last)
	}

	if err := s.CompleteOp(ctx, Op{ID: failOp.ID, Status: OpPending}, nil, AuditEvent{}); err == nil {
		t.Error("completing with status pending succeeded")
	}
}

func TestDeprovisionedUsersMayShareUserName(t *testing.T) {
	s := newStore(t)
	run := mustRun(t, s)
	gone := identity.Linked{User: identity.User{ID: "id-old", UserName: "ada@example.org", DisplayName: "Ada"}, SCIMID: "omni-old", Status: identity.StatusDeprovisioned, Origin: identity.OriginCreated}
	link(t, s, run, gone)
	// The same person returns as a new directory entry: Omni gives a new user.
	link(t, s, run, identity.Linked{User: identity.User{ID: "id-new", UserName: "ada@example.org", DisplayName: "Ada", Active: true}, SCIMID: "omni-new", Status: identity.StatusActive, Origin: identity.OriginCreated})
}

func TestPendingOps(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	crashed := mustRun(t, s)
	var begun []Op
	for _, id := range []string{"a", "b", "c", "d"} {
		op, err := s.BeginOp(ctx, Op{RunID: crashed, Kind: "create", LDAPID: id, UserName: id + "@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		begun = append(begun, op)
	}
	done := begun[1]
	done.Status = OpDone
	if err := s.CompleteOp(ctx, done, nil, AuditEvent{Action: "create", Outcome: "done"}); err != nil {
		t.Fatal(err)
	}
	failed := begun[2]
	failed.Status = OpFailed
	if err := s.CompleteOp(ctx, failed, nil, AuditEvent{Action: "create", Outcome: "failed"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.PendingOps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Op{begun[0], begun[3]}; !reflect.DeepEqual(got, want) {
		t.Errorf("PendingOps = %+v\nwant %+v", got, want)
	}
}

func TestSetMissing(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	run := mustRun(t, s)
	since := time.Date(2026, 5, 1, 12, 0, 0, 500000000, time.UTC)
	for _, id := range []string{"a", "b", "c"} {
		link(t, s, run, identity.Linked{
			User:   identity.User{ID: id, UserName: id + "@example.org", DisplayName: id, Active: true},
			SCIMID: "omni-" + id, Status: identity.StatusActive, Origin: identity.OriginCreated,
			FirstMissingAt: since.Add(-time.Hour), MissingRuns: 1,
		})
	}
	marks := []MissingMark{
		{LDAPID: "a", FirstMissingAt: since, MissingRuns: 2},
		{LDAPID: "b"}, // back in the directory: cleared
		{LDAPID: "not-linked", FirstMissingAt: since, MissingRuns: 9},
	}
	if err := s.SetMissing(ctx, marks); err != nil {
		t.Fatal(err)
	}
	users, err := s.LoadUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id    string
		first time.Time
		runs  int
	}{
		{"a", since, 2},
		{"b", time.Time{}, 0},
		{"c", since.Add(-time.Hour), 1}, // not marked: untouched
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			u := users[tt.id]
			if !u.FirstMissingAt.Equal(tt.first) || u.MissingRuns != tt.runs {
				t.Errorf("missing = %v, %d runs; want %v, %d", u.FirstMissingAt, u.MissingRuns, tt.first, tt.runs)
			}
		})
	}
	if _, ok := users["not-linked"]; ok {
		t.Error("a mark created a user")
	}
	if err := s.SetMissing(ctx, nil); err != nil {
		t.Errorf("no marks: %v", err)
	}
}

func TestRunsAndLastGoodRun(t *testing.T) {
	type runSpec struct {
		outcome  RunOutcome
		dryRun   bool
		complete bool
		count    int
	}
	tests := []struct {
		name      string
		runs      []runSpec
		wantCount int // -1: no good run
	}{
		{"none", nil, -1},
		{"only running", []runSpec{{outcome: OutcomeRunning, complete: true, count: 5}}, -1},
		{"latest success", []runSpec{{"success", false, true, 10}, {"success", false, true, 20}}, 20},
		{"partial counts", []runSpec{{"success", false, true, 10}, {"partial", false, true, 15}}, 15},
		{"later failures ignored", []runSpec{{"success", false, true, 10}, {"failed", false, true, 1}, {"interrupted", false, true, 2}, {"skipped", false, true, 3}}, 10},
		{"dry runs ignored", []runSpec{{"success", false, true, 10}, {"success", true, true, 99}}, 10},
		{"incomplete source ignored", []runSpec{{"partial", false, true, 10}, {"partial", false, false, 3}}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			for _, spec := range tt.runs {
				r, err := s.StartRun(ctx, Run{DryRun: spec.dryRun, Trigger: "schedule"})
				if err != nil {
					t.Fatal(err)
				}
				if spec.outcome == OutcomeRunning {
					continue
				}
				r.Outcome, r.SourceComplete, r.SourceCount = spec.outcome, spec.complete, spec.count
				if err := s.FinishRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := s.LastGoodRun(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCount < 0 {
				if ok {
					t.Errorf("LastGoodRun = %+v, want none", got)
				}
				return
			}
			if !ok || got.SourceCount != tt.wantCount {
				t.Errorf("LastGoodRun = %+v (ok %v), want the run with count %d", got, ok, tt.wantCount)
			}
		})
	}
}

func TestFinishRunStoresEverything(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	started := time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)
	r, err := s.StartRun(ctx, Run{StartedAt: started, Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 || !r.StartedAt.Equal(started) || r.Outcome != OutcomeRunning {
		t.Fatalf("StartRun = %+v", r)
	}
	r.FinishedAt = started.Add(90 * time.Second)
	r.Outcome, r.SourceComplete, r.SourceCount = "partial", true, 1234
	r.Created, r.Updated, r.Reactivated, r.Deprovisioned, r.Unchanged, r.Skipped, r.Failed = 1, 2, 3, 4, 5, 6, 7
	r.GuardTrips = []string{"source below 50% of last good run", "canary missing"}
	r.Error = strings.Repeat("ü", 5000)
	if err := s.FinishRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LastGoodRun(ctx)
	if err != nil || !ok {
		t.Fatalf("LastGoodRun = %v, %v", ok, err)
	}
	want := r
	want.Error = bound(r.Error)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored run:\n got %+v\nwant %+v", got, want)
	}
	if err := s.FinishRun(ctx, Run{ID: r.ID + 100, Outcome: "success"}); err == nil {
		t.Error("finishing an unknown run succeeded")
	}
}

func TestListAuditFilters(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	run1, run2 := mustRun(t, s), mustRun(t, s)
	t0 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	evs := []AuditEvent{
		{RunID: run1, At: t0, Action: "create", UserName: "ada@example.org", Outcome: "done"},
		{RunID: run1, At: t0.Add(time.Minute), Action: "skip", Outcome: "skipped", Detail: "no email"},
		{RunID: run2, At: t0.Add(2 * time.Minute), Action: "update", UserName: "ada@example.org", Outcome: "done"},
		{RunID: run2, At: t0.Add(3 * time.Minute), Action: "create", UserName: "bob@example.org", Outcome: "failed", HTTPStatus: 400, Error: "invalid"},
		{At: t0.Add(4 * time.Minute), Action: "guard", Outcome: "tripped"},
	}
	// Written out of order: ListAudit orders by time.
	if err := s.Audit(ctx, evs[3], evs[0], evs[4], evs[2], evs[1]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    AuditFilter
		want []int // indexes into evs
	}{
		{"all", AuditFilter{}, []int{0, 1, 2, 3, 4}},
		{"since", AuditFilter{Since: t0.Add(2 * time.Minute)}, []int{2, 3, 4}},
		{"user, any case", AuditFilter{UserName: "ADA@example.org"}, []int{0, 2}},
		{"run", AuditFilter{RunID: run2}, []int{2, 3}},
		{"limit keeps the oldest", AuditFilter{Limit: 2}, []int{0, 1}},
		{"combined", AuditFilter{Since: t0.Add(time.Minute), UserName: "ada@example.org", RunID: run2}, []int{2}},
		{"nothing", AuditFilter{UserName: "nobody@example.org"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []AuditEvent
			for _, i := range tt.want {
				want = append(want, evs[i])
			}
			for i := range got {
				got[i].ID = 0 // assigned by the database
			}
			if (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
				t.Errorf("ListAudit(%+v):\n got %+v\nwant %+v", tt.f, got, want)
			}
		})
	}
}

func TestAuditIsAllOrNothing(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	err := s.Audit(ctx,
		AuditEvent{Action: "skip", Outcome: "skipped"},
		AuditEvent{Action: "", Outcome: "skipped"}, // refused by the action check
	)
	if err == nil {
		t.Fatal("Audit with an event lacking an action succeeded")
	}
	evs, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("a failed batch left %d events", len(evs))
	}
}
