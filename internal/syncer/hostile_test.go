package syncer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// addPerson adds an inetOrgPerson under the people OU and returns its DN.
func (e *env) addPerson(uid, mail, display string) string {
	e.t.Helper()
	dn := "uid=" + uid + "," + e.dir.PeopleDN
	a := ldap.NewAddRequest(dn, nil)
	a.Attribute("objectClass", []string{"inetOrgPerson"})
	a.Attribute("cn", []string{uid})
	a.Attribute("sn", []string{uid})
	if mail != "" {
		a.Attribute("mail", []string{mail})
	}
	if display != "" {
		a.Attribute("displayName", []string{display})
	}
	if err := e.conn().Add(a); err != nil {
		e.t.Fatalf("add %s: %v", dn, err)
	}
	return dn
}

func (e *env) deleteEntry(dn string) {
	e.t.Helper()
	if err := e.conn().Del(ldap.NewDelRequest(dn, nil)); err != nil {
		e.t.Fatalf("delete %s: %v", dn, err)
	}
}

// omniByMail returns the stand-in's user with the email, active or not.
func (e *env) omniByMail(mail string) (ids []string, active bool) {
	for _, u := range e.omni.Users() {
		if strings.EqualFold(u.UserName, mail) {
			ids = append(ids, u.ID)
			active = active || u.Active
		}
	}
	return ids, active
}

func heldReason(rep *syncer.Report, userName string) string {
	for _, op := range rep.Plan.Held {
		if op.User.UserName == userName {
			return op.Reason
		}
	}
	return ""
}

func deprovisioned(rep *syncer.Report) []string {
	var out []string
	for _, op := range rep.Plan.Deprovision {
		out = append(out, op.User.UserName)
	}
	return out
}

