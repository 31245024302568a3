package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// The domain controller the test data imitates. slapd keeps no USNs and its
// root DSE cannot name a DC, so the fixture carries an entry standing in for
// the root DSE (cn=RootDSE) and one for the NTDS Settings object, and sets
// uSNChanged on entries itself; standIn points the reader at them.
const (
	testDC    = "dc1.corp.example.com"
	testDCUSN = 200
	// lastUSN is the mark the tests read from, below testDCUSN.
	lastUSN = 100
)

var (
	testInvocation   = bytes.Repeat([]byte{0x5a, 0x17}, 8)
	testInvocationID = mustGUID(testInvocation)
	// Tombstones' objectGUIDs: one deleted after the mark, one at it.
	goneGUID, oldGUID = bytes.Repeat([]byte{0x6e}, 16), bytes.Repeat([]byte{0x01}, 16)
)

func mustGUID(b []byte) string {
	g, err := FormatGUID(b)
	if err != nil {
		panic(err)
	}
	return g
}

// standIn is the layout of the fixture: the root DSE and the Deleted Objects
// container are ordinary entries, and the show-deleted control is optional
// because slapd refuses it when critical (the tombstones, in their own
// container, are visible without it).
func standIn(suffix string) dcLayout {
	return dcLayout{
		rootDSE:             "cn=RootDSE," + suffix,
		deletedObjects:      func(nc string) string { return "cn=Deleted Objects," + nc },
		showDeletedOptional: true,
	}
}

// dcLDIF is the DC's identity and its tombstones, plus extra entries.
func dcLDIF(suffix, extra string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `
dn: cn=RootDSE,%[1]s
objectClass: syncdTestRootDSE
cn: RootDSE
dNSHostName: %[2]s
serverName: cn=DC1,cn=Servers,%[1]s
dsServiceName: cn=NTDS Settings,cn=DC1,cn=Servers,%[1]s
highestCommittedUSN: %[3]d
defaultNamingContext: %[1]s

dn: cn=Servers,%[1]s
objectClass: container
cn: Servers

dn: cn=DC1,cn=Servers,%[1]s
objectClass: container
cn: DC1

dn: cn=NTDS Settings,cn=DC1,cn=Servers,%[1]s
objectClass: nTDSDSA
cn: NTDS Settings
invocationId:: %[4]s

dn: cn=Deleted Objects,%[1]s
objectClass: container
cn: Deleted Objects
isDeleted: TRUE

dn: cn=Gone Person\0ADEL:6e,cn=Deleted Objects,%[1]s
objectClass: user
cn: Gone Person
sn: Person
objectGUID:: %[5]s
isDeleted: TRUE
uSNChanged: 150
lastKnownParent: ou=people,%[1]s

dn: cn=Old Person\0ADEL:01,cn=Deleted Objects,%[1]s
objectClass: user
cn: Old Person
sn: Person
objectGUID:: %[6]s
isDeleted: TRUE
uSNChanged: %[7]d
%[8]s`, suffix, testDC, testDCUSN, b64(testInvocation), b64(goneGUID), b64(oldGUID), lastUSN, extra)
}

// usnFixture is an AD-shaped directory on its own slapd with the DC's
// identity; config holds extra slapd.conf lines.
func usnFixture(t *testing.T, dir *dirgen.Directory, extra, config string) *slapdtest.Server {
	t.Helper()
	ldif := append(withAccount(dir.Options.Suffix, dir.LDIF()), dcLDIF(dir.Options.Suffix, extra)...)
	return slapdtest.New(t, slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: ldif, OnlineLDIF: dir.GroupsLDIF(), Config: config})
}

func usnDirectory(t *testing.T, srv *slapdtest.Server, dir *dirgen.Directory) *Directory {
	t.Helper()
	cfg := baseConfig(srv, dirgen.ActiveDirectory, dir.PeopleDN)
	cfg.PageSize = 3
	d := newDirectory(t, cfg, zerolog.Nop())
	d.usn.dc = standIn(srv.Suffix)
	return d
}

// setUSN gives entries the uSNChanged the DC would have written.
func setUSN(t *testing.T, srv *slapdtest.Server, usn int, dns ...string) {
	t.Helper()
	conn, err := srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, dn := range dns {
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("uSNChanged", []string{strconv.Itoa(usn)})
		if err := conn.Modify(req); err != nil {
			t.Fatalf("set uSNChanged of %s: %v", dn, err)
		}
	}
}

