package source

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/textutil"
)

// uacAccountDisable is the ACCOUNTDISABLE bit of Active Directory's
// userAccountControl.
const uacAccountDisable = 0x2

// detailMax bounds the part of an attribute value quoted in a Skipped.Detail:
// enough to recognise the entry in an audit record, never a whole blob.
const detailMax = 64

// Mapper turns directory entries into identity.User values according to the
// configuration. It holds no connection and no state between entries, so Map
// is safe for concurrent use and can be fuzzed on its own.
//
// Attribute names are matched case-insensitively, because servers may answer
// with a different case (or their canonical spelling) than the one asked for.
// A multi-valued attribute contributes its first value only: LDAP values are
// an unordered set, but servers return them in a stable order, and neither
// Omni's userName nor an Omni attribute can hold several values.
type Mapper struct {
	id, userName, displayName, givenName, familyName, login string
	// guid is true when the id attribute is Active Directory's objectGUID,
	// which arrives as 16 raw bytes and must be formatted.
	guid bool
	// omni lists Omni attribute keys with their LDAP attribute, sorted by key
	// so that details and requests come out in a stable order.
	omni []omniAttr

	disabledKind  string
	disabledAttr  string
	disabledValue string

	attrs []string
	// The slot in attrs of each field's attribute, -1 for none: Map reads
	// an entry's attributes once into slots rather than searching them for
	// every field.
	idSlot, userNameSlot, displayNameSlot, givenNameSlot, familyNameSlot, loginSlot, disabledSlot int
}

type omniAttr struct {
	key, attr string
	slot      int
}

// inlineSlots is how many attributes Map reads without allocating; more
// (a long omniAttributes list) costs a slice per entry.
const inlineSlots = 16

// NewMapper prepares the attribute list of a configuration that has passed
// Validate (New validates before calling it); it checks nothing itself.
// Disabled's defaults are filled here, so that a Config built for the mapper
// alone reads markers the way New would.
func NewMapper(cfg Config) *Mapper {
	a := cfg.Attributes
	d := cfg.Disabled.WithDefaults()
	m := &Mapper{
		id:            a.ID,
		userName:      a.UserName,
		displayName:   a.DisplayName,
		givenName:     a.GivenName,
		familyName:    a.FamilyName,
		login:         a.Login,
		guid:          strings.EqualFold(a.ID, "objectGUID"),
		disabledKind:  d.Kind,
		disabledAttr:  d.Attribute,
		disabledValue: d.Value,
	}
	if d.Kind == DisabledNone {
		m.disabledAttr = ""
	}

	keys := make([]string, 0, len(cfg.OmniAttributes))
	for k := range cfg.OmniAttributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.omni = append(m.omni, omniAttr{key: k, attr: cfg.OmniAttributes[k]})
	}

	for _, name := range []string{m.id, m.userName, m.displayName, m.givenName, m.familyName, m.login, m.disabledAttr} {
		m.attrs = appendAttr(m.attrs, name)
	}
	for _, o := range m.omni {
		m.attrs = appendAttr(m.attrs, o.attr)
	}
	m.idSlot, m.userNameSlot, m.displayNameSlot = m.slotOf(m.id), m.slotOf(m.userName), m.slotOf(m.displayName)
	m.givenNameSlot, m.familyNameSlot, m.loginSlot = m.slotOf(m.givenName), m.slotOf(m.familyName), m.slotOf(m.login)
	m.disabledSlot = m.slotOf(m.disabledAttr)
	for i := range m.omni {
		m.omni[i].slot = m.slotOf(m.omni[i].attr)
	}
	return m
}

// slotOf is the position of the attribute name in the request list, or -1.
// An exact match is looked for first: servers mostly answer with the
// spelling asked for, and a string comparison is cheaper than EqualFold.
func (m *Mapper) slotOf(name string) int {
	if name == "" {
		return -1
	}
	for i, a := range m.attrs {
		if a == name {
			return i
		}
	}
	for i, a := range m.attrs {
		if strings.EqualFold(a, name) {
			return i
		}
	}
	return -1
}

// slots holds the first value of each requested attribute of one entry, by
// its position in the request list, as first would find it: the first
// attribute of that name that has a value.
type slots struct {
	v  []string
	ok []bool
}

func (s *slots) get(i int) (string, bool) {
	if i < 0 {
		return "", false
	}
	return s.v[i], s.ok[i]
}

// fill reads e's attributes into s, whose slices are len(m.attrs) long.
func (m *Mapper) fill(s *slots, e *ldap.Entry) {
	for _, a := range e.Attributes {
		if a == nil || len(a.Values) == 0 {
			continue
		}
		if i := m.slotOf(a.Name); i >= 0 && !s.ok[i] {
			s.v[i], s.ok[i] = a.Values[0], true
		}
	}
}

