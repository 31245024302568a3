package source

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/validate"
)

// omniAttributeURN is the SCIM extension that holds Omni user attributes;
// people copying from an IdP's mapping screen often paste it in front of the
// reference.
const omniAttributeURN = "urn:omni:params:1.0:UserAttribute"

// Validate checks the configuration as it stands (New fills the defaults of
// zero fields first; Validate does not) and returns every problem at once as
// a *validate.Error, each named by its YAML field under ldap. It reads
// RootCAFile, so that a bad path fails at start rather than at the first TLS
// handshake. No message includes the bind password.
func (c Config) Validate() error {
	var ps validate.Problems
	c.validateConnection(&ps)
	c.validateSearch(&ps)
	c.validateMapping(&ps)
	c.validateGroups(&ps)
	return ps.Err()
}

func (c Config) validateConnection(ps *validate.Problems) {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		ps.Add("ldap.url", "must be set, e.g. ldaps://ldap.example.com")
	case err != nil:
		ps.Add("ldap.url", "must be a URL such as ldaps://ldap.example.com")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		ps.Add("ldap.url", "scheme must be ldap or ldaps")
	case u.Hostname() == "":
		ps.Add("ldap.url", "must name a host")
	case u.Port() != "" && !validate.Port(u.Port()):
		ps.Add("ldap.url", "port must be a number from 1 to 65535")
	}
	if c.StartTLS && err == nil && u.Scheme != "ldap" {
		ps.Add("ldap.startTLS", "applies only to ldap:// URLs (ldaps:// is TLS already)")
	}
	if c.RootCAFile != "" {
		if _, err := validate.RootCAs(c.RootCAFile); err != nil {
			ps.Add("ldap.rootCAFile", "%v", err)
		}
	}
	if c.BindDN != "" {
		ps.DN("ldap.bindDN", c.BindDN)
	}
	switch {
	case c.BindDN != "" && c.BindPassword == "":
		// An empty password turns a simple bind into an unauthenticated
		// one, which servers accept as anonymous: ACLs would then hide
		// users silently instead of failing the bind.
		ps.Add("ldap.bindPassword", "must be set (or ldap.bindPasswordFile) when ldap.bindDN is set")
	case c.BindDN == "" && c.BindPassword != "":
		ps.Add("ldap.bindDN", "must be set when a bind password is given")
	}
	if c.Timeout <= 0 {
		ps.Add("ldap.timeout", "must be above zero")
	}
}

func (c Config) validateSearch(ps *validate.Problems) {
	if c.PageSize < 1 || c.PageSize > MaxPageSize {
		ps.Add("ldap.pageSize", "must be from 1 to %d", MaxPageSize)
	}
	if c.Referrals != ReferralsIncomplete && c.Referrals != ReferralsIgnore {
		ps.Add("ldap.referrals", "must be %s or %s", ReferralsIncomplete, ReferralsIgnore)
	}
	switch c.Incremental {
	case "", IncrementalAuto, IncrementalSyncrepl, IncrementalUSN, IncrementalOff:
	default:
		ps.Add("ldap.incremental", "must be %s, %s, %s or %s", IncrementalAuto, IncrementalSyncrepl, IncrementalUSN, IncrementalOff)
	}
	if c.FullReadEvery < 0 {
		ps.Add("ldap.fullReadEvery", "must not be negative")
	}
	if len(c.BaseDNs) == 0 {
		ps.Add("ldap.users.baseDNs", "must list at least one base DN")
	}
	checkSearch(ps, "ldap.users", c.BaseDNs, c.Scope, c.Filter, "(objectClass=person)")
	for i, dn := range c.MemberOf {
		ps.DN(fmt.Sprintf("ldap.users.memberOf[%d]", i), dn)
	}
}

