package dirgen

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGenerateIsDeterministic(t *testing.T) {
	for _, shape := range []Shape{OpenLDAP, ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			opts := Options{Seed: 42, Users: 1500, Shape: shape, Groups: 7, Awkward: true}
			a, b := Generate(opts), Generate(opts)
			if !bytes.Equal(a.LDIF(), b.LDIF()) || !bytes.Equal(a.GroupsLDIF(), b.GroupsLDIF()) {
				t.Fatal("two runs with the same seed wrote different LDIF")
			}
			opts.Seed = 43
			if c := Generate(opts); bytes.Equal(a.LDIF(), c.LDIF()) {
				t.Fatal("a different seed wrote the same LDIF")
			}
		})
	}
}

func TestUsersAreUnique(t *testing.T) {
	for _, shape := range []Shape{OpenLDAP, ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			d := Generate(Options{Seed: 1, Users: 5000, Shape: shape, Awkward: true})
			dns, ids, uids := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, u := range d.Users {
				if dns[u.DN] || ids[u.ID] || uids[u.UID] {
					t.Fatalf("user %q repeats a DN, ID or uid", u.DN)
				}
				dns[u.DN], ids[u.ID], uids[u.UID] = true, true, true
			}
		})
	}
}

func TestAwkwardEntries(t *testing.T) {
	tests := []struct {
		name  string
		users int
		shape Shape
	}{
		{"smallest openldap", 6, OpenLDAP},
		{"smallest ad", 6, ActiveDirectory},
		{"several rounds", 2000, OpenLDAP},
		{"large ad", 10000, ActiveDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Generate(Options{Seed: 7, Users: tt.users, Shape: tt.shape, Awkward: true})
			count := map[string]int{}
			mails := map[string][]User{}
			for _, u := range d.Users {
				count[u.Awkward]++
				if u.Mail != "" {
					mails[strings.ToLower(u.Mail)] = append(mails[strings.ToLower(u.Mail)], u)
				}
				checkAwkward(t, d, u)
			}
			for _, k := range []string{AwkwardNoMail, AwkwardUpperMail, AwkwardNonASCII, AwkwardDisabled} {
				if count[k] < 1 {
					t.Errorf("no %s entry among %d users", k, tt.users)
				}
			}
			if count[AwkwardDuplicateMail] < 2 || count[AwkwardDuplicateMail]%2 != 0 {
				t.Errorf("duplicate_mail entries = %d, want pairs", count[AwkwardDuplicateMail])
			}
			for mail, us := range mails {
				if len(us) > 1 {
					for _, u := range us {
						if u.Awkward != AwkwardDuplicateMail {
							t.Errorf("%s shares %s but is marked %q", u.DN, mail, u.Awkward)
						}
					}
				}
			}
			if tt.users >= 600 && count[""] < tt.users*95/100 {
				t.Errorf("only %d of %d users are ordinary", count[""], tt.users)
			}
		})
	}
}

func checkAwkward(t *testing.T, d *Directory, u User) {
	t.Helper()
	want := strings.ToLower(u.Mail)
	switch u.Awkward {
	case AwkwardNoMail, AwkwardDuplicateMail:
		want = ""
	case AwkwardUpperMail:
		if u.Mail != strings.ToUpper(u.Mail) || u.Mail == want {
			t.Errorf("%s: upper_mail has mail %q", u.DN, u.Mail)
		}
	case AwkwardNonASCII:
		if isASCII(u.DisplayName) || !isASCII(u.UID) || !isASCII(u.Mail) {
			t.Errorf("%s: non_ascii has display name %q, uid %q, mail %q", u.DN, u.DisplayName, u.UID, u.Mail)
		}
	case AwkwardDisabled:
		if !u.Disabled {
			t.Errorf("%s: disabled entry is not Disabled", u.DN)
		}
	}
	if u.Awkward != AwkwardDisabled && u.Disabled {
		t.Errorf("%s: %q entry is Disabled", u.DN, u.Awkward)
	}
	if got := d.ExpectedEmail(u); got != want {
		t.Errorf("%s: ExpectedEmail = %q, want %q", u.DN, got, want)
	}
}

func TestNotAwkwardMeansClean(t *testing.T) {
	d := Generate(Options{Seed: 3, Users: 3000, Shape: ActiveDirectory})
	seen := map[string]bool{}
	for _, u := range d.Users {
		if u.Awkward != "" || u.Disabled || u.Mail == "" || seen[u.Mail] || u.Mail != strings.ToLower(u.Mail) {
			t.Fatalf("user %+v is awkward without Awkward", u)
		}
		seen[u.Mail] = true
	}
}

func TestGUIDString(t *testing.T) {
	raw := []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	if got, want := GUIDString(raw), "03020100-0504-0706-0809-0a0b0c0d0e0f"; got != want {
		t.Fatalf("GUIDString = %s, want %s", got, want)
	}
	d := Generate(Options{Seed: 9, Users: 50, Shape: ActiveDirectory})
	canonical := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, u := range d.Users {
		if len(u.GUID) != 16 || u.ID != GUIDString(u.GUID) || !canonical.MatchString(u.ID) {
			t.Fatalf("user %s: GUID %x, ID %s", u.DN, u.GUID, u.ID)
		}
	}
}

