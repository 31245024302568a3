package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// groupServer starts a slapd with dir's users offline and its groups, plus
// extra, online.
func groupServer(t *testing.T, dir *dirgen.Directory, extra, config string) *slapdtest.Server {
	t.Helper()
	return slapdtest.New(t, slapdtest.Options{
		Suffix:     dir.Options.Suffix,
		LDIF:       withAccount(dir.Options.Suffix, dir.LDIF()),
		OnlineLDIF: append(dir.GroupsLDIF(), extra...),
		Config:     config,
	})
}

// groupConfig reads dir's groups the way the config package's flavour
// defaults would for its shape and class.
func groupConfig(srv *slapdtest.Server, dir *dirgen.Directory, nested bool) Config {
	cfg := baseConfig(srv, dir.Options.Shape, dir.PeopleDN)
	cfg.Attributes.Login = "uid"
	cfg.Groups = Groups{BaseDNs: []string{dir.GroupsDN}, Nested: nested}
	switch dir.Options.GroupClass {
	case dirgen.ADGroup:
		cfg.Attributes.Login = "sAMAccountName"
		cfg.Groups.Filter = "(objectClass=group)"
	case dirgen.GroupOfUniqueNames:
		cfg.Groups.Filter, cfg.Groups.MemberAttribute = "(objectClass=groupOfUniqueNames)", MemberAttributeUniqueMember
	case dirgen.PosixGroup:
		cfg.Groups.Filter, cfg.Groups.MemberAttribute = "(objectClass=posixGroup)", MemberAttributeMemberUID
	default:
		cfg.Groups.Filter = "(objectClass=groupOfNames)"
	}
	return cfg
}

func readGroups(t *testing.T, d *Directory) *GroupResult {
	t.Helper()
	res, err := d.ReadGroups(context.Background())
	if err != nil {
		t.Fatalf("ReadGroups: %v", err)
	}
	if res == nil {
		t.Fatal("ReadGroups: nil result with groups configured")
	}
	return res
}

func normalized(dns []string) []string {
	out := make([]string, len(dns))
	for i, dn := range dns {
		out[i] = identity.NormalizeDN(dn)
	}
	slices.Sort(out)
	return out
}

// TestReadGroupsShapes reads every group class dirgen writes, with a cycle
// between the first two groups and a chain of nested groups, and checks each
// group's flattened members against dirgen's expectation.
func TestReadGroupsShapes(t *testing.T) {
	tests := []struct {
		name   string
		shape  dirgen.Shape
		class  dirgen.GroupClass
		nested bool
	}{
		{"groupOfNames nested", dirgen.OpenLDAP, dirgen.GroupOfNames, true},
		{"groupOfNames direct", dirgen.OpenLDAP, dirgen.GroupOfNames, false},
		{"AD group nested", dirgen.ActiveDirectory, dirgen.ADGroup, true},
		{"groupOfUniqueNames nested", dirgen.OpenLDAP, dirgen.GroupOfUniqueNames, true},
		{"posixGroup memberUid", dirgen.OpenLDAP, dirgen.PosixGroup, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := dirgen.Generate(dirgen.Options{Seed: 21, Users: 80, Shape: tt.shape, Groups: 7, GroupClass: tt.class, GroupCycle: true})
			srv := groupServer(t, dir, "", "")
			cfg := groupConfig(srv, dir, tt.nested)
			cfg.Groups.BaseDNs = []string{dir.GroupsDN}
			cfg.PageSize = 3
			d := newDirectory(t, cfg, zerolog.Nop())
			if !d.GroupsEnabled() {
				t.Fatal("GroupsEnabled = false with a group base DN")
			}
			res := readGroups(t, d)
			if res.Incomplete != "" || len(res.Skipped) != 0 || res.Entries != len(dir.Groups) {
				t.Fatalf("read %d groups of %d entries (incomplete %q, skipped %+v), want %d", len(res.Groups), res.Entries, res.Incomplete, res.Skipped, len(dir.Groups))
			}
			got := map[string]identity.Group{}
			for _, g := range res.Groups {
				got[identity.NormalizeDN(g.DN)] = g
			}
			for _, want := range dir.Groups {
				g, ok := got[identity.NormalizeDN(want.DN)]
				if !ok {
					t.Errorf("%s: not read", want.DN)
					continue
				}
				if g.Name != want.Name || g.ID == "" || (want.ID != "" && g.ID != want.ID) {
					t.Errorf("%s: name %q id %q, want %q %q", want.DN, g.Name, g.ID, want.Name, want.ID)
				}
				if tt.class == dirgen.PosixGroup {
					if wl := dir.ExpectedLogins(want); !slices.Equal(g.MemberLogins, wl) || g.MemberDNs != nil {
						t.Errorf("%s: logins %v, DNs %v; want logins %v", want.DN, g.MemberLogins, g.MemberDNs, wl)
					}
					continue
				}
				if wm := normalized(dir.ExpectedMembers(want, tt.nested)); !slices.Equal(g.MemberDNs, wm) {
					t.Errorf("%s: members\n%v\nwant\n%v", want.DN, g.MemberDNs, wm)
				}
			}
			if tt.nested && tt.class != dirgen.PosixGroup {
				// The cycle: both of its groups reach each other's members.
				a, b := got[identity.NormalizeDN(dir.Groups[0].DN)], got[identity.NormalizeDN(dir.Groups[1].DN)]
				if !slices.Equal(a.MemberDNs, b.MemberDNs) {
					t.Errorf("the two groups of the cycle differ: %d and %d members", len(a.MemberDNs), len(b.MemberDNs))
				}
			}
		})
	}
}

