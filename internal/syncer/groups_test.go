package syncer_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// omniGroup returns the stand-in's group with the name.
func (e *env) omniGroup(name string) (omnitest.Group, bool) {
	for _, g := range e.omni.Groups() {
		if strings.EqualFold(g.DisplayName, name) {
			return g, true
		}
	}
	return omnitest.Group{}, false
}

// wantMembers returns the Omni ids a correct sync puts in g: its members,
// nested ones flattened, that are users syncd manages.
func (e *env) wantMembers(g dirgen.Group) []string {
	e.t.Helper()
	byDN := map[string]string{}
	active := e.activeOmni()
	for _, u := range e.dir.Users {
		if mail := e.dir.ExpectedEmail(u); mail != "" && !u.Disabled {
			byDN[strings.ToLower(u.DN)] = active[mail].ID
		}
	}
	var out []string
	for _, dn := range e.dir.ExpectedMembers(g, true) {
		if id, ok := byDN[strings.ToLower(dn)]; ok && id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkGroups fails unless every directory group is in Omni with exactly
// its members, and no group twice.
func (e *env) checkGroups() {
	e.t.Helper()
	names := map[string]int{}
	for _, g := range e.omni.Groups() {
		names[strings.ToLower(g.DisplayName)]++
	}
	for n, c := range names {
		if c > 1 {
			e.t.Errorf("%d Omni groups named %s", c, n)
		}
	}
	for _, g := range e.dir.Groups {
		og, ok := e.omniGroup(g.Name)
		if !ok {
			e.t.Errorf("no Omni group %s", g.Name)
			continue
		}
		got := slices.Clone(og.Members)
		slices.Sort(got)
		if want := e.wantMembers(g); !slices.Equal(got, want) {
			e.t.Errorf("group %s: members %v, want %v", g.Name, got, want)
		}
	}
}

// The first run creates every group with exactly its members, nested ones
// flattened (a cycle is harmless); the second sends nothing.
func TestGroupsInitialSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts envOptions
	}{
		{"groupOfNames", envOptions{users: 40, groups: 5, groupCycle: true, syncGroups: true}},
		{"Active Directory", envOptions{users: 40, groups: 5, shape: dirgen.ActiveDirectory, groupClass: dirgen.ADGroup, syncGroups: true}},
		{"memberUid", envOptions{users: 40, groups: 4, groupClass: dirgen.PosixGroup, syncGroups: true}},
		{"uniqueMember", envOptions{users: 40, groups: 4, groupClass: dirgen.GroupOfUniqueNames, syncGroups: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			rep, n := e.mustRun()
			users, groups := len(e.expected()), len(e.dir.Groups)
			t.Logf("initial sync: %d requests for %d users and %d groups", n, users, groups)
			if rep.Counts.Created != users || len(rep.Groups.Create) != groups {
				t.Fatalf("counts %+v, group creates %d, want %d users and %d groups", rep.Counts, len(rep.Groups.Create), users, groups)
			}
			if tc.opts.groupClass == dirgen.PosixGroup {
				e.checkPosixGroups()
			} else {
				e.checkGroups()
			}
			// One listing of Omni's groups finds any to adopt.
			if n != users+groups+1 {
				t.Errorf("%d requests, want one per user, one per group and one listing (%d)", n, users+groups+1)
			}
			rep, n = e.mustRun()
			if n != 0 || rep.Groups.Changes() {
				t.Errorf("second run: %d requests, group plan %+v", n, rep.Groups)
			}
		})
	}
}