func TestLDIFAttributes(t *testing.T) {
	tests := []struct {
		shape Shape
		want  []string // attribute names every user entry carries
	}{
		{OpenLDAP, []string{"objectClass", "uid", "cn", "sn", "givenName", "displayName", "departmentNumber", "entryUUID"}},
		{ActiveDirectory, []string{"objectClass", "cn", "sn", "givenName", "displayName", "department", "objectGUID", "userAccountControl", "sAMAccountName", "userPrincipalName"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.shape), func(t *testing.T) {
			d := Generate(Options{Seed: 5, Users: 700, Shape: tt.shape, Awkward: true, Groups: 4})
			entries := parse(t, d.LDIF())
			if len(entries) != len(d.Users)+2 {
				t.Fatalf("LDIF has %d entries, want %d users and 2 OUs", len(entries), len(d.Users))
			}
			if entries[0]["dn"][0] != d.PeopleDN || entries[1]["dn"][0] != d.GroupsDN {
				t.Fatalf("LDIF starts with %v and %v, want the OUs", entries[0]["dn"], entries[1]["dn"])
			}
			for i, u := range d.Users {
				e := entries[i+2]
				if e["dn"][0] != u.DN {
					t.Fatalf("entry %d is %q, want %q", i, e["dn"][0], u.DN)
				}
				for _, a := range tt.want {
					if len(e[a]) == 0 {
						t.Errorf("%s has no %s", u.DN, a)
					}
				}
				if got := strings.Join(e["mail"], ","); got != u.Mail {
					t.Errorf("%s: mail %q, want %q", u.DN, got, u.Mail)
				}
				if e["displayName"][0] != u.DisplayName || e["givenName"][0] != u.GivenName {
					t.Errorf("%s: names %q/%q, want %q/%q", u.DN, e["displayName"][0], e["givenName"][0], u.DisplayName, u.GivenName)
				}
				switch tt.shape {
				case OpenLDAP:
					if e["entryUUID"][0] != u.ID || (len(e["pwdAccountLockedTime"]) > 0) != u.Disabled {
						t.Errorf("%s: entryUUID %v, pwdAccountLockedTime %v; want %s, disabled %v", u.DN, e["entryUUID"], e["pwdAccountLockedTime"], u.ID, u.Disabled)
					}
				case ActiveDirectory:
					uac := map[bool]string{false: "512", true: "514"}[u.Disabled]
					if e["objectGUID"][0] != string(u.GUID) || e["userAccountControl"][0] != uac {
						t.Errorf("%s: objectGUID %x, userAccountControl %v", u.DN, e["objectGUID"][0], e["userAccountControl"])
					}
				}
			}
			groups := parse(t, d.GroupsLDIF())
			if len(groups) != len(d.Groups) {
				t.Fatalf("groups LDIF has %d entries, want %d", len(groups), len(d.Groups))
			}
			for i, g := range d.Groups {
				if groups[i]["dn"][0] != g.DN || strings.Join(groups[i]["member"], "\n") != strings.Join(g.Members, "\n") {
					t.Errorf("group %s does not match its LDIF", g.DN)
				}
			}
		})
	}
}

func TestNonASCIIIsBase64(t *testing.T) {
	d := Generate(Options{Seed: 11, Users: 600, Shape: ActiveDirectory, Awkward: true})
	ldif := d.LDIF()
	if !utf8.Valid(ldif) || !isASCII(string(ldif)) {
		t.Fatal("LDIF carries raw non-ASCII bytes; RFC 2849 wants them base64")
	}
	found := false
	for _, u := range d.Users {
		if u.Awkward == AwkwardNonASCII {
			found = true
			line := "displayName:: " + base64.StdEncoding.EncodeToString([]byte(u.DisplayName)) + "\n"
			if !bytes.Contains(ldif, []byte(line)) {
				t.Errorf("LDIF lacks %q", line)
			}
		}
	}
	if !found {
		t.Fatal("no non_ascii user generated")
	}
}

func TestGroups(t *testing.T) {
	d := Generate(Options{Seed: 2, Users: 300, Groups: 9})
	if len(d.Groups) != 9 {
		t.Fatalf("got %d groups, want 9", len(d.Groups))
	}
	listed := map[string]map[string]bool{}
	nested := 0
	for _, g := range d.Groups {
		listed[g.DN] = map[string]bool{}
		for _, m := range g.Members {
			listed[g.DN][m] = true
			if strings.HasSuffix(m, ","+d.GroupsDN) {
				nested++
			}
		}
	}
	if nested == 0 {
		t.Fatal("no group lists another group")
	}
	for _, u := range d.Users {
		if len(u.Groups) == 0 {
			t.Errorf("%s is in no group", u.DN)
		}
		for _, g := range u.Groups {
			if !listed[g][u.DN] {
				t.Errorf("%s names group %s, which does not list it", u.DN, g)
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parse reads the subset of LDIF this package writes: unfolded lines,
// "name: value" and "name:: base64".
func parse(t *testing.T, ldif []byte) []map[string][]string {
	t.Helper()
	var entries []map[string][]string
	for _, block := range strings.Split(strings.TrimSpace(string(ldif)), "\n\n") {
		e := map[string][]string{}
		for _, line := range strings.Split(block, "\n") {
			name, value, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("bad LDIF line %q", line)
			}
			if n, isB64 := strings.CutSuffix(name, ":"); isB64 {
				raw, err := base64.StdEncoding.DecodeString(value)
				if err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				name, value = n, string(raw)
			}
			e[name] = append(e[name], value)
		}
		entries = append(entries, e)
	}
	return entries
}

func BenchmarkLDIF100k(b *testing.B) {
	for _, shape := range []Shape{OpenLDAP, ActiveDirectory} {
		b.Run(string(shape), func(b *testing.B) {
			for b.Loop() {
				d := Generate(Options{Seed: 1, Users: 100_000, Shape: shape, Groups: 50, Awkward: true})
				b.SetBytes(int64(len(d.LDIF()) + len(d.GroupsLDIF())))
			}
		})
	}
}
