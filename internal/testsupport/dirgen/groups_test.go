package dirgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// The output of options that existed before group classes must not move:
// tests and benchmarks elsewhere rely on it. The hashes were taken before
// GroupClass and GroupCycle were added.
func TestOutputUnchanged(t *testing.T) {
	for _, tc := range []struct {
		opts          Options
		users, groups string
	}{
		{Options{Seed: 42, Users: 1500, Shape: OpenLDAP, Groups: 7, Awkward: true}, "2aa882f46ec0455612e53ef2a590e340a73b2fc428719b79f0f7658420741c4c", "d21d0e53792ecf629e80a17bac0778e7e42dc8f4e9a9e3a490df5a4e77151803"},
		{Options{Seed: 42, Users: 1500, Shape: ActiveDirectory, Groups: 7, Awkward: true}, "30c2abd3da9655664ec0a70d52f606629824d23295d239bdc994eec91432f7cc", "9e18df74548dc87c184951601a904872a12cb65358249b6dd3cb80f95a5a90b2"},
		{Options{Seed: 3, Users: 90, Groups: 4}, "fb48e07538cd8faa0cff74e9301d866280824b822d7408ace828a59497231afc", "2124b2e7a29fe456ead4e9d4dbff541407fa4c7386ae8cd4c05aec157e0c21d9"},
		{Options{Seed: 1, Users: 1, Shape: ActiveDirectory, Groups: 1}, "9514a6ad34124a1ee037cea6612d935946e0e4ec9c6057bb69fb171945a6859b", "009fa02dab12c9e7e49adcfc31ce3b19ded0a7f1432016340a99dbda1f507c8f"},
		{Options{Seed: 9, Users: 40}, "655036ec29f367912cf97f048f5ea99817786734f979326e9238024c9c3e4ded", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		d := Generate(tc.opts)
		u, g := sha256.Sum256(d.LDIF()), sha256.Sum256(d.GroupsLDIF())
		if hex.EncodeToString(u[:]) != tc.users || hex.EncodeToString(g[:]) != tc.groups {
			t.Errorf("%+v: output changed", tc.opts)
		}
	}
}

func TestGroupClasses(t *testing.T) {
	for _, tc := range []struct {
		class  GroupClass
		shape  Shape
		lines  []string // lines every group entry must have
		member string   // the attribute listing members
	}{
		{GroupOfNames, OpenLDAP, []string{"objectClass: groupOfNames"}, "member"},
		{GroupOfUniqueNames, OpenLDAP, []string{"objectClass: groupOfUniqueNames"}, "uniqueMember"},
		{PosixGroup, OpenLDAP, []string{"objectClass: posixGroup", "gidNumber: "}, "memberUid"},
		{ADGroup, ActiveDirectory, []string{"objectClass: group", "objectGUID:: ", "sAMAccountName: "}, "member"},
	} {
		t.Run(string(tc.class), func(t *testing.T) {
			d := Generate(Options{Seed: 4, Users: 60, Shape: tc.shape, Groups: 5, GroupClass: tc.class, GroupCycle: true})
			entries := strings.Split(string(d.GroupsLDIF()), "\n\n")
			if len(entries) != len(d.Groups) {
				t.Fatalf("%d entries, want %d", len(entries), len(d.Groups))
			}
			for i, e := range entries {
				for _, l := range append(tc.lines, tc.member+": ") {
					if !strings.Contains(e, l) {
						t.Errorf("group %d lacks %q:\n%s", i, l, e)
					}
				}
			}
			if tc.class == ADGroup {
				if g := d.Groups[0]; len(g.GUID) != 16 || g.ID != GUIDString(g.GUID) {
					t.Errorf("AD group id %q from guid %x", g.ID, g.GUID)
				}
			}
			if tc.class == PosixGroup {
				for _, g := range d.Groups {
					want := d.ExpectedLogins(g)
					var got []string
					for _, l := range strings.Split(entries[slices.IndexFunc(d.Groups, func(x Group) bool { return x.DN == g.DN })], "\n") {
						if v, ok := strings.CutPrefix(l, "memberUid: "); ok {
							got = append(got, v)
						}
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("%s: memberUid %v, want %v", g.DN, got, want)
					}
				}
			}
			again := Generate(d.Options)
			if !bytes.Equal(again.GroupsLDIF(), d.GroupsLDIF()) {
				t.Error("same options, different groups")
			}
		})
	}
}

func TestExpectedMembersCycle(t *testing.T) {
	d := Generate(Options{Seed: 8, Users: 30, Groups: 3, GroupCycle: true})
	g0, g1, g2 := d.Groups[0], d.Groups[1], d.Groups[2]
	if !slices.Contains(g0.Members, g1.DN) || !slices.Contains(g1.Members, g0.DN) {
		t.Fatalf("no cycle between %s and %s", g0.DN, g1.DN)
	}
	// Group 2 lists group 1, which reaches group 0 through the cycle.
	direct := func(g Group) []string {
		var out []string
		for _, m := range g.Members {
			if !strings.HasSuffix(m, ","+d.GroupsDN) {
				out = append(out, strings.ToLower(m))
			}
		}
		return out
	}
	want := append(append(direct(g0), direct(g1)...), direct(g2)...)
	slices.Sort(want)
	want = slices.Compact(want)
	if got := d.ExpectedMembers(g2, true); !slices.Equal(got, want) {
		t.Errorf("nested members of %s: %d, want %d", g2.DN, len(got), len(want))
	}
	if got := d.ExpectedMembers(g0, true); !slices.Equal(got, d.ExpectedMembers(g1, true)) {
		t.Error("the two groups of a cycle have different members")
	}
	if got, want := d.ExpectedMembers(g2, false), direct(g2); len(got) != len(want) {
		t.Errorf("direct members of %s: %d, want %d", g2.DN, len(got), len(want))
	}
}
