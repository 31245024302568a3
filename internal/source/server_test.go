package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, slapdtest.StopShared) }

// The service account the tests bind as, like syncd in production: not the
// root DN, so the server's limits and access rules apply to it.
const (
	bindRDN      = "cn=syncd"
	bindPassword = "s3cret-bind-pw-7781"
)

func bindDN(suffix string) string { return bindRDN + "," + suffix }

// accountLDIF is an entry that can bind with password.
func accountLDIF(dn, password string) string {
	cn := strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "cn=")
	return fmt.Sprintf("dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s\n\n", dn, cn, password)
}

// withAccount prepends the service account to a directory's LDIF.
func withAccount(suffix string, ldif []byte) []byte {
	return append([]byte(accountLDIF(bindDN(suffix), bindPassword)), ldif...)
}

// baseConfig maps the shape dirgen generates, the way the config package's
// flavour defaults would, plus Omni attributes for the awkward extra entries.
func baseConfig(srv *slapdtest.Server, shape dirgen.Shape, peopleDN string) Config {
	cfg := Config{
		URL:          srv.URL,
		BindDN:       bindDN(srv.Suffix),
		BindPassword: bindPassword,
		Timeout:      20 * time.Second,
		PageSize:     50,
		BaseDNs:      []string{peopleDN},
		Scope:        "sub",
		Attributes: Attributes{
			UserName: "mail", DisplayName: "displayName", GivenName: "givenName", FamilyName: "sn",
		},
	}
	switch shape {
	case dirgen.ActiveDirectory:
		cfg.ActiveDirectory = true
		cfg.Attributes.ID = "objectGUID"
		cfg.Filter = "(objectClass=user)"
		cfg.Disabled = Disabled{Kind: "uac"}
		cfg.OmniAttributes = map[string]string{"department": "department", "bio": "description"}
	default:
		cfg.Attributes.ID = "entryUUID"
		cfg.Filter = "(objectClass=inetOrgPerson)"
		cfg.Disabled = Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"}
		cfg.OmniAttributes = map[string]string{"department": "departmentNumber", "bio": "description", "voice": "audio"}
	}
	return cfg
}

func newDirectory(t *testing.T, cfg Config, log zerolog.Logger) *Directory {
	t.Helper()
	d, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func read(t *testing.T, d *Directory) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := d.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return res
}

// extra is an entry dirgen does not make, with the skip it must cause.
type extra struct {
	rdn    string
	ldif   string // attributes after the dn line
	reason identity.SkipReason
}

