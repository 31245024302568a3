package diff

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

func TestPlanGroups(t *testing.T) {
	users, known := population(6)
	disabled := users[5]
	disabled.Active = false
	users[5] = disabled
	members := NewMembers(users, nil, known)
	dn := func(i int) string { return users[i].DN }
	group := func(id, name string, m ...int) identity.Group {
		g := identity.Group{ID: id, Name: name}
		for _, i := range m {
			g.MemberDNs = append(g.MemberDNs, dn(i))
		}
		return g
	}
	linked := func(id, name string, origin identity.Origin, m ...string) identity.LinkedGroup {
		return identity.LinkedGroup{ID: id, SCIMID: "omni-" + id, Name: name, Status: identity.GroupActive, Origin: origin, Members: m}
	}
	kg := func(gs ...identity.LinkedGroup) map[string]identity.LinkedGroup {
		m := map[string]identity.LinkedGroup{}
		for _, g := range gs {
			m[g.ID] = g
		}
		return m
	}
	pol := GroupPolicy{MinSourceFraction: 0.9, MaxDeletions: 5, MaxRemovalPercent: 100, Delete: true}
	with := func(f func(*GroupPolicy)) GroupPolicy { p := pol; f(&p); return p }
	describe := func(p GroupPlan) string {
		var parts []string
		for _, o := range p.Create {
			parts = append(parts, fmt.Sprintf("create %s %v", o.Group.Name, o.Add))
		}
		for _, o := range p.Update {
			parts = append(parts, fmt.Sprintf("update %s rename=%q +%v -%v", o.Group.Name, o.Rename, o.Add, o.Remove))
		}
		for _, o := range p.Delete {
			parts = append(parts, "delete "+o.Group.Name)
		}
		for _, o := range p.Waiting {
			parts = append(parts, "waiting "+o.Group.Name)
		}
		for _, o := range p.Held {
			parts = append(parts, "held "+o.Group.Name+" ("+o.Reason+")")
		}
		parts = append(parts, fmt.Sprintf("unchanged=%d", p.Unchanged))
		return strings.Join(parts, "; ")
	}
	tests := []struct {
		name  string
		in    GroupInput
		pol   GroupPolicy
		want  string
		trip  string
		unres int
	}{
		{"a new group is created with its eligible members",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{func() identity.Group {
				g := group("g1", "analysts", 0, 1, 5)
				g.MemberDNs = append(g.MemberDNs, "uid=ghost,ou=people,dc=corp")
				return g
			}()}}, LastGood: -1},
			pol, "create analysts [id000 id001]; unchanged=0", "", 1},
		{"nothing changed costs nothing",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts", 0, 1)}}, Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001")), LastGood: 1},
			pol, "unchanged=1", "", 0},
		{"one joins, one leaves, and the group is renamed: one update",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "data-analysts", 0, 2)}}, Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001")), LastGood: 1},
			pol, `update data-analysts rename="data-analysts" +[id002] -[id001]; unchanged=0`, "", 0},
		{"a member who is being deprovisioned is not removed by request",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts", 0)}}, Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001")), LastGood: 1, Leaving: map[string]bool{"id001": true}},
			pol, "unchanged=1", "", 0},
		{"a member still listed but disabled stays: present, not eligible",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts", 0, 5)}}, Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id005")), LastGood: 1},
			pol, "unchanged=1", "", 0},
		{"an incomplete read removes no one and deletes nothing; adds apply",
			GroupInput{Read: GroupRead{Enabled: true, Incomplete: "size limit", Groups: []identity.Group{group("g1", "analysts", 0, 2)}},
				Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001"), linked("g2", "gone", identity.OriginCreated)), LastGood: 2},
			pol, "update analysts rename=\"\" +[id002] -[]; held gone (not in directory); unchanged=0", "group search incomplete", 0},
		{"a group that left is deleted",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			pol, "delete gone; unchanged=1", "", 0},
		{"it waits out the grace period first",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			with(func(p *GroupPolicy) { p.DeprovisionAfter = time.Hour }), "waiting gone; unchanged=1", "", 0},
		{"under groupDeprovision none, or adopted, it is held",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginAdopted)), LastGood: 1},
			pol, "held gone (not in directory; adopted, so not syncd's to delete); unchanged=1", "", 0},
		{"deprovision none",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			with(func(p *GroupPolicy) { p.Delete = false }), "held gone (not in directory; scim.groupDeprovision is none); unchanged=1", "", 0},
		{"a skipped group is present: held",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}, Skipped: []identity.Skipped{{DN: "cn=x", ID: "g2", Reason: "group_name_too_long"}}},
				Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			pol, "held gone (in directory but skipped: group_name_too_long); unchanged=1", "", 0},
		{"a skipped group without an id holds every deletion",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}, Skipped: []identity.Skipped{{DN: "cn=x"}}},
				Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			pol, "held gone (not in directory; 1 skipped group entry without a readable id, so any missing group may be one of them); unchanged=1", "", 0},
		{"an empty read deletes nothing",
			GroupInput{Read: GroupRead{Enabled: true}, Known: kg(linked("g2", "gone", identity.OriginCreated)), LastGood: 1},
			pol, "held gone (not in directory); unchanged=0", "no groups in scope", 0},
		{"a read below the fraction of the last good one deletes nothing",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated)), LastGood: 10},
			pol, "held gone (not in directory); unchanged=1", "fewer than 90% of the last good read's 10", 0},
		{"deletions over the cap are all held",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Known: kg(linked("g1", "analysts", identity.OriginCreated), linked("g2", "gone", identity.OriginCreated), linked("g3", "gone too", identity.OriginCreated)), LastGood: 1},
			with(func(p *GroupPolicy) { p.MaxDeletions = 1 }), "held gone (not in directory); held gone too (not in directory); unchanged=1", "above safety.maxGroupDeletionsPerRun (1)", 0},
		{"removals over the percent cap are all held; renames and adds still go",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "team", 3), group("g2", "other")}},
				Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001"), linked("g2", "other", identity.OriginCreated, "id002", "id004")), LastGood: 2},
			with(func(p *GroupPolicy) { p.MaxRemovalPercent = 10 }), `update team rename="team" +[id003] -[]; unchanged=1`, "above safety.maxMemberRemovalPercent", 0},
		{"partial: a linked group not read is unchanged, a deleted one waits out its grace",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts", 0, 2)}},
				Known:   kg(linked("g1", "analysts", identity.OriginCreated, "id000"), linked("g2", "kept", identity.OriginCreated, "id001"), linked("g3", "gone", identity.OriginCreated)),
				Partial: true, Deleted: map[string]bool{"g3": true}, SourceCount: 2, ActiveGroups: 3, Memberships: 2, LastGood: 3},
			with(func(p *GroupPolicy) { p.DeprovisionAfterRuns = 2 }), "update analysts rename=\"\" +[id002] -[]; waiting gone; unchanged=0", "", 0},
		{"partial: the carried count trips the fraction guard",
			GroupInput{Read: GroupRead{Enabled: true}, Known: kg(linked("g3", "gone", identity.OriginCreated)),
				Partial: true, Deleted: map[string]bool{"g3": true}, SourceCount: 5, ActiveGroups: 10, Memberships: 0, LastGood: 10},
			pol, "held gone (not in directory); unchanged=0", "directory returned 5 groups in scope, fewer than 90% of the last good read's 10", 0},
		{"partial: removals are capped against every managed membership",
			GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}},
				Known:   kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001")),
				Partial: true, SourceCount: 1, ActiveGroups: 1, Memberships: 4, LastGood: 1},
			with(func(p *GroupPolicy) { p.MaxRemovalPercent = 25 }), "unchanged=1", "2 member removals planned, 50.0% of 4 managed memberships", 0},
		{"groups off: nothing at all",
			GroupInput{Read: GroupRead{}, Known: kg(linked("g2", "gone", identity.OriginCreated))}, pol, "unchanged=0", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Members, tt.in.Now = members, t0
			p := PlanGroups(tt.in, tt.pol)
			if got := describe(p); got != tt.want {
				t.Errorf("plan\n got %s\nwant %s", got, tt.want)
			}
			trips := strings.Join(p.Trips, "; ")
			if (tt.trip == "") != (trips == "") || !strings.Contains(trips, tt.trip) {
				t.Errorf("trips %q, want %q", trips, tt.trip)
			}
			if len(p.Unresolved) != tt.unres {
				t.Errorf("unresolved %v, want %d", p.Unresolved, tt.unres)
			}
		})
	}
	t.Run("an override lets the caps pass, and says so", func(t *testing.T) {
		in := GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{group("g1", "analysts")}}, Members: members, Now: t0,
			Known: kg(linked("g1", "analysts", identity.OriginCreated, "id000", "id001"), linked("g2", "gone", identity.OriginCreated), linked("g3", "gone too", identity.OriginCreated)), LastGood: 1}
		p := PlanGroups(in, with(func(p *GroupPolicy) { p.MaxDeletions, p.MaxRemovalPercent, p.AllowMassDeprovision = 1, 1, true }))
		if len(p.Delete) != 2 || len(p.Update) != 1 || len(p.Overrides) != 2 || len(p.Trips) != 0 {
			t.Errorf("plan %s, overrides %v, trips %v", describe(p), p.Overrides, p.Trips)
		}
	})
	t.Run("memberUid groups resolve by login", func(t *testing.T) {
		us := []identity.User{{ID: "a", Login: "Alice", Active: true}, {ID: "b", Login: "bob", Active: true}}
		p := PlanGroups(GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{{ID: "g", Name: "posix", MemberLogins: []string{"alice", "bob", "carol"}}}},
			Members: NewMembers(us, nil, linksOf(link(us[0], identity.StatusActive), link(us[1], identity.StatusActive))), LastGood: -1, Now: t0}, pol)
		if describe(p) != "create posix [a b]; unchanged=0" || len(p.Unresolved) != 1 || !p.Changes() {
			t.Errorf("plan %s, unresolved %v", describe(p), p.Unresolved)
		}
	})
	t.Run("only actively linked users are added", func(t *testing.T) {
		us := []identity.User{{ID: "a", DN: "uid=a,dc=corp", Active: true}, {ID: "b", DN: "uid=b,dc=corp", Active: true}, {ID: "c", DN: "uid=c,dc=corp", Active: true}}
		// a is linked; b's create was blocked (no link); c's link is
		// deprovisioned (a reactivation Omni refused).
		m := NewMembers(us, nil, linksOf(link(us[0], identity.StatusActive), link(us[2], identity.StatusDeprovisioned)))
		g := identity.Group{ID: "g", Name: "team", MemberDNs: []string{"uid=a,dc=corp", "uid=b,dc=corp", "uid=c,dc=corp"}}
		p := PlanGroups(GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{g}}, Members: m, LastGood: -1, Now: t0}, pol)
		if describe(p) != "create team [a]; unchanged=0" || len(p.Unresolved) != 0 {
			t.Errorf("plan %s, unresolved %v", describe(p), p.Unresolved)
		}
	})
}