// One directory write by an ordinary user must not get someone else
// deactivated: an oversized displayName on one entry, and a new entry
// carrying another user's mail, leave both linked users present and
// active. The entry already linked to the shared email stays in sync; only
// the newcomer is skipped; a fixed entry simply goes on being in sync.
func TestSkippedEntryIsPresentNotAbsent(t *testing.T) {
	e := newEnv(t, envOptions{users: 20})
	e.mustRun()
	us := e.plain(2)
	victim, holder := us[0], us[1]
	victimMail, holderMail := e.dir.ExpectedEmail(victim), e.dir.ExpectedEmail(holder)

	e.modify(victim.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{strings.Repeat("x", 1<<20)}) })
	e.addPerson("mallory", holder.Mail, "Mallory")

	for _, dry := range []bool{true, false} {
		rep, _, err := e.run(dry)
		if err != nil {
			t.Fatalf("dry run %t: %v", dry, err)
		}
		if d := deprovisioned(rep); len(d) != 0 {
			t.Fatalf("dry run %t plans deprovisions %v", dry, d)
		}
		if r := heldReason(rep, victimMail); !strings.Contains(r, diff.ReasonSkipped) || !strings.Contains(r, string(identity.SkipOversized)) {
			t.Errorf("dry run %t: %s held as %q, want the skip reason", dry, victimMail, r)
		}
		var newcomer bool
		for _, sk := range rep.Skipped {
			if sk.Reason == identity.SkipDuplicateEmail {
				if !strings.HasPrefix(sk.DN, "uid=mallory,") {
					t.Errorf("dry run %t: the linked holder was skipped: %+v", dry, sk)
				}
				newcomer = true
			}
		}
		if !newcomer {
			t.Errorf("dry run %t: the newcomer with a taken email was not skipped: %+v", dry, rep.Skipped)
		}
	}
	for _, mail := range []string{victimMail, holderMail} {
		if ids, active := e.omniByMail(mail); len(ids) != 1 || !active {
			t.Errorf("%s: Omni users %v, active %t; want the one user, active", mail, ids, active)
		}
	}
	if l := e.linked()[victim.ID]; l.Status != identity.StatusActive || !l.FirstMissingAt.IsZero() || l.MissingRuns != 0 {
		t.Errorf("victim's state %+v: want active and never marked missing", l)
	}

	// The holder stays in sync while the newcomer shares its email.
	e.modify(holder.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Holder Renamed"}) })
	rep, n := e.mustRun()
	ids, _ := e.omniByMail(holderMail)
	if ou, _ := e.omni.User(ids[0]); ou.DisplayName != "Holder Renamed" || n != 1 || len(rep.Plan.Update) != 1 {
		t.Errorf("holder's rename: Omni displayName %q after %d requests", ou.DisplayName, n)
	}

	// Fixed, the victim goes on being in sync.
	e.modify(victim.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Victim Fixed"}) })
	rep, n = e.mustRun()
	ids, active := e.omniByMail(victimMail)
	if ou, _ := e.omni.User(ids[0]); ou.DisplayName != "Victim Fixed" || !active || n != 1 || len(rep.Plan.Held) != 0 {
		t.Errorf("after the fix: displayName %q, active %t, %d requests, held %v", ou.DisplayName, active, n, rep.Plan.Held)
	}
}

// An entry whose stable id cannot be read is matched to its linked user by
// DN; one that matches no link holds every "not in directory" deprovision of
// the run, because the missing user may be that very entry.
func TestSkippedWithoutIDMatchedByDN(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, shape: dirgen.ActiveDirectory})
	e.mustRun()
	us := e.plain(3)
	bad := func(dn string) {
		e.modify(dn, func(m *ldap.ModifyRequest) { m.Replace("objectGUID", []string{"abc"}) })
	}
	bad(us[0].DN)
	rep, n := e.mustRun()
	mail0 := e.dir.ExpectedEmail(us[0])
	if r := heldReason(rep, mail0); !strings.Contains(r, string(identity.SkipNoID)) || n != 0 {
		t.Fatalf("entry without a readable id: held as %q after %d requests", r, n)
	}

	// Now one more entry loses its id, and a user really leaves: which of
	// them is gone cannot be told, so nobody is deprovisioned.
	e.deleteEntry(us[2].DN)
	a := ldap.NewAddRequest("cn=Stranger,"+e.dir.PeopleDN, nil)
	a.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	a.Attribute("cn", []string{"Stranger"})
	a.Attribute("sn", []string{"Stranger"})
	a.Attribute("objectGUID", []string{"xyz"})
	a.Attribute("mail", []string{"stranger@corp.example.com"})
	if err := e.conn().Add(a); err != nil {
		t.Fatal(err)
	}
	rep, n = e.mustRun()
	mail2 := e.dir.ExpectedEmail(us[2])
	if d := deprovisioned(rep); len(d) != 0 || n != 0 {
		t.Fatalf("deprovisioned %v (%d requests) while an unmatched entry had no id", d, n)
	}
	if r := heldReason(rep, mail2); !strings.Contains(r, "without a readable id") {
		t.Errorf("%s held as %q", mail2, r)
	}

	// Once the stranger is gone, the departure goes ahead.
	e.deleteEntry("cn=Stranger," + e.dir.PeopleDN)
	rep, _ = e.mustRun()
	if d := deprovisioned(rep); len(d) != 1 || d[0] != mail2 {
		t.Errorf("deprovisions %v, want only %s", d, mail2)
	}
}

// A NUL byte in a value is skipped with a reason, and no later run fails
// over it.
func TestNULByteSkipped(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	e.mustRun()
	u := e.plain(1)[0]
	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Nul\x00Byte"}) })
	e.addPerson("nul", "nul@corp.example.com", "New\x00comer")
	for i := range 3 {
		rep, n := e.mustRun()
		reasons := map[string]identity.SkipReason{}
		for _, sk := range rep.Skipped {
			reasons[strings.SplitN(sk.DN, ",", 2)[0]] = sk.Reason
		}
		if reasons["uid=nul"] != identity.SkipNULByte || reasons[strings.SplitN(u.DN, ",", 2)[0]] != identity.SkipNULByte {
			t.Fatalf("run %d: skipped %v, want both NUL entries skipped as %s", i, reasons, identity.SkipNULByte)
		}
		if n != 0 || len(rep.Plan.Deprovision) != 0 {
			t.Fatalf("run %d: %d requests, deprovisions %v", i, n, deprovisioned(rep))
		}
	}
}