// checkPosixGroups is checkGroups for memberUid groups, whose members are
// logins.
func (e *env) checkPosixGroups() {
	e.t.Helper()
	active := e.activeOmni()
	byLogin := map[string]string{}
	for _, u := range e.dir.Users {
		if mail := e.dir.ExpectedEmail(u); mail != "" && !u.Disabled {
			byLogin[u.Login] = active[mail].ID
		}
	}
	for _, g := range e.dir.Groups {
		og, ok := e.omniGroup(g.Name)
		if !ok {
			e.t.Errorf("no Omni group %s", g.Name)
			continue
		}
		var want []string
		for _, l := range e.dir.ExpectedLogins(g) {
			if id := byLogin[l]; id != "" {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		got := slices.Clone(og.Members)
		slices.Sort(got)
		if !slices.Equal(got, slices.Compact(want)) {
			e.t.Errorf("group %s: members %v, want %v", g.Name, got, want)
		}
	}
}

// One member added or removed costs one request; a rename keeps the Omni
// id; a member an admin added by hand survives; a group deleted in the
// directory is deleted in Omni.
func TestGroupChanges(t *testing.T) {
	e := newEnv(t, envOptions{users: 30, groups: 3, syncGroups: true})
	e.mustRun()
	g := e.dir.Groups[0]
	og, _ := e.omniGroup(g.Name)
	handMade := e.omni.AddUser(omnitest.User{UserName: "by.hand@corp.example.com", DisplayName: "By Hand", Active: true})
	if err := e.omniSink().PatchGroup(t.Context(), og.ID, sinkAdd(handMade.ID)); err != nil {
		t.Fatal(err)
	}
	var outsider dirgen.User
	for _, u := range e.plain(30) {
		if !slices.ContainsFunc(e.dir.ExpectedMembers(g, true), func(dn string) bool { return strings.EqualFold(dn, u.DN) }) {
			outsider = u
			break
		}
	}
	step := func(name string, change func(), check func(og omnitest.Group) bool) {
		t.Helper()
		change()
		_, n := e.mustRun()
		got, _ := e.omni.Group(og.ID)
		if n != 1 || !check(got) {
			t.Errorf("%s: %d requests, group %+v", name, n, got)
		}
		if !slices.Contains(got.Members, handMade.ID) && got.ID != "" {
			t.Errorf("%s: the member added by hand is gone", name)
		}
	}
	outsiderID := e.activeOmni()[e.dir.ExpectedEmail(outsider)].ID
	step("a member added", func() {
		e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Add("member", []string{outsider.DN}) })
	}, func(og omnitest.Group) bool { return slices.Contains(og.Members, outsiderID) })
	step("a member removed", func() {
		e.modify(g.DN, func(m *ldap.ModifyRequest) { m.Delete("member", []string{outsider.DN}) })
	}, func(og omnitest.Group) bool { return !slices.Contains(og.Members, outsiderID) })
	step("renamed", func() {
		// modrdn: the name is the RDN; the group keeps its entryUUID.
		if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(g.DN, "cn=renamed-team", true, "")); err != nil {
			t.Fatal(err)
		}
	}, func(got omnitest.Group) bool { return got.DisplayName == "renamed-team" && got.ID == og.ID })

	last := e.dir.Groups[2]
	lastOmni, _ := e.omniGroup(last.Name)
	e.deleteEntry(last.DN)
	_, n := e.mustRun()
	if _, ok := e.omni.Group(lastOmni.ID); ok || n != 1 {
		t.Errorf("deleted group still in Omni after %d requests", n)
	}
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("a run after the changes sent %d requests", n)
	}
}

// An Omni group with the name of a directory group is adopted, not
// duplicated, and its hand-made members stay.
func TestGroupAdoption(t *testing.T) {
	var pre omnitest.Group
	var handMade omnitest.User
	e := newEnv(t, envOptions{users: 20, groups: 2, syncGroups: true, before: func(e *env) {
		handMade = e.omni.AddUser(omnitest.User{UserName: "by.hand@corp.example.com", DisplayName: "By Hand", Active: true})
		pre = e.omni.AddGroup(omnitest.Group{DisplayName: strings.ToUpper(e.dir.Groups[0].Name), Members: []string{handMade.ID}})
	}})
	rep, _ := e.mustRun()
	e.checkGroupsExcept(handMade.ID)
	got, _ := e.omni.Group(pre.ID)
	if !slices.Contains(got.Members, handMade.ID) || len(e.omni.Groups()) != len(e.dir.Groups) {
		t.Errorf("adopted group %+v; %d Omni groups for %d directory groups (results %+v)", got, len(e.omni.Groups()), len(e.dir.Groups), rep.Results)
	}
}

