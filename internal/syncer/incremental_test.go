package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// planOf renders a report's plan the way a person reads it, with what it
// holds back and the guards that tripped, without the summary line (whose
// counts differ between full and incremental reads).
func planOf(t *testing.T, rep *syncer.Report) string {
	t.Helper()
	var b strings.Builder
	if err := syncer.WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "+ ") || strings.HasPrefix(l, "~ ") || strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "  waiting") ||
			strings.HasPrefix(l, "  held") || strings.HasPrefix(l, "! guard") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// fullPlan is the plan a dry run reading the whole directory makes now.
func (e *env) fullPlan() string {
	e.t.Helper()
	s := e.syncer(true)
	s.Options.FullRead = true
	rep, err := s.Run(context.Background())
	if err != nil {
		e.t.Fatalf("full dry run: %v", err)
	}
	if rep.Incremental {
		e.t.Fatal("a --full dry run read incrementally")
	}
	return planOf(e.t, rep)
}

// With syncrepl, a run after the first reads only what changed and plans
// exactly what a full read would: a change, an addition, a deletion, a move
// out of scope; a run with nothing changed sends nothing.
func TestIncrementalSyncreplPlansAsAFullRead(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, before: func(e *env) { e.cfg.LDAP.Incremental = "syncrepl" }})
	rep, _ := e.mustRun()
	if rep.Incremental {
		t.Fatal("the first run read incrementally")
	}
	rep, n := e.mustRun()
	if !rep.Incremental || n != 0 || rep.Plan.Changes() {
		t.Fatalf("no-change run: incremental %t, %d requests", rep.Incremental, n)
	}
	us := e.plain(4)
	ou := "ou=elsewhere," + suffix
	a := ldap.NewAddRequest(ou, nil)
	a.Attribute("objectClass", []string{"organizationalUnit"})
	a.Attribute("ou", []string{"elsewhere"})
	if err := e.conn().Add(a); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name   string
		change func()
	}{
		{"a change", func() {
			e.modify(us[0].DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Changed Once"}) })
		}},
		{"an addition", func() { e.addPerson("newcomer", "newcomer@corp.example.com", "New Comer") }},
		{"a deletion", func() { e.deleteEntry(us[1].DN) }},
		{"a move out of scope", func() {
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(us[2].DN, strings.SplitN(us[2].DN, ",", 2)[0], true, ou)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		step.change()
		want := e.fullPlan()
		rep, _, err := e.run(true)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := planOf(t, rep); !rep.Incremental || got != want {
			t.Errorf("%s: incremental %t; plan\n%s\nwant (a full read's)\n%s", step.name, rep.Incremental, got, want)
		}
		e.mustRun()
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("after the changes: %d requests", n)
	}
}

// A run that fails after reading does not move the position on: the next
// run reads the same changes again and applies them.
func TestIncrementalRunThatFailsReadsAgain(t *testing.T) {
	e := newEnv(t, envOptions{users: 10, before: func(e *env) { e.cfg.LDAP.Incremental = "syncrepl" }})
	e.mustRun()
	u := e.plain(1)[0]
	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Must Land"}) })
	e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"PATCH"}, ErrorRate: 1})
	if _, _, err := e.run(false); err == nil {
		t.Fatal("the run with Omni failing succeeded")
	}
	e.omni.SetFaults(omnitest.Faults{})
	rep, _ := e.mustRun()
	if !rep.Incremental || rep.Counts.Updated != 1 || e.omniUser(e.dir.ExpectedEmail(u)).DisplayName != "Must Land" {
		t.Errorf("the change read again: incremental %t, counts %+v", rep.Incremental, rep.Counts)
	}
}

