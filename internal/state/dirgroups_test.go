package state

import (
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/migrations"
)

// Group entries are kept as read, found again by id, DN, member and name,
// and replaced by a full read or amended by an incremental one.
func TestGroupEntries(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	entries := []identity.GroupEntry{
		{Group: identity.Group{ID: "g1", DN: "CN=Analysts, OU=Groups,DC=corp", Name: "Analysts",
			MemberDNs: []string{"uid=A,ou=People,dc=corp", `cn=quote\"d,dc=corp`, "cn=Sub,ou=groups,dc=corp"}}},
		{Group: identity.Group{ID: "g2", DN: "cn=sub,ou=groups,dc=corp", Name: "sub", MemberDNs: []string{"uid=b,ou=people,dc=corp"}}},
		{Group: identity.Group{ID: "g3", DN: "cn=posix,ou=groups,dc=corp", Name: "ANALYSTS", MemberLogins: []string{"carol"}},
			Skip: &identity.Skipped{Reason: "bad_value", Detail: "why"}},
		{Group: identity.Group{DN: "cn=noid,dc=corp", Name: "no id"}},
	}
	save := func(full bool, entries []identity.GroupEntry, deleted []string) error {
		return s.SavePosition(ctx, Position{Groups: &Snapshot[identity.GroupEntry]{Full: full, Entries: entries, Deleted: deleted}})
	}
	if err := save(true, entries, nil); err != nil {
		t.Fatal(err)
	}
	ids := func(m map[string]identity.GroupEntry, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(slices.Sorted(maps.Keys(m)), ",")
	}
	if got := ids(s.GroupEntries(ctx, ByMember, []string{identity.NormalizeDN("UID=a, ou=people,dc=corp")})); got != "g1" {
		t.Errorf("by member: %s", got)
	}
	if got := ids(s.GroupEntries(ctx, ByDN, []string{"cn=sub,ou=groups,dc=corp"})); got != "g2" {
		t.Errorf("by DN: %s", got)
	}
	if got := ids(s.GroupEntries(ctx, ByName, []string{"analysts"})); got != "g1,g3" {
		t.Errorf("by name: %s", got)
	}
	got, err := s.GroupEntries(ctx, ByID, []string{"g1", "g3", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	wantDNs := []string{"uid=a,ou=people,dc=corp", `cn=quote\"d,dc=corp`, "cn=sub,ou=groups,dc=corp"}
	if g := got["g1"].Group; g.DN != "cn=analysts,ou=groups,dc=corp" || g.Name != "Analysts" || !slices.Equal(g.MemberDNs, wantDNs) || got["g1"].Skip != nil {
		t.Errorf("g1 kept as %+v, want members %q", got["g1"], wantDNs)
	}
	if e := got["g3"]; e.Skip == nil || e.Skip.Reason != "bad_value" || !slices.Equal(e.Group.MemberLogins, []string{"carol"}) {
		t.Errorf("g3 kept as %+v", e)
	}

	// An incremental read: g2 changes, g1 is deleted, g4 is new.
	if n, err := s.CountGroupEntries(ctx, nil, nil); n != 2 || err != nil {
		t.Errorf("counted %d groups (%v): g1 and g2 mapped, g3 skipped", n, err)
	}
	if ids, err := s.SkippedGroupEntries(ctx); err != nil || !slices.Equal(ids, []string{"g3"}) {
		t.Errorf("skipped entries %v, %v", ids, err)
	}
	// g2 renamed to g1's name: both are skipped as duplicates.
	if n, err := s.CountGroupEntries(ctx, []identity.GroupEntry{{Group: identity.Group{ID: "g2", Name: "ANALYSTS"}}}, nil); n != 0 || err != nil {
		t.Errorf("counted %d groups (%v) with a duplicate name", n, err)
	}
	if n, err := s.CountGroupEntries(ctx, []identity.GroupEntry{{Group: identity.Group{ID: "g9", Name: "new"}}}, []string{"g1"}); n != 2 || err != nil {
		t.Errorf("counted %d groups (%v) after one added, one deleted", n, err)
	}
	if err := save(false, []identity.GroupEntry{
		{Group: identity.Group{ID: "g2", DN: "cn=sub,ou=groups,dc=corp", Name: "sub"}},
		{Group: identity.Group{ID: "g4", DN: "cn=new,dc=corp", Name: "new"}},
	}, []string{"g1"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.GroupEntryIDs(ctx)
	if slices.Sort(all); err != nil || strings.Join(all, ",") != "g2,g3,g4" {
		t.Errorf("after an incremental read: %v %v", all, err)
	}
	got, _ = s.GroupEntries(ctx, ByID, []string{"g2"})
	if len(got["g2"].Group.MemberDNs) != 0 {
		t.Errorf("g2's members were not replaced: %+v", got["g2"])
	}
	// A full read replaces everything.
	if err := save(true, entries[1:2], nil); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.GroupEntryIDs(ctx); !slices.Equal(all, []string{"g2"}) {
		t.Errorf("after a full read: %v", all)
	}
}

// Linked users are found by their recorded DN, in the form group members
// are matched in, or by id, each once; a moved entry at its new DN only.
func TestLinkedAt(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	run, _ := s.StartRun(ctx, Run{Trigger: "once"})
	link(t, s, run.ID, identity.Linked{User: identity.User{ID: "u1", DN: "UID=Ann, OU=People,DC=corp", UserName: "ann@corp"}, SCIMID: "s1",
		Status: identity.StatusActive, Origin: identity.OriginCreated})
	link(t, s, run.ID, identity.Linked{User: identity.User{ID: "u2", DN: "uid=bob,ou=people,dc=corp", UserName: "bob@corp"}, SCIMID: "s2",
		Status: identity.StatusActive, Origin: identity.OriginCreated})
	users, err := s.LinkedAt(ctx, []string{identity.NormalizeDN("uid=ann,ou=people,dc=corp"), "uid=nobody,dc=corp"}, []string{"u2", "u1"})
	if err != nil || len(users) != 2 || users["u1"].UserName != "ann@corp" {
		t.Errorf("LinkedAt: %v, %v", users, err)
	}
	if err := s.SetUserDNs(ctx, map[string]string{"u1": "uid=Ann,ou=Moved,dc=corp"}); err != nil {
		t.Fatal(err)
	}
	if users, _ := s.LinkedAt(ctx, []string{"uid=ann,ou=people,dc=corp"}, nil); len(users) != 0 {
		t.Errorf("found at the old DN: %v", users)
	}
	users, _ = s.LinkedAt(ctx, []string{"uid=ann,ou=moved,dc=corp"}, nil)
	if u := users["u1"]; u.DN != "uid=Ann,ou=Moved,dc=corp" || u.UserName != "ann@corp" {
		t.Errorf("after the move: %+v", users)
	}
}

// The user entries and the cursors are saved together: a full read
// replaces the entries, an incremental one amends them.
func TestSavePosition(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	full := Position{Users: &Snapshot[DirectoryUser]{Full: true, Entries: []DirectoryUser{
		{ID: "u1", DNKey: "uid=a,dc=corp", Mapped: true, Active: true},
		{ID: "u2", DNKey: "uid=b,dc=corp", Mapped: true},
		{ID: "u3", DNKey: "uid=c,dc=corp"},
	}}, Cursors: []Cursor{{Name: "users", Mechanism: "syncrepl", Cookie: []byte("c1"), FullReadAt: at, SourceCount: 2}}}
	if err := s.SavePosition(ctx, full); err != nil {
		t.Fatal(err)
	}
	got, err := s.DirectoryUsers(ctx, []string{"uid=a,dc=corp"}, []string{"u3", "u1"})
	if err != nil || len(got) != 2 || !got["u1"].Active || got["u3"].Mapped {
		t.Errorf("user entries %+v, %v", got, err)
	}
	if err := s.SavePosition(ctx, Position{Users: &Snapshot[DirectoryUser]{Entries: []DirectoryUser{{ID: "u2", DNKey: "uid=b2,dc=corp", Mapped: true, Active: true}},
		Deleted: []string{"u1"}}, Cursors: []Cursor{{Name: "users", Mechanism: "syncrepl", Cookie: []byte("c2"), FullReadAt: at, SourceCount: 1}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DirectoryUsers(ctx, []string{"uid=b2,dc=corp", "uid=a,dc=corp"}, nil)
	if len(got) != 1 || !got["u2"].Active {
		t.Errorf("after an incremental read: %+v", got)
	}
	if c, ok, err := s.LoadCursor(ctx, "users"); !ok || err != nil || string(c.Cookie) != "c2" || c.SourceCount != 1 {
		t.Errorf("cursor %+v %t %v", c, ok, err)
	}
	// A full read again: what changed is written, what is gone removed;
	// an entry given twice is kept once, as last given.
	if err := s.SavePosition(ctx, Position{Users: &Snapshot[DirectoryUser]{Full: true, Entries: []DirectoryUser{
		{ID: "u2", DNKey: "uid=b2,dc=corp", Mapped: true, Active: true},
		{ID: "u4", DNKey: "uid=d,dc=corp"},
		{ID: "u4", DNKey: "uid=d2,dc=corp", Mapped: true},
	}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DirectoryUsers(ctx, nil, []string{"u1", "u2", "u3", "u4"})
	if len(got) != 2 || !got["u2"].Active || got["u4"].DNKey != "uid=d2,dc=corp" || !got["u4"].Mapped {
		t.Errorf("after a second full read: %+v", got)
	}
	// A position that cannot be saved whole saves nothing.
	bad := Position{Users: &Snapshot[DirectoryUser]{Entries: []DirectoryUser{{ID: "u9", DNKey: "uid=z,dc=corp"}}},
		Cursors: []Cursor{{Name: "users", Mechanism: "nonsense", Cookie: []byte("c3"), FullReadAt: at}}}
	if err := s.SavePosition(ctx, bad); err == nil {
		t.Fatal("a cursor of an unknown mechanism was saved")
	}
	if got, _ := s.DirectoryUsers(ctx, nil, []string{"u9"}); len(got) != 0 {
		t.Errorf("the entries of a failed save were kept: %+v", got)
	}
}

// Users stored before migration 0008 get their DN key when it is applied.
func TestMigrationFillsDNKeys(t *testing.T) {
	ctx := testContext(t)
	s := openStore(t, pgtest.NewDatabase(t))
	before := fstest.MapFS{}
	names, err := migrationFiles(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n >= "0008" {
			break
		}
		body, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = &fstest.MapFile{Data: body}
	}
	if _, err := s.migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO users (ldap_id, scim_id, user_name, pushed, content_hash, status, origin)
		VALUES ('u1', 's1', 'ann@corp', '{"dn": "UID=Ann, OU=People,DC=corp", "userName": "ann@corp"}', 'h', 'active', 'created')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	users, err := s.LinkedAt(ctx, []string{"uid=ann,ou=people,dc=corp"}, nil)
	if err != nil || len(users) != 1 {
		t.Errorf("the user stored before the migration is not found by DN: %v %v", users, err)
	}
}

// The groups an incremental run needs: those named and those still
// missing; the counts and links that stand in for loading every group.
func TestChangedGroups(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	run, _ := s.StartRun(ctx, Run{Trigger: "once"})
	for i, g := range []identity.LinkedGroup{
		{ID: "g1", SCIMID: "o1", Name: "one", Status: identity.GroupActive, Members: []string{"u1", "u2"}},
		{ID: "g2", SCIMID: "o2", Name: "two", Status: identity.GroupActive, Members: []string{"u1"}},
		{ID: "g3", SCIMID: "o3", Name: "three", Status: identity.GroupDeleted},
	} {
		op, err := s.BeginOp(ctx, Op{RunID: run.ID, Kind: OpGroupCreate, LDAPID: g.ID, UserName: g.Name})
		if err != nil {
			t.Fatal(err)
		}
		op.Status, op.SCIMID = OpDone, g.SCIMID
		g.Origin = identity.OriginCreated
		if err := s.CompleteGroupOp(ctx, op, &g, AuditEvent{Action: "group_create", Outcome: AuditOK}); err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
	}
	if err := s.SetGroupMissing(ctx, []MissingMark{{LDAPID: "g2", FirstMissingAt: run.StartedAt, MissingRuns: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadChangedGroups(ctx, []string{"g3"})
	if err != nil || strings.Join(slices.Sorted(maps.Keys(got)), ",") != "g2,g3" {
		t.Errorf("changed groups %v, %v", got, err)
	}
	if n, m, err := s.GroupCounts(ctx); n != 2 || m != 3 || err != nil {
		t.Errorf("counts %d groups, %d memberships, %v", n, m, err)
	}
	for _, tt := range []struct{ scim, self, want string }{{"o1", "g9", "g1"}, {"o1", "g1", ""}, {"o3", "g9", ""}} {
		if got, err := s.GroupLinkedTo(ctx, tt.scim, tt.self); got != tt.want || err != nil {
			t.Errorf("GroupLinkedTo(%s, %s) = %q, %v; want %q", tt.scim, tt.self, got, err, tt.want)
		}
	}
}