// checkGroupsExcept is checkGroups ignoring one member added by hand.
func (e *env) checkGroupsExcept(id string) {
	e.t.Helper()
	for _, g := range e.dir.Groups {
		og, ok := e.omniGroup(g.Name)
		if !ok {
			e.t.Errorf("no Omni group %s", g.Name)
			continue
		}
		got := slices.DeleteFunc(slices.Clone(og.Members), func(m string) bool { return m == id })
		slices.Sort(got)
		if want := e.wantMembers(g); !slices.Equal(got, want) {
			e.t.Errorf("group %s: members %v, want %v", g.Name, got, want)
		}
	}
}

// A group read cut short by a size limit removes no member and deletes no
// group. The service account may read 20 entries a search: all 10 users,
// but not all 30 groups.
func TestGroupReadCutShortRemovesNothing(t *testing.T) {
	e := newEnv(t, envOptions{users: 10, groups: 30, syncGroups: true,
		slapd: `limits dn.exact="cn=syncd,` + suffix + `" size.prtotal=20`})
	e.mustRun() // as the root DN, which no limit applies to
	before := map[string]int{}
	for _, g := range e.omni.Groups() {
		before[g.ID] = len(g.Members)
	}
	dn, pw := bindUser(t, e)
	e.cfg.LDAP.BindDN, e.cfg.LDAP.BindPassword = dn, secret(pw)
	rep, _, err := e.run(false)
	if err == nil || len(rep.Groups.Delete) != 0 || rep.Counts.MembersRemoved != 0 || !strings.Contains(strings.Join(rep.GuardTrips, ";"), "group search incomplete") {
		t.Fatalf("a cut group read: %v; deletes %v, removals %d, trips %v", err, rep.Groups.Delete, rep.Counts.MembersRemoved, rep.GuardTrips)
	}
	if rep.Incomplete != "" {
		t.Fatalf("the users' read was cut too: %s", rep.Incomplete)
	}
	for _, g := range e.omni.Groups() {
		if len(g.Members) < before[g.ID] {
			t.Errorf("group %s lost members", g.DisplayName)
		}
	}
	if len(e.omni.Groups()) != len(before) {
		t.Errorf("%d Omni groups, want the %d there were", len(e.omni.Groups()), len(before))
	}
}

// omniSink is the world's SCIM client, for changes an Omni admin makes.
func (e *env) omniSink() syncer.GroupSink {
	return e.syncer(false).Sink.(syncer.GroupSink)
}

func sinkAdd(ids ...string) sink.GroupPatch { return sink.GroupPatch{Add: ids} }

// A group create whose answer was lost stays pending; the next run finds
// the group by name and links it as syncd's own: no second group.
func TestGroupCreateLostReplyIsSettled(t *testing.T) {
	e := newEnv(t, envOptions{users: 10, groups: 3})
	e.mustRun() // the users first, groups off
	e.cfg.LDAP.Groups.BaseDNs = []string{e.dir.GroupsDN}
	e.cfg.SCIM.MaxAttempts = 1
	e.omni.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"POST"}, LostReplyRate: 1})
	rep, _, err := e.run(false)
	if err == nil || rep.Counts.Failed != len(e.dir.Groups) {
		t.Fatalf("lost group creates: %v, counts %+v", err, rep.Counts)
	}
	e.omni.SetFaults(omnitest.Faults{})
	rep, _ = e.mustRun()
	for _, r := range rep.Results {
		if r.Action == "group_create" || r.Action == "group_adopt" {
			t.Errorf("a settled group was sent again: %+v", r)
		}
	}
	e.checkGroups()
	groups, err := e.store.LoadGroups(t.Context())
	if err != nil || len(groups) != len(e.dir.Groups) {
		t.Fatalf("linked groups %v, %v", groups, err)
	}
	for _, g := range groups {
		if g.Origin != "created" {
			t.Errorf("group %s linked as %s, want created", g.Name, g.Origin)
		}
	}
}

