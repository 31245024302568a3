// Package dirgen generates deterministic directory data for tests and
// benchmarks: users in the shape of OpenLDAP (inetOrgPerson keyed by
// entryUUID) or Active Directory (user keyed by a binary objectGUID, disabled
// through userAccountControl), optional groups with some nesting (as
// groupOfNames, groupOfUniqueNames, posixGroup or AD group entries, with a
// cycle on request), and, on
// request, the awkward entries real directories contain (no mail, upper-case
// mail, two entries sharing a mail, disabled accounts, non-ASCII names). The
// same Options always give the same directory, and every generated User
// carries what a correct sync should make of it, so a test can compare a
// run's result with the expectation instead of restating it. The LDIF it
// writes is meant for slapadd (users) and an online add (groups, so that the
// memberof overlay fills memberOf).
package dirgen

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Shape is the kind of directory the data imitates.
type Shape string

const (
	OpenLDAP        Shape = "openldap"
	ActiveDirectory Shape = "activedirectory"
)

// The awkward kinds a User can carry in User.Awkward.
const (
	AwkwardNoMail        = "no_mail"
	AwkwardUpperMail     = "upper_mail"
	AwkwardDuplicateMail = "duplicate_mail"
	AwkwardNonASCII      = "non_ascii"
	AwkwardDisabled      = "disabled"
)

// Options select the directory to generate.
type Options struct {
	Seed  int64
	Users int
	Shape Shape // default OpenLDAP
	// Suffix is the naming context, e.g. dc=corp,dc=example,dc=com (the
	// default). The suffix entry itself is not generated: the server
	// fixture owns it.
	Suffix string
	// Groups is the number of groups; every third group also lists the
	// group before it, so nested membership exists whenever Groups >= 3.
	Groups int
	// GroupClass is the kind of group entry GroupsLDIF writes; the zero
	// value is groupOfNames with member.
	GroupClass GroupClass
	// GroupCycle makes the first two groups also list each other, a cycle
	// a flattening must survive (needs Groups >= 2).
	GroupCycle bool
	// Awkward adds about one awkward entry per hundred users, and at least
	// one of each kind when Users >= 6.
	Awkward    bool
	MailDomain string // default corp.example.com
}

// User is one generated user and what a sync should make of it.
type User struct {
	DN string
	// ID is the stable id: the entryUUID written into the LDIF (OpenLDAP
	// shape) or the canonical objectGUID string (AD shape).
	ID string
	// GUID is the raw objectGUID (AD shape only).
	GUID []byte
	// Mail is the value as stored; "" when the entry has none.
	Mail                                             string
	UID, GivenName, Surname, DisplayName, Department string
	// Login is the account name groups of class PosixGroup list: the uid
	// (OpenLDAP shape) or the sAMAccountName (AD shape).
	Login string
	// Disabled: pwdAccountLockedTime present (OpenLDAP shape) or
	// userAccountControl with bit 0x2 (AD shape).
	Disabled bool
	// Groups are the DNs of the groups that list the user directly.
	Groups []string
	// Awkward is "" or one of the Awkward* constants.
	Awkward string
}

// Directory is the generated data.
type Directory struct {
	Options            Options
	Users              []User
	Groups             []Group
	PeopleDN, GroupsDN string
}

var (
	givenNames = []string{
		"Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi",
		"Ivan", "Judy", "Karl", "Laura", "Mallory", "Niaj", "Olivia", "Peggy",
		"Quentin", "Rupert", "Sybil", "Trent", "Uma", "Victor", "Walter", "Yvonne",
	}
	surnames = []string{
		"Adams", "Baker", "Clark", "Davis", "Evans", "Foster", "Garcia", "Hughes",
		"Irwin", "Jones", "King", "Lewis", "Moore", "Nolan", "Owens", "Parker",
		"Quinn", "Reed", "Smith", "Turner", "Usher", "Vance", "White", "Young",
	}
	// Accented and non-Latin-1 letters, as found in real directories; each
	// has an ASCII spelling for uid and mail.
	nonASCIIGiven   = []string{"Zoë", "José", "Åsa", "Jürgen", "Siân", "Łukasz", "Chloé", "Søren"}
	nonASCIISurname = []string{"Åkesson", "Müller", "Ødegård", "Núñez", "Dvořák", "Çelik", "Öztürk", "François"}
	departments     = []string{"Engineering", "Sales", "Finance", "Marketing", "Support", "Legal", "Operations", "People"}
)

