package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// groupStep is one change to the directory that an incremental run must
// plan as a full read would.
type groupStep struct {
	name   string
	change func()
}

// stepsPlanAsFull makes each change, then checks that a dry run reading
// only the changes plans what a --full dry run plans, and applies it with
// a real (incremental) run. At the end a full read plans nothing: the
// incremental runs left Omni as full reads would have.
func (e *env) stepsPlanAsFull(steps []groupStep) {
	e.t.Helper()
	for _, step := range steps {
		step.change()
		want := e.fullPlan()
		rep, _, err := e.run(true)
		if err != nil {
			e.t.Fatalf("%s: %v", step.name, err)
		}
		if got := planOf(e.t, rep); !rep.Incremental || !rep.GroupsIncremental || got != want {
			e.t.Errorf("%s: incremental %t, groups %t; plan\n%s\nwant (a full read's)\n%s", step.name, rep.Incremental, rep.GroupsIncremental, got, want)
		}
		if rep, _ := e.mustRun(); !rep.GroupsIncremental {
			e.t.Errorf("%s: the real run read the groups in full", step.name)
		}
	}
	if got := e.fullPlan(); got != "" {
		e.t.Errorf("after the changes a full read still plans\n%s", got)
	}
}

// With syncrepl and group sync, a run after the first reads only the
// users' and groups' changes, and plans for groups exactly what a full read
// would: member changes (through nested groups too), a member DN that
// becomes a user, users disabled, deleted and renamed, groups renamed,
// added, deleted and given a duplicate name.
func TestIncrementalGroupsPlanAsAFullRead(t *testing.T) {
	for _, sessionlog := range []int{0, 100} {
		t.Run(fmt.Sprintf("sessionlog=%d", sessionlog), func(t *testing.T) { incrementalGroups(t, sessionlog) })
	}
}

func incrementalGroups(t *testing.T, sessionlog int) {
	e := newEnv(t, envOptions{users: 30, groups: 6, groupCycle: true, syncGroups: true, sessionlog: sessionlog, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.DeprovisionAfterRuns = 2
	}})
	rep, _ := e.mustRun()
	if rep.Incremental || rep.GroupsIncremental {
		t.Fatal("the first run read incrementally")
	}
	e.checkGroups()
	rep, n := e.mustRun()
	if !rep.Incremental || !rep.GroupsIncremental || n != 0 {
		t.Fatalf("no-change run: incremental %t, groups %t, %d requests", rep.Incremental, rep.GroupsIncremental, n)
	}
	// g2 holds g1, and g0 and g1 hold each other: a change in g0 reaches
	// all three.
	g := e.dir.Groups
	outsider := e.outsider(g[0], g[1], g[2])
	users := e.plain(30)
	member := func(gi int, skip ...string) dirgen.User {
		for _, u := range users {
			if slices.Contains(g[gi].Members, u.DN) && !slices.Contains(skip, u.DN) {
				return u
			}
		}
		t.Fatalf("no plain member of %s", g[gi].Name)
		return dirgen.User{}
	}
	leaver, deleted, renamed := member(3), member(4), member(5)
	ghost := "uid=later," + e.dir.PeopleDN
	more := "ou=more," + e.dir.GroupsDN
	e.stepsPlanAsFull([]groupStep{
		{"a member added to a nested group", func() {
			e.modify(g[0].DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{outsider.DN}) })
		}},
		{"a member removed", func() {
			e.modify(g[0].DN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{outsider.DN}) })
		}},
		{"a member DN that is no user yet", func() {
			e.modify(g[3].DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{ghost}) })
		}},
		{"the user at that DN appears", func() { e.addPerson("later", "later@corp.example.com", "Comes Later") }},
		{"a member disabled", func() {
			e.modify(leaver.DN, func(m *ldap.ModifyRequest) { m.Add("pwdAccountLockedTime", []string{"20260101000000Z"}) })
		}},
		{"the member enabled again within its grace", func() {
			e.modify(leaver.DN, func(m *ldap.ModifyRequest) { m.Delete("pwdAccountLockedTime", nil) })
		}},
		{"a member deleted", func() { e.deleteEntry(deleted.DN) }},
		{"a member deleted, past its grace", func() {}},
		{"a member renamed", func() {
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(renamed.DN, "uid=renamed-member", true, "")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a group renamed", func() {
			if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(g[4].DN, "cn=renamed-team", true, "")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a group added, holding a group", func() {
			e.addGroup("cn=newcomers,"+e.dir.GroupsDN, users[0].DN, g[2].DN)
		}},
		{"a group deleted", func() { e.deleteEntry(g[5].DN) }},
		{"a group deleted, past its grace", func() {}},
		{"a second group of a taken name", func() {
			e.addOU(more)
			e.addGroup("cn="+g[3].Name+","+more, users[1].DN)
		}},
		{"the second group of that name removed", func() { e.deleteEntry("cn=" + g[3].Name + "," + more) }},
	})
}