// A dry run, with a database or against Omni's listing, shows the group
// plan and sends nothing.
func TestGroupsDryRun(t *testing.T) {
	for _, noStore := range []bool{false, true} {
		t.Run(map[bool]string{false: "with database", true: "without database"}[noStore], func(t *testing.T) {
			e := newEnv(t, envOptions{users: 20, groups: 3, syncGroups: true, noStore: noStore})
			pre := e.omni.AddGroup(omnitest.Group{DisplayName: e.dir.Groups[0].Name})
			rep, n, err := e.run(true)
			if err != nil {
				t.Fatal(err)
			}
			if writes := e.omni.Stats().Writes; writes != 0 || n > 2 {
				t.Errorf("dry run sent %d requests, %d writes", n, writes)
			}
			var out strings.Builder
			if err := syncer.WriteText(&out, rep); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, g := range e.dir.Groups[1:] {
				if !strings.Contains(text, "+ group "+g.Name+" (") {
					t.Errorf("no create line for %s:\n%s", g.Name, text)
				}
			}
			if noStore && !strings.Contains(text, "~ group "+e.dir.Groups[0].Name+": +") {
				t.Errorf("the group Omni has is not planned as an update:\n%s", text)
			}
			if got, _ := e.omni.Group(pre.ID); len(got.Members) != 0 {
				t.Errorf("the dry run changed a group: %+v", got)
			}
			var js strings.Builder
			if err := syncer.WriteJSON(&js, rep); err != nil || !strings.Contains(js.String(), `"groups": {`) {
				t.Errorf("JSON report without groups (%v)", err)
			}
		})
	}
}

// A deprovisioned user's memberships are dropped from state with no request:
// Omni drops them itself.
func TestDeprovisionedUserLeavesItsGroups(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, groups: 2, syncGroups: true})
	e.mustRun()
	groups, _ := e.store.LoadGroups(t.Context())
	var leaver string
	for _, g := range groups {
		if len(g.Members) > 0 {
			leaver = g.Members[0]
			break
		}
	}
	var dn string
	for _, u := range e.dir.Users {
		if u.ID == leaver {
			dn = u.DN
		}
	}
	e.deleteEntry(dn)
	rep, n := e.mustRun()
	if n != 1 || rep.Counts.Deprovisioned != 1 || rep.Counts.MembersRemoved != 0 {
		t.Errorf("departure of a group member: %d requests, counts %+v", n, rep.Counts)
	}
	groups, _ = e.store.LoadGroups(t.Context())
	for _, g := range groups {
		if slices.Contains(g.Members, leaver) {
			t.Errorf("group %s still lists the deprovisioned user", g.Name)
		}
	}
}

// A directory user an admin had already put in the Omni group before syncd
// adopted it stays the admin's: syncd does not record it as its own, so
// does not remove it when the user leaves the directory group.
func TestAdoptionManagesOnlyWhatItAdds(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, groups: 2})
	e.mustRun() // users only
	g := e.dir.Groups[0]
	members := e.wantMembers(g)
	if len(members) == 0 {
		t.Fatal("the generated group has no member to test with")
	}
	handAdded := members[0]
	e.omni.AddGroup(omnitest.Group{DisplayName: g.Name, Members: []string{handAdded}})
	e.cfg.LDAP.Groups.BaseDNs = []string{e.dir.GroupsDN}
	e.mustRun()
	linked, err := e.store.LoadGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, lg := range linked {
		if lg.Name != g.Name {
			continue
		}
		for _, id := range lg.Members {
			if e.linked()[id].SCIMID == handAdded {
				t.Errorf("the member added by hand before the adoption is recorded as syncd's")
			}
		}
	}
}
