package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse checks that no input makes Parse panic, that every failure is
// either a *SyntaxError or a *ValidationError, that a configuration it
// accepts validates, and that a secret from the environment never shows in
// an error. `go test -fuzz FuzzParse -fuzztime 10s ./internal/config` runs
// it; without -fuzz it runs the seeds.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		minimal,
		doc("  bindDN: cn=a,dc=x\n  bindPassword: ${SECRET}\n  flavor: activedirectory\n", "  timeout: 10s\n", "log: {level: debug}\n"),
		"ldap:\n  url: ${SECRET}\n  pageSize: ${SECRET}\n",
		"scim: &s\n  token: x\nstate:\n  <<: *s\n",
		"a: &a [*a]\n",
		"- ${SECRET}\n",
		"---\n...\n---\n",
		"ldap: {users: {baseDNs: [\"$${x}\", '${SECRET']}}\n",
		"log: !!map {level: !!str 3}\n",
		"schedule: \"\\xff\"\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	const secret = "fUzZ-s3cr3t-7q2w"
	getenv := env(map[string]string{"SECRET": secret, "HOST": "ldap.example.com"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, getenv)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a configuration that does not validate: %v", verr)
			}
			knownFieldsAgree(t, data)
			return
		}
		var se *SyntaxError
		var ve *ValidationError
		switch {
		case errors.As(err, &se):
		case errors.As(err, &ve):
			if len(ve.Problems) == 0 {
				t.Fatal("a *ValidationError with no problems")
			}
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}
		if !strings.Contains(string(data), secret) && strings.Contains(err.Error(), secret) {
			t.Fatalf("error shows the secret:\n%v", err)
		}
	})
}

// knownFieldsAgree cross-checks Parse's own unknown-key check against
// yaml.v3's KnownFields decoder on a file Parse accepted.
func knownFieldsAgree(t *testing.T, data []byte) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	err := dec.Decode(&c)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return
	}
	for _, msg := range te.Errors {
		if strings.Contains(msg, "not found in type") {
			t.Fatalf("Parse accepted a key that yaml.v3 calls unknown: %s", msg)
		}
	}
}
