package syncer_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// The first run creates every active, mappable directory user; the second
// finds nothing to do and sends no request at all.
func TestInitialSyncThenNothing(t *testing.T) {
	for _, shape := range []dirgen.Shape{dirgen.OpenLDAP, dirgen.ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			e := newEnv(t, envOptions{shape: shape, users: 60, awkward: true})
			rep, n := e.mustRun()
			want := e.expected()
			got := e.activeOmni()
			if strings.Join(keys(got), ",") != strings.Join(keys(want), ",") {
				t.Fatalf("Omni users:\n got %v\nwant %v", keys(got), keys(want))
			}
			for mail, du := range want {
				if ou := got[mail]; du.DisplayName != "" && ou.DisplayName != du.DisplayName {
					t.Errorf("%s: displayName %q, want %q", mail, ou.DisplayName, du.DisplayName)
				}
			}
			if n != len(want) {
				t.Errorf("initial sync sent %d requests, want one per user (%d)", n, len(want))
			}
			if rep.Counts.Created != len(want) || len(rep.Skipped) == 0 {
				t.Errorf("counts %+v, skipped %d", rep.Counts, len(rep.Skipped))
			}
			linked := e.linked()
			for _, du := range e.dir.Users {
				if mail := e.dir.ExpectedEmail(du); mail != "" && !du.Disabled {
					l, ok := linked[du.ID]
					if !ok || l.SCIMID != got[mail].ID || l.Status != identity.StatusActive {
						t.Errorf("%s (%s) not linked to Omni user %s: %+v", mail, du.ID, got[mail].ID, l)
					}
				}
			}

			t.Logf("initial sync of %d users (%d entries): %d SCIM requests", len(want), rep.Entries, n)
			rep, n = e.mustRun()
			t.Logf("second run: %d SCIM requests", n)
			if n != 0 || rep.Plan.Changes() {
				t.Errorf("second run sent %d requests, plan %+v", n, rep.Plan)
			}
		})
	}
}

func TestDirectoryChanges(t *testing.T) {
	type check func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, requests int)
	tests := []struct {
		name   string
		opts   envOptions
		change func(t *testing.T, e *env, u dirgen.User)
		check  check
	}{
		{
			name: "attribute change updates the user",
			change: func(t *testing.T, e *env, u dirgen.User) {
				e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("departmentNumber", []string{"Dept-Changed"}) })
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				after, _ := e.omni.User(before.ID)
				if after.Attributes["department"] != "Dept-Changed" || n != 1 || len(rep.Plan.Update) != 1 {
					t.Errorf("department %v after %d requests, plan updates %d", after.Attributes["department"], n, len(rep.Plan.Update))
				}
			},
		},
		{
			name: "display name change updates the user",
			change: func(t *testing.T, e *env, u dirgen.User) {
				e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Zoë Renamed"}) })
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				after, _ := e.omni.User(before.ID)
				if after.DisplayName != "Zoë Renamed" || n != 1 {
					t.Errorf("displayName %q after %d requests", after.DisplayName, n)
				}
			},
		},
		{
			name: "email change is an update of the same Omni user",
			change: func(t *testing.T, e *env, u dirgen.User) {
				e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"New.Address@Corp.Example.com"}) })
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				after, _ := e.omni.User(before.ID)
				if after.UserName != "new.address@corp.example.com" || !after.Active || n != 1 {
					t.Errorf("Omni user %s after %d requests: %+v", before.ID, n, after)
				}
				if len(e.omni.Users()) != len(e.expected()) {
					t.Errorf("Omni has %d users, want %d: an email change must not create", len(e.omni.Users()), len(e.expected()))
				}
			},
		},
		{
			name: "move between OUs inside scope changes nothing",
			change: func(t *testing.T, e *env, u dirgen.User) {
				c := e.conn()
				ou := "ou=contractors," + e.dir.PeopleDN
				add := ldap.NewAddRequest(ou, nil)
				add.Attribute("objectClass", []string{"organizationalUnit"})
				add.Attribute("ou", []string{"contractors"})
				if err := c.Add(add); err != nil {
					t.Fatal(err)
				}
				rdn := strings.SplitN(u.DN, ",", 2)[0]
				if err := c.ModifyDN(ldap.NewModifyDNRequest(u.DN, rdn, true, ou)); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				if n != 0 || rep.Plan.Changes() {
					t.Errorf("move sent %d requests", n)
				}
			},
		},
		{
			name: "entry deleted deactivates the user",
			change: func(t *testing.T, e *env, u dirgen.User) {
				if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				after, _ := e.omni.User(before.ID)
				if after.Active || n != 1 || rep.Counts.Deprovisioned != 1 {
					t.Errorf("after delete: active=%v, %d requests, counts %+v", after.Active, n, rep.Counts)
				}
				if l := e.linked()[u.ID]; l.Status != identity.StatusDeprovisioned {
					t.Errorf("state says %s", l.Status)
				}
			},
		},
		{
			name: "leaving the scoped group deactivates the user",
			opts: envOptions{groups: 2, before: func(e *env) {
				e.cfg.LDAP.Users.MemberOf = []string{e.dir.Groups[0].DN, e.dir.Groups[1].DN}
			}},
			change: func(t *testing.T, e *env, u dirgen.User) {
				for _, g := range u.Groups {
					e.modify(g, func(m *ldap.ModifyRequest) { m.Delete("member", []string{u.DN}) })
				}
			},
			check: func(t *testing.T, e *env, u dirgen.User, before omnitest.User, rep *syncer.Report, n int) {
				after, _ := e.omni.User(before.ID)
				if after.Active || rep.Counts.Deprovisioned != 1 {
					t.Errorf("after leaving the group: active=%v, counts %+v", after.Active, rep.Counts)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			e.mustRun()
			var u dirgen.User
			if len(e.cfg.LDAP.Users.MemberOf) > 0 {
				u = inGroups(t, e)
			} else {
				u = e.plain(1)[0]
			}
			before := e.activeOmni()[e.dir.ExpectedEmail(u)]
			if before.ID == "" {
				t.Fatalf("%s not in Omni after the first run", u.DN)
			}
			tt.change(t, e, u)
			rep, n := e.mustRun()
			t.Logf("SCIM requests for the change: %d (%v)", n, e.omni.Stats().ByMethodStatus)
			tt.check(t, e, u, before, rep, n)
			if _, n := e.mustRun(); n != 0 {
				t.Errorf("the run after the change sent %d requests, want 0", n)
			}
		})
	}
}