func readUSN(t *testing.T, d *Directory, last USNMark) (*Delta, USNMark) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	delta, mark, err := d.ReadUSN(ctx, last)
	if err != nil {
		t.Fatalf("ReadUSN: %v", err)
	}
	if got, err := DecodeUSNMark(delta.Cookie); err != nil || got != mark {
		t.Errorf("Delta.Cookie decodes to %+v (%v), want the returned mark %+v", got, err, mark)
	}
	return delta, mark
}

var (
	lastMark = USNMark{DC: testDC, InvocationID: testInvocationID, HighestUSN: lastUSN}
	dcMark   = USNMark{DC: testDC, InvocationID: testInvocationID, HighestUSN: testDCUSN}
)

func TestReadUSNFullReadNeeded(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 41, Users: 10, Shape: dirgen.ActiveDirectory})
	srv := usnFixture(t, dir, "", "")
	// A change after the mark, which a full-read answer must not report.
	setUSN(t, srv, 150, dir.Users[0].DN)
	d := usnDirectory(t, srv, dir)
	other := bytes.Repeat([]byte{0x99}, 16)
	tests := []struct {
		name string
		last USNMark
		full bool
	}{
		{"no mark", USNMark{}, true},
		{"another invocationId", USNMark{DC: testDC, InvocationID: mustGUID(other), HighestUSN: lastUSN}, true},
		{"another DC", USNMark{DC: "dc2.corp.example.com", InvocationID: testInvocationID, HighestUSN: lastUSN}, true},
		{"USN went back", USNMark{DC: testDC, InvocationID: testInvocationID, HighestUSN: testDCUSN + 1}, true},
		// DNS names and GUID strings compare without case.
		{"same DC in upper case", USNMark{DC: strings.ToUpper(testDC), InvocationID: strings.ToUpper(testInvocationID), HighestUSN: lastUSN}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delta, mark := readUSN(t, d, tt.last)
			if delta.FullReadNeeded != tt.full {
				t.Fatalf("FullReadNeeded = %v, want %v", delta.FullReadNeeded, tt.full)
			}
			if mark != dcMark {
				t.Errorf("mark %+v, want the DC's %+v", mark, dcMark)
			}
			if tt.full && (len(delta.Users) != 0 || len(delta.Deleted) != 0) {
				t.Errorf("full read needed, yet %d users and %d deleted reported", len(delta.Users), len(delta.Deleted))
			}
			if !tt.full && len(delta.Users) != 1 {
				t.Errorf("%d users, want the one changed after the mark", len(delta.Users))
			}
		})
	}
}