var asciiFold = strings.NewReplacer(
	"ë", "e", "é", "e", "è", "e", "Å", "A", "å", "a", "ä", "a", "á", "a",
	"ü", "u", "ú", "u", "â", "a", "Ł", "L", "ł", "l", "Ø", "O", "ø", "o",
	"ö", "o", "Ö", "O", "ó", "o", "ñ", "n", "ř", "r", "Ç", "C", "ç", "c",
	"ğ", "g", "ı", "i", "í", "i",
)

// uidParts holds the lower-case ASCII spelling of every pool name, indexed
// like the pools: [ascii or non-ASCII][given or surname][index].
var uidParts = func() (p [2][2][]string) {
	for i, pool := range [2][2][]string{{givenNames, surnames}, {nonASCIIGiven, nonASCIISurname}} {
		for j, names := range pool {
			for _, n := range names {
				p[i][j] = append(p[i][j], strings.ToLower(asciiFold.Replace(n)))
			}
		}
	}
	return p
}()

// Generate builds the directory for opts. It panics on an unknown Shape or
// GroupClass, which is a bug in the calling test.
func Generate(opts Options) *Directory {
	if opts.Shape == "" {
		opts.Shape = OpenLDAP
	}
	if opts.Shape != OpenLDAP && opts.Shape != ActiveDirectory {
		panic(fmt.Sprintf("dirgen: unknown shape %q", opts.Shape))
	}
	if opts.GroupClass == "" {
		opts.GroupClass = GroupOfNames
	}
	if !opts.GroupClass.known() {
		panic(fmt.Sprintf("dirgen: unknown group class %q", opts.GroupClass))
	}
	if opts.Suffix == "" {
		opts.Suffix = "dc=corp,dc=example,dc=com"
	}
	if opts.MailDomain == "" {
		opts.MailDomain = "corp.example.com"
	}
	d := &Directory{
		Options:  opts,
		PeopleDN: "ou=people," + opts.Suffix,
		GroupsDN: "ou=groups," + opts.Suffix,
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15))
	awkward := awkwardSlots(opts)

	d.Users = make([]User, opts.Users)
	// A name is fixed by its two pool indexes, so a small set of seen
	// pairs keeps uid and cn unique without hashing 100,000 strings.
	var seen [2][64][64]bool
	for i := range d.Users {
		u := &d.Users[i]
		u.Awkward = awkward[i]
		given, sur, pool := givenNames, surnames, 0
		if u.Awkward == AwkwardNonASCII {
			given, sur, pool = nonASCIIGiven, nonASCIISurname, 1
		}
		gi, si := rng.IntN(len(given)), rng.IntN(len(sur))
		u.GivenName, u.Surname = given[gi], sur[si]
		u.DisplayName = u.GivenName + " " + u.Surname
		u.Department = departments[rng.IntN(len(departments))]
		u.UID = uidParts[pool][0][gi] + "." + uidParts[pool][1][si]
		// Later namesakes get their index appended, as admins do by hand.
		suffix := ""
		if seen[pool][gi][si] {
			suffix = strconv.Itoa(i)
			u.UID += suffix
		}
		seen[pool][gi][si] = true
		u.Mail = u.UID + "@" + opts.MailDomain

		var raw [16]byte
		for j := 0; j < 16; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				raw[j+k] = byte(v >> (8 * k))
			}
		}
		switch opts.Shape {
		case OpenLDAP:
			raw[6] = raw[6]&0x0f | 0x40 // version 4
			raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
			u.ID = uuidString(raw[:])
			u.DN = "uid=" + escapeDNValue(u.UID) + "," + d.PeopleDN
			u.Login = u.UID
		case ActiveDirectory:
			u.GUID = raw[:]
			u.ID = GUIDString(u.GUID)
			// AD names users by cn, which must be unique among siblings.
			cn := u.DisplayName
			if suffix != "" {
				cn += " " + suffix
			}
			u.DN = "cn=" + escapeDNValue(cn) + "," + d.PeopleDN
			u.Login = samAccountName(u.UID, i)
		}

		switch u.Awkward {
		case AwkwardNoMail:
			u.Mail = ""
		case AwkwardUpperMail:
			u.Mail = strings.ToUpper(u.Mail)
		case AwkwardDuplicateMail:
			// Slots come in pairs: the second takes the first one's mail.
			if i > 0 && d.Users[i-1].Awkward == AwkwardDuplicateMail && !sharesMail(d.Users, i-1) {
				u.Mail = d.Users[i-1].Mail
			}
		case AwkwardDisabled:
			u.Disabled = true
		}
	}
	d.generateGroups(rng)
	return d
}