func (c Config) validateMapping(ps *validate.Problems) {
	a := c.Attributes
	checkAttr(ps, "ldap.attributes.id", a.ID, true)
	checkAttr(ps, "ldap.attributes.userName", a.UserName, true)
	checkAttr(ps, "ldap.attributes.displayName", a.DisplayName, false)
	checkAttr(ps, "ldap.attributes.givenName", a.GivenName, false)
	checkAttr(ps, "ldap.attributes.familyName", a.FamilyName, false)
	checkAttr(ps, "ldap.attributes.login", a.Login, false)

	d := c.Disabled
	switch d.Kind {
	case DisabledAttribute:
		checkAttr(ps, "ldap.disabled.attribute", d.Attribute, true)
		if d.Value == "" {
			ps.Add("ldap.disabled.value", "must be set when kind is attribute")
		}
	case DisabledPresent, DisabledUAC, DisabledNSAccountLock:
		checkAttr(ps, "ldap.disabled.attribute", d.Attribute, true)
	case DisabledNone:
	case "":
		ps.Add("ldap.disabled.kind", "must be set (no default for an unknown flavor)")
	default:
		ps.Add("ldap.disabled.kind", "must be one of attribute, present, uac, nsaccountlock, none")
	}
	if d.Value != "" && d.Kind != DisabledAttribute {
		ps.Add("ldap.disabled.value", "applies only when kind is attribute")
	}

	keys := make([]string, 0, len(c.OmniAttributes))
	for k := range c.OmniAttributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := "ldap.omniAttributes" + validate.KeyPath(k)
		switch {
		case strings.TrimSpace(k) == "":
			ps.Add(field, "key must be an Omni user attribute reference, not empty")
		case strings.HasPrefix(k, omniAttributeURN+":"):
			ps.Add(field, "key must be the attribute's reference alone, without the %s: prefix", omniAttributeURN)
		case strings.Contains(k, ":"):
			ps.Add(field, "key must be an Omni user attribute reference, which has no ':'")
		}
		checkAttr(ps, field, c.OmniAttributes[k], true)
	}
}

// validateGroups checks ldap.groups only when group reading is on: the
// YAML fills every group default whether or not groups are read, and a
// Config built in code may leave the section empty.
func (c Config) validateGroups(ps *validate.Problems) {
	g := c.Groups
	if !g.Enabled() {
		return
	}
	checkSearch(ps, "ldap.groups", g.BaseDNs, g.Scope, g.Filter, "(objectClass=groupOfNames)")
	if _, ok := memberKind(g.MemberAttribute); !ok {
		ps.Add("ldap.groups.memberAttribute", "must be %s, %s or %s",
			MemberAttributeMember, MemberAttributeUniqueMember, MemberAttributeMemberUID)
	}
	checkAttr(ps, "ldap.groups.nameAttribute", g.NameAttribute, true)
	checkAttr(ps, "ldap.groups.idAttribute", g.IDAttribute, true)
}

// checkSearch checks the base DNs, scope and filter of one search; prefix
// is the YAML section (ldap.users, ldap.groups) and example a filter to
// suggest.
func checkSearch(ps *validate.Problems, prefix string, baseDNs []string, scope, filter, example string) {
	for i, dn := range baseDNs {
		ps.DN(fmt.Sprintf("%s.baseDNs[%d]", prefix, i), dn)
	}
	if _, ok := searchScope(scope); !ok {
		ps.Add(prefix+".scope", "must be %s or %s", ScopeSub, ScopeOne)
	}
	if _, err := ldap.CompileFilter(filter); err != nil {
		ps.Add(prefix+".filter", "must be an LDAP filter such as %s: %s", example, filterReason(err))
	}
}

// searchScope reads a scope keyword. Keywords are matched
// case-insensitively, like the rest of LDAP's vocabulary.
func searchScope(s string) (int, bool) {
	switch strings.ToLower(s) {
	case ScopeSub:
		return ldap.ScopeWholeSubtree, true
	case ScopeOne:
		return ldap.ScopeSingleLevel, true
	}
	return 0, false
}

// attrName matches an LDAP attribute description (RFC 4512): a name or a
// numeric OID, with options such as ;lang-en or ;binary.
var attrName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

func checkAttr(ps *validate.Problems, field, v string, required bool) {
	switch {
	case v == "" && required:
		ps.Add(field, "must name an LDAP attribute")
	case v != "" && !attrName.MatchString(v):
		ps.Add(field, "must be an LDAP attribute name such as mail, not %q", v)
	}
}

// filterReason strips go-ldap's "LDAP Result Code 201 ..." preamble, which
// means nothing to a person editing a file.
func filterReason(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		return strings.TrimPrefix(le.Err.Error(), "ldap: ")
	}
	return err.Error()
}
