package source

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Skip reasons that only groups have. identity.SkipReason is open-ended
// text, so the group rules keep their reasons beside them.
const (
	// SkipGroupNoName: the name attribute is missing or blank.
	SkipGroupNoName identity.SkipReason = "no_group_name"
	// SkipGroupNameTooLong: more than MaxGroupNameLength characters.
	SkipGroupNameTooLong identity.SkipReason = "group_name_too_long"
	// SkipDuplicateGroupName: another group in scope has the same name
	// (ignoring case); both are skipped, as users sharing an email are,
	// since Omni names a group by it and neither is the right one.
	SkipDuplicateGroupName identity.SkipReason = "duplicate_group_name"
)

// GroupEntry is one group entry as mapped, before flattening (see
// identity.GroupEntry).
type GroupEntry = identity.GroupEntry

// GroupMapper turns group entries into GroupEntry values. Like Mapper it
// holds no state between entries and matches attribute names
// case-insensitively.
type GroupMapper struct {
	id, name, member string
	guid             bool
	// logins: the member attribute holds account names (memberUid), not
	// DNs.
	logins bool
	attrs  []string
}

// memberKind reads a member attribute keyword; logins reports memberUid.
func memberKind(attr string) (logins bool, ok bool) {
	switch {
	case strings.EqualFold(attr, MemberAttributeMember), strings.EqualFold(attr, MemberAttributeUniqueMember):
		return false, true
	case strings.EqualFold(attr, MemberAttributeMemberUID):
		return true, true
	}
	return false, false
}

// NewGroupMapper prepares the mapping of a group configuration that has
// passed Validate, with withDefaults' defaults filled (New does both).
func NewGroupMapper(g Groups) *GroupMapper {
	logins, _ := memberKind(g.MemberAttribute)
	m := &GroupMapper{
		id:     g.IDAttribute,
		name:   g.NameAttribute,
		member: g.MemberAttribute,
		guid:   strings.EqualFold(g.IDAttribute, "objectGUID"),
		logins: logins,
	}
	// Nothing else is asked for: a member group is recognised by its DN,
	// which every entry carries, among the groups read in scope.
	for _, a := range []string{m.id, m.name, m.member} {
		m.attrs = appendAttr(m.attrs, a)
	}
	return m
}

// Attributes returns the attributes to request.
func (m *GroupMapper) Attributes() []string { return slices.Clone(m.attrs) }

// Map reads one group entry: its id, its DN, its name (at most
// MaxGroupNameLength characters) and its direct members, every value
// checked as users' values are.
func (m *GroupMapper) Map(e *ldap.Entry) GroupEntry {
	if e == nil {
		return GroupEntry{Skip: &identity.Skipped{Reason: identity.SkipNoID, Detail: "no entry"}}
	}
	var ge GroupEntry
	skip := func(r identity.SkipReason, detail string) GroupEntry {
		ge.Skip = &identity.Skipped{DN: bounded(e.DN), ID: bounded(ge.Group.ID), Reason: r, Detail: detail}
		return ge
	}
	if r, detail := checkDN(e.DN); r != "" {
		return skip(r, detail)
	}
	ge.Group.DN = e.DN
	// The id first, so that an entry skipped for its members is still
	// known by it.
	id, idReason, idDetail := readID(e, m.id, m.guid)
	if idReason == "" {
		ge.Group.ID = id
	}
	if r, detail := m.readMembers(e, &ge.Group); r != "" {
		return skip(r, detail)
	}
	if idReason != "" {
		return skip(idReason, idDetail)
	}
	name, _ := first(e, m.name)
	name = strings.TrimSpace(name)
	if r, detail := checkValue(m.name, name); r != "" {
		return skip(r, detail)
	}
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return skip(SkipGroupNoName, fmt.Sprintf("no %s", m.name))
	case n > MaxGroupNameLength:
		return skip(SkipGroupNameTooLong, fmt.Sprintf("%s: %d characters, limit %d: %s", m.name, n, MaxGroupNameLength, quoteBounded(name)))
	}
	ge.Group.Name = name
	return ge
}

// readMembers fills the direct members: DNs, or logins for memberUid. Order and duplicates are left to flattening.
func (m *GroupMapper) readMembers(e *ldap.Entry, g *identity.Group) (identity.SkipReason, string) {
	for _, a := range e.Attributes {
		if a == nil || !strings.EqualFold(a.Name, m.member) {
			continue
		}
		for _, v := range a.Values {
			if r, detail := checkValue(m.member, v); r != "" {
				return r, detail
			}
			v = strings.TrimSpace(v)
			switch {
			case v == "":
			case m.logins:
				g.MemberLogins = append(g.MemberLogins, v)
			default:
				g.MemberDNs = append(g.MemberDNs, memberDN(v))
			}
		}
	}
	return "", ""
}

// memberDN drops the optional unique identifier of a uniqueMember value
// ("cn=a,dc=x#'0101'B", RFC 4517 NameAndOptionalUID), which names no
// other entry than the DN before it.
func memberDN(v string) string {
	if i := strings.LastIndex(v, "#'"); i > 0 && strings.HasSuffix(v, "'B") {
		return v[:i]
	}
	return v
}