// inGroups returns a plain user that is a direct member of a scoped group.
func inGroups(t *testing.T, e *env) dirgen.User {
	t.Helper()
	scoped := map[string]bool{}
	for _, g := range e.cfg.LDAP.Users.MemberOf {
		scoped[g] = true
	}
	for _, u := range e.dir.Users {
		if u.Awkward != "" || u.Disabled || u.Mail == "" || len(u.Groups) == 0 {
			continue
		}
		all := true
		for _, g := range u.Groups {
			all = all && scoped[g]
		}
		if all {
			return u
		}
	}
	t.Fatal("no plain user in the scoped groups")
	return dirgen.User{}
}

// A disabled account is deactivated; enabled again, it is reactivated — and
// since Omni does not bring deactivated users back, created anew.
func TestDisabledThenReenabled(t *testing.T) {
	e := newEnv(t, envOptions{omniOpts: omnitest.Options{ReuseInactiveEmail: true}})
	e.mustRun()
	u := e.plain(1)[0]
	mail := e.dir.ExpectedEmail(u)
	first := e.activeOmni()[mail]

	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
	rep, n := e.mustRun()
	t.Logf("disable: %d SCIM requests", n)
	if got, _ := e.omni.User(first.ID); got.Active || rep.Counts.Deprovisioned != 1 || rep.Plan.Deprovision[0].Reason != "disabled in directory" {
		t.Fatalf("disabled: Omni active=%v, counts %+v", got.Active, rep.Counts)
	}

	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Delete("pwdAccountLockedTime", nil) })
	rep, n = e.mustRun()
	t.Logf("re-enable: %d SCIM requests (reactivation refused, created anew)", n)
	now := e.activeOmni()[mail]
	if rep.Counts.Reactivated != 1 || now.ID == "" || now.ID == first.ID {
		t.Fatalf("re-enabled: counts %+v, active Omni user %q (old %q)", rep.Counts, now.ID, first.ID)
	}
	if l := e.linked()[u.ID]; l.SCIMID != now.ID || l.Status != identity.StatusActive {
		t.Errorf("state links %s (%s), want %s", l.SCIMID, l.Status, now.ID)
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("next run sent %d requests", n)
	}
}

// An Omni user that already has a directory user's email is adopted, not
// duplicated; an Omni user syncd never linked is never touched.
func TestAdoptAndLeaveUnlinked(t *testing.T) {
	var adoptee dirgen.User
	e := newEnv(t, envOptions{before: func(e *env) {
		adoptee = e.plain(1)[0]
	}})
	pre := e.omni.AddUser(omnitest.User{UserName: strings.ToUpper(e.dir.ExpectedEmail(adoptee)), DisplayName: "Hand Made", Active: true})
	admin := e.omni.AddUser(omnitest.User{UserName: "omni.admin@elsewhere.example", DisplayName: "Omni Admin", Active: true})

	rep, n := e.mustRun()
	t.Logf("initial sync with one pre-existing Omni user: %d SCIM requests for %d users (%v)", n, rep.InScope, e.omni.Stats().ByMethodStatus)
	if rep.Counts.Adopted != 1 {
		t.Errorf("counts %+v, want one adoption", rep.Counts)
	}
	got := e.activeOmni()
	if u := got[e.dir.ExpectedEmail(adoptee)]; u.ID != pre.ID || u.DisplayName != adoptee.DisplayName {
		t.Errorf("adopted user = %+v, want id %s with the directory's displayName %q", u, pre.ID, adoptee.DisplayName)
	}
	if l := e.linked()[adoptee.ID]; l.SCIMID != pre.ID || l.Origin != identity.OriginAdopted {
		t.Errorf("link = %+v", l)
	}

	// The adoptee leaves the directory: syncd deprovisions it, as any user
	// it manages, and still leaves the unlinked admin alone.
	if err := e.conn().Del(ldap.NewDelRequest(adoptee.DN, nil)); err != nil {
		t.Fatal(err)
	}
	_, n = e.mustRun()
	t.Logf("adopted user leaves: %d SCIM requests", n)
	if a, _ := e.omni.User(admin.ID); !a.Active || !a.Modified.Equal(admin.Modified) {
		t.Errorf("unlinked admin was touched: %+v", a)
	}
	if a, _ := e.omni.User(pre.ID); a.Active {
		t.Errorf("adopted user still active after leaving the directory")
	}
}

