package state

import (
	"slices"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

// A cursor round-trips; an incremental run loads only the users its
// changes name, those still missing, and the holders of its emails.
func TestCursorsAndChangedUsers(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	if _, ok, err := s.LoadCursor(ctx, "users"); ok || err != nil {
		t.Fatalf("a cursor before any: %t %v", ok, err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := Cursor{Name: "users", Mechanism: "syncrepl", Cookie: []byte("rid=000,csn=1"), FullReadAt: at, SourceCount: 42}
	if err := s.SavePosition(ctx, Position{Cursors: []Cursor{c}}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LoadCursor(ctx, "users")
	if err != nil || !ok || string(got.Cookie) != string(c.Cookie) || !got.FullReadAt.Equal(at) || got.SourceCount != 42 {
		t.Fatalf("cursor %+v %t %v", got, ok, err)
	}
	run, _ := s.StartRun(ctx, Run{Trigger: "once"})
	link := func(id, mail string, missing bool) {
		l := identity.Linked{User: identity.User{ID: id, UserName: mail, DisplayName: id, Active: true}, SCIMID: "omni-" + id,
			Status: identity.StatusActive, Origin: identity.OriginCreated}
		if missing {
			l.FirstMissingAt = at
		}
		op, err := s.BeginOp(ctx, Op{RunID: run.ID, Kind: OpCreate, LDAPID: id, UserName: mail})
		if err != nil {
			t.Fatal(err)
		}
		op.Status = OpDone
		if err := s.CompleteOp(ctx, op, &l, AuditEvent{Action: "create", Outcome: AuditOK}); err != nil {
			t.Fatal(err)
		}
	}
	link("a", "a@x.example", false)
	link("b", "b@x.example", false)
	link("c", "c@x.example", true)
	link("d", "d@x.example", false)
	changed, holders, err := s.LoadChangedUsers(ctx, []string{"a"}, []string{"b@x.example"})
	if err != nil {
		t.Fatal(err)
	}
	var ch, ho []string
	for id := range changed {
		ch = append(ch, id)
	}
	for id := range holders {
		ho = append(ho, id)
	}
	slices.Sort(ch)
	if !slices.Equal(ch, []string{"a", "c"}) || !slices.Equal(ho, []string{"b"}) {
		t.Errorf("changed %v holders %v, want [a c] and [b]", ch, ho)
	}
	if n, err := s.CountActiveUsers(ctx); n != 4 || err != nil {
		t.Errorf("active %d %v", n, err)
	}
	if ids, err := s.ActiveUserIDs(ctx); len(ids) != 4 || err != nil {
		t.Errorf("ids %v %v", ids, err)
	}
	if err := s.DropCursor(ctx, "users"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LoadCursor(ctx, "users"); ok {
		t.Error("the dropped cursor is still there")
	}
}
