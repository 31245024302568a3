package source

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

func groupMapper(member, id string) *GroupMapper {
	cfg := Config{Attributes: Attributes{ID: "entryUUID"}, Groups: Groups{
		BaseDNs: []string{"ou=groups,dc=x"}, MemberAttribute: member, IDAttribute: id,
	}}
	return NewGroupMapper(cfg.withDefaults().Groups)
}

func groupEntry(dn string, attrs map[string][]string) *ldap.Entry {
	e := &ldap.Entry{DN: dn}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range attrs {
			if !yield(k) {
				return
			}
		}
	}) {
		e.Attributes = append(e.Attributes, ldap.NewEntryAttribute(name, attrs[name]))
	}
	return e
}

func TestGroupMapperAttributes(t *testing.T) {
	if got := groupMapper("", "").Attributes(); !slices.Equal(got, []string{"entryUUID", "cn", "member"}) {
		t.Errorf("attributes %q, want only the id, the name and the members", got)
	}
}

func TestMapGroup(t *testing.T) {
	guid := string([]byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda})
	tests := []struct {
		name    string
		member  string
		id      string
		dn      string
		attrs   map[string][]string
		want    identity.Group
		reason  identity.SkipReason
		members int // direct members kept in a skipped entry
	}{
		{name: "members", dn: "cn=eng,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "CN": {" eng "}, "member": {"uid=a,dc=x", " ", "uid=b,dc=x"},
		}, want: identity.Group{ID: "u1", DN: "cn=eng,dc=x", Name: "eng", MemberDNs: []string{"uid=a,dc=x", "uid=b,dc=x"}}},
		{name: "uniqueMember drops the optional uid", member: "uniqueMember", dn: "cn=eng,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "cn": {"eng"}, "uniquemember": {"uid=a,dc=x#'0101'B"},
		}, want: identity.Group{ID: "u1", DN: "cn=eng,dc=x", Name: "eng", MemberDNs: []string{"uid=a,dc=x"}}},
		{name: "memberUid", member: "memberUid", dn: "cn=eng,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "cn": {"eng"}, "memberUid": {"bob", "alice"},
		}, want: identity.Group{ID: "u1", DN: "cn=eng,dc=x", Name: "eng", MemberLogins: []string{"bob", "alice"}}},
		{name: "objectGUID", id: "objectGUID", dn: "CN=Eng,DC=x", attrs: map[string][]string{
			"objectGUID": {guid}, "cn": {"Eng"},
		}, want: identity.Group{ID: "6b29fc40-ca47-1067-b31d-00dd010662da", DN: "CN=Eng,DC=x", Name: "Eng"}},
		{name: "name of exactly 64 characters", dn: "cn=a,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "cn": {strings.Repeat("é", MaxGroupNameLength)},
		}, want: identity.Group{ID: "u1", DN: "cn=a,dc=x", Name: strings.Repeat("é", MaxGroupNameLength)}},
		{name: "name too long", dn: "cn=a,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "cn": {strings.Repeat("a", MaxGroupNameLength+1)}, "member": {"uid=a,dc=x"},
		}, reason: SkipGroupNameTooLong, members: 1},
		{name: "no name", dn: "cn=a,dc=x", attrs: map[string][]string{"entryUUID": {"u1"}, "cn": {"  "}}, reason: SkipGroupNoName},
		{name: "no id", dn: "cn=a,dc=x", attrs: map[string][]string{"cn": {"a"}, "member": {"uid=a,dc=x"}}, reason: identity.SkipNoID, members: 1},
		{name: "short guid", id: "objectGUID", dn: "cn=a,dc=x", attrs: map[string][]string{"objectGUID": {"abc"}, "cn": {"a"}}, reason: identity.SkipNoID},
		{name: "name not UTF-8", dn: "cn=a,dc=x", attrs: map[string][]string{"entryUUID": {"u1"}, "cn": {"a\xff"}}, reason: identity.SkipInvalidUTF8},
		{name: "name with NUL", dn: "cn=a,dc=x", attrs: map[string][]string{"entryUUID": {"u1"}, "cn": {"a\x00b"}}, reason: identity.SkipNULByte},
		{name: "member oversized", dn: "cn=a,dc=x", attrs: map[string][]string{
			"entryUUID": {"u1"}, "cn": {"a"}, "member": {"uid=" + strings.Repeat("m", identity.MaxValueBytes) + ",dc=x"},
		}, reason: identity.SkipOversized},
		{name: "DN not UTF-8", dn: "cn=\xff,dc=x", attrs: map[string][]string{"entryUUID": {"u1"}, "cn": {"a"}}, reason: identity.SkipInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := groupMapper(tt.member, tt.id).Map(groupEntry(tt.dn, tt.attrs))
			if tt.reason != "" {
				if got.Skip == nil || got.Skip.Reason != tt.reason {
					t.Fatalf("Map = %+v, want a skip with reason %s", got, tt.reason)
				}
				if got.Skip.Detail == "" || !utf8.ValidString(got.Skip.Detail+got.Skip.DN) || len(got.Skip.Detail) > 512 {
					t.Errorf("skip %+v: want a short, valid detail", *got.Skip)
				}
				if len(got.Group.MemberDNs) != tt.members {
					t.Errorf("skipped entry keeps %d members, want %d for flattening", len(got.Group.MemberDNs), tt.members)
				}
				return
			}
			if got.Skip != nil {
				t.Fatalf("skipped: %+v", *got.Skip)
			}
			if !groupsEqual(got.Group, tt.want) {
				t.Errorf("Map = %+v, want %+v", got.Group, tt.want)
			}
		})
	}
	if got := groupMapper("", "").Map(nil); got.Skip == nil {
		t.Error("Map(nil) not skipped")
	}
}