var scimIDs = regexp.MustCompile(`"scimId": "[0-9a-f-]{36}"`)

// A dry run prints the plan and changes nothing, with or without a database.
func TestDryRunGolden(t *testing.T) {
	t.Run("with database", func(t *testing.T) {
		e := newEnv(t, envOptions{users: 12, awkward: true})
		e.mustRun()
		us := e.plain(3)
		e.modify(us[0].DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Robert Renamed"}) })
		e.modify(us[1].DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"moved@corp.example.com"}) })
		if err := e.conn().Del(ldap.NewDelRequest(us[2].DN, nil)); err != nil {
			t.Fatal(err)
		}
		linkedBefore := e.linked()
		rep, n, err := e.run(true)
		if err != nil || n != 0 {
			t.Fatalf("dry run: %v, %d requests", err, n)
		}
		var text, js bytes.Buffer
		syncer.WriteText(&text, rep)
		syncer.WriteJSON(&js, rep)
		golden(t, "dryrun-db.txt", text.Bytes())
		golden(t, "dryrun-db.json", scimIDs.ReplaceAll(js.Bytes(), []byte(`"scimId": "SCIM-ID"`)))
		if after := e.linked(); len(after) != len(linkedBefore) || after[us[2].ID].Status != identity.StatusActive {
			t.Errorf("dry run changed state")
		}
	})
	t.Run("without database", func(t *testing.T) {
		e := newEnv(t, envOptions{users: 12, awkward: true, noStore: true})
		us := e.plain(2)
		e.omni.AddUser(omnitest.User{UserName: e.dir.ExpectedEmail(us[0]), DisplayName: us[0].DisplayName, Active: true,
			Attributes: map[string]any{"department": us[0].Department}})
		e.omni.AddUser(omnitest.User{UserName: e.dir.ExpectedEmail(us[1]), DisplayName: "Old Name", Active: true})
		e.omni.AddUser(omnitest.User{UserName: "stranger@elsewhere.example", DisplayName: "Stranger", Active: true})
		writes := e.omni.Stats().Writes
		rep, _, err := e.run(true)
		if err != nil {
			t.Fatal(err)
		}
		if e.omni.Stats().Writes != writes {
			t.Errorf("dry run wrote to Omni")
		}
		var text, js bytes.Buffer
		syncer.WriteText(&text, rep)
		syncer.WriteJSON(&js, rep)
		golden(t, "dryrun-nodb.txt", text.Bytes())
		golden(t, "dryrun-nodb.json", scimIDs.ReplaceAll(js.Bytes(), []byte(`"scimId": "SCIM-ID"`)))
	})
}

// Each reason an entry cannot be mapped is reported, and the run goes on.
func TestSkippedReasons(t *testing.T) {
	e := newEnv(t, envOptions{users: 10, awkward: true})
	e.addPerson("bad-mail", "not-an-email", "")
	e.addPerson("huge", "huge@corp.example.com", strings.Repeat("x", 4000))
	rep, _, err := e.run(false)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[identity.SkipReason]bool{}
	for _, sk := range rep.Skipped {
		reasons[sk.Reason] = true
		if sk.DN == "" {
			t.Errorf("skipped entry without DN: %+v", sk)
		}
	}
	for _, r := range []identity.SkipReason{identity.SkipNoEmail, identity.SkipInvalidEmail, identity.SkipDuplicateEmail, identity.SkipOversized} {
		if !reasons[r] {
			t.Errorf("no entry skipped for %s; got %v", r, rep.Skipped)
		}
	}
	if rep.Counts.Created == 0 {
		t.Errorf("the run did not go on after skipping")
	}
	evs, err := e.store.ListAudit(context.Background(), stateFilter())
	if err != nil {
		t.Fatal(err)
	}
	skips := 0
	for _, ev := range evs {
		if ev.Action == "skip" {
			skips++
		}
	}
	if skips != len(rep.Skipped) {
		t.Errorf("%d skip audit events, want %d", skips, len(rep.Skipped))
	}
}
