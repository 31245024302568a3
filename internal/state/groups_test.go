package state

import (
	"slices"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// A group write is journaled and its state stored with its audit row;
// deprovisioned users' memberships are dropped without touching others.
func TestGroupState(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	run, err := s.StartRun(ctx, Run{Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := s.BeginOp(ctx, Op{RunID: run.ID, Kind: OpGroupCreate, LDAPID: "g1", UserName: "analysts"})
	if err != nil {
		t.Fatal(err)
	}
	op.Status, op.SCIMID = OpDone, "mEhXj6ZI"
	g := identity.LinkedGroup{ID: "g1", SCIMID: "mEhXj6ZI", Name: "analysts", Status: identity.GroupActive,
		Origin: identity.OriginCreated, Members: []string{"u3", "u1", "u2", "u1"}}
	if err := s.CompleteGroupOp(ctx, op, &g, AuditEvent{Action: string(OpGroupCreate), Outcome: AuditOK}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadGroups(ctx)
	if err != nil || !slices.Equal(got["g1"].Members, []string{"u1", "u2", "u3"}) || got["g1"].SCIMID != "mEhXj6ZI" {
		t.Fatalf("groups %+v, %v", got, err)
	}
	if err := s.DropMemberships(ctx, []string{"u2", "nobody"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadGroups(ctx)
	if !slices.Equal(got["g1"].Members, []string{"u1", "u3"}) {
		t.Errorf("after dropping u2: %v", got["g1"].Members)
	}
	if _, ok, err := s.LastGoodGroupCount(ctx); ok || err != nil {
		t.Errorf("a good group read before any: %t %v", ok, err)
	}
	run.Outcome, run.SourceComplete, run.GroupSourceComplete, run.GroupSourceCount = OutcomeSuccess, true, true, 7
	if err := s.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := s.LastGoodGroupCount(ctx); n != 7 || !ok || err != nil {
		t.Errorf("last good group count %d %t %v", n, ok, err)
	}
	evs, _ := s.ListAudit(ctx, AuditFilter{RunID: run.ID})
	if len(evs) != 1 || evs[0].UserName != "analysts" || evs[0].SCIMID != "mEhXj6ZI" {
		t.Errorf("audit %+v", evs)
	}
}