// Rehire or email reuse: a departed user's entry is deleted and a new entry
// carries the same mail. The new person never gets the departed person's
// Omni account; the create waits while the old link holds the email, and
// no run fails or wedges over it.
func TestRehireNeverAdoptsTheDepartedAccount(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		name := "email stays with the deactivated user"
		if reuse {
			name = "email free once deactivated"
		}
		t.Run(name, func(t *testing.T) {
			o := envOptions{users: 20}
			o.omniOpts.ReuseInactiveEmail = reuse
			e := newEnv(t, o)
			e.mustRun()
			old := e.plain(4)[3]
			mail := e.dir.ExpectedEmail(old)
			oldIDs, _ := e.omniByMail(mail)
			oldOmni, _ := e.omni.User(oldIDs[0])

			e.deleteEntry(old.DN)
			e.addPerson("rehire3", old.Mail, "Rehired Person")
			rep, n := e.mustRun()
			if len(rep.Plan.Create) != 0 || len(rep.Plan.Blocked) != 1 || !strings.Contains(rep.Plan.Blocked[0].Reason, "held by linked user") {
				t.Fatalf("rehire while the old link holds the email: creates %v, blocked %+v", rep.Plan.Create, rep.Plan.Blocked)
			}
			if d := deprovisioned(rep); len(d) != 1 || d[0] != mail || n != 1 {
				t.Fatalf("deprovisions %v in %d requests, want %s alone", d, n, mail)
			}
			after, _ := e.omni.User(oldOmni.ID)
			if after.DisplayName != oldOmni.DisplayName || after.Active {
				t.Errorf("the departed account became %+v", after)
			}

			rep, _, err := e.run(false)
			linked := e.linked()
			for id, l := range linked {
				if l.SCIMID == oldOmni.ID && id != old.ID {
					t.Fatalf("the departed account %s was linked to %s", oldOmni.ID, id)
				}
			}
			if reuse {
				if err != nil || rep.Counts.Created != 1 {
					t.Fatalf("rehire with the email free: %v, counts %+v", err, rep.Counts)
				}
				ids, active := e.omniByMail(mail)
				if len(ids) != 2 || !active {
					t.Errorf("Omni users with %s: %v, want the old and a new one", mail, ids)
				}
				return
			}
			// The deactivated user still holds the email in Omni: no retry
			// can fix that, so the run says what to do and later runs do
			// not send it again.
			if err == nil || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "to fix:") {
				t.Fatalf("second run: %v, results %+v", err, rep.Results)
			}
			rep, n = e.mustRun()
			if n != 0 || len(rep.Plan.Blocked) != 1 || !strings.Contains(rep.Plan.Blocked[0].Reason, "delete the deactivated Omni user") {
				t.Errorf("third run: %d requests, blocked %+v", n, rep.Plan.Blocked)
			}
			held, err := e.store.HeldOps(context.Background())
			if err != nil || len(held) != 1 {
				t.Errorf("held operations %v, %v", held, err)
			}
		})
	}
}

// An Omni user that an admin brought back by hand is still the departed
// person's: a new entry with the same email is not given it.
func TestAdoptionRefusesAnotherEntrysAccount(t *testing.T) {
	o := envOptions{users: 10}
	o.omniOpts.AllowReactivate = true
	e := newEnv(t, o)
	e.mustRun()
	old := e.plain(1)[0]
	mail := e.dir.ExpectedEmail(old)
	e.deleteEntry(old.DN)
	e.mustRun()
	ids, _ := e.omniByMail(mail)
	if err := e.syncer(false).Sink.SetActive(context.Background(), ids[0], true); err != nil {
		t.Fatal(err)
	}
	e.addPerson("newcomer", old.Mail, "New Person")
	rep, _, err := e.run(false)
	if err == nil || rep.Counts.Adopted != 0 || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "linked to directory entry") {
		t.Fatalf("adoption of another entry's account: %v, results %+v", err, rep.Results)
	}
	if ou, _ := e.omni.User(ids[0]); ou.DisplayName == "New Person" {
		t.Errorf("the account was renamed to the newcomer")
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("the refused adoption was sent again: %d requests", n)
	}
}

