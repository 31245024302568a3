// Package validate is the shared form of a configuration problem: a YAML
// field path and a message. Each component's Config.Validate reports in this
// form, so that internal/config can list the problems of every component in
// one pass, and an operator fixes a file once instead of once per restart.
package validate

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Field is the YAML path of the value, e.g. "scim.url" or
	// "ldap.users.baseDNs[1]"; empty when the problem is the file as a whole.
	Field   string
	Message string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Error lists every problem found.
type Error struct {
	Problems []Problem
}

// Error gives one "field: message" per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Problems collects Problems in the order they are found.
type Problems []Problem

// Add records a problem with field.
func (ps *Problems) Add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil or an *Error; a typed nil would make a non-nil error
// interface.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return &Error{Problems: ps}
}

// DN records a problem when dn is not a distinguished name. DNs are checked
// in the source's fields and in safety.canaryDNs alike, which are compared
// with what the directory returns.
func (ps *Problems) DN(field, dn string) {
	if strings.TrimSpace(dn) == "" {
		ps.Add(field, "must be a DN such as dc=example,dc=com, not empty")
		return
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		ps.Add(field, "must be a DN such as dc=example,dc=com: %v", err)
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// KeyPath writes a map key as part of a field path: .name when the key is
// plain, ["quoted"] when it has dots, colons or spaces that would make the
// path ambiguous.
func KeyPath(k string) string {
	if plainKey.MatchString(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

// RootCAs reads a PEM bundle. The first certificate in it must parse, so
// that a truncated or mislabelled file fails at start; the rest are added as
// crypto/x509 adds them. The errors do not name the field, which the
// caller does.
func RootCAs(name string) (*x509.CertPool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("holds no PEM certificate")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, fmt.Errorf("holds a certificate that does not parse: %w", err)
		}
		break
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	return pool, nil
}

// Port reports whether p is a TCP port number, written plainly.
func Port(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}
