package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// planAndError is planOf with the run's error.
func planAndError(t *testing.T, rep *syncer.Report, err error) string {
	t.Helper()
	var b strings.Builder
	if rep != nil {
		if werr := syncer.WriteText(&b, rep); werr != nil {
			t.Fatal(werr)
		}
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		for _, p := range []string{"+ ", "~ ", "- ", "  waiting", "  held group", "! guard"} {
			if strings.HasPrefix(l, p) {
				lines = append(lines, l)
				break
			}
		}
	}
	if err != nil {
		lines = append(lines, "error: "+err.Error())
	}
	return strings.Join(lines, "\n")
}

func (e *env) fullPlanAndError() string {
	e.t.Helper()
	s := e.syncer(true)
	s.Options.FullRead = true
	rep, err := s.Run(context.Background())
	if rep == nil || rep.Incremental {
		e.t.Fatalf("full dry run: %v", err)
	}
	return planAndError(e.t, rep, err)
}

// comparePlans fails unless a dry run reading only the changes plans what a
// --full dry run plans (error included), then applies the changes with a
// real run when apply is set.
func (e *env) comparePlans(name string, apply bool) {
	e.t.Helper()
	want := e.fullPlanAndError()
	rep, _, err := e.run(true)
	got := planAndError(e.t, rep, err)
	if !rep.Incremental || !rep.GroupsIncremental || got != want {
		e.t.Errorf("%s: incremental %t, groups %t; plan\n%s\nwant (a full read's)\n%s", name, rep.Incremental, rep.GroupsIncremental, got, want)
	}
	if apply {
		if _, _, err := e.run(false); err != nil {
			e.t.Logf("%s: real run: %v", name, err)
		}
	}
}

func directMember(t *testing.T, e *env, g dirgen.Group, not ...dirgen.Group) dirgen.User {
	t.Helper()
	for _, u := range e.plain(30) {
		if !slices.Contains(g.Members, u.DN) {
			continue
		}
		other := false
		for _, o := range not {
			if slices.ContainsFunc(e.dir.ExpectedMembers(o, true), func(dn string) bool { return strings.EqualFold(dn, u.DN) }) {
				other = true
			}
		}
		if !other {
			return u
		}
	}
	t.Fatalf("no plain direct member of %s", g.Name)
	return dirgen.User{}
}

// A user gone from the directory but never deprovisioned (deprovisioning
// off, or a protected user) keeps its memberships, as in a full read, when
// a group it was in drops it.
func TestIncrementalGroupsKeepAGoneUserNotDeprovisioned(t *testing.T) {
	for _, how := range []string{"deprovision none", "protected"} {
		t.Run(how, func(t *testing.T) {
			var victim dirgen.User
			e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, sessionlog: 100, before: func(e *env) {
				e.cfg.LDAP.Incremental = "syncrepl"
				e.cfg.Safety.MaxMemberRemovalPercent = 100
				victim = directMember(t, e, e.dir.Groups[3])
				if how == "protected" {
					e.cfg.Safety.ProtectedUsers = []string{e.dir.ExpectedEmail(victim)}
				} else {
					e.cfg.SCIM.Deprovision = "none"
				}
			}})
			e.mustRun()
			g := e.dir.Groups[3]
			e.deleteEntry(victim.DN)
			e.comparePlans("member deleted from the directory", true)
			e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{victim.DN}) })
			e.comparePlans("its DN dropped from the group", false)
		})
	}
}

// A nested group skipped for a bad member value is still known by its id,
// kept, and expanded into the groups holding it, as in a full read.
func TestIncrementalGroupsExpandASkippedNestedGroup(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, groupCycle: true, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
	}})
	e.mustRun()
	g := e.dir.Groups
	long := "cn=" + strings.Repeat("x", 1100) + "," + e.dir.PeopleDN
	e.modify(g[1].DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{long}) })
	e.comparePlans("a nested group gets an oversized member (incremental)", false)
	// A --full run takes the position with g1 not kept.
	s := e.syncer(false)
	s.Options.FullRead = true
	if _, err := s.Run(context.Background()); err != nil {
		t.Logf("full run: %v", err)
	}
	outsider := e.outsider(g[0], g[1], g[2])
	e.modify(g[2].DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{outsider.DN}) })
	e.comparePlans("the group holding it changes", false)
}

