package source

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// matchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN: on Active Directory,
// memberOf with this rule also matches users in groups nested inside the
// named group.
const matchingRuleInChain = "1.2.840.113556.1.4.1941"

// defaultFilter matches every entry; the configured base DNs and scope then
// decide what is read.
const defaultFilter = "(objectClass=*)"

// Filter returns the search filter: the configured users filter, AND'ed with
// membership of any of the configured groups. Group DNs are escaped with
// ldap.EscapeFilter, so a DN holding parentheses, asterisks or backslashes
// matches itself and nothing else. The configured filter is taken as written
// (it is a filter, not a value), wrapped in parentheses when it has none.
func Filter(cfg Config) string {
	base := strings.TrimSpace(cfg.Filter)
	if base == "" {
		base = defaultFilter
	}
	if !strings.HasPrefix(base, "(") {
		base = "(" + base + ")"
	}

	var groups []string
	for _, g := range cfg.MemberOf {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return base
	}

	attr := "memberOf="
	if cfg.ActiveDirectory {
		attr = "memberOf:" + matchingRuleInChain + ":="
	}
	var b strings.Builder
	b.WriteString("(&")
	b.WriteString(base)
	if len(groups) > 1 {
		b.WriteString("(|")
	}
	for _, g := range groups {
		b.WriteString("(")
		b.WriteString(attr)
		b.WriteString(ldap.EscapeFilter(g))
		b.WriteString(")")
	}
	if len(groups) > 1 {
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}
