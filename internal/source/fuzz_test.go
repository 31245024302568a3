package source

import (
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

// FuzzMap feeds arbitrary attribute values to both mappings (entryUUID and
// objectGUID ids). Map must never panic, and must return either a user whose
// every field is fit to send and store, or a skip with a reason.
func FuzzMap(f *testing.F) {
	f.Add("uid=a,dc=x", []byte("1b0c9e4e-0000-4000-8000-000000000001"), "a@example.org", "Alice", "Alice", "Archer", "Sales", "514")
	f.Add("cn=b", []byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda}, "B@EXAMPLE.ORG", "", "", "", "", "512")
	f.Add("cn=\xff", []byte("id"), "x\xff@example.org", "\xc3", "", "", "", "")
	f.Add("", []byte(""), "<a@b.c>", "", "", "", "", "x")
	f.Add("cn=c", []byte(" "), "\"q\"@example.org", "", " ", " ", "", "")

	cfgs := []struct {
		name string
		id   string
	}{{"entryUUID", "entryUUID"}, {"objectGUID", "objectGUID"}}
	mappers := make([]*Mapper, len(cfgs))
	for i, c := range cfgs {
		cfg := openLDAPConfig()
		cfg.Attributes.ID = c.id
		cfg.Disabled.Kind, cfg.Disabled.Attribute = "uac", ""
		mappers[i] = NewMapper(cfg)
	}

	f.Fuzz(func(t *testing.T, dn string, id []byte, mail, display, given, family, dept, uac string) {
		attr := func(name string, v ...[]byte) *ldap.EntryAttribute {
			a := &ldap.EntryAttribute{Name: name}
			for _, b := range v {
				a.Values = append(a.Values, string(b))
				a.ByteValues = append(a.ByteValues, b)
			}
			return a
		}
		for i, m := range mappers {
			e := &ldap.Entry{DN: dn, Attributes: []*ldap.EntryAttribute{
				attr(cfgs[i].id, id),
				attr("mail", []byte(mail), []byte(display)),
				attr("displayName", []byte(display)),
				attr("givenName", []byte(given)),
				attr("sn", []byte(family)),
				attr("departmentNumber", []byte(dept)),
				attr("userAccountControl", []byte(uac)),
				attr("empty"),
			}}
			u, s := m.Map(e)
			if s != nil {
				if s.Reason == "" {
					t.Fatalf("%s: skipped without a reason", cfgs[i].name)
				}
				if !utf8.ValidString(s.DN) || !utf8.ValidString(s.ID) || !utf8.ValidString(s.Detail) {
					t.Fatalf("%s: skip not valid UTF-8: %+v", cfgs[i].name, *s)
				}
				if len(s.Detail) > 512 {
					t.Fatalf("%s: detail of %d bytes", cfgs[i].name, len(s.Detail))
				}
				continue
			}
			if u.ID == "" {
				t.Fatalf("%s: user without id", cfgs[i].name)
			}
			if n, err := identity.NormalizeEmail(u.UserName); err != nil || n != u.UserName {
				t.Fatalf("%s: userName %q is not a normalised email (%v)", cfgs[i].name, u.UserName, err)
			}
			if u.DisplayName == "" {
				t.Fatalf("%s: empty displayName", cfgs[i].name)
			}
			if !utf8.ValidString(u.DN) {
				t.Fatalf("%s: DN not valid UTF-8: %q", cfgs[i].name, u.DN)
			}
			values := []string{u.ID, u.UserName, u.DisplayName, u.GivenName, u.FamilyName}
			for _, v := range u.Attributes {
				values = append(values, v)
			}
			for _, v := range values {
				if !utf8.ValidString(v) || len(v) > identity.MaxValueBytes {
					t.Fatalf("%s: value unfit to send: %q", cfgs[i].name, v)
				}
			}
		}
	})
}
