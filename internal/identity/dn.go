package identity

import (
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// NormalizeDN is the form DNs are compared in: every attribute type and
// value lower-cased and re-escaped, with no spaces around separators, so that
// two spellings of one DN are equal. A value ldap.ParseDN rejects is
// lower-cased and trimmed as it is.
func NormalizeDN(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	for _, rdn := range parsed.RDNs {
		for _, a := range rdn.Attributes {
			a.Type = strings.ToLower(a.Type)
			a.Value = strings.ToLower(a.Value)
		}
		// A multi-valued RDN is a set: cn=a+uid=b is uid=b+cn=a.
		slices.SortFunc(rdn.Attributes, func(x, y *ldap.AttributeTypeAndValue) int {
			return strings.Compare(x.Type+"="+x.Value, y.Type+"="+y.Value)
		})
	}
	return parsed.String()
}
