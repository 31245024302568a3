package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// NormalizeDN is the form DNs are compared in: every attribute type and
// value lower-cased and re-escaped, with no spaces around separators, so that
// two spellings of one DN are equal. A value ldap.ParseDN rejects is
// lower-cased and trimmed as it is.
//
// A normal form longer than MaxDNKey bytes is replaced by a digest of it
// (dnDigestPrefix and 64 hex digits), so that any DN can be a key of a
// PostgreSQL index, whose entries are bounded.
func NormalizeDN(dn string) string {
	s, ok := simpleDN(dn)
	if !ok {
		s = parseNormalizeDN(dn)
	}
	if len(s) > MaxDNKey {
		sum := sha256.Sum256([]byte(s))
		return dnDigestPrefix + hex.EncodeToString(sum[:])
	}
	return s
}

// MaxDNKey is the longest normal form NormalizeDN returns as it is.
const MaxDNKey = 512

// dnDigestPrefix starts the digest that stands for a longer normal form; no
// DN starts so, since an attribute type holds no colon.
const dnDigestPrefix = "dn-sha256:"

func parseNormalizeDN(dn string) string {
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

// simpleDN normalizes without parsing the DNs most directories hold: RDNs
// of one type and one value each, every byte a letter, a digit, '-', '.'
// or '_', with no spaces. Their normal form is their lower-cased text; ok
// is false for any other DN.
func simpleDN(dn string) (string, bool) {
	inType, n, upper := true, 0, false
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '=':
			if !inType || n == 0 {
				return "", false
			}
			inType, n = false, 0
		case c == ',':
			if inType || n == 0 {
				return "", false
			}
			inType, n = true, 0
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
			n++
		case 'A' <= c && c <= 'Z':
			n, upper = n+1, true
		default:
			return "", false
		}
	}
	if inType || n == 0 {
		return "", false
	}
	if upper {
		return strings.ToLower(dn), true
	}
	return dn, true
}