// sharesMail reports whether user i already took the mail of user i-1, so
// that a run of duplicate slots pairs up as (0,1), (2,3), ...
func sharesMail(users []User, i int) bool {
	return i > 0 && users[i-1].Awkward == AwkwardDuplicateMail && users[i-1].Mail == users[i].Mail
}

// awkwardSlots spreads the awkward kinds evenly over the users, in rounds of
// six entries (the duplicate pair takes two adjacent users).
func awkwardSlots(opts Options) []string {
	slots := make([]string, opts.Users)
	if !opts.Awkward || opts.Users == 0 {
		return slots
	}
	round := []string{AwkwardNoMail, AwkwardUpperMail, AwkwardDuplicateMail, AwkwardDuplicateMail, AwkwardNonASCII, AwkwardDisabled}
	rounds := max(1, opts.Users/600)
	n := min(rounds*len(round), opts.Users)
	// Pairs must sit on adjacent users, so lay out rounds as blocks.
	step := opts.Users / max(1, n/len(round))
	for s := range n {
		r, k := s/len(round), s%len(round)
		pos := r*step + k
		if pos >= opts.Users {
			break
		}
		slots[pos] = round[k]
	}
	// A lone duplicate (the pair was cut off) has nobody to share with.
	for i, k := range slots {
		if k == AwkwardDuplicateMail && (i+1 >= len(slots) || slots[i+1] != AwkwardDuplicateMail) && (i == 0 || slots[i-1] != AwkwardDuplicateMail) {
			slots[i] = ""
		}
	}
	return slots
}

// ExpectedEmail is the userName a correct sync derives for u: the mail
// lower-cased, or "" when the entry must be skipped (no mail, or a mail that
// another entry shares). Disabled users are not skipped: they map to
// inactive users.
func (d *Directory) ExpectedEmail(u User) string {
	if u.Awkward == AwkwardNoMail || u.Awkward == AwkwardDuplicateMail || u.Mail == "" {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(u.Mail))
}