func groupsEqual(a, b identity.Group) bool {
	return a.ID == b.ID && a.DN == b.DN && a.Name == b.Name &&
		slices.Equal(a.MemberDNs, b.MemberDNs) && slices.Equal(a.MemberLogins, b.MemberLogins)
}

func TestNormalizeDN(t *testing.T) {
	for in, want := range map[string]string{
		"CN=Alice Smith, OU=People,DC=Example,DC=Com": "cn=alice smith,ou=people,dc=example,dc=com",
		`cn=Smith\, John,dc=x`:                        `cn=smith\, john,dc=x`,
		`cn=Smith\2C John,dc=x`:                       `cn=smith\, john,dc=x`,
		"UID=b+CN=a,dc=x":                             "cn=a+uid=b,dc=x",
		"not a dn":                                    "not a dn",
	} {
		if got := identity.NormalizeDN(in); got != want {
			t.Errorf("identity.NormalizeDN(%q) = %q, want %q", in, got, want)
		}
	}
}

// g builds a mapped group entry for FlattenGroups.
func g(id, dn, name string, members ...string) GroupEntry {
	return GroupEntry{Group: identity.Group{ID: id, DN: dn, Name: name, MemberDNs: members}}
}

func TestFlattenGroups(t *testing.T) {
	const a, b, c = "uid=a,dc=x", "uid=b,dc=x", "uid=c,dc=x"
	skippedNoID := g("", "cn=noid,ou=g,dc=x", "noid", c)
	skippedNoID.Skip = &identity.Skipped{DN: "cn=noid,ou=g,dc=x", Reason: identity.SkipNoID}
	tests := []struct {
		name    string
		entries []GroupEntry
		nested  bool
		want    map[string][]string // group id -> members
		skipped map[string]identity.SkipReason
	}{
		{"nested chain", []GroupEntry{
			g("1", "cn=top,ou=g,dc=x", "top", a, "CN=Mid, OU=G,DC=X"),
			g("2", "cn=mid,ou=g,dc=x", "mid", b, "cn=leaf,ou=g,dc=x"),
			g("3", "cn=leaf,ou=g,dc=x", "leaf", c, a),
		}, true, map[string][]string{"1": {a, b, c}, "2": {a, b, c}, "3": {a, c}}, nil},
		{"direct only", []GroupEntry{
			g("1", "cn=top,ou=g,dc=x", "top", a, "cn=mid,ou=g,dc=x"),
			g("2", "cn=mid,ou=g,dc=x", "mid", b),
		}, false, map[string][]string{"1": {a}, "2": {b}}, nil},
		{"cycle and self", []GroupEntry{
			g("1", "cn=x,ou=g,dc=x", "x", a, "cn=y,ou=g,dc=x", "cn=x,ou=g,dc=x"),
			g("2", "cn=y,ou=g,dc=x", "y", b, "cn=x,ou=g,dc=x"),
		}, true, map[string][]string{"1": {a, b}, "2": {a, b}}, nil},
		{"group outside scope is a plain member", []GroupEntry{
			g("1", "cn=x,ou=g,dc=x", "x", "cn=elsewhere,ou=other,dc=x", "UID=A,DC=X", a),
		}, true, map[string][]string{"1": {"cn=elsewhere,ou=other,dc=x", a}}, nil},
		{"skipped group still expanded, never listed", []GroupEntry{
			g("1", "cn=x,ou=g,dc=x", "x", a, "cn=noid,ou=g,dc=x"), skippedNoID,
		}, true, map[string][]string{"1": {a, c}}, map[string]identity.SkipReason{"cn=noid,ou=g,dc=x": identity.SkipNoID}},
		{"same entry twice", []GroupEntry{
			g("1", "cn=x,ou=g,dc=x", "x", a), g("1", "CN=X,OU=G,DC=X", "x", a),
		}, true, map[string][]string{"1": {a}}, nil},
		{"same id, two entries", []GroupEntry{
			g("1", "cn=x,ou=g,dc=x", "x", a), g("1", "cn=z,ou=g,dc=x", "z", b),
		}, true, map[string][]string{"1": {a}}, map[string]identity.SkipReason{"cn=z,ou=g,dc=x": identity.SkipDuplicateID}},
		{"same name, both skipped", []GroupEntry{
			g("1", "cn=x,ou=a,dc=x", "Eng", a), g("2", "cn=x,ou=b,dc=x", "eng", b), g("3", "cn=y,ou=b,dc=x", "ops", c),
		}, true, map[string][]string{"3": {c}}, map[string]identity.SkipReason{
			"cn=x,ou=a,dc=x": SkipDuplicateGroupName, "cn=x,ou=b,dc=x": SkipDuplicateGroupName,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, skipped := FlattenGroups(tt.entries, tt.nested)
			got := map[string][]string{}
			for _, gr := range groups {
				got[gr.ID] = gr.MemberDNs
			}
			if len(got) != len(tt.want) {
				t.Errorf("groups %v, want %v", got, tt.want)
			}
			for id, want := range tt.want {
				if !slices.Equal(got[id], want) {
					t.Errorf("group %s: members %v, want %v", id, got[id], want)
				}
			}
			reasons := map[string]identity.SkipReason{}
			for _, s := range skipped {
				reasons[s.DN] = s.Reason
			}
			if len(reasons) != len(tt.skipped) {
				t.Errorf("skipped %v, want %v", reasons, tt.skipped)
			}
			for dn, r := range tt.skipped {
				if reasons[dn] != r {
					t.Errorf("%s: skipped %q, want %q", dn, reasons[dn], r)
				}
			}
			if !slices.IsSortedFunc(groups, func(x, y identity.Group) int { return strings.Compare(x.ID, y.ID) }) {
				t.Error("groups not sorted by id")
			}
		})
	}

	t.Run("logins deduplicated and sorted", func(t *testing.T) {
		e := GroupEntry{Group: identity.Group{ID: "1", DN: "cn=p,dc=x", Name: "p", MemberLogins: []string{"bob", "alice", "bob"}}}
		groups, _ := FlattenGroups([]GroupEntry{e}, true)
		if len(groups) != 1 || !slices.Equal(groups[0].MemberLogins, []string{"alice", "bob"}) {
			t.Errorf("groups %+v, want logins alice, bob", groups)
		}
	})
	t.Run("order of entries does not matter", func(t *testing.T) {
		entries := tests[0].entries
		want, _ := FlattenGroups(entries, true)
		got, _ := FlattenGroups([]GroupEntry{entries[2], entries[0], entries[1]}, true)
		if !slices.EqualFunc(got, want, groupsEqual) {
			t.Errorf("reordered input: %+v, want %+v", got, want)
		}
	})
}