func appendAttr(list []string, name string) []string {
	if name == "" {
		return list
	}
	for _, have := range list {
		if strings.EqualFold(have, name) {
			return list
		}
	}
	return append(list, name)
}

// Attributes returns the attributes to request. Operational attributes such
// as entryUUID and pwdAccountLockedTime are only returned when asked for by
// name, which this list does.
func (m *Mapper) Attributes() []string {
	return append([]string(nil), m.attrs...)
}

// Map turns one entry into a user, or says why it cannot. It checks, in this
// order: the id, every value it would use (valid UTF-8, at most
// identity.MaxValueBytes), then the userName as an email. A missing optional
// attribute is not a problem: displayName falls back to "givenName
// familyName", then to the userName, and an Omni attribute without a value is
// left out.
func (m *Mapper) Map(e *ldap.Entry) (identity.User, *identity.Skipped) {
	return m.MapWith(e, nil)
}

// MapWith is Map taking the user's attribute map from set, so that users
// with equal attributes share one.
func (m *Mapper) MapWith(e *ldap.Entry, set *identity.AttributeSet) (identity.User, *identity.Skipped) {
	if e == nil {
		return identity.User{}, &identity.Skipped{Reason: identity.SkipNoID, Detail: "no entry"}
	}
	dn := e.DN
	skip := func(id string, reason identity.SkipReason, detail string) (identity.User, *identity.Skipped) {
		return identity.User{}, &identity.Skipped{
			DN:     textutil.Clean(dn),
			ID:     textutil.Clean(id),
			Reason: reason,
			Detail: detail,
		}
	}

	var inlineV [inlineSlots]string
	var inlineOK [inlineSlots]bool
	vs := slots{v: inlineV[:], ok: inlineOK[:]}
	if n := len(m.attrs); n > inlineSlots {
		vs = slots{v: make([]string, n), ok: make([]bool, n)}
	}
	m.fill(&vs, e)

	var id string
	var r identity.SkipReason
	var detail string
	if m.guid {
		id, r, detail = readID(e, m.id, true)
	} else {
		v, ok := vs.get(m.idSlot)
		id, r, detail = checkID(m.id, v, ok)
	}
	if r != "" {
		// An unusable id stays out of Skipped.ID.
		return skip("", r, detail)
	}
	if r, detail := checkDN(dn); r != "" {
		return skip(id, r, detail)
	}

	mail, hasMail := vs.get(m.userNameSlot)
	display, _ := vs.get(m.displayNameSlot)
	given, _ := vs.get(m.givenNameSlot)
	family, _ := vs.get(m.familyNameSlot)
	// A login may be missing: only memberUid groups need it.
	login, _ := vs.get(m.loginSlot)
	for _, f := range [...]struct{ attr, v string }{
		{m.userName, mail}, {m.displayName, display}, {m.givenName, given}, {m.familyName, family}, {m.login, login},
	} {
		if r, detail := checkValue(f.attr, f.v); r != "" {
			return skip(id, r, detail)
		}
	}
	// The pairs in key order (m.omni is sorted), then one map for them.
	var inline [2 * inlineSlots]string
	kv := inline[:0]
	for _, o := range m.omni {
		v, ok := vs.get(o.slot)
		if !ok || v == "" {
			continue
		}
		if r, detail := checkValue(o.attr, v); r != "" {
			return skip(id, r, detail)
		}
		kv = append(kv, o.key, v)
	}
	var attrs map[string]string
	switch {
	case len(kv) == 0:
	case set != nil:
		attrs = set.Pairs(kv)
	default:
		attrs = make(map[string]string, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			attrs[kv[i]] = kv[i+1]
		}
	}

	if !hasMail || strings.TrimSpace(mail) == "" {
		return skip(id, identity.SkipNoEmail, fmt.Sprintf("no %s", m.userName))
	}
	userName, err := identity.NormalizeEmail(mail)
	if err != nil {
		return skip(id, identity.SkipInvalidEmail, fmt.Sprintf("%s: not a valid email: %s", m.userName, quoteBounded(mail)))
	}

	given = strings.TrimSpace(given)
	family = strings.TrimSpace(family)
	display = strings.TrimSpace(display)
	if display == "" {
		display = strings.TrimSpace(given + " " + family)
	}
	if display == "" {
		display = userName
	}

	return identity.User{
		ID:          id,
		DN:          dn,
		UserName:    userName,
		DisplayName: display,
		GivenName:   given,
		FamilyName:  family,
		Active:      m.activeValue(vs.get(m.disabledSlot)),
		Attributes:  attrs,
		Login:       strings.TrimSpace(login),
	}, nil
}