// TestReadUSNChanges: entries above the mark are read and mapped as a full
// read maps them, tombstones above it are Deleted, and the new mark is what
// the DC said before the searches.
func TestReadUSNChanges(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 43, Users: 30, Shape: dirgen.ActiveDirectory, Awkward: true})
	var plain []dirgen.User
	var noMail dirgen.User
	for _, u := range dir.Users {
		switch {
		case u.Awkward == "":
			plain = append(plain, u)
		case u.Awkward == dirgen.AwkwardNoMail && noMail.DN == "":
			noMail = u
		}
	}
	if len(plain) < 5 || noMail.DN == "" {
		t.Fatalf("dirgen gave %d plain users and no-mail user %q", len(plain), noMail.DN)
	}
	// Moved out of the base DN after the mark: its new uSNChanged is
	// outside the scope searched, so only a full read notices it left.
	movedOut := fmt.Sprintf(`
dn: ou=elsewhere,%[1]s
objectClass: organizationalUnit
ou: elsewhere

dn: cn=Moved Out,ou=elsewhere,%[1]s
objectClass: user
cn: Moved Out
sn: Out
mail: moved.out@corp.example.com
objectGUID:: %[2]s
uSNChanged: 190
`, dir.Options.Suffix, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x3c}, 16)))
	srv := usnFixture(t, dir, movedOut, "")
	setUSN(t, srv, 150, plain[0].DN)
	setUSN(t, srv, lastUSN+1, plain[1].DN)
	// Above highestCommittedUSN: written while the read runs. It is read
	// now and again from the new mark, never skipped.
	setUSN(t, srv, testDCUSN+50, plain[2].DN)
	setUSN(t, srv, lastUSN, plain[3].DN)
	setUSN(t, srv, 50, plain[4].DN)
	setUSN(t, srv, 120, noMail.DN)
	d := usnDirectory(t, srv, dir)

	delta, mark := readUSN(t, d, lastMark)
	if delta.FullReadNeeded || delta.Incomplete != "" || delta.DeletionsUnknown != "" {
		t.Fatalf("FullReadNeeded %v, Incomplete %q, DeletionsUnknown %q; want a complete delta",
			delta.FullReadNeeded, delta.Incomplete, delta.DeletionsUnknown)
	}
	if mark != dcMark {
		t.Errorf("mark %+v, want highestCommittedUSN as read first: %+v", mark, dcMark)
	}

	// Mapped exactly as the full read maps the same entries.
	full := map[string]identity.User{}
	for _, u := range read(t, d).Users {
		full[u.ID] = u
	}
	want := []string{plain[0].ID, plain[1].ID, plain[2].ID}
	slices.Sort(want)
	var got []string
	for _, u := range delta.Users {
		got = append(got, u.ID)
		if fu := full[u.ID]; fu.DN != u.DN || fu.UserName != u.UserName || fu.DisplayName != u.DisplayName ||
			fu.Active != u.Active || fu.Attributes["department"] != u.Attributes["department"] {
			t.Errorf("%s: delta maps %+v, full read %+v", u.DN, u, fu)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("users %v, want those above USN %d: %v", got, lastUSN, want)
	}
	if len(delta.Skipped) != 1 || !strings.EqualFold(delta.Skipped[0].DN, noMail.DN) || delta.Skipped[0].Reason != identity.SkipNoEmail {
		t.Errorf("skipped %+v, want %s for no email", delta.Skipped, noMail.DN)
	}
	if wantDel := []string{mustGUID(goneGUID)}; !slices.Equal(delta.Deleted, wantDel) {
		t.Errorf("deleted %v, want the tombstone above the mark: %v", delta.Deleted, wantDel)
	}
	if delta.Entries != 5 {
		t.Errorf("Entries = %d, want 4 users and 1 tombstone", delta.Entries)
	}

	// From the new mark: only the entry written during the first read.
	delta, _ = readUSN(t, d, mark)
	if len(delta.Users) != 1 || delta.Users[0].ID != plain[2].ID || len(delta.Deleted) != 0 {
		t.Errorf("from the new mark: users %+v, deleted %v; want %s only", delta.Users, delta.Deleted, plain[2].DN)
	}
}

// When tombstones cannot be read, the delta still carries the changed
// users, with Deleted empty and the reason in DeletionsUnknown.
func TestReadUSNDeletionsUnknown(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 47, Users: 8, Shape: dirgen.ActiveDirectory})
	deleted := "cn=Deleted Objects," + dir.Options.Suffix
	tests := []struct {
		name, extra, config string
		critical            bool
		want                string
	}{
		// slapd does not know the show-deleted control: sent critical, as
		// to AD, it is refused.
		{name: "control refused", critical: true, want: "critical extension"},
		{name: "container hidden", config: fmt.Sprintf("access to dn.subtree=%q by * none", deleted), want: "no such object"},
		{name: "tombstone without id", extra: "\ndn: cn=No Guid\\0ADEL:00," + deleted + "\nobjectClass: user\ncn: No Guid\nsn: Guid\nisDeleted: TRUE\nuSNChanged: 160\n", want: "has no usable objectGUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := usnFixture(t, dir, tt.extra, tt.config)
			setUSN(t, srv, 150, dir.Users[0].DN)
			d := usnDirectory(t, srv, dir)
			d.usn.dc.showDeletedOptional = !tt.critical
			delta, mark := readUSN(t, d, lastMark)
			t.Logf("DeletionsUnknown: %s", delta.DeletionsUnknown)
			if !strings.Contains(delta.DeletionsUnknown, tt.want) || len(delta.Deleted) != 0 {
				t.Errorf("DeletionsUnknown %q, deleted %v; want no deletions and a reason with %q", delta.DeletionsUnknown, delta.Deleted, tt.want)
			}
			if delta.Incomplete != "" || delta.FullReadNeeded || mark != dcMark {
				t.Errorf("Incomplete %q, FullReadNeeded %v, mark %+v; want a usable delta up to %+v", delta.Incomplete, delta.FullReadNeeded, mark, dcMark)
			}
			if len(delta.Users) != 1 || delta.Users[0].ID != dir.Users[0].ID {
				t.Errorf("users %+v, want %s", delta.Users, dir.Users[0].DN)
			}
		})
	}
}