// FuzzGroups maps arbitrary group entries and flattens them: nothing may
// panic, a mapped group must have an id and a short valid name, and its
// members must be normalised, sorted, unique and never a group read.
func FuzzGroups(f *testing.F) {
	f.Add("cn=a,dc=x", "id1", "a", "cn=b,dc=x", "cn=b,dc=x", "id2", "b", "CN=A,DC=X", true)
	f.Add("cn=a,dc=x", "id1", "a", "uid=u,dc=x#'01'B", "cn=a,dc=x", "id1", "A", "uid=u,dc=x", false)
	f.Add("cn=\xff", "", "\x00", "=,", "", " ", "", "\\", true)
	m := groupMapper("uniqueMember", "")
	f.Fuzz(func(t *testing.T, dn1, id1, name1, member1, dn2, id2, name2, member2 string, nested bool) {
		entries := []GroupEntry{
			m.Map(groupEntry(dn1, map[string][]string{"entryUUID": {id1}, "cn": {name1}, "uniqueMember": {member1, member2}})),
			m.Map(groupEntry(dn2, map[string][]string{"entryUUID": {id2}, "cn": {name2}, "uniqueMember": {member2, dn1}})),
		}
		groups, skipped := FlattenGroups(entries, nested)
		isGroup := map[string]bool{}
		for _, e := range entries {
			if e.Group.DN != "" {
				isGroup[identity.NormalizeDN(e.Group.DN)] = true
			}
		}
		for _, s := range skipped {
			if s.Reason == "" || !utf8.ValidString(s.DN+s.ID+s.Detail) || len(s.Detail) > 512 {
				t.Fatalf("bad skip %+v", s)
			}
		}
		for _, gr := range groups {
			if gr.ID == "" || gr.Name == "" || utf8.RuneCountInString(gr.Name) > MaxGroupNameLength || !utf8.ValidString(gr.Name) {
				t.Fatalf("bad group %+v", gr)
			}
			if !slices.IsSorted(gr.MemberDNs) || len(slices.Compact(slices.Clone(gr.MemberDNs))) != len(gr.MemberDNs) {
				t.Fatalf("members not sorted and unique: %q", gr.MemberDNs)
			}
			for _, dn := range gr.MemberDNs {
				if isGroup[dn] || identity.NormalizeDN(dn) != dn {
					t.Fatalf("member %q is a group or not normalised", dn)
				}
			}
		}
	})
}