// A run that fails after a member moved keeps its position and the user
// entries with it: the run that reads the same changes again works out the
// groups listing the old DN.
func TestIncrementalGroupsAfterAFailedRunWithAMove(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
	}})
	e.mustRun()
	u := directMember(t, e, e.dir.Groups[3])
	if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(u.DN, "uid=moved-member", true, "")); err != nil {
		t.Fatal(err)
	}
	want := e.fullPlanAndError()
	t.Logf("full plan after the move:\n%s", want)
	e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"PATCH"}, ErrorRate: 1})
	if _, _, err := e.run(false); err == nil {
		t.Fatal("the run with Omni failing succeeded")
	}
	e.omni.SetFaults(omnitest.Faults{})
	e.comparePlans("the same changes read again", true)
	if got := e.fullPlanAndError(); got != "" {
		t.Errorf("after the incremental run a full read still plans\n%s", got)
	}
}

// A group given a name another group has is skipped with it and held, and
// the group count loses both, as in a full read.
func TestIncrementalGroupsHoldDuplicateNames(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	e.mustRun()
	g := e.dir.Groups
	more := "ou=more," + e.dir.GroupsDN
	e.addOU(more)
	e.addGroup("cn="+g[3].Name+","+more, e.plain(2)[1].DN)
	e.comparePlans("one group of a taken name", true)
	e.addGroup("cn="+g[4].Name+","+more, e.plain(2)[1].DN)
	e.comparePlans("a second group of a taken name", false)
}

// A disabled user that keeps its Omni account (deprovisioning off) is not
// added to a group, as in a full read.
func TestIncrementalGroupsDoNotAddADisabledUser(t *testing.T) {
	for _, class := range []dirgen.GroupClass{dirgen.GroupOfNames, dirgen.GroupOfUniqueNames} {
		t.Run(string(class), func(t *testing.T) {
			e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, groupClass: class, sessionlog: 100, before: func(e *env) {
				e.cfg.LDAP.Incremental = "syncrepl"
				e.cfg.SCIM.Deprovision = "none"
			}})
			e.mustRun()
			g := e.dir.Groups[3]
			z := e.outsider(g)
			attr := "member"
			if class == dirgen.GroupOfUniqueNames {
				attr = "uniqueMember"
			}
			e.modify(z.DN, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
			e.comparePlans("a user disabled", true)
			e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add(attr, []string{z.DN}) })
			e.comparePlans("the disabled user added to a group", false)
		})
	}
}

// A user skipped once and mapped since is added to a group, as in a full
// read.
func TestIncrementalGroupsAddAUserNoLongerSkipped(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, groupClass: dirgen.GroupOfUniqueNames, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	e.mustRun()
	g := e.dir.Groups[3]
	y := e.outsider(g)
	mail := e.dir.ExpectedEmail(y)
	e.modify(y.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"not an address"}) })
	e.comparePlans("a user's mail broken", true)
	e.modify(y.DN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{mail}) })
	e.comparePlans("the mail fixed", true)
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("uniqueMember", []string{y.DN}) })
	e.comparePlans("the user added to a group", false)
}

// Turning ldap.groups.nested off makes the next run read the groups in
// full.
func TestIncrementalGroupsReadInFullAfterNestingChanges(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, groupCycle: true, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
	}})
	e.mustRun()
	e.cfg.LDAP.Groups.Nested = false
	want := e.fullPlanAndError()
	rep, _, err := e.run(true)
	if got := planAndError(t, rep, err); rep.GroupsIncremental || got != want || !strings.Contains(got, "~ group") {
		t.Errorf("nested turned off: groups incremental %t; plan\n%s\nwant (a full read's)\n%s", rep.GroupsIncremental, got, want)
	}
}

// A disabled member in its grace period is removed from a group that drops
// it, as in a full read.
func TestIncrementalGroupsRemoveADisabledUserInGrace(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, groupClass: dirgen.GroupOfUniqueNames, sessionlog: 100, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.DeprovisionAfterRuns = 5
	}})
	e.mustRun()
	g := e.dir.Groups[3]
	z := directMember(t, e, g)
	e.modify(z.DN, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
	e.comparePlans("a member disabled", true)
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Delete("uniqueMember", []string{z.DN}) })
	e.comparePlans("the disabled member dropped from the group", false)
}

