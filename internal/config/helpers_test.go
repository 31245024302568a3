package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest file that validates: everything else defaults.
const minimal = `ldap:
  url: ldaps://ldap.example.com
  users:
    baseDNs: [ "ou=people,dc=example,dc=com" ]
scim:
  url: https://acme.omniapp.co/api/scim/v2
  token: t0k3n-minimal
`

// doc is minimal with extra keys: ldap's after its url (from line 3), scim's
// after its token, and top-level sections after that.
func doc(ldap, scim, rest string) string {
	return "ldap:\n  url: ldaps://ldap.example.com\n" + ldap +
		"  users:\n    baseDNs: [ \"ou=people,dc=example,dc=com\" ]\n" +
		"scim:\n  url: https://acme.omniapp.co/api/scim/v2\n" + scim +
		"  token: t0k3n-minimal\n" + rest
}

// env returns a getenv over a fixed map.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func mustParse(t *testing.T, data string, getenv func(string) string) *Config {
	t.Helper()
	c, err := Parse([]byte(data), getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// validConfig is a configuration that passes Validate, for tests that break
// one thing at a time.
func validConfig(t *testing.T) *Config {
	t.Helper()
	return mustParse(t, minimal, nil)
}

// problemsOf returns the problems in err, failing the test when err is not a
// *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want a *ValidationError")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %q, want a *ValidationError", err, err)
	}
	return ve.Problems
}

func fieldsOf(ps []Problem) []string {
	fields := make([]string, len(ps))
	for i, p := range ps {
		fields[i] = p.Field
	}
	slices.Sort(fields)
	return fields
}

// wantFields checks that err names exactly the given fields.
func wantFields(t *testing.T, err error, want ...string) []Problem {
	t.Helper()
	ps := problemsOf(t, err)
	got := fieldsOf(ps)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("problems name %q, want %q; error:\n%v", got, want, err)
	}
	return ps
}

// withoutToken drops the token line of minimal or doc, for files that give
// the token another way.
func withoutToken(data string) string {
	return strings.Replace(data, "  token: t0k3n-minimal\n", "", 1)
}

// wantProblem checks that err holds the problem exactly.
func wantProblem(t *testing.T, err error, field, message string) {
	t.Helper()
	for _, p := range problemsOf(t, err) {
		if p.Field == field && p.Message == message {
			return
		}
	}
	t.Fatalf("no problem %q: %q in:\n%v", field, message, err)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// caPEM returns a freshly made self-signed CA certificate in PEM.
func caPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "syncd test CA"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(1<<32, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// noLeak fails when any secret appears in s.
func noLeak(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the secret %q:\n%s", what, secret, s)
		}
	}
}

// wantRule breaks one rule of a valid configuration with mutate and checks
// that field alone is reported, with message when it is set.
func wantRule(t *testing.T, mutate func(*Config), field, message string) {
	t.Helper()
	c := validConfig(t)
	mutate(c)
	ps := wantFields(t, c.Validate(), field)
	if message != "" && ps[0].Message != message {
		t.Errorf("message %q, want %q", ps[0].Message, message)
	}
	if ps[0].Message == "" {
		t.Error("empty message")
	}
}