// A run that died leaves its row running; the next run closes it as
// crashed.
func TestCrashedRunIsClosed(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	ctx := context.Background()
	dead, err := e.store.StartRun(ctx, state.Run{Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun()
	got, err := e.store.GetRun(ctx, dead.ID)
	if err != nil || got.Outcome != state.OutcomeCrashed || got.FinishedAt.IsZero() {
		t.Fatalf("the dead run is %+v (%v), want crashed", got, err)
	}
}

// A pending operation that cannot be settled is recorded with why and set
// aside; the rest of the run goes on, and later runs are not stuck on it.
func TestUnsettleablePendingIsSetAside(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	e.mustRun()
	ctx := context.Background()
	holder := e.plain(1)[0]
	mail := e.dir.ExpectedEmail(holder)
	// A crashed run left a create pending for an entry with the holder's
	// email (the rehire of a departed user, say): settling it by userName
	// would find the holder's account.
	run, err := e.store.StartRun(ctx, state.Run{Trigger: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.BeginOp(ctx, state.Op{RunID: run.ID, Kind: "create", LDAPID: "rehire-id", UserName: mail}); err != nil {
		t.Fatal(err)
	}
	changed := e.plain(2)[1]
	e.modify(changed.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Still Synced"}) })
	for i := range 2 {
		rep, _, err := e.run(false)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if i == 0 && rep.Counts.Updated != 1 {
			t.Errorf("the run did not go on: %+v", rep.Counts)
		}
	}
	if l := e.linked(); l["rehire-id"].SCIMID != "" || l[holder.ID].UserName != mail {
		t.Errorf("settlement linked the holder's account to another entry: %+v", l["rehire-id"])
	}
	if p, err := e.store.PendingOps(ctx); err != nil || len(p) != 0 {
		t.Errorf("pending after settlement: %v, %v", p, err)
	}
	evs, _ := e.store.ListAudit(ctx, state.AuditFilter{UserName: mail})
	found := false
	for _, ev := range evs {
		found = found || (ev.Action == "recover_create" && ev.Outcome == "failed" && strings.Contains(ev.Error, "linked to directory entry"))
	}
	if !found {
		t.Errorf("no failed recover_create audit row for %s: %+v", mail, evs)
	}
}

// A write whose outcome is unknown stays pending; the next run settles it by
// lookup, as a create syncd made, never as an adoption.
func TestUnknownOutcomeStaysPending(t *testing.T) {
	e := newEnv(t, envOptions{users: 3})
	e.cfg.SCIM.MaxAttempts = 1
	e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"POST"}, LostReplyRate: 1})
	rep, _, err := e.run(false)
	if err == nil || rep.Counts.Failed == 0 {
		t.Fatalf("lost replies: %v, counts %+v", err, rep.Counts)
	}
	ctx := context.Background()
	pending, err := e.store.PendingOps(ctx)
	if err != nil || len(pending) != rep.Counts.Failed {
		t.Fatalf("pending %d (%v), want one per unknown outcome (%d)", len(pending), err, rep.Counts.Failed)
	}
	e.omni.SetFaults(omnitest.Faults{})
	rep, _ = e.mustRun()
	if rep.Counts.Adopted != 0 || rep.Counts.Created != 0 {
		t.Errorf("settled creates were sent again or adopted: %+v", rep.Counts)
	}
	for id, l := range e.linked() {
		if l.Origin != identity.OriginCreated {
			t.Errorf("%s linked as %s, want created", id, l.Origin)
		}
	}
	if len(e.activeOmni()) != len(e.expected()) {
		t.Errorf("Omni has %d users, want %d", len(e.activeOmni()), len(e.expected()))
	}
}

// A skipped entry is audited when it is first skipped and when its reason
// changes, not on every run; a fixed one is audited as resolved.
func TestSkipAuditedOncePerReason(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	dn := e.addPerson("bad", "not-an-email", "")
	count := func() (skips, resolved int) {
		evs, err := e.store.ListAudit(context.Background(), stateFilter())
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			switch ev.Action {
			case state.ActionSkip:
				skips++
			case state.ActionSkipResolved:
				resolved++
			}
		}
		return skips, resolved
	}
	e.mustRun()
	e.mustRun()
	if s, _ := count(); s != 1 {
		t.Fatalf("%d skip events after two runs, want 1", s)
	}
	e.modify(dn, func(m *ldap.ModifyRequest) { m.Delete("mail", nil) })
	e.mustRun()
	if s, _ := count(); s != 2 {
		t.Fatalf("%d skip events after the reason changed, want 2", s)
	}
	e.modify(dn, func(m *ldap.ModifyRequest) { m.Add("mail", []string{"bad@corp.example.com"}) })
	e.mustRun()
	if s, r := count(); s != 2 || r != 1 {
		t.Errorf("after the fix: %d skip, %d resolved events; want 2 and 1", s, r)
	}
}

// A run refuses to start when the audit log's append-only protection is
// gone, and sends nothing.
func TestRunRefusesATamperedAuditLog(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	e.mustRun()
	e.modify(e.plain(1)[0].DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Pending Change"}) })
	e.sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
	_, n, err := e.run(false)
	if !errors.Is(err, state.ErrAuditTampered) || n != 0 {
		t.Fatalf("run on a tampered audit log: %v after %d requests, want ErrAuditTampered and none", err, n)
	}
}