// Group DNs that dangle, appear, change and leave the scope, and a users'
// cookie that goes bad, plan as a full read does.
func TestIncrementalGroupsMovesAndRenames(t *testing.T) {
	for _, sl := range []int{0, 100} {
		t.Run(fmt.Sprint(sl), func(t *testing.T) {
			e := newEnv(t, envOptions{users: 30, groups: 6, groupCycle: true, syncGroups: true, sessionlog: sl, before: func(e *env) {
				e.cfg.LDAP.Incremental = "syncrepl"
				e.cfg.Safety.MaxMemberRemovalPercent = 100
				e.cfg.Safety.MaxGroupDeletionsPerRun = 100
			}})
			e.mustRun()
			g := e.dir.Groups
			ou := "ou=elsewhere," + suffix
			e.addOU(ou)
			dangling := "cn=later," + e.dir.GroupsDN
			e.modify(g[3].DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{dangling}) })
			e.comparePlans("a dangling group DN listed", true)
			e.addGroup(dangling, e.outsider(g[3]).DN)
			e.comparePlans("the group at that DN appears", true)
			// g2 holds g1: rename g1; g2 still lists the old DN.
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(g[1].DN, "cn=sales-renamed", true, "")); err != nil {
				t.Fatal(err)
			}
			e.comparePlans("a nested group's DN changes", true)
			// g5 holds g4: move g4 out of scope.
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(g[4].DN, strings.SplitN(g[4].DN, ",", 2)[0], true, ou)); err != nil {
				t.Fatal(err)
			}
			e.comparePlans("a nested group moved out of scope", true)
			e.comparePlans("again", true)
			// A user moves to the DN the moved group had.
			u := e.outsider(g[5])
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(u.DN, strings.SplitN(g[4].DN, ",", 2)[0], true, e.dir.GroupsDN)); err != nil {
				t.Logf("user into groups OU: %v", err)
			} else {
				e.comparePlans("a user takes the DN the group had", true)
			}
			// The users' cookie goes bad: a full read of everything.
			e.sql(`UPDATE read_cursors SET cookie = 'garbage' WHERE name = 'users'`)
			want := e.fullPlanAndError()
			rep, _, err := e.run(true)
			if got := planAndError(t, rep, err); got != want || rep.GroupsIncremental {
				t.Errorf("bad users cookie: groups incremental %t\n%s\nwant\n%s", rep.GroupsIncremental, got, want)
			}
		})
	}
}

// Groups of a taken name added and then deleted count as in a full read:
// the guard trips while they are there, and not once they are gone.
func TestIncrementalGroupsCountAsAFullRead(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, sessionlog: 100, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	e.mustRun()
	g := e.dir.Groups
	more := "ou=more," + e.dir.GroupsDN
	e.addOU(more)
	x, y := "cn="+g[3].Name+","+more, "cn="+g[4].Name+","+more
	e.addGroup(x, e.plain(2)[1].DN)
	e.addGroup(y, e.plain(2)[1].DN)
	e.comparePlans("two groups of taken names", true)
	if _, _, err := e.run(false); !errors.Is(err, syncer.ErrGuard) {
		t.Errorf("with four groups skipped for their names: %v, want the guard", err)
	}
	e.deleteEntry(x)
	e.deleteEntry(y)
	e.comparePlans("both removed", true)
	if rep, n := e.mustRun(); !rep.GroupsIncremental || n != 0 {
		t.Errorf("the run after: groups incremental %t, %d requests", rep.GroupsIncremental, n)
	}
}

func unresolvedLines(t *testing.T, rep *syncer.Report) string {
	var b strings.Builder
	syncer.WriteText(&b, rep)
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "! group ") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// A member that is a directory user syncd never linked (disabled from the
// start) resolves, as in a full read.
func TestIncrementalGroupsResolveUsersNeverLinked(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	dn := e.addPerson("never", "never@corp.example.com", "Never Linked")
	e.modify(dn, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
	e.mustRun()
	g := e.dir.Groups[3]
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{dn}) })
	s := e.syncer(true)
	s.Options.FullRead = true
	full, _ := s.Run(context.Background())
	inc, _, _ := e.run(true)
	if a, b := unresolvedLines(t, inc), unresolvedLines(t, full); a != b {
		t.Errorf("unresolved lines differ:\nincremental:\n%s\nfull:\n%s", a, b)
	}
}