// A skipped user still named by a group resolves (present, not eligible);
// a group back from a missing spell has its grace clock reset; groups of
// one name order by id.
func TestPlanGroupsEdges(t *testing.T) {
	users, known := population(2)
	skipped := []identity.Skipped{{DN: "uid=gone,ou=people,dc=corp", ID: "skipped-user", Reason: identity.SkipNoEmail}}
	m := NewMembers(users, skipped, known)
	g := identity.Group{ID: "g1", Name: "same", MemberDNs: []string{users[0].DN, "UID=gone,ou=people,dc=corp"}}
	g2 := identity.Group{ID: "g0", Name: "same"}
	k := identity.LinkedGroup{ID: "g1", SCIMID: "o1", Name: "same", Status: identity.GroupActive, Origin: identity.OriginCreated,
		Members: []string{"id000", "skipped-user"}, FirstMissingAt: t0.Add(-time.Hour), MissingRuns: 1}
	p := PlanGroups(GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{g, g2}}, Known: map[string]identity.LinkedGroup{"g1": k},
		Members: m, LastGood: -1, Now: t0}, GroupPolicy{MaxDeletions: 5, MaxRemovalPercent: 100, Delete: true})
	if p.Unchanged != 1 || len(p.Unresolved) != 0 || len(p.Marks) != 1 || !p.Marks[0].FirstMissingAt.IsZero() {
		t.Errorf("unchanged %d, unresolved %v, marks %+v", p.Unchanged, p.Unresolved, p.Marks)
	}
	if len(p.Create) != 1 || p.Create[0].Group.ID != "g0" {
		t.Errorf("creates %+v", p.Create)
	}
	two := PlanGroups(GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{{ID: "b", Name: "x"}, {ID: "a", Name: "x"}}}, Members: m, LastGood: -1, Now: t0},
		GroupPolicy{MaxDeletions: 5, MaxRemovalPercent: 100})
	if two.Create[0].Group.ID != "a" {
		t.Errorf("groups of one name not ordered by id: %+v", two.Create)
	}
}

