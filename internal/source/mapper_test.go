package source

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

func TestFormatGUID(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{
			// The GUID used as the example in Microsoft's documentation
			// (MS-DTYP 2.3.4), as objectGUID holds it on the wire.
			name: "microsoft example",
			in:   []byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda},
			want: "6b29fc40-ca47-1067-b31d-00dd010662da",
		},
		{
			// .NET's new Guid(byte[]{0..15}) prints this: the first three
			// groups are little-endian, the rest in order.
			name: "counting bytes",
			in:   []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			want: "03020100-0504-0706-0809-0a0b0c0d0e0f",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatGUID(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("FormatGUID = %s, want %s", got, tt.want)
			}
		})
	}
	for _, n := range []int{0, 15, 17} {
		if _, err := FormatGUID(make([]byte, n)); err == nil {
			t.Errorf("FormatGUID of %d bytes: no error", n)
		}
	}
}

// openLDAPConfig is an OpenLDAP-flavoured mapping as the config package's
// defaults would fill it.
func openLDAPConfig() Config {
	return Config{
		URL:     "ldap://127.0.0.1:389",
		BaseDNs: []string{"ou=people,dc=example,dc=org"},
		Filter:  "(objectClass=inetOrgPerson)",
		Attributes: Attributes{
			ID: "entryUUID", UserName: "mail", DisplayName: "displayName",
			GivenName: "givenName", FamilyName: "sn",
		},
		Disabled:       Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"},
		OmniAttributes: map[string]string{"department": "departmentNumber"},
	}
}

func entry(dn string, attrs map[string][]string) *ldap.Entry {
	return ldap.NewEntry(dn, attrs)
}

func mustMapper(t *testing.T, cfg Config) *Mapper {
	t.Helper()
	return NewMapper(cfg)
}

func TestMapSkips(t *testing.T) {
	const dn = "uid=a,ou=people,dc=example,dc=org"
	base := func() map[string][]string {
		return map[string][]string{
			"entryUUID": {"1b0c9e4e-0000-4000-8000-000000000001"},
			"mail":      {"Alice@Example.org"},
		}
	}
	with := func(k string, v ...string) map[string][]string {
		a := base()
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
		return a
	}
	long := strings.Repeat("x", identity.MaxValueBytes+1)
	tests := []struct {
		name       string
		attrs      map[string][]string
		reason     identity.SkipReason
		detailHas  string
		detailNot  string
		wantSkipID bool
	}{
		{name: "no id", attrs: with("entryUUID"), reason: identity.SkipNoID, detailHas: "entryUUID"},
		{name: "blank id", attrs: with("entryUUID", "  "), reason: identity.SkipNoID},
		{name: "no mail", attrs: with("mail"), reason: identity.SkipNoEmail, detailHas: "mail", wantSkipID: true},
		{name: "blank mail", attrs: with("mail", " "), reason: identity.SkipNoEmail, wantSkipID: true},
		{name: "invalid mail", attrs: with("mail", "not an email"), reason: identity.SkipInvalidEmail, detailHas: "not an email", wantSkipID: true},
		{name: "mail without dotted domain", attrs: with("mail", "a@localhost"), reason: identity.SkipInvalidEmail, wantSkipID: true},
		{name: "mail with display name", attrs: with("mail", "Alice <a@example.org>"), reason: identity.SkipInvalidEmail, wantSkipID: true},
		{name: "invalid utf8 in mail", attrs: with("mail", "a\xff@example.org"), reason: identity.SkipInvalidUTF8, detailHas: "mail", wantSkipID: true},
		{name: "invalid utf8 in display name", attrs: with("displayName", "Al\xc3ice"), reason: identity.SkipInvalidUTF8, detailHas: "displayName", wantSkipID: true},
		{name: "invalid utf8 in omni attribute", attrs: with("departmentNumber", "\xfe"), reason: identity.SkipInvalidUTF8, detailHas: "departmentNumber", wantSkipID: true},
		{name: "invalid utf8 in id", attrs: with("entryUUID", "\xff\xfe"), reason: identity.SkipInvalidUTF8, detailHas: "entryUUID"},
		{name: "oversized display name", attrs: with("displayName", long), reason: identity.SkipOversized, detailHas: "displayName", detailNot: long[:100], wantSkipID: true},
		{name: "oversized omni attribute", attrs: with("departmentNumber", long), reason: identity.SkipOversized, detailHas: "departmentNumber", wantSkipID: true},
		{name: "oversized mail", attrs: with("mail", long+"@example.org"), reason: identity.SkipOversized, detailHas: "mail", wantSkipID: true},
	}
	m := mustMapper(t, openLDAPConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s := m.Map(entry(dn, tt.attrs))
			if s == nil {
				t.Fatalf("mapped to %+v, want skipped with %s", u, tt.reason)
			}
			if s.Reason != tt.reason {
				t.Fatalf("reason %s (%s), want %s", s.Reason, s.Detail, tt.reason)
			}
			if s.DN != dn {
				t.Errorf("DN %q, want %q", s.DN, dn)
			}
			if tt.wantSkipID && s.ID == "" {
				t.Errorf("skipped without the id")
			}
			if !utf8.ValidString(s.Detail) || !utf8.ValidString(s.ID) {
				t.Errorf("detail or id not valid UTF-8: %q %q", s.Detail, s.ID)
			}
			if len(s.Detail) > 2*detailMax+100 {
				t.Errorf("detail is %d bytes, want it bounded", len(s.Detail))
			}
			if tt.detailHas != "" && !strings.Contains(s.Detail, tt.detailHas) {
				t.Errorf("detail %q does not name %q", s.Detail, tt.detailHas)
			}
			if tt.detailNot != "" && strings.Contains(s.Detail, tt.detailNot) {
				t.Errorf("detail quotes the oversized value")
			}
		})
	}
}

