package slapdtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, slapdtest.StopShared) }

const suffix = slapdtest.DefaultSuffix

// A bind account for tests that need an ordinary user's limits and access.
const (
	syncdDN       = "cn=syncd," + suffix
	syncdPassword = "syncd-test-password"
)

var syncdLDIF = []byte(`
dn: ` + syncdDN + `
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: syncd
userPassword: ` + syncdPassword + `
`)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// directory returns a shared server loaded with 2,000 generated users of
// the shape, in groups added online, plus the syncd bind account.
func directory(t *testing.T, shape dirgen.Shape) (*slapdtest.Server, *dirgen.Directory) {
	t.Helper()
	d := dirgen.Generate(dirgen.Options{Seed: 20261125, Users: 2000, Shape: shape, Suffix: suffix, Groups: 12, Awkward: true})
	s := slapdtest.Shared(t, string(shape), func() slapdtest.Options {
		return slapdtest.Options{LDIF: append(d.LDIF(), syncdLDIF...), OnlineLDIF: d.GroupsLDIF()}
	})
	return s, d
}

func dial(t *testing.T, s *slapdtest.Server, dn, password string) *ldap.Conn {
	t.Helper()
	conn, err := s.Dial(ctxT(t), dn, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestStartStop(t *testing.T) {
	s, err := slapdtest.Start(ctxT(t), slapdtest.Options{})
	if errors.Is(err, slapdtest.ErrNotInstalled) {
		testenv.Unavailable(t, "slapd not found", err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	conn := dial(t, s, s.RootDN, s.RootPassword)
	res, err := conn.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"dc"}, nil))
	if err != nil {
		t.Fatalf("read suffix entry: %v", err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("dc") != "corp" {
		t.Fatalf("suffix entry = %v, want dc=corp", res.Entries)
	}
	if _, err := s.Dial(ctxT(t), s.RootDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind with a wrong password: %v, want invalid credentials", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if c, err := s.Conn(ctxT(t)); err == nil {
		c.Close()
		t.Fatal("server still answers after Stop")
	}
}

// TestStartAsUnprivilegedUser proves the fixture works for an ordinary
// user as well as for root: run as root, it runs TestStartStop and
// TestOfflineLoad again as nobody.
func TestStartAsUnprivilegedUser(t *testing.T) {
	if !testenv.RerunAs(t, "nobody", "^(TestStartStop|TestOfflineLoad)$") {
		TestStartStop(t)
	}
}

func TestOfflineLoad(t *testing.T) {
	for _, shape := range []dirgen.Shape{dirgen.OpenLDAP, dirgen.ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			s, d := directory(t, shape)
			conn := dial(t, s, syncdDN, syncdPassword)
			attrs := []string{"mail", "displayName", "givenName", "sn", "entryUUID", "pwdAccountLockedTime", "objectGUID", "userAccountControl"}
			res, err := conn.SearchWithPaging(ldap.NewSearchRequest(d.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=person)", attrs, nil), 500)
			if err != nil {
				t.Fatalf("search users: %v", err)
			}
			if len(res.Entries) != len(d.Users) {
				t.Fatalf("found %d users, want %d", len(res.Entries), len(d.Users))
			}
			byDN := map[string]*ldap.Entry{}
			for _, e := range res.Entries {
				byDN[e.DN] = e
			}
			for _, u := range d.Users {
				e := byDN[u.DN]
				if e == nil {
					t.Fatalf("user %s not found", u.DN)
				}
				if e.GetAttributeValue("mail") != u.Mail || e.GetAttributeValue("displayName") != u.DisplayName || e.GetAttributeValue("sn") != u.Surname {
					t.Errorf("%s: mail %q, displayName %q, sn %q; want %q, %q, %q", u.DN,
						e.GetAttributeValue("mail"), e.GetAttributeValue("displayName"), e.GetAttributeValue("sn"), u.Mail, u.DisplayName, u.Surname)
				}
				switch shape {
				case dirgen.OpenLDAP:
					locked := e.GetAttributeValue("pwdAccountLockedTime") != ""
					if e.GetAttributeValue("entryUUID") != u.ID || locked != u.Disabled {
						t.Errorf("%s: entryUUID %q, locked %v; want %q, %v", u.DN, e.GetAttributeValue("entryUUID"), locked, u.ID, u.Disabled)
					}
				case dirgen.ActiveDirectory:
					guid := e.GetRawAttributeValue("objectGUID")
					if len(guid) != 16 || !bytes.Equal(guid, u.GUID) || dirgen.GUIDString(guid) != u.ID {
						t.Errorf("%s: objectGUID %x, want the 16 bytes %x", u.DN, guid, u.GUID)
					}
					uac := map[bool]string{false: "512", true: "514"}[u.Disabled]
					if e.GetAttributeValue("userAccountControl") != uac {
						t.Errorf("%s: userAccountControl %q, want %s", u.DN, e.GetAttributeValue("userAccountControl"), uac)
					}
				}
			}
		})
	}
}

func TestADDisabledBitFilter(t *testing.T) {
	s, d := directory(t, dirgen.ActiveDirectory)
	conn := dial(t, s, syncdDN, syncdPassword)
	res, err := conn.Search(ldap.NewSearchRequest(d.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(userAccountControl:1.2.840.113556.1.4.803:=2)", []string{"1.1"}, nil))
	if err != nil {
		t.Fatalf("search disabled users: %v", err)
	}
	var got, want []string
	for _, e := range res.Entries {
		got = append(got, e.DN)
	}
	for _, u := range d.Users {
		if u.Disabled {
			want = append(want, u.DN)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("bitwise filter found %v, want %v", got, want)
	}
}

func TestOnlineGroupsFillMemberOf(t *testing.T) {
	for _, shape := range []dirgen.Shape{dirgen.OpenLDAP, dirgen.ActiveDirectory} {
		t.Run(string(shape), func(t *testing.T) {
			s, d := directory(t, shape)
			conn := dial(t, s, syncdDN, syncdPassword)
			res, err := conn.SearchWithPaging(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(|(objectClass=person)(objectClass=groupOfNames))", []string{"memberOf"}, nil), 1000)
			if err != nil {
				t.Fatalf("search memberOf: %v", err)
			}
			memberOf := map[string][]string{}
			for _, e := range res.Entries {
				memberOf[e.DN] = e.GetAttributeValues("memberOf")
			}
			want := map[string][]string{}
			for _, u := range d.Users {
				want[u.DN] = u.Groups
			}
			isGroup := map[string]bool{}
			for _, g := range d.Groups {
				isGroup[g.DN] = true
			}
			nested := 0
			for _, g := range d.Groups {
				for _, m := range g.Members {
					if isGroup[m] {
						want[m] = append(want[m], g.DN)
						nested++
					}
				}
			}
			if nested == 0 {
				t.Fatal("the generated directory has no nested group")
			}
			for dn, groups := range want {
				got := slices.Clone(memberOf[dn])
				w := slices.Clone(groups)
				sort.Strings(got)
				sort.Strings(w)
				if !slices.Equal(got, w) {
					t.Errorf("%s: memberOf %v, want %v", dn, got, w)
				}
			}
		})
	}
}

func TestPagedSearchSpansPages(t *testing.T) {
	s, d := directory(t, dirgen.OpenLDAP)
	conn := dial(t, s, syncdDN, syncdPassword)
	const pageSize = 300
	req := ldap.NewSearchRequest(d.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"uid"}, nil)
	paging := ldap.NewControlPaging(pageSize)
	req.Controls = []ldap.Control{paging}
	pages, entries := 0, 0
	for {
		res, err := conn.Search(req)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if len(res.Entries) > pageSize {
			t.Fatalf("page %d has %d entries, more than %d", pages, len(res.Entries), pageSize)
		}
		entries += len(res.Entries)
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok {
			t.Fatal("server answered without a paging control")
		}
		if len(ctrl.Cookie) == 0 {
			break
		}
		paging.SetCookie(ctrl.Cookie)
	}
	if wantPages := (len(d.Users) + pageSize - 1) / pageSize; pages != wantPages || entries != len(d.Users) {
		t.Fatalf("read %d entries in %d pages, want %d in %d", entries, pages, len(d.Users), wantPages)
	}
}

func TestSizeLimitPRTotal(t *testing.T) {
	d := dirgen.Generate(dirgen.Options{Seed: 1, Users: 50, Suffix: suffix})
	s := slapdtest.New(t, slapdtest.Options{
		LDIF:   append(d.LDIF(), syncdLDIF...),
		Config: `limits dn.exact="` + syncdDN + `" size.prtotal=10`,
	})
	req := func() *ldap.SearchRequest {
		return ldap.NewSearchRequest(d.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", []string{"uid"}, nil)
	}
	t.Run("limited account", func(t *testing.T) {
		_, err := dial(t, s, syncdDN, syncdPassword).SearchWithPaging(req(), 5)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			t.Fatalf("paged search past size.prtotal: %v, want size limit exceeded", err)
		}
	})
	t.Run("root is not limited", func(t *testing.T) {
		res, err := dial(t, s, s.RootDN, s.RootPassword).SearchWithPaging(req(), 5)
		if err != nil || len(res.Entries) != len(d.Users) {
			t.Fatalf("root paged search: %d entries, %v; want %d", len(res.Entries), err, len(d.Users))
		}
	})
}

func TestACLHidesEntries(t *testing.T) {
	d := dirgen.Generate(dirgen.Options{Seed: 2, Users: 30, Suffix: suffix})
	other := []byte(`
dn: cn=other,` + suffix + `
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: other
userPassword: other-password
`)
	s := slapdtest.New(t, slapdtest.Options{
		LDIF:   slices.Concat(d.LDIF(), syncdLDIF, other),
		Config: `access to dn.children="` + d.PeopleDN + `" by dn.exact="` + syncdDN + `" none by * break`,
	})
	tests := []struct {
		name, dn, password string
		want               int
	}{
		{"hidden from syncd", syncdDN, syncdPassword, 0},
		{"visible to others", "cn=other," + suffix, "other-password", len(d.Users)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := dial(t, s, tt.dn, tt.password).Search(ldap.NewSearchRequest(d.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"uid"}, nil))
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if len(res.Entries) != tt.want {
				t.Fatalf("found %d entries, want %d", len(res.Entries), tt.want)
			}
		})
	}
}

func TestEntryUUIDOnlyWhenAsked(t *testing.T) {
	s, d := directory(t, dirgen.OpenLDAP)
	conn := dial(t, s, syncdDN, syncdPassword)
	u := d.Users[0]
	tests := []struct {
		attrs []string
		want  string
	}{
		{nil, ""},
		{[]string{"*"}, ""},
		{[]string{"entryUUID"}, u.ID},
		{[]string{"*", "entryUUID"}, u.ID},
		{[]string{"+"}, u.ID},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attrs), func(t *testing.T) {
			res, err := conn.Search(ldap.NewSearchRequest(u.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", tt.attrs, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("read %s: %v", u.DN, err)
			}
			if got := res.Entries[0].GetAttributeValue("entryUUID"); got != tt.want {
				t.Fatalf("entryUUID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddLDIFOnline(t *testing.T) {
	s := slapdtest.New(t, slapdtest.Options{LDIF: dirgen.Generate(dirgen.Options{Suffix: suffix}).LDIF()})
	// Folded lines, a comment, base64 values (UTF-8 and binary), and
	// attributes only the Relax Rules control lets a client set.
	ldif := []byte(`version: 1

# a folded
  comment
dn: uid=zoe,ou=people,` + suffix + `
changetype: add
objectClass: inetOrgPerson
objectClass: extensibleObject
uid: zoe
cn:: Wm/DqyDDhWtlc3Nvbg==
sn: Åkes
 son
entryUUID: 4f0c5a0e-8a2b-4c1d-9e3f-0123456789ab
pwdAccountLockedTime: 000001010000Z
nsAccountLock: TRUE

dn: cn=Guid User,ou=people,` + suffix + `
objectClass: user
cn: Guid User
sn: User
objectGUID:: AAECAwQFBgcICQoLDA0ODw==
userAccountControl: 514
`)
	if err := s.AddLDIF(ctxT(t), ldif); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, s, s.RootDN, s.RootPassword)
	res, err := conn.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(|(uid=zoe)(cn=Guid User))",
		[]string{"cn", "sn", "entryUUID", "pwdAccountLockedTime", "nsAccountLock", "objectGUID"}, nil))
	if err != nil || len(res.Entries) != 2 {
		t.Fatalf("read added entries: %d, %v", len(res.Entries), err)
	}
	for _, e := range res.Entries {
		switch e.GetAttributeValue("cn") {
		case "Zoë Åkesson":
			if e.GetAttributeValue("sn") != "Åkesson" || e.GetAttributeValue("entryUUID") != "4f0c5a0e-8a2b-4c1d-9e3f-0123456789ab" ||
				e.GetAttributeValue("pwdAccountLockedTime") == "" || e.GetAttributeValue("nsAccountLock") != "TRUE" {
				t.Errorf("zoe came back as %v", entryString(e))
			}
		case "Guid User":
			if got := e.GetRawAttributeValue("objectGUID"); !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
				t.Errorf("objectGUID = %x", got)
			}
		default:
			t.Errorf("unexpected entry %v", entryString(e))
		}
	}
}

func TestExternalServer(t *testing.T) {
	base := slapdtest.New(t, slapdtest.Options{})
	d := dirgen.Generate(dirgen.Options{Seed: 4, Users: 20, Suffix: suffix, Groups: 3})
	count := func(t *testing.T) int {
		t.Helper()
		res, err := dial(t, base, base.RootDN, base.RootPassword).Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Entries)
	}
	before := count(t)
	t.Run("uses it", func(t *testing.T) {
		t.Setenv(slapdtest.EnvURL, base.URL)
		t.Setenv(slapdtest.EnvBindDN, base.RootDN)
		t.Setenv(slapdtest.EnvBindPassword, base.RootPassword)
		t.Setenv(slapdtest.EnvSuffix, suffix)
		s := slapdtest.New(t, slapdtest.Options{LDIF: d.LDIF(), OnlineLDIF: d.GroupsLDIF()})
		if s.URL != base.URL {
			t.Fatalf("fixture URL %s, want the external %s", s.URL, base.URL)
		}
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop on an external server: %v", err)
		}
		if got, want := count(t), before+2+len(d.Users)+len(d.Groups); got != want {
			t.Fatalf("external server holds %d entries, want %d", got, want)
		}
	})
	if got := count(t); got != before {
		t.Fatalf("after cleanup the external server holds %d entries, want the %d it had", got, before)
	}
}

func entryString(e *ldap.Entry) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s:", e.DN)
	for _, a := range e.Attributes {
		fmt.Fprintf(&b, " %s=%q", a.Name, a.Values)
	}
	return b.String()
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		s, err := slapdtest.Start(context.Background(), slapdtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Stop()
	}
}