func extrasLDIF(peopleDN string, extras []extra) []byte {
	var b bytes.Buffer
	for _, e := range extras {
		fmt.Fprintf(&b, "dn: %s,%s\n%s\n", e.rdn, peopleDN, e.ldif)
	}
	return b.Bytes()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestReadShapes reads both directory shapes, awkward entries included, and
// checks every generated user against what dirgen says a sync must make of
// it, plus entries that exercise the skip reasons dirgen does not cover.
func TestReadShapes(t *testing.T) {
	long := strings.Repeat("long text ", identity.MaxValueBytes/10+1)
	tests := []struct {
		shape  dirgen.Shape
		extras []extra
	}{
		{
			shape: dirgen.OpenLDAP,
			extras: []extra{
				{"uid=bad.mail", "objectClass: inetOrgPerson\nuid: bad.mail\ncn: Bad Mail\nsn: Mail\nmail: not an email\n", identity.SkipInvalidEmail},
				{"uid=huge.bio", "objectClass: inetOrgPerson\nuid: huge.bio\ncn: Huge Bio\nsn: Bio\nmail: huge.bio@corp.example.com\ndescription: " + long + "\n", identity.SkipOversized},
				// audio is an octet string, so the server keeps bytes that
				// are not UTF-8; mapped to an Omni attribute they must skip.
				{"uid=binary.voice", "objectClass: inetOrgPerson\nuid: binary.voice\ncn: Binary Voice\nsn: Voice\nmail: binary.voice@corp.example.com\naudio:: " + b64("\xff\xfe\x00voice") + "\n", identity.SkipInvalidUTF8},
			},
		},
		{
			shape: dirgen.ActiveDirectory,
			extras: []extra{
				{"cn=No Guid", "objectClass: user\ncn: No Guid\nsn: Guid\nmail: no.guid@corp.example.com\nuserAccountControl: 512\n", identity.SkipNoID},
				{"cn=Bad Mail", "objectClass: user\ncn: Bad Mail\nsn: Mail\nobjectGUID:: " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 16)) + "\nmail: bad@@corp.example.com\nuserAccountControl: 512\n", identity.SkipInvalidEmail},
				{"cn=Huge Bio", "objectClass: user\ncn: Huge Bio\nsn: Bio\nobjectGUID:: " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xcd}, 16)) + "\nmail: huge.bio@corp.example.com\nuserAccountControl: 512\ndescription: " + long + "\n", identity.SkipOversized},
			},
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.shape), func(t *testing.T) {
			dir := dirgen.Generate(dirgen.Options{Seed: 7, Users: 700, Shape: tt.shape, Awkward: true})
			ldif := append(withAccount(dir.Options.Suffix, dir.LDIF()), '\n')
			ldif = append(ldif, extrasLDIF(dir.PeopleDN, tt.extras)...)
			srv := slapdtest.Shared(t, "shapes-"+string(tt.shape), func() slapdtest.Options {
				return slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: ldif}
			})
			d := newDirectory(t, baseConfig(srv, tt.shape, dir.PeopleDN), zerolog.Nop())
			res := read(t, d)

			if res.Incomplete != "" {
				t.Fatalf("Incomplete = %q, want a complete read", res.Incomplete)
			}
			if want := len(dir.Users) + len(tt.extras); res.Entries != want {
				t.Errorf("Entries = %d, want %d", res.Entries, want)
			}
			if !slices.IsSortedFunc(res.Users, func(a, b identity.User) int { return strings.Compare(a.ID, b.ID) }) {
				t.Errorf("users not sorted by id")
			}
			users := map[string]identity.User{}
			for _, u := range res.Users {
				users[u.ID] = u
			}
			skipped := map[string]identity.Skipped{}
			for _, s := range res.Skipped {
				skipped[strings.ToLower(s.DN)] = s
			}

			wantUsers, kinds := 0, map[string]int{}
			for _, g := range dir.Users {
				kinds[g.Awkward]++
				email := dir.ExpectedEmail(g)
				if email == "" {
					s, ok := skipped[strings.ToLower(g.DN)]
					want := identity.SkipNoEmail
					if g.Awkward == dirgen.AwkwardDuplicateMail {
						want = identity.SkipDuplicateEmail
					}
					if !ok || s.Reason != want {
						t.Errorf("%s (%s): skipped %+v, want reason %s", g.DN, g.Awkward, s, want)
					}
					if ok && s.ID != g.ID {
						t.Errorf("%s: skipped with id %q, want %q", g.DN, s.ID, g.ID)
					}
					if _, mapped := users[g.ID]; mapped {
						t.Errorf("%s (%s): mapped, want skipped", g.DN, g.Awkward)
					}
					continue
				}
				wantUsers++
				u, ok := users[g.ID]
				if !ok {
					t.Errorf("%s (%s): not mapped (skipped: %+v)", g.DN, g.Awkward, skipped[strings.ToLower(g.DN)])
					continue
				}
				if u.UserName != email || u.Active == g.Disabled || u.DisplayName != g.DisplayName ||
					u.GivenName != g.GivenName || u.FamilyName != g.Surname || u.Attributes["department"] != g.Department {
					t.Errorf("%s (%s): got %+v, want email %s, active %v, name %q, department %q",
						g.DN, g.Awkward, u, email, !g.Disabled, g.DisplayName, g.Department)
				}
			}
			for _, k := range []string{dirgen.AwkwardNoMail, dirgen.AwkwardUpperMail, dirgen.AwkwardDuplicateMail, dirgen.AwkwardNonASCII, dirgen.AwkwardDisabled} {
				if kinds[k] == 0 {
					t.Errorf("dirgen made no %s entry; the test would prove nothing about it", k)
				}
			}
			if len(res.Users) != wantUsers {
				t.Errorf("%d users, want %d", len(res.Users), wantUsers)
			}
			for _, e := range tt.extras {
				dn := strings.ToLower(e.rdn + "," + dir.PeopleDN)
				s, ok := skipped[dn]
				if !ok || s.Reason != e.reason {
					t.Errorf("%s: skipped %+v, want reason %s", dn, s, e.reason)
				}
				if len(s.Detail) > 512 {
					t.Errorf("%s: detail of %d bytes", dn, len(s.Detail))
				}
			}
			if want := len(dir.Users) - wantUsers + len(tt.extras); len(res.Skipped) != want {
				t.Errorf("%d skipped, want %d", len(res.Skipped), want)
			}
		})
	}
}

