package syncer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// Two users swap emails in one run: the fewest requests the ordering
// allows (three: one to a temporary name), every user ends with its
// directory email under its original Omni id, no duplicate, no
// deactivation, and the temporary name is audited.
func TestEmailSwap(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	e.mustRun()
	us := e.plain(2)
	a, b := us[0], us[1]
	ma, mb := e.dir.ExpectedEmail(a), e.dir.ExpectedEmail(b)
	ida, idb := e.omniUser(ma).ID, e.omniUser(mb).ID
	e.modify(a.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{b.Mail}) })
	e.modify(b.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{a.Mail}) })

	rep, n := e.mustRun()
	if n != 3 || rep.Counts.Updated != 3 || rep.Counts.Failed != 0 {
		t.Fatalf("swap: %d requests, counts %+v", n, rep.Counts)
	}
	if got := e.omniUser(mb).ID; got != ida {
		t.Errorf("%s is Omni user %s, want %s (a's)", mb, got, ida)
	}
	if got := e.omniUser(ma).ID; got != idb {
		t.Errorf("%s is Omni user %s, want %s (b's)", ma, got, idb)
	}
	if len(e.activeOmni()) != len(e.expected()) {
		t.Errorf("Omni has %d active users, want %d", len(e.activeOmni()), len(e.expected()))
	}
	temp := false
	evs, _ := e.store.ListAudit(context.Background(), state.AuditFilter{RunID: rep.RunID})
	for _, ev := range evs {
		temp = temp || (ev.Action == "update" && strings.Contains(ev.Detail, diff.ReasonTempName))
	}
	if !temp {
		t.Errorf("the temporary name is not in the audit log")
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("the run after the swap sent %d requests", n)
	}
}

// A chain of renames (a takes b's address while b takes a new one) goes
// last link first: one request each, no temporary name.
func TestRenameChain(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	e.mustRun()
	us := e.plain(2)
	a, b := us[0], us[1]
	ida := e.omniUser(e.dir.ExpectedEmail(a)).ID
	e.modify(a.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{b.Mail}) })
	e.modify(b.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"moved." + b.Mail}) })
	rep, n := e.mustRun()
	if n != 2 || rep.Counts.Failed != 0 {
		t.Fatalf("chain: %d requests, counts %+v", n, rep.Counts)
	}
	if got := e.omniUser(e.dir.ExpectedEmail(b)).ID; got != ida {
		t.Errorf("b's old address is Omni user %s, want a's %s", got, ida)
	}
}

// A rename to an address an Omni user syncd does not manage holds is
// refused once, with what to do, and not sent again while the entry asks
// for it.
func TestRenameOntoAnUnmanagedUser(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	e.mustRun()
	stranger := e.omni.AddUser(omnitest.User{UserName: "taken@corp.example.com", DisplayName: "Hand Made", Active: true})
	u := e.plain(1)[0]
	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"taken@corp.example.com"}) })
	rep, _, err := e.run(false)
	if err == nil || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "to fix: another Omni user already holds") {
		t.Fatalf("rename onto an unmanaged user: %v, results %+v", err, rep.Results)
	}
	rep, n := e.mustRun()
	if n != 0 || len(rep.Plan.Blocked) != 1 {
		t.Errorf("the refused rename was sent again: %d requests, blocked %v", n, rep.Plan.Blocked)
	}
	if got, _ := e.omni.User(stranger.ID); got.DisplayName != "Hand Made" || !got.Active {
		t.Errorf("the unmanaged user was touched: %+v", got)
	}
}
