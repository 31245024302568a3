package syncer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// foreign sets an attribute on an Omni user the way an Omni admin or
// another tool would.
func (e *env) foreign(id, key, value string) {
	e.t.Helper()
	if err := e.syncer(false).Sink.Patch(context.Background(), id, []sink.Change{{Attribute: key, Value: value}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) omniUser(mail string) omnitest.User {
	e.t.Helper()
	for _, u := range e.omni.Users() {
		if strings.EqualFold(u.UserName, mail) && u.Active {
			return u
		}
	}
	e.t.Fatalf("no active Omni user %s", mail)
	return omnitest.User{}
}

// syncd writes only what it owns: every kind of update is one PATCH of the
// changed fields, and an attribute someone else set in Omni survives all of
// them.
func TestForeignAttributeSurvivesEveryUpdate(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	e.mustRun()
	u := e.plain(1)[0]
	mail := e.dir.ExpectedEmail(u)
	id := e.omniUser(mail).ID
	e.foreign(id, "managerNote", "set by hand")
	survives := func(step string) {
		t.Helper()
		got, _ := e.omni.User(id)
		if got.Attributes["managerNote"] != "set by hand" {
			t.Errorf("%s: the foreign attribute is gone: %v", step, got.Attributes)
		}
	}
	steps := []struct {
		name   string
		change func(m *ldap.ModifyRequest)
		check  func(got omnitest.User) bool
	}{
		{"display name", func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Renamed Once"}) },
			func(got omnitest.User) bool { return got.DisplayName == "Renamed Once" }},
		{"mapped attribute changed", func(m *ldap.ModifyRequest) { m.Replace("departmentNumber", []string{"D-42"}) },
			func(got omnitest.User) bool { return got.Attributes["department"] == "D-42" }},
		{"mapped attribute removed", func(m *ldap.ModifyRequest) { m.Delete("departmentNumber", nil) },
			func(got omnitest.User) bool { _, ok := got.Attributes["department"]; return !ok }},
		{"mapped attribute back", func(m *ldap.ModifyRequest) { m.Add("departmentNumber", []string{"D-43"}) },
			func(got omnitest.User) bool { return got.Attributes["department"] == "D-43" }},
		{"email", func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"renamed." + u.Mail}) },
			func(got omnitest.User) bool { return strings.EqualFold(got.UserName, "renamed."+u.Mail) }},
	}
	for _, s := range steps {
		e.modify(u.DN, s.change)
		before := e.omni.Stats()
		_, n := e.mustRun()
		got, _ := e.omni.User(id)
		if n != 1 || !s.check(got) {
			t.Errorf("%s: %d requests, Omni user %+v", s.name, n, got)
		}
		if patches := e.omni.Stats().ByMethodStatus["PATCH 200"] - before.ByMethodStatus["PATCH 200"]; patches != 1 {
			t.Errorf("%s: %d PATCHes, want the one (stats %v)", s.name, patches, e.omni.Stats().ByMethodStatus)
		}
		survives(s.name)
	}
	for k, n := range e.omni.Stats().ByMethodStatus {
		if strings.HasPrefix(k, "PUT ") {
			t.Errorf("%d PUTs (%s): syncd must never PUT a user", n, k)
		}
	}
}

// An adoption brings only the owned fields in line; what else the Omni
// user has stays.
func TestAdoptionTouchesOnlyOwnedFields(t *testing.T) {
	var adoptee string
	e := newEnv(t, envOptions{users: 5, before: func(e *env) { adoptee = e.dir.ExpectedEmail(e.plain(1)[0]) }})
	pre := e.omni.AddUser(omnitest.User{UserName: adoptee, DisplayName: "Hand Made", Active: true,
		Attributes: map[string]any{"managerNote": "set by hand", "department": "wrong"}})
	rep, _ := e.mustRun()
	got, _ := e.omni.User(pre.ID)
	if rep.Counts.Adopted != 1 || got.DisplayName == "Hand Made" || got.Attributes["department"] == "wrong" || got.Attributes["managerNote"] != "set by hand" {
		t.Errorf("adopted user %+v (counts %+v)", got, rep.Counts)
	}
}

// A key dropped from ldap.omniAttributes is no longer syncd's: its last
// value stays in Omni and no run touches it.
func TestDroppedAttributeKeyIsLeftAlone(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	e.mustRun()
	e.cfg.LDAP.OmniAttributes = nil
	rep, n := e.mustRun()
	if n != 0 || len(rep.Plan.Update) != 0 {
		t.Fatalf("after dropping the key: %d requests, updates %v", n, rep.Plan.Update)
	}
	for _, u := range e.activeOmni() {
		if _, ok := u.Attributes["department"]; !ok {
			t.Errorf("%s lost its department", u.UserName)
		}
	}
}

// A protected user who leaves the directory is held, shown with the
// reason, and costs no request; others still go.
func TestProtectedUserIsNeverDeprovisioned(t *testing.T) {
	var admin, other string
	e := newEnv(t, envOptions{users: 10, before: func(e *env) {
		us := e.plain(2)
		admin, other = e.dir.ExpectedEmail(us[0]), e.dir.ExpectedEmail(us[1])
		e.cfg.Safety.ProtectedUsers = []string{strings.ToUpper(admin)}
	}})
	e.mustRun()
	us := e.plain(2)
	e.deleteEntry(us[0].DN)
	rep, _, err := e.run(true)
	if err != nil || !strings.Contains(heldReason(rep, admin), "protected") || len(rep.Plan.Deprovision) != 0 {
		t.Fatalf("dry run: %v, held %q, deprovisions %v", err, heldReason(rep, admin), deprovisioned(rep))
	}
	_, n := e.mustRun()
	if _, active := e.omniByMail(admin); !active || n != 0 {
		t.Errorf("protected user active %t after %d requests", active, n)
	}
	e.deleteEntry(us[1].DN)
	rep, n = e.mustRun()
	if d := deprovisioned(rep); len(d) != 1 || d[0] != other || n != 1 {
		t.Errorf("an unprotected departure: deprovisions %v in %d requests", d, n)
	}
	evs, _ := e.store.ListAudit(context.Background(), stateFilter())
	for _, ev := range evs {
		if strings.EqualFold(ev.UserName, admin) && (ev.Action == "deactivate" || ev.Action == "delete") {
			t.Errorf("the protected user was deprovisioned: %+v", ev)
		}
	}
}