// pageCounter counts the per-page debug lines Read logs, and can run a hook
// on the first one (synchronously, inside Read).
type pageCounter struct {
	mu      sync.Mutex
	pages   int
	entries []int
	onFirst func()
}

func (p *pageCounter) Write(b []byte) (int, error) {
	if !bytes.Contains(b, []byte(`"message":"ldap page"`)) {
		return len(b), nil
	}
	p.mu.Lock()
	p.pages++
	first := p.pages == 1
	if i := bytes.Index(b, []byte(`"entries":`)); i >= 0 {
		var v int
		fmt.Sscanf(string(b[i+len(`"entries":`):]), "%d", &v)
		p.entries = append(p.entries, v)
	}
	hook := p.onFirst
	p.mu.Unlock()
	if first && hook != nil {
		hook()
	}
	return len(b), nil
}

func (p *pageCounter) logger() zerolog.Logger {
	return zerolog.New(p).Level(zerolog.DebugLevel)
}

func TestReadPaging(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 11, Users: 500})
	srv := slapdtest.New(t, slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: withAccount(dir.Options.Suffix, dir.LDIF())})
	cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
	cfg.PageSize = 7
	pc := &pageCounter{}
	res := read(t, newDirectory(t, cfg, pc.logger()))

	if res.Incomplete != "" || len(res.Users) != 500 || res.Entries != 500 {
		t.Fatalf("read %d users of %d entries (incomplete %q), want 500 of 500", len(res.Users), res.Entries, res.Incomplete)
	}
	if want := (500 + 6) / 7; pc.pages < want {
		t.Errorf("%d pages, want at least %d of 7 entries", pc.pages, want)
	}
	total := 0
	for _, n := range pc.entries {
		if n > 7 {
			t.Errorf("a page of %d entries, want at most 7", n)
		}
		total += n
	}
	if total != 500 {
		t.Errorf("pages hold %d entries, want 500", total)
	}
}

// personLDIF is a minimal inetOrgPerson.
func personLDIF(dn, uid string) string {
	return fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@corp.example.com\n\n", dn, uid, uid, uid, uid)
}