func TestMapUser(t *testing.T) {
	const dn = "uid=a,ou=people,dc=example,dc=org"
	const id = "1b0c9e4e-0000-4000-8000-000000000001"
	tests := []struct {
		name  string
		attrs map[string][]string
		want  identity.User
	}{
		{
			name: "all attributes",
			attrs: map[string][]string{
				"entryUUID": {id}, "mail": {" Alice@Example.ORG "}, "displayName": {"Alice A."},
				"givenName": {"Alice"}, "sn": {"Archer"}, "departmentNumber": {"Sales"},
			},
			want: identity.User{ID: id, DN: dn, UserName: "alice@example.org", DisplayName: "Alice A.",
				GivenName: "Alice", FamilyName: "Archer", Active: true, Attributes: map[string]string{"department": "Sales"}},
		},
		{
			name:  "display name from given and family name",
			attrs: map[string][]string{"entryUUID": {id}, "mail": {"a@example.org"}, "givenName": {"Alice"}, "sn": {"Archer"}},
			want:  identity.User{ID: id, DN: dn, UserName: "a@example.org", DisplayName: "Alice Archer", GivenName: "Alice", FamilyName: "Archer", Active: true},
		},
		{
			name:  "display name from family name alone",
			attrs: map[string][]string{"entryUUID": {id}, "mail": {"a@example.org"}, "sn": {"Archer"}},
			want:  identity.User{ID: id, DN: dn, UserName: "a@example.org", DisplayName: "Archer", FamilyName: "Archer", Active: true},
		},
		{
			name:  "display name from userName",
			attrs: map[string][]string{"entryUUID": {id}, "mail": {"A@example.org"}},
			want:  identity.User{ID: id, DN: dn, UserName: "a@example.org", DisplayName: "a@example.org", Active: true},
		},
		{
			name:  "first of several values",
			attrs: map[string][]string{"entryUUID": {id}, "mail": {"first@example.org", "second@example.org"}, "departmentNumber": {"1", "2"}},
			want:  identity.User{ID: id, DN: dn, UserName: "first@example.org", DisplayName: "first@example.org", Active: true, Attributes: map[string]string{"department": "1"}},
		},
		{
			name:  "attribute names in another case",
			attrs: map[string][]string{"entryuuid": {id}, "MAIL": {"a@example.org"}, "pwdaccountlockedtime": {"20240101000000Z"}},
			want:  identity.User{ID: id, DN: dn, UserName: "a@example.org", DisplayName: "a@example.org", Active: false},
		},
		{
			name:  "locked account",
			attrs: map[string][]string{"entryUUID": {id}, "mail": {"a@example.org"}, "pwdAccountLockedTime": {"000001010000Z"}},
			want:  identity.User{ID: id, DN: dn, UserName: "a@example.org", DisplayName: "a@example.org", Active: false},
		},
	}
	m := mustMapper(t, openLDAPConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s := m.Map(entry(dn, tt.attrs))
			if s != nil {
				t.Fatalf("skipped: %+v", *s)
			}
			if !equalUser(u, tt.want) {
				t.Errorf("got  %+v\nwant %+v", u, tt.want)
			}
		})
	}
}