// A membership change shows on the group, not on the member: when a group
// scoping the users changed, or is gone, the answer is a full read.
func TestReadUSNScopingGroup(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 53, Users: 12, Shape: dirgen.ActiveDirectory, Groups: 3, GroupClass: dirgen.ADGroup})
	srv := usnFixture(t, dir, "", "")
	scoping := dir.Groups[0].DN
	tests := []struct {
		name     string
		memberOf string
		usn      int
		full     bool
	}{
		{"unchanged", scoping, lastUSN, false},
		{"changed", scoping, 150, true},
		{"gone", "cn=nowhere," + dir.GroupsDN, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.usn > 0 {
				setUSN(t, srv, tt.usn, scoping)
			}
			cfg := baseConfig(srv, dirgen.ActiveDirectory, dir.PeopleDN)
			cfg.MemberOf = []string{tt.memberOf}
			d := newDirectory(t, cfg, zerolog.Nop())
			d.usn.dc = standIn(srv.Suffix)
			delta, mark := readUSN(t, d, lastMark)
			if delta.FullReadNeeded != tt.full || mark != dcMark {
				t.Errorf("FullReadNeeded %v, mark %+v; want %v, %+v", delta.FullReadNeeded, mark, tt.full, dcMark)
			}
		})
	}
}

// A delta cut by the size limit is incomplete and keeps the old mark, so
// the next run reads the same changes again.
func TestReadUSNSizeLimit(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 59, Users: 20, Shape: dirgen.ActiveDirectory})
	srv := usnFixture(t, dir, "", fmt.Sprintf("limits dn.exact=%q size.prtotal=4", bindDN(dir.Options.Suffix)))
	var dns []string
	for _, u := range dir.Users[:10] {
		dns = append(dns, u.DN)
	}
	setUSN(t, srv, 150, dns...)
	d := usnDirectory(t, srv, dir)
	delta, mark := readUSN(t, d, lastMark)
	t.Logf("Incomplete: %s", delta.Incomplete)
	if !strings.HasPrefix(delta.Incomplete, "size limit exceeded: "+dir.PeopleDN) {
		t.Errorf("Incomplete = %q, want size limit exceeded under %s", delta.Incomplete, dir.PeopleDN)
	}
	if mark != lastMark {
		t.Errorf("mark %+v, want the old one %+v", mark, lastMark)
	}
}

func TestUSNSupported(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 61, Users: 4, Shape: dirgen.ActiveDirectory})
	srv := usnFixture(t, dir, "", "")
	ctx := context.Background()
	tests := []struct {
		name   string
		ad     bool
		layout func(*dcLayout)
		ok     bool
		reason string
	}{
		{"active directory", true, nil, true, testDC + ", invocationId " + testInvocationID + ", highestCommittedUSN 200; tombstones readable"},
		{"tombstones refused", true, func(l *dcLayout) { l.showDeletedOptional = false }, true, "deletions wait for the periodic full read: tombstones under"},
		{"not active directory", false, nil, false, "not configured as Active Directory"},
		// slapd's own root DSE names no DC.
		{"root DSE without a DC", true, func(l *dcLayout) { *l = dcLayout{} }, false, "neither dnsHostName nor serverName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv, dirgen.ActiveDirectory, dir.PeopleDN)
			cfg.ActiveDirectory = tt.ad
			d := newDirectory(t, cfg, zerolog.Nop())
			d.usn.dc = standIn(srv.Suffix)
			if tt.layout != nil {
				tt.layout(&d.usn.dc)
			}
			ok, reason := d.USNSupported(ctx)
			t.Logf("%v: %s", ok, reason)
			if ok != tt.ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("USNSupported = %v, %q; want %v with %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}