func BenchmarkStart100kUsers(b *testing.B) {
	for _, shape := range []dirgen.Shape{dirgen.OpenLDAP, dirgen.ActiveDirectory} {
		b.Run(string(shape), func(b *testing.B) {
			ldif := dirgen.Generate(dirgen.Options{Seed: 1, Users: 100_000, Shape: shape, Suffix: suffix, Awkward: true}).LDIF()
			for b.Loop() {
				s, err := slapdtest.Start(context.Background(), slapdtest.Options{LDIF: ldif})
				if err != nil {
					b.Fatal(err)
				}
				s.Stop()
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := testenv.LookPath("slapd", "/usr/sbin"); err != nil {
		testenv.Unavailable(t, "slapd not found", "install Debian packages slapd and ldap-utils")
	}
	tests := []struct {
		name string
		opts slapdtest.Options
		want string
	}{
		{"ldif repeats the suffix entry", slapdtest.Options{LDIF: []byte("dn: " + suffix + "\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: corp\n")}, "slapadd"},
		{"entry outside the suffix", slapdtest.Options{LDIF: []byte("dn: ou=x,dc=elsewhere\nobjectClass: organizationalUnit\nou: x\n")}, "slapadd"},
		{"bad config line", slapdtest.Options{Config: "no-such-directive 1"}, "slapadd"},
		{"online entry breaks the schema", slapdtest.Options{OnlineLDIF: []byte("dn: ou=x," + suffix + "\nobjectClass: organizationalUnit\nou: x\nuid: x\n")}, "add online ldif"},
		{"suffix without dc, o or ou", slapdtest.Options{Suffix: "cn=corp"}, "first RDN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			s, err := slapdtest.Start(ctxT(t), tt.opts)
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("a failed Start left %s behind", left[0].Name())
			}
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "rootpw") {
				t.Fatalf("Start error %q leaks the configuration", err)
			}
		})
	}
}