// Only a user this read mapped can be known to have left a group: one that
// is skipped (so its login resolves to nobody) keeps its membership, and a
// user read that tripped a guard removes no member at all.
func TestPlanGroupsRemovesOnlyWhatTheReadShows(t *testing.T) {
	alice := identity.User{ID: "alice", Login: "alice", Active: true}
	bob := identity.User{ID: "bob", Login: "bob", Active: true}
	g := identity.Group{ID: "g", Name: "posix", MemberLogins: []string{"alice"}}
	k := map[string]identity.LinkedGroup{"g": {ID: "g", SCIMID: "o", Name: "posix", Status: identity.GroupActive, Origin: identity.OriginCreated, Members: []string{"alice", "bob"}}}
	pol := GroupPolicy{MaxDeletions: 5, MaxRemovalPercent: 100}
	// bob is skipped this run: his login resolves to nobody, yet he stays.
	p := PlanGroups(GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{g}}, Known: k,
		Members: NewMembers([]identity.User{alice}, []identity.Skipped{{DN: "uid=bob", ID: "bob", Reason: identity.SkipInvalidEmail}}, nil), LastGood: -1, Now: t0}, pol)
	if len(p.Update) != 0 || p.Unchanged != 1 {
		t.Errorf("a skipped member was removed: %+v", p.Update)
	}
	// bob is read and not in the group: removed, unless the read is
	// untrusted.
	in := GroupInput{Read: GroupRead{Enabled: true, Groups: []identity.Group{g}}, Known: k, Members: NewMembers([]identity.User{alice, bob}, nil, nil), LastGood: -1, Now: t0}
	if p := PlanGroups(in, pol); len(p.Update) != 1 || len(p.Update[0].Remove) != 1 {
		t.Errorf("a member who left was not removed: %+v", p.Update)
	}
	in.UsersUntrusted = true
	if p := PlanGroups(in, pol); len(p.Update) != 0 {
		t.Errorf("an untrusted user read removed members: %+v", p.Update)
	}
}

func linksOf(ls ...identity.Linked) map[string]identity.Linked { return known(ls...) }