func TestReadBaseDNsAndScope(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	people := "ou=people," + suffix
	contractors := "ou=contractors," + people
	partners := "ou=partners," + suffix
	empty := "ou=empty," + suffix
	var b strings.Builder
	b.WriteString(accountLDIF(bindDN(suffix), bindPassword))
	for _, ou := range []string{people, contractors, partners, empty} {
		name := strings.TrimPrefix(strings.SplitN(ou, ",", 2)[0], "ou=")
		fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, name)
	}
	for _, uid := range []string{"p1", "p2", "p3"} {
		b.WriteString(personLDIF("uid="+uid+","+people, uid))
	}
	for _, uid := range []string{"c1", "c2"} {
		b.WriteString(personLDIF("uid="+uid+","+contractors, uid))
	}
	b.WriteString(personLDIF("uid=x1,"+partners, "x1"))
	srv := slapdtest.New(t, slapdtest.Options{LDIF: []byte(b.String())})

	tests := []struct {
		name    string
		bases   []string
		scope   string
		want    string // uids, sorted
		entries int
	}{
		{"sub", []string{people}, "sub", "c1,c2,p1,p2,p3", 5},
		{"one level", []string{people}, "one", "p1,p2,p3", 3},
		{"two base DNs", []string{people, partners}, "one", "p1,p2,p3,x1", 4},
		{"overlapping base DNs", []string{people, contractors}, "sub", "c1,c2,p1,p2,p3", 7},
		{"empty base", []string{empty}, "sub", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv, dirgen.OpenLDAP, "")
			cfg.BaseDNs, cfg.Scope = tt.bases, tt.scope
			res := read(t, newDirectory(t, cfg, zerolog.Nop()))
			if res.Incomplete != "" {
				t.Fatalf("Incomplete = %q", res.Incomplete)
			}
			var uids []string
			for _, u := range res.Users {
				uids = append(uids, strings.TrimSuffix(u.UserName, "@corp.example.com"))
			}
			slices.Sort(uids)
			if got := strings.Join(uids, ","); got != tt.want {
				t.Errorf("users %s, want %s", got, tt.want)
			}
			if res.Entries != tt.entries {
				t.Errorf("Entries = %d, want %d", res.Entries, tt.entries)
			}
			if len(res.Skipped) != 0 {
				t.Errorf("skipped %+v, want none (an overlap is not a conflict)", res.Skipped)
			}
		})
	}

	t.Run("missing first base is an error", func(t *testing.T) {
		cfg := baseConfig(srv, dirgen.OpenLDAP, "")
		cfg.BaseDNs = []string{"ou=nowhere," + suffix, people}
		res, err := newDirectory(t, cfg, zerolog.Nop()).Read(context.Background())
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "no such object") {
			t.Fatalf("Read = %+v, %v; want a no such object error", res, err)
		}
	})
	t.Run("missing later base is incomplete", func(t *testing.T) {
		cfg := baseConfig(srv, dirgen.OpenLDAP, "")
		cfg.BaseDNs = []string{people, "ou=nowhere," + suffix}
		res := read(t, newDirectory(t, cfg, zerolog.Nop()))
		t.Logf("Incomplete: %s", res.Incomplete)
		if !strings.Contains(res.Incomplete, "ou=nowhere") || len(res.Users) != 5 {
			t.Errorf("Incomplete = %q with %d users, want the missing base named and 5 users", res.Incomplete, len(res.Users))
		}
	})
	t.Run("check counts the scope", func(t *testing.T) {
		cfg := baseConfig(srv, dirgen.OpenLDAP, "")
		cfg.BaseDNs = []string{people, contractors, partners}
		n, err := newDirectory(t, cfg, zerolog.Nop()).Check(context.Background())
		if err != nil || n != 6 {
			t.Errorf("Check = %d, %v; want 6 (overlap counted once)", n, err)
		}
	})
}

