package config

import (
	"slices"
	"strings"
	"testing"
)

// Several API keys: a quoted flow list or a block list of ${VAR}s, files, or
// the credentials scim-token, scim-token-2, …; scim.token is then optional.
func TestSeveralKeys(t *testing.T) {
	vars := env(map[string]string{"SYNCD_SCIM_TOKEN_1": "key-one-secret", "SYNCD_SCIM_TOKEN_2": "key-two-secret"})
	creds := t.TempDir()
	writeFile(t, creds, "k1", "key-file-one\n")
	writeFile(t, creds, "k2", "key-file-two\n")
	credDir := t.TempDir()
	writeFile(t, credDir, CredentialSCIMToken, "cred-one")
	writeFile(t, credDir, "scim-token-2", "cred-two")
	writeFile(t, credDir, "scim-token-3", "cred-three")
	writeFile(t, credDir, "scim-token-5", "not read: 4 is missing")
	for _, tc := range []struct {
		name   string
		scim   string
		getenv func(string) string
		want   []string
	}{
		{"a quoted flow list", `  tokens: ["${SYNCD_SCIM_TOKEN_1}", "${SYNCD_SCIM_TOKEN_2}"]` + "\n", vars, []string{"key-one-secret", "key-two-secret"}},
		{"a block list", "  tokens:\n    - ${SYNCD_SCIM_TOKEN_1}\n    - ${SYNCD_SCIM_TOKEN_2}\n", vars, []string{"key-one-secret", "key-two-secret"}},
		{"files", "  tokenFiles: [" + creds + "/k1, " + creds + "/k2]\n", nil, []string{"key-file-one", "key-file-two"}},
		{"credentials, in order until one is missing", "", env(map[string]string{"CREDENTIALS_DIRECTORY": credDir}), []string{"cred-one", "cred-two", "cred-three"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFile(t, withoutToken(doc("", tc.scim, "")), tc.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.SCIM.Keys(); !slices.Equal(got, tc.want) {
				t.Errorf("keys %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("scim.token comes first", func(t *testing.T) {
		c, err := loadFile(t, doc("", `  tokens: ["${SYNCD_SCIM_TOKEN_1}"]`+"\n", ""), vars)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SCIM.Keys(); !slices.Equal(got, []string{"t0k3n-minimal", "key-one-secret"}) {
			t.Errorf("keys %v", got)
		}
	})
}

// A key listed twice is named by position, never by value.
func TestDuplicateKeyNamedByPosition(t *testing.T) {
	vars := env(map[string]string{"A": "the-secret-key", "B": "the-secret-key"})
	_, err := loadFile(t, withoutToken(doc("", `  tokens: ["${A}", "${B}"]`+"\n", "")), vars)
	wantProblem(t, err, "scim.tokens[1]", "is the same key as scim.tokens[0]; each key must be listed once")
	if strings.Contains(err.Error(), "the-secret-key") {
		t.Errorf("the key's value is in the error: %v", err)
	}
	_, err = loadFile(t, withoutToken(doc("", "", "")), nil)
	wantProblem(t, err, "scim.token", "must be set (or scim.tokenFile)")
}