// readID reads the stable id of an entry: an objectGUID (guid true) is
// formatted, any other attribute is taken as text and checked like every
// value. A reason is returned when there is no usable id.
func readID(e *ldap.Entry, attr string, guid bool) (string, identity.SkipReason, string) {
	if guid {
		raw := firstRaw(e, attr)
		if raw == nil {
			return "", identity.SkipNoID, fmt.Sprintf("no %s", attr)
		}
		g, err := FormatGUID(raw)
		if err != nil {
			return "", identity.SkipNoID, fmt.Sprintf("%s: %v", attr, err)
		}
		return g, "", ""
	}
	v, ok := first(e, attr)
	return checkID(attr, v, ok)
}

// checkID is readID for a textual id already looked up.
func checkID(attr, v string, ok bool) (string, identity.SkipReason, string) {
	if !ok || strings.TrimSpace(v) == "" {
		return "", identity.SkipNoID, fmt.Sprintf("no %s", attr)
	}
	if r, detail := checkValue(attr, v); r != "" {
		return "", r, detail
	}
	return v, "", ""
}

// checkDN reports a DN that cannot be stored or sent: the server hands back
// what it holds, and a DN is kept (and logged) with every mapped entry.
func checkDN(dn string) (identity.SkipReason, string) {
	if !utf8.ValidString(dn) {
		return identity.SkipInvalidUTF8, "dn: not valid UTF-8"
	}
	if strings.IndexByte(dn, 0) >= 0 {
		return identity.SkipNULByte, "dn: holds a NUL byte"
	}
	return "", ""
}

// activeValue reads the disabled marker from its first value (ok false
// when the entry has none). A marker that cannot be read (an unparsable
// userAccountControl) counts as active: deactivation in Omni cannot be
// undone, so only a clear "disabled" may lead to one.
func (m *Mapper) activeValue(v string, ok bool) bool {
	if m.disabledAttr == "" {
		return true
	}
	switch m.disabledKind {
	case DisabledUAC:
		if !ok {
			return true
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return true
		}
		return n&uacAccountDisable == 0
	case DisabledNSAccountLock:
		return !(ok && strings.EqualFold(strings.TrimSpace(v), "true"))
	case DisabledPresent:
		return !ok
	case DisabledAttribute:
		return !(ok && strings.EqualFold(strings.TrimSpace(v), m.disabledValue))
	}
	return true
}

// checkValue reports why a value cannot be sent to Omni or stored, or ""
// when it can.
func checkValue(attr, v string) (identity.SkipReason, string) {
	if !utf8.ValidString(v) {
		return identity.SkipInvalidUTF8, fmt.Sprintf("%s: not valid UTF-8", attr)
	}
	if len(v) > identity.MaxValueBytes {
		return identity.SkipOversized, fmt.Sprintf("%s: %d bytes, limit %d", attr, len(v), identity.MaxValueBytes)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return identity.SkipNULByte, fmt.Sprintf("%s: holds a NUL byte", attr)
	}
	return "", ""
}

// first returns the first value of the named attribute.
func first(e *ldap.Entry, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	for _, a := range e.Attributes {
		if a != nil && len(a.Values) > 0 && strings.EqualFold(a.Name, name) {
			return a.Values[0], true
		}
	}
	return "", false
}

// firstRaw is first for binary attributes.
func firstRaw(e *ldap.Entry, name string) []byte {
	for _, a := range e.Attributes {
		if a != nil && strings.EqualFold(a.Name, name) {
			if len(a.ByteValues) > 0 {
				return a.ByteValues[0]
			}
			if len(a.Values) > 0 {
				return []byte(a.Values[0])
			}
		}
	}
	return nil
}

// quoteBounded quotes at most detailMax bytes of v, so a detail stays short
// and valid UTF-8 whatever the value holds.
func quoteBounded(v string) string {
	if len(v) <= detailMax {
		return strconv.Quote(v)
	}
	return strconv.Quote(textutil.Clip(v, detailMax, "")) + fmt.Sprintf("… (%d bytes)", len(v))
}

// bounded shortens s (a DN, in practice) for a detail.
func bounded(s string) string {
	return textutil.Clip(textutil.Clean(s), 256, "…")
}

// FormatGUID renders Active Directory's 16-byte objectGUID in the canonical
// lower-case 8-4-4-4-12 form that AD tools display. The first three groups are
// stored little-endian on the wire, so they are byte-swapped first; reading
// the bytes in order would give a different, still plausible-looking id.
func FormatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("guid is %d bytes, want 16", len(b))
	}
	var o [16]byte
	o[0], o[1], o[2], o[3] = b[3], b[2], b[1], b[0]
	o[4], o[5] = b[5], b[4]
	o[6], o[7] = b[7], b[6]
	copy(o[8:], b[8:])
	var s [36]byte
	hex.Encode(s[0:8], o[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], o[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], o[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], o[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], o[10:16])
	return string(s[:]), nil
}