func equalUser(a, b identity.User) bool {
	if a.ID != b.ID || a.DN != b.DN || a.UserName != b.UserName || a.DisplayName != b.DisplayName ||
		a.GivenName != b.GivenName || a.FamilyName != b.FamilyName || a.Active != b.Active ||
		len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for k, v := range a.Attributes {
		if w, ok := b.Attributes[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMapActive(t *testing.T) {
	const id = "x-1"
	tests := []struct {
		name     string
		disabled Disabled
		attrs    map[string][]string
		active   bool
	}{
		{"uac normal account", Disabled{Kind: "uac"}, map[string][]string{"userAccountControl": {"512"}}, true},
		{"uac disabled bit", Disabled{Kind: "uac"}, map[string][]string{"userAccountControl": {"514"}}, false},
		{"uac disabled with other bits", Disabled{Kind: "uac"}, map[string][]string{"userAccountControl": {"66050"}}, false},
		{"uac missing", Disabled{Kind: "uac"}, nil, true},
		{"uac unparsable counts as active", Disabled{Kind: "uac"}, map[string][]string{"userAccountControl": {"lots"}}, true},
		{"nsaccountlock true", Disabled{Kind: "nsaccountlock"}, map[string][]string{"nsAccountLock": {"TRUE"}}, false},
		{"nsaccountlock lower case", Disabled{Kind: "nsaccountlock"}, map[string][]string{"nsaccountlock": {"true"}}, false},
		{"nsaccountlock false", Disabled{Kind: "nsaccountlock"}, map[string][]string{"nsAccountLock": {"FALSE"}}, true},
		{"nsaccountlock missing", Disabled{Kind: "nsaccountlock"}, nil, true},
		{"present with value", Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"}, map[string][]string{"pwdAccountLockedTime": {"20240101000000Z"}}, false},
		{"present missing", Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"}, nil, true},
		{"attribute equal ignoring case", Disabled{Kind: "attribute", Attribute: "employeeType", Value: "Terminated"}, map[string][]string{"employeeType": {"terminated"}}, false},
		{"attribute other value", Disabled{Kind: "attribute", Attribute: "employeeType", Value: "Terminated"}, map[string][]string{"employeeType": {"Staff"}}, true},
		{"attribute kind implied", Disabled{Attribute: "employeeType", Value: "gone"}, map[string][]string{"employeeType": {"GONE"}}, false},
		{"none", Disabled{Kind: "none"}, map[string][]string{"userAccountControl": {"514"}}, true},
		{"empty kind", Disabled{}, map[string][]string{"nsAccountLock": {"TRUE"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := openLDAPConfig()
			cfg.Disabled = tt.disabled
			m := mustMapper(t, cfg)
			attrs := map[string][]string{"entryUUID": {id}, "mail": {"a@example.org"}}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			u, s := m.Map(entry("cn=a", attrs))
			if s != nil {
				t.Fatalf("skipped: %+v", *s)
			}
			if u.Active != tt.active {
				t.Errorf("Active = %v, want %v", u.Active, tt.active)
			}
		})
	}
}

func TestMapObjectGUID(t *testing.T) {
	cfg := openLDAPConfig()
	cfg.Attributes.ID = "objectGUID"
	m := mustMapper(t, cfg)
	guid := []byte{0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06, 0x62, 0xda}
	e := &ldap.Entry{DN: "cn=a", Attributes: []*ldap.EntryAttribute{
		{Name: "objectGUID", Values: []string{string(guid)}, ByteValues: [][]byte{guid}},
		{Name: "mail", Values: []string{"a@example.org"}, ByteValues: [][]byte{[]byte("a@example.org")}},
	}}
	u, s := m.Map(e)
	if s != nil {
		t.Fatalf("skipped: %+v", *s)
	}
	if u.ID != "6b29fc40-ca47-1067-b31d-00dd010662da" {
		t.Errorf("ID = %s", u.ID)
	}

	e.Attributes[0] = &ldap.EntryAttribute{Name: "objectGUID", Values: []string{"short"}, ByteValues: [][]byte{[]byte("short")}}
	if _, s := m.Map(e); s == nil || s.Reason != identity.SkipNoID {
		t.Errorf("5-byte objectGUID: got %+v, want skipped with %s", s, identity.SkipNoID)
	}
}

func TestMapperAttributes(t *testing.T) {
	cfg := openLDAPConfig()
	cfg.OmniAttributes = map[string]string{"dept": "departmentNumber", "mail2": "MAIL", "title": "title"}
	m := mustMapper(t, cfg)
	got := strings.Join(m.Attributes(), ",")
	want := "entryUUID,mail,displayName,givenName,sn,pwdAccountLockedTime,departmentNumber,title"
	if got != want {
		t.Errorf("Attributes = %s, want %s", got, want)
	}
}

// The mapping's rules are Validate's; NewMapper checks nothing itself.
func TestValidateMapping(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no id", func(c *Config) { c.Attributes.ID = "" }, "ldap.attributes.id"},
		{"no userName", func(c *Config) { c.Attributes.UserName = "" }, "ldap.attributes.userName"},
		{"unknown kind", func(c *Config) { c.Disabled = Disabled{Kind: "maybe"} }, "ldap.disabled.kind"},
		{"present without attribute", func(c *Config) { c.Disabled = Disabled{Kind: "present"} }, "ldap.disabled.attribute"},
		{"attribute without value", func(c *Config) { c.Disabled = Disabled{Kind: "attribute", Attribute: "x"} }, "ldap.disabled"},
		{"omni attribute without ldap attribute", func(c *Config) { c.OmniAttributes = map[string]string{"k": ""} }, "ldap.omniAttributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := openLDAPConfig()
			tt.change(&cfg)
			err := cfg.withDefaults().Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// A read keeps every mapped attribute, however many there are, and users
// with equal attributes share one map.
func TestMapWithKeepsEveryAttribute(t *testing.T) {
	for _, n := range []int{1, 8, 9, 20} {
		cfg := openLDAPConfig()
		cfg.OmniAttributes = map[string]string{}
		values := map[string][]string{"entryUUID": {"id-1"}, "mail": {"a@example.org"}}
		want := map[string]string{}
		for i := range n {
			attr := fmt.Sprintf("attr%02d", i)
			cfg.OmniAttributes[fmt.Sprintf("key%02d", i)] = attr
			values[attr] = []string{fmt.Sprintf("v%d", i)}
			want[fmt.Sprintf("key%02d", i)] = fmt.Sprintf("v%d", i)
		}
		m := mustMapper(t, cfg)
		col := newCollector(0)
		col.addEntry(m, entry("uid=a,ou=people,dc=example,dc=org", values))
		values["entryUUID"], values["mail"] = []string{"id-2"}, []string{"b@example.org"}
		col.addEntry(m, entry("uid=b,ou=people,dc=example,dc=org", values))
		users, skipped := col.finish()
		if len(users) != 2 || len(skipped) != 0 {
			t.Fatalf("%d attributes: %d users, skipped %v", n, len(users), skipped)
		}
		for _, u := range users {
			if !maps.Equal(u.Attributes, want) {
				t.Errorf("%d attributes: %s has %v, want %v", n, u.ID, u.Attributes, want)
			}
		}
		if shared := fmt.Sprintf("%p", users[0].Attributes) == fmt.Sprintf("%p", users[1].Attributes); shared != (n <= 8) {
			t.Errorf("%d attributes: shared %t", n, shared)
		}
	}
}