func TestReadMemberOf(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 3, Users: 90, Groups: 4})
	const odd = "R&D (EMEA)*, \\ all"
	oddDN := `cn=R&D (EMEA)*\, \\ all,` + dir.GroupsDN
	online := append(dir.GroupsLDIF(), fmt.Sprintf("\ndn: %s\nobjectClass: groupOfNames\ncn: %s\nmember: %s\n", oddDN, odd, dir.Users[5].DN)...)
	srv := slapdtest.New(t, slapdtest.Options{
		Suffix:     dir.Options.Suffix,
		LDIF:       withAccount(dir.Options.Suffix, dir.LDIF()),
		OnlineLDIF: online,
	})

	expect := func(groups ...string) []string {
		var ids []string
		for _, u := range dir.Users {
			for _, g := range u.Groups {
				if slices.Contains(groups, g) {
					ids = append(ids, u.ID)
					break
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	tests := []struct {
		name   string
		groups []string
		want   []string
	}{
		{"one group", []string{dir.Groups[0].DN}, expect(dir.Groups[0].DN)},
		{"two groups", []string{dir.Groups[1].DN, dir.Groups[3].DN}, expect(dir.Groups[1].DN, dir.Groups[3].DN)},
		{"group DN that needs escaping", []string{oddDN}, []string{dir.Users[5].ID}},
		{"no such group", []string{"cn=nobody," + dir.GroupsDN}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == len(dir.Users) {
				t.Fatalf("group %v holds everyone; the test would prove nothing", tt.groups)
			}
			cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
			cfg.MemberOf = tt.groups
			res := read(t, newDirectory(t, cfg, zerolog.Nop()))
			var got []string
			for _, u := range res.Users {
				got = append(got, u.ID)
			}
			if res.Incomplete != "" || !slices.Equal(got, tt.want) {
				t.Errorf("users %v (incomplete %q), want %v", got, res.Incomplete, tt.want)
			}
		})
	}
}

func TestReadSizeLimit(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 5, Users: 200})
	suffix := dir.Options.Suffix
	srv := slapdtest.New(t, slapdtest.Options{
		Suffix: suffix,
		LDIF:   withAccount(suffix, dir.LDIF()),
		Config: fmt.Sprintf("limits dn.exact=%q size.prtotal=50", bindDN(suffix)),
	})
	cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
	cfg.PageSize = 7
	res := read(t, newDirectory(t, cfg, zerolog.Nop()))
	t.Logf("Incomplete: %s", res.Incomplete)
	if !strings.HasPrefix(res.Incomplete, "size limit exceeded") {
		t.Fatalf("Incomplete = %q, want size limit exceeded", res.Incomplete)
	}
	if len(res.Users) == 0 || len(res.Users) >= 200 {
		t.Errorf("%d users, want the part read before the limit", len(res.Users))
	}
	if _, err := newDirectory(t, cfg, zerolog.Nop()).Check(context.Background()); err == nil || !strings.Contains(err.Error(), "size limit exceeded") {
		t.Errorf("Check error %v, want size limit exceeded", err)
	}
}

func TestReadHiddenByACL(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 9, Users: 40})
	suffix := dir.Options.Suffix
	srv := slapdtest.New(t, slapdtest.Options{
		Suffix: suffix,
		LDIF:   withAccount(suffix, dir.LDIF()),
		Config: fmt.Sprintf("access to dn.children=%q by dn.exact=%q none by users read", dir.PeopleDN, bindDN(suffix)),
	})
	res := read(t, newDirectory(t, baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN), zerolog.Nop()))
	if res.Incomplete != "" || len(res.Users) != 0 || res.Entries != 0 {
		t.Errorf("read %d users of %d entries (incomplete %q), want a complete, empty result", len(res.Users), res.Entries, res.Incomplete)
	}
}

func TestReadServerStopped(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 13, Users: 300})
	srv := slapdtest.New(t, slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: withAccount(dir.Options.Suffix, dir.LDIF())})
	cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
	cfg.PageSize = 3

	t.Run("mid-search", func(t *testing.T) {
		stopped := make(chan error, 1)
		// The hook runs inside Read after the first page; Read waits for
		// the server to be gone before asking for the next page.
		pc := &pageCounter{onFirst: func() {
			go func() { stopped <- srv.Stop() }()
			if err := <-stopped; err != nil {
				t.Errorf("stop slapd: %v", err)
			}
		}}
		res, err := newDirectory(t, cfg, pc.logger()).Read(context.Background())
		if err != nil {
			return // an error is acceptable; a complete result is not
		}
		t.Logf("Incomplete: %s", res.Incomplete)
		if res.Incomplete == "" {
			t.Fatalf("complete result with %d users after the server stopped", len(res.Users))
		}
		if !strings.HasPrefix(res.Incomplete, "connection lost mid-search") {
			t.Errorf("Incomplete = %q, want connection lost mid-search", res.Incomplete)
		}
		if len(res.Users) == 0 || len(res.Users) >= 300 {
			t.Errorf("%d users, want the first page's", len(res.Users))
		}
	})
	t.Run("before the read", func(t *testing.T) {
		res, err := newDirectory(t, cfg, zerolog.Nop()).Read(context.Background())
		if err == nil || !strings.Contains(err.Error(), "dial") {
			t.Errorf("Read = %+v, %v; want a dial error", res, err)
		}
	})
}