// The login is read and checked like any value, but is optional.
func TestMapLogin(t *testing.T) {
	cfg := openLDAPConfig()
	cfg.Attributes.Login = "uid"
	m := NewMapper(cfg)
	base := map[string][]string{"entryUUID": {"u1"}, "mail": {"a@example.org"}}
	for _, tc := range []struct {
		name   string
		uid    []string
		login  string
		reason identity.SkipReason
	}{
		{"present", []string{" alice "}, "alice", ""},
		{"missing", nil, "", ""},
		{"not UTF-8", []string{"al\xffice"}, "", identity.SkipInvalidUTF8},
		{"NUL", []string{"al\x00ice"}, "", identity.SkipNULByte},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := maps.Clone(base)
			if tc.uid != nil {
				attrs["uid"] = tc.uid
			}
			u, s := m.Map(groupEntry("uid=a,dc=x", attrs))
			switch {
			case tc.reason != "" && (s == nil || s.Reason != tc.reason):
				t.Errorf("Map = %+v, %+v; want skip %s", u, s, tc.reason)
			case tc.reason == "" && (s != nil || u.Login != tc.login):
				t.Errorf("Map = %+v, %+v; want login %q", u, s, tc.login)
			}
		})
	}
	if u, _ := m.Map(groupEntry("uid=a,dc=x", map[string][]string{"entryUUID": {"u1"}, "mail": {"a@example.org"}, "uid": {"x"}})); u.Hash() != (identity.User{UserName: u.UserName, DisplayName: u.DisplayName}).Hash() {
		t.Error("the login changes the content hash")
	}
}