// A stale or garbage position makes a full read, never a silent empty one.
func TestIncrementalStaleCookieReadsInFull(t *testing.T) {
	e := newEnv(t, envOptions{users: 10, before: func(e *env) { e.cfg.LDAP.Incremental = "syncrepl" }})
	e.mustRun()
	e.sql("UPDATE read_cursors SET cookie = 'rid=000,csn=19700101000000.000000Z#000000#000#000000'")
	u := e.plain(1)[0]
	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"After Stale"}) })
	rep, _ := e.mustRun()
	if rep.Counts.Updated != 1 || e.omniUser(e.dir.ExpectedEmail(u)).DisplayName != "After Stale" {
		t.Errorf("after a stale cookie: incremental %t, counts %+v", rep.Incremental, rep.Counts)
	}
}

// The hostile cases hold in incremental runs too, where only the changed
// entries and the users they concern are loaded: a rehire's create waits
// while the old link holds the email and is not lost when it does, and an
// Omni account linked to an unchanged entry is never adopted.
func TestIncrementalRehireAndAdoption(t *testing.T) {
	o := envOptions{users: 12, before: func(e *env) { e.cfg.LDAP.Incremental = "syncrepl" }}
	o.omniOpts.ReuseInactiveEmail = true
	o.omniOpts.AllowReactivate = true
	e := newEnv(t, o)
	e.mustRun()
	us := e.plain(3)
	old := us[0]
	e.deleteEntry(old.DN)
	e.addPerson("rehire", old.Mail, "Rehired Person")
	rep, _ := e.mustRun()
	if !rep.Incremental || len(rep.Plan.Blocked) != 1 || rep.Counts.Deprovisioned != 1 {
		t.Fatalf("rehire, incremental: %t, blocked %+v, counts %+v", rep.Incremental, rep.Plan.Blocked, rep.Counts)
	}
	rep, _ = e.mustRun()
	if rep.Counts.Created != 1 {
		t.Fatalf("the waiting create was lost: counts %+v", rep.Counts)
	}

	// An account an admin brought back by hand stays the departed person's.
	gone := us[1]
	mail := e.dir.ExpectedEmail(gone)
	e.deleteEntry(gone.DN)
	e.mustRun()
	ids, _ := e.omniByMail(mail)
	if err := e.syncer(false).Sink.SetActive(context.Background(), ids[0], true); err != nil {
		t.Fatal(err)
	}
	e.addPerson("newcomer2", gone.Mail, "New Person")
	rep, _, err := e.run(false)
	if err == nil || rep.Counts.Adopted != 0 || !strings.Contains(fmt.Sprint(rep.Results), "linked to directory entry") {
		t.Fatalf("incremental adoption of another entry's account: %v, incremental %t, results %+v", err, rep.Incremental, rep.Results)
	}
}

// A user leaving the memberOf group that scopes the sync, and a restart of
// the directory server between runs, give the plan a full read gives.
func TestIncrementalMemberOfAndRestart(t *testing.T) {
	var group dirgen.Group
	e := newEnv(t, envOptions{users: 20, groups: 2, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		group = e.dir.Groups[0]
		e.cfg.LDAP.Users.MemberOf = []string{group.DN}
	}})
	e.mustRun()
	if rep, _ := e.mustRun(); !rep.Incremental {
		t.Fatal("the second run read in full")
	}
	var member string
	for _, m := range group.Members {
		if !strings.HasSuffix(m, ","+e.dir.GroupsDN) {
			member = m
			break
		}
	}
	e.modify(group.DN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{member}) })
	want := e.fullPlan()
	rep, _, err := e.run(true)
	if err != nil || !rep.Incremental || planOf(t, rep) != want || !strings.Contains(want, "- deactivate") {
		t.Fatalf("leaving the scoping group: %v, incremental %t; plan\n%s\nwant\n%s", err, rep.Incremental, planOf(t, rep), want)
	}
	e.mustRun()

	if err := e.ldap.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := e.plain(1)[0]
	e.modify(group.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{member}) })
	e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"After Restart"}) })
	want = e.fullPlan()
	rep, _, err = e.run(true)
	if err != nil || planOf(t, rep) != want {
		t.Errorf("after a restart: %v; plan\n%s\nwant\n%s", err, planOf(t, rep), want)
	}
}