// Users carry the login that memberUid groups list.
func TestReadUsersLogin(t *testing.T) {
	for _, shape := range []dirgen.Shape{dirgen.OpenLDAP, dirgen.ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			dir := dirgen.Generate(dirgen.Options{Seed: 17, Users: 30, Shape: shape})
			srv := slapdtest.New(t, slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: withAccount(dir.Options.Suffix, dir.LDIF())})
			cfg := baseConfig(srv, shape, dir.PeopleDN)
			cfg.Attributes.Login = "uid"
			if shape == dirgen.ActiveDirectory {
				cfg.Attributes.Login = "sAMAccountName"
			}
			res := read(t, newDirectory(t, cfg, zerolog.Nop()))
			login := map[string]string{}
			for _, u := range res.Users {
				login[u.ID] = u.Login
			}
			for _, u := range dir.Users {
				if got, ok := login[u.ID]; !ok || got != u.Login {
					t.Errorf("%s: login %q, want %q", u.DN, got, u.Login)
				}
			}
		})
	}
}

func TestReadGroupsSkips(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 23, Users: 20, Groups: 3})
	long := strings.Repeat("x", MaxGroupNameLength+1)
	exact := strings.Repeat("y", MaxGroupNameLength)
	member := dir.Users[0].DN
	group := func(dn, cn string) string {
		return fmt.Sprintf("\ndn: %s\nobjectClass: groupOfNames\ncn: %s\nmember: %s\n", dn, cn, member)
	}
	// Two groups named alike (in any case) under two OUs of the group base.
	teamA, teamB := "ou=a,"+dir.GroupsDN, "ou=b,"+dir.GroupsDN
	extra := fmt.Sprintf("\ndn: %s\nobjectClass: organizationalUnit\nou: a\n\ndn: %s\nobjectClass: organizationalUnit\nou: b\n", teamA, teamB) +
		group("cn="+long+","+dir.GroupsDN, long) +
		group("cn=exact,"+dir.GroupsDN, exact) +
		group("cn=Platform,"+teamA, "Platform") +
		group("cn=platform,"+teamB, "platform")
	srv := groupServer(t, dir, extra, "")
	res := readGroups(t, newDirectory(t, groupConfig(srv, dir, true), zerolog.Nop()))

	reasons := map[string]identity.SkipReason{}
	for _, s := range res.Skipped {
		reasons[identity.NormalizeDN(s.DN)] = s.Reason
		t.Logf("skipped %s: %s (%s)", s.DN, s.Reason, s.Detail)
		if s.ID == "" || s.Detail == "" {
			t.Errorf("%s: skipped without id or detail", s.DN)
		}
	}
	want := map[string]identity.SkipReason{
		identity.NormalizeDN("cn=" + long + "," + dir.GroupsDN): SkipGroupNameTooLong,
		identity.NormalizeDN("cn=Platform," + teamA):            SkipDuplicateGroupName,
		identity.NormalizeDN("cn=platform," + teamB):            SkipDuplicateGroupName,
	}
	if !maps.Equal(reasons, want) {
		t.Errorf("skipped %v, want %v", reasons, want)
	}
	names := map[string]bool{}
	for _, g := range res.Groups {
		names[g.Name] = true
	}
	if !names[exact] || len(res.Groups) != len(dir.Groups)+1 {
		t.Errorf("groups %v, want dirgen's and the one of exactly %d characters", names, MaxGroupNameLength)
	}
}

// A group read cut by the server's size limit is incomplete, and keeps what
// it read.
func TestReadGroupsSizeLimit(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 25, Users: 40, Groups: 30})
	srv := groupServer(t, dir, "", fmt.Sprintf("limits dn.exact=%q size.prtotal=10", bindDN(dir.Options.Suffix)))
	cfg := groupConfig(srv, dir, true)
	cfg.PageSize = 3
	res := readGroups(t, newDirectory(t, cfg, zerolog.Nop()))
	t.Logf("Incomplete: %s", res.Incomplete)
	if !strings.HasPrefix(res.Incomplete, "size limit exceeded: "+dir.GroupsDN) {
		t.Fatalf("Incomplete = %q, want size limit exceeded under %s", res.Incomplete, dir.GroupsDN)
	}
	if len(res.Groups) == 0 || len(res.Groups) >= 30 {
		t.Errorf("%d groups, want the part read before the limit", len(res.Groups))
	}
}

func TestReadGroupsDisabled(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	srv := slapdtest.Shared(t, "small", func() slapdtest.Options {
		return slapdtest.Options{LDIF: []byte(accountLDIF(bindDN(suffix), bindPassword))}
	})
	cfg := baseConfig(srv, dirgen.OpenLDAP, suffix)
	// Fields set but no base DN: still off, and not validated.
	cfg.Groups = Groups{MemberAttribute: "nonsense", Nested: true}
	d := newDirectory(t, cfg, zerolog.Nop())
	if d.GroupsEnabled() {
		t.Error("GroupsEnabled = true without a group base DN")
	}
	res, err := d.ReadGroups(context.Background())
	if res != nil || err != nil {
		t.Errorf("ReadGroups = %+v, %v; want nil, nil", res, err)
	}
}