// outsider returns a plain user in none of gs.
func (e *env) outsider(gs ...dirgen.Group) dirgen.User {
	e.t.Helper()
	for _, u := range e.plain(10) {
		if !slices.ContainsFunc(gs, func(g dirgen.Group) bool {
			return slices.ContainsFunc(e.dir.ExpectedMembers(g, true), func(dn string) bool { return strings.EqualFold(dn, u.DN) })
		}) {
			return u
		}
	}
	e.t.Fatal("every plain user is in the groups")
	return dirgen.User{}
}

func (e *env) addGroup(dn string, members ...string) {
	e.t.Helper()
	a := ldap.NewAddRequest(dn, nil)
	a.Attribute("objectClass", []string{"groupOfNames"})
	a.Attribute("cn", []string{strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "cn=")})
	a.Attribute("member", members)
	if err := e.conn().Add(a); err != nil {
		e.t.Fatalf("add %s: %v", dn, err)
	}
}

func (e *env) addOU(dn string) {
	e.t.Helper()
	a := ldap.NewAddRequest(dn, nil)
	a.Attribute("objectClass", []string{"organizationalUnit"})
	a.Attribute("ou", []string{strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "ou=")})
	if err := e.conn().Add(a); err != nil {
		e.t.Fatalf("add %s: %v", dn, err)
	}
}

// A run whose group write fails keeps both positions: the next run reads
// the same changes again and makes the write.
func TestIncrementalGroupWriteThatFailsIsMadeAgain(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, groups: 3, syncGroups: true, before: func(e *env) { e.cfg.LDAP.Incremental = "syncrepl" }})
	e.mustRun()
	g := e.dir.Groups[0]
	outsider := e.outsider(g)
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{outsider.DN}) })
	e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"PATCH"}, ErrorRate: 1})
	if rep, _, err := e.run(false); err == nil || !rep.GroupsIncremental {
		t.Fatalf("the run with Omni failing: %v, groups incremental %t", err, rep.GroupsIncremental)
	}
	e.omni.SetFaults(omnitest.Faults{})
	rep, _ := e.mustRun()
	og, _ := e.omniGroup(g.Name)
	want := e.activeOmni()[e.dir.ExpectedEmail(outsider)].ID
	if !rep.GroupsIncremental || !slices.Contains(og.Members, want) {
		t.Errorf("the change read again: groups incremental %t, member added %t", rep.GroupsIncremental, slices.Contains(og.Members, want))
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("a run after it sent %d requests", n)
	}
}

// groupSyncreplFails is the directory with the groups' initial refresh
// refused, as by a server without syncprov on the groups' database.
type groupSyncreplFails struct{ *source.Directory }

func (g groupSyncreplFails) ReadGroupChanges(ctx context.Context, mech string, cookie []byte) (*source.Delta, []byte, error) {
	if cookie == nil {
		return nil, nil, errors.New("refused")
	}
	return g.Directory.ReadGroupChanges(ctx, mech, cookie)
}

// A full run whose groups could not be read through the mechanism (read
// plainly instead) moves neither position: the entries kept would not
// follow the users' cursor. The next run reads the same changes again and
// plans as a full read.
func TestIncrementalGroupsAfterAPlainGroupRead(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 6, syncGroups: true, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
	}})
	e.mustRun()
	g := e.dir.Groups[3]
	u := directMember(t, e, g)
	if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(u.DN, "uid=moved-member", true, "")); err != nil {
		t.Fatal(err)
	}
	s := e.syncer(false)
	s.Options.FullRead = true
	s.Source = groupSyncreplFails{s.Source.(*source.Directory)}
	if rep, err := s.Run(context.Background()); err != nil || rep.GroupsIncremental {
		t.Fatalf("the full run reading groups plainly: %v", err)
	}
	e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{e.outsider(g).DN}) })
	e.comparePlans("the group changes after", true)
	if got := e.fullPlan(); got != "" {
		t.Errorf("a full read still plans\n%s", got)
	}
}