// The source guards judge an incremental read as they would a full read of
// the same directory: the count carried forward against
// safety.minSourceFraction, and a canary the changes name as gone.
func TestIncrementalGuardsJudgeAsAFullRead(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(e *env)
		trip  string
	}{
		{"fraction", func(e *env) {}, "safety.minSourceFraction"},
		{"canary", func(e *env) {
			e.cfg.Safety.MinSourceFraction = 0.1
			e.cfg.Safety.CanaryDNs = []string{e.plain(1)[0].DN}
		}, "canary entries not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{users: 20, before: func(e *env) {
				e.cfg.LDAP.Incremental = "syncrepl"
				e.cfg.Safety.MinSourceFraction = 0.9
				e.cfg.Safety.MaxDeprovisionPercent = 100
				e.cfg.Safety.MaxDeprovisionsPerRun = 100
				tt.setup(e)
			}})
			e.mustRun()
			if rep, _ := e.mustRun(); !rep.Incremental {
				t.Fatal("the second run read in full")
			}
			// 17 of 20 left: below 90%, and the first plain user (the
			// canary) among the gone.
			for _, u := range e.plain(3) {
				e.deleteEntry(u.DN)
			}
			rep := e.tripsBothWays(tt.trip)
			if len(rep.Plan.Deprovision) != 0 || len(e.linked()) != 20 {
				t.Errorf("%d deprovisions planned", len(rep.Plan.Deprovision))
			}
		})
	}
}

// The carried count cannot hide a drop a full read would see: entries gone
// count whatever their state (here, leavers disabled and deprovisioned
// before their entries were deleted), and entries added since the last
// full read wait for the next one.
//
// With a session log slapd names each deleted entry; without one the
// refresh ends in a present phase and the count is of the entries present.
func TestIncrementalCountCannotHideADrop(t *testing.T) {
	for _, sessionlog := range []int{0, 100} {
		t.Run(fmt.Sprintf("sessionlog=%d", sessionlog), func(t *testing.T) { countCannotHideADrop(t, sessionlog) })
	}
}

func countCannotHideADrop(t *testing.T, sessionlog int) {
	e := newEnv(t, envOptions{users: 20, sessionlog: sessionlog, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MinSourceFraction = 0.9
		e.cfg.Safety.MaxDeprovisionPercent = 100
		e.cfg.Safety.MaxDeprovisionsPerRun = 100
	}})
	e.mustRun()
	us := e.plain(5)
	for _, u := range us[:3] {
		e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
	}
	if rep, _ := e.mustRun(); !rep.Incremental || rep.Counts.Deprovisioned != 3 {
		t.Fatalf("disabling 3: incremental %t, %d deprovisioned", rep.Incremental, rep.Counts.Deprovisioned)
	}
	// New entries do not make up for the ones gone.
	e.addPerson("newcomer", "newcomer@corp.example.com", "New Comer")
	e.mustRun()
	for _, u := range us {
		e.deleteEntry(u.DN)
	}
	e.tripsBothWays("safety.minSourceFraction")
}

// tripsBothWays makes a --full dry run, then a real run (incremental), of
// the directory as it is, and fails unless both trip the guard trip names
// and the real run sent no request.
func (e *env) tripsBothWays(trip string) *syncer.Report {
	e.t.Helper()
	full := e.syncer(true)
	full.Options.FullRead = true
	frep, _ := full.Run(context.Background())
	rep, n, err := e.run(false)
	if !errors.Is(err, syncer.ErrGuard) || !rep.Incremental || n != 0 {
		e.t.Fatalf("incremental run: %v, incremental %t, %d requests; want the guard, no request", err, rep.Incremental, n)
	}
	for _, r := range []*syncer.Report{rep, frep} {
		if got := strings.Join(r.GuardTrips, "; "); !strings.Contains(got, trip) {
			e.t.Errorf("incremental %t: trips %q, want %q", r.Incremental, got, trip)
		}
	}
	return rep
}