func TestReadBadPassword(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	srv := slapdtest.Shared(t, "small", func() slapdtest.Options {
		return slapdtest.Options{LDIF: []byte(accountLDIF(bindDN(suffix), bindPassword))}
	})
	const wrong = "wrong-Pa55word-that-must-not-leak"
	cfg := baseConfig(srv, dirgen.OpenLDAP, "ou=people,"+suffix)
	cfg.BindPassword = wrong
	var logs bytes.Buffer
	d := newDirectory(t, cfg, zerolog.New(&logs).Level(zerolog.DebugLevel))

	_, err := d.Read(context.Background())
	if err == nil {
		t.Fatal("Read with a wrong password: no error")
	}
	_, cerr := d.Check(context.Background())
	if cerr == nil {
		t.Fatal("Check with a wrong password: no error")
	}
	for _, e := range []error{err, cerr} {
		msg := e.Error()
		if !strings.Contains(msg, "bind as "+cfg.BindDN) || !strings.Contains(msg, "invalid credentials") {
			t.Errorf("error %q does not say the bind failed", msg)
		}
		if strings.Contains(msg, wrong) {
			t.Errorf("error %q holds the password", msg)
		}
	}
	if strings.Contains(logs.String(), wrong) {
		t.Errorf("logs hold the password: %s", logs.String())
	}
}

func TestReadCanceled(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	srv := slapdtest.Shared(t, "small", func() slapdtest.Options {
		return slapdtest.Options{LDIF: []byte(accountLDIF(bindDN(suffix), bindPassword))}
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newDirectory(t, baseConfig(srv, dirgen.OpenLDAP, suffix), zerolog.Nop()).Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestReadReferrals(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	people := "ou=people," + suffix
	moved := "ou=moved," + suffix
	var b strings.Builder
	b.WriteString(accountLDIF(bindDN(suffix), bindPassword))
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", people)
	b.WriteString(personLDIF("uid=p1,"+people, "p1"))
	b.WriteString(personLDIF("uid=p2,"+people, "p2"))
	// A subtree held by another server: a search over people gets a
	// continuation reference for it; a search based at moved gets a referral.
	for _, dn := range []string{"ou=emea," + people, moved} {
		ou := strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "ou=")
		fmt.Fprintf(&b, "dn: %s\nobjectClass: referral\nobjectClass: extensibleObject\nou: %s\nref: ldap://dc2.corp.example.com/%s\n\n", dn, ou, dn)
	}
	srv := slapdtest.New(t, slapdtest.Options{LDIF: []byte(b.String())})

	tests := []struct {
		name      string
		bases     []string
		referrals string
		want      string // prefix of Incomplete
		users     int
	}{
		{"continuation reference", []string{people}, "", "referral: " + people, 2},
		{"continuation reference ignored", []string{people}, ReferralsIgnore, "", 2},
		{"base DN is a referral", []string{moved}, "", "referral: " + moved, 0},
		{"base DN is a referral, references ignored", []string{moved}, ReferralsIgnore, "referral: " + moved, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv, dirgen.OpenLDAP, "")
			cfg.BaseDNs = tt.bases
			cfg.Referrals = tt.referrals
			res := read(t, newDirectory(t, cfg, zerolog.Nop()))
			t.Logf("Incomplete: %s", res.Incomplete)
			if tt.want == "" {
				if res.Incomplete != "" {
					t.Errorf("Incomplete = %q, want a complete read", res.Incomplete)
				}
			} else if !strings.HasPrefix(res.Incomplete, tt.want) || !strings.Contains(res.Incomplete, "dc2.corp.example.com") {
				t.Errorf("Incomplete = %q, want it to start %q and name the other server", res.Incomplete, tt.want)
			}
			if len(res.Users) != tt.users {
				t.Errorf("%d users, want %d", len(res.Users), tt.users)
			}
		})
	}
}