// Group sync turned off for a while and on again: the user entries kept
// were not kept up meanwhile, so the groups start again with a full read.
func TestIncrementalGroupsAfterGroupSyncWasOff(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
	}})
	e.mustRun()
	bases := e.cfg.LDAP.Groups.BaseDNs
	e.cfg.LDAP.Groups.BaseDNs = nil
	g := e.dir.Groups[3]
	u := directMember(t, e, g)
	newDN := "uid=moved-member," + e.dir.PeopleDN
	if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(u.DN, "uid=moved-member", true, "")); err != nil {
		t.Fatal(err)
	}
	e.modify(g.DN, func(m *ldap.ModifyRequest) {
		m.Delete("member", []string{u.DN})
		m.Add("member", []string{newDN})
	})
	if rep, _ := e.mustRun(); !rep.Incremental || rep.GroupsEnabled {
		t.Fatalf("groups off: incremental %t, groups %t", rep.Incremental, rep.GroupsEnabled)
	}
	e.cfg.LDAP.Groups.BaseDNs = bases
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{e.outsider(g).DN}) })
	want := e.fullPlanAndError()
	rep, _, err := e.run(false)
	if got := planAndError(t, rep, err); rep.GroupsIncremental || got != want {
		t.Errorf("groups on again: groups incremental %t; plan\n%s\nwant (a full read's)\n%s", rep.GroupsIncremental, got, want)
	}
	e.comparePlans("the run after", false)
}

// A new entry that takes a linked user's email, added to a group at once,
// is not planned into it: its create is blocked, as a full read skips it.
func TestIncrementalGroupsDoNotAddABlockedUser(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, sessionlog: 100, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	e.mustRun()
	g := e.dir.Groups[3]
	holder := directMember(t, e, g, e.dir.Groups[2])
	dn := e.addPerson("impostor", e.dir.ExpectedEmail(holder), "Impostor")
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{dn}) })
	e.comparePlans("an entry taking a linked user's email added to a group", false)
	if rep, _, _ := e.run(true); rep.Groups.Changes() {
		t.Errorf("the group plan changes: %+v", rep.Groups.Update)
	}
}

// Groups skipped in the directory do not count against the users: with a
// present phase, only the users' skips are taken off the entries present.
func TestIncrementalGroupSkipsAreNotUsers(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
	}})
	e.mustRun()
	long := "cn=" + strings.Repeat("x", 1100) + "," + e.dir.PeopleDN
	for i := range 4 {
		e.addGroup(fmt.Sprintf("cn=bad%d,%s", i, e.dir.GroupsDN), e.plain(2)[1].DN, long)
	}
	e.comparePlans("four new groups skipped for an oversized member", true)
	g := e.dir.Groups[3]
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{e.outsider(g).DN}) })
	e.comparePlans("a member added to a group", true)
	if rep, _, err := e.run(false); err != nil || !rep.Incremental {
		t.Errorf("the run after: incremental %t, %d in scope, %v", rep.Incremental, rep.InScope, err)
	}
}

// A group whose create landed but whose reply was lost, and that left the
// directory before the next run, is planned as a full read plans it: the
// run that settles the create sees it gone.
func TestIncrementalGroupsSettleACreateOfAGroupGoneSince(t *testing.T) {
	for _, sl := range []int{0, 100} {
		t.Run(fmt.Sprint(sl), func(t *testing.T) {
			e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, sessionlog: sl, before: func(e *env) {
				e.cfg.LDAP.Incremental = "syncrepl"
			}})
			e.mustRun()
			dn := "cn=shortlived," + e.dir.GroupsDN
			e.addGroup(dn, e.plain(3)[2].DN)
			e.cfg.SCIM.MaxAttempts = 1
			e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"POST"}, LostReplyRate: 1})
			_, _, err := e.run(false)
			e.omni.SetFaults(omnitest.Faults{})
			if _, ok := e.omniGroup("shortlived"); !ok || err == nil {
				t.Fatalf("the create did not land, or the run did not fail (%v)", err)
			}
			e.deleteEntry(dn)
			e.comparePlans("the group gone before the run that settles it", true)
			e.comparePlans("the run after", true)
		})
	}
}