// LDIF returns the organizational units and the users, for slapadd. It
// leaves out the suffix entry, which the server fixture creates.
func (d *Directory) LDIF() []byte {
	var w ldifWriter
	size := 128
	for i := range d.Users {
		u := &d.Users[i]
		size += 300 + 2*len(u.DN) + 3*len(u.DisplayName) + 2*len(u.Mail)
	}
	w.buf.Grow(size)
	w.entry(d.PeopleDN)
	w.attr("objectClass", "organizationalUnit")
	w.attr("ou", "people")
	w.entry(d.GroupsDN)
	w.attr("objectClass", "organizationalUnit")
	w.attr("ou", "groups")
	for i := range d.Users {
		u := &d.Users[i]
		w.entry(u.DN)
		switch d.Options.Shape {
		case ActiveDirectory:
			w.attr("objectClass", "top")
			w.attr("objectClass", "person")
			w.attr("objectClass", "organizationalPerson")
			w.attr("objectClass", "user")
			w.attr("cn", rdnValue(u.DN))
			w.binary("objectGUID", u.GUID)
			uac := "512"
			if u.Disabled {
				uac = "514"
			}
			w.attr("userAccountControl", uac)
			w.attr("sAMAccountName", u.Login)
			w.attr("userPrincipalName", u.UID+"@"+d.Options.MailDomain)
			w.attr("department", u.Department)
		default:
			w.attr("objectClass", "inetOrgPerson")
			w.attr("uid", u.UID)
			w.attr("cn", u.DisplayName)
			w.attr("entryUUID", u.ID)
			w.attr("departmentNumber", u.Department)
			if u.Disabled {
				// The ppolicy value for "locked until an administrator unlocks".
				w.attr("pwdAccountLockedTime", "000001010000Z")
			}
		}
		w.attr("sn", u.Surname)
		w.attr("givenName", u.GivenName)
		w.attr("displayName", u.DisplayName)
		if u.Mail != "" {
			w.attr("mail", u.Mail)
		}
	}
	return w.buf.Bytes()
}

// GUIDString formats a raw objectGUID the way AD tools print it: the first
// three groups are little-endian, the rest in byte order, lower-case hex.
func GUIDString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	var dst [36]byte
	le := [16]byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
	formatUUID(dst[:], le[:])
	return string(dst[:])
}

func uuidString(b []byte) string {
	var dst [36]byte
	formatUUID(dst[:], b)
	return string(dst[:])
}

func formatUUID(dst, b []byte) {
	hex.Encode(dst[0:8], b[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], b[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], b[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], b[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:36], b[10:16])
}

// samAccountName keeps AD's 20-character limit while staying unique.
func samAccountName(uid string, i int) string {
	if len(uid) <= 20 {
		return uid
	}
	s := strconv.Itoa(i)
	return uid[:20-len(s)] + s
}

// rdnValue returns the unescaped value of the first RDN of a DN built by
// this package.
func rdnValue(dn string) string {
	_, v, _ := strings.Cut(dn, "=")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case v[i] == ',':
			return b.String()
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// escapeDNValue escapes an attribute value for use in a DN (RFC 4514).
func escapeDNValue(s string) string {
	if !strings.ContainsAny(s, `,+"\<>;=#`) && !strings.HasPrefix(s, " ") && !strings.HasSuffix(s, " ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(`,+"\<>;=`, c) >= 0,
			c == '#' && i == 0,
			c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

type ldifWriter struct {
	buf bytes.Buffer
}

func (w *ldifWriter) entry(dn string) {
	if w.buf.Len() > 0 {
		w.buf.WriteByte('\n')
	}
	w.attr("dn", dn)
}

// attr writes one line, switching to base64 when LDIF (RFC 2849) does not
// allow the value as a SAFE-STRING: non-ASCII, control characters, or a
// leading space, colon or '<', or a trailing space.
func (w *ldifWriter) attr(name, value string) {
	if safeString(value) {
		w.buf.WriteString(name)
		w.buf.WriteString(": ")
		w.buf.WriteString(value)
		w.buf.WriteByte('\n')
		return
	}
	w.binary(name, []byte(value))
}

func (w *ldifWriter) binary(name string, value []byte) {
	w.buf.WriteString(name)
	w.buf.WriteString(":: ")
	w.buf.Grow(base64.StdEncoding.EncodedLen(len(value)) + 1)
	w.buf.Write(base64.StdEncoding.AppendEncode(w.buf.AvailableBuffer(), value))
	w.buf.WriteByte('\n')
}

func safeString(s string) bool {
	if s == "" {
		return true
	}
	if c := s[0]; c == ' ' || c == ':' || c == '<' {
		return false
	}
	if s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}
