package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// loadFile writes data to a temporary file and loads it.
func loadFile(t *testing.T, data string, getenv func(string) string) (*Config, error) {
	t.Helper()
	return Load(writeFile(t, t.TempDir(), "syncd.yaml", data), getenv)
}

func TestLoadSecretFiles(t *testing.T) {
	creds := t.TempDir()
	writeFile(t, creds, "bind", "bind-pw-from-creds\n")
	writeFile(t, creds, "token", "token-from-creds\r\n")
	writeFile(t, creds, "db", "postgres://syncd:db-pw@localhost/syncd\n")
	writeFile(t, creds, CredentialBindPassword, "bind-pw-default-credential")
	writeFile(t, creds, CredentialSCIMToken, "token-default-credential\n")
	writeFile(t, creds, CredentialDatabaseURL, "host=localhost user=syncd password=default-db-pw\n")
	other := t.TempDir()
	absToken := writeFile(t, other, "token", "token-from-absolute-path\n")
	writeFile(t, other, "bind", "  spaces kept  \n\n")

	const bindDN = "  bindDN: cn=syncd,dc=example,dc=com\n"
	withCreds := env(map[string]string{"CREDENTIALS_DIRECTORY": creds})
	for _, tc := range []struct {
		name                string
		data                string
		getenv              func(string) string
		wantBind, wantToken string
		wantDB              string
	}{
		{
			name:      "relative names resolve against CREDENTIALS_DIRECTORY",
			data:      withoutToken(doc(bindDN+"  bindPasswordFile: bind\n", "  tokenFile: token\n", "state:\n  databaseURLFile: db\n")),
			getenv:    withCreds,
			wantBind:  "bind-pw-from-creds",
			wantToken: "token-from-creds",
			wantDB:    "postgres://syncd:db-pw@localhost/syncd",
		},
		{
			name:      "absolute names are used as they are",
			data:      withoutToken(doc("", "  tokenFile: "+absToken+"\n", "")),
			getenv:    withCreds,
			wantToken: "token-from-absolute-path",
			wantDB:    "host=localhost user=syncd password=default-db-pw",
		},
		{
			name:      "default credential names fill what the file leaves out",
			data:      doc(bindDN, "", ""),
			getenv:    withCreds,
			wantBind:  "bind-pw-default-credential",
			wantToken: "t0k3n-minimal",
			wantDB:    "host=localhost user=syncd password=default-db-pw",
		},
		{
			name:      "no bind password credential for an anonymous bind",
			data:      doc("", "", ""),
			getenv:    withCreds,
			wantToken: "t0k3n-minimal",
			wantDB:    "host=localhost user=syncd password=default-db-pw",
		},
		{
			name:      "without CREDENTIALS_DIRECTORY no default is looked for",
			data:      doc(bindDN+"  bindPasswordFile: "+filepath.Join(other, "bind")+"\n", "", ""),
			getenv:    nil,
			wantBind:  "  spaces kept  ",
			wantToken: "t0k3n-minimal",
		},
		{
			name:      "inline values beat credentials",
			data:      doc(bindDN+"  bindPassword: inline-pw\n", "", "state:\n  databaseURL: postgres://localhost/inline\n"),
			getenv:    withCreds,
			wantBind:  "inline-pw",
			wantToken: "t0k3n-minimal",
			wantDB:    "postgres://localhost/inline",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFile(t, tc.data, tc.getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.LDAP.BindPassword.Reveal(); got != tc.wantBind {
				t.Errorf("bind password %q, want %q", got, tc.wantBind)
			}
			if got := c.SCIM.Token.Reveal(); got != tc.wantToken {
				t.Errorf("token %q, want %q", got, tc.wantToken)
			}
			if got := c.State.DatabaseURL.Reveal(); got != tc.wantDB {
				t.Errorf("database URL %q, want %q", got, tc.wantDB)
			}
			if c.LDAP.BindPasswordFile != "" || c.SCIM.TokenFile != "" || c.State.DatabaseURLFile != "" {
				t.Errorf("file fields left set after reading: %q %q %q", c.LDAP.BindPasswordFile, c.SCIM.TokenFile, c.State.DatabaseURLFile)
			}
		})
	}
}

func TestLoadSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "\n")
	huge := writeFile(t, dir, "huge", "huge-secret-"+strings.Repeat("x", maxSecretFile))
	unreadable := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	credDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(credDir, CredentialSCIMToken), 0o700); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, data string
		getenv     func(string) string
		field      string
		contains   string
	}{
		{"missing", withoutToken(minimal) + "  tokenFile: " + filepath.Join(dir, "nope") + "\n", nil, "scim.tokenFile", "no such file"},
		{"empty", withoutToken(minimal) + "  tokenFile: " + empty + "\n", nil, "scim.tokenFile", "is empty"},
		{"too large", withoutToken(minimal) + "  tokenFile: " + huge + "\n", nil, "scim.tokenFile", "larger than 64 KiB"},
		{"a directory", doc("  bindDN: cn=a,dc=x\n  bindPasswordFile: "+unreadable+"\n", "", ""), nil, "ldap.bindPasswordFile", "is a directory"},
		{"relative to CREDENTIALS_DIRECTORY", doc("", "", "state:\n  databaseURLFile: db\n"), env(map[string]string{"CREDENTIALS_DIRECTORY": dir}), "state.databaseURLFile", filepath.Join(dir, "db")},
		{"unreadable default credential", withoutToken(minimal), env(map[string]string{"CREDENTIALS_DIRECTORY": credDir}), "scim.token", "credential scim-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadFile(t, tc.data, tc.getenv)
			ps := wantFields(t, err, tc.field)
			if !strings.Contains(ps[0].Message, tc.contains) {
				t.Errorf("message %q does not say %q", ps[0].Message, tc.contains)
			}
			noLeak(t, "error", err.Error(), "huge-secret")
		})
	}
}

func TestLoadReadError(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "read configuration: ") || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("got %v, want a wrapped not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// TestSecretsNeverLeak puts distinctive secrets through every path that
// could print them: the formatted and marshalled configuration, and the
// errors of each rule that concerns a secret.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		bindPW = "bind-S3CRET-4d1f"
		token  = "token-S3CRET-9a7e"
		dbPW   = "db-S3CRET-27c0"
	)
	secrets := []string{bindPW, token, dbPW}
	getenv := env(map[string]string{
		"BIND_PW": bindPW,
		"TOKEN":   token,
		"DB_URL":  "postgres://syncd:" + dbPW + "@localhost:5432/syncd",
	})

	t.Run("configuration printed or marshalled", func(t *testing.T) {
		c := mustParse(t, doc("  bindDN: cn=syncd,dc=x\n  bindPassword: ${BIND_PW}\n", "", "state:\n  databaseURL: ${DB_URL}\n"), getenv)
		c.SCIM.Token = Secret(token)
		if c.LDAP.BindPassword.Reveal() != bindPW || !strings.Contains(c.State.DatabaseURL.Reveal(), dbPW) {
			t.Fatal("secrets did not load; the test would prove nothing")
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		ym, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		noLeak(t, "json", string(js), secrets...)
		noLeak(t, "yaml", string(ym), secrets...)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
			for _, v := range []any{c, *c, c.LDAP, c.SCIM, c.State, c.SCIM.Token, []Secret{c.SCIM.Token}} {
				noLeak(t, verb, fmt.Sprintf(verb, v), secrets...)
			}
		}
	})

	for _, tc := range []struct{ name, data string }{
		{"secret in a field of another type", "ldap:\n  pageSize: ${TOKEN}\n"},
		{"secret as a duration", "scim:\n  timeout: ${TOKEN}\n"},
		{"secret in a list field", "ldap:\n  users:\n    baseDNs: ${TOKEN}\n"},
		{"secret in a DN", "ldap:\n  bindDN: ${BIND_PW}\n  bindPassword: x\n"},
		{"secret in a URL", "scim:\n  url: ${TOKEN}\n"},
		{"token set twice", "scim:\n  token: " + token + "\n  tokenFile: /run/token\n"},
		{"password set twice", "ldap:\n  bindDN: cn=a,dc=x\n  bindPassword: " + bindPW + "\n  bindPasswordFile: pw\n"},
		{"password without DN", "ldap:\n  bindPassword: " + bindPW + "\n"},
		{"token as a mapping", "scim:\n  token: {" + token + ": 1}\n"},
		{"token as a list", "scim:\n  token: [" + token + "]\n"},
		{"token with a bad reference", "scim:\n  token: " + token + "${\n"},
		{"token with a bad name", "scim:\n  token: ${" + token + "}\n"},
		{"database URL that does not parse", "state:\n  databaseURL: postgres://syncd:" + dbPW + "#x@localhost:5432/syncd\n"},
		{"database URL with a bad port", "state:\n  databaseURL: postgres://syncd:" + dbPW + "@localhost:port/syncd\n"},
		{"database DSN that does not parse", "state:\n  databaseURL: \"password=" + dbPW + " port=x\"\n"},
		{"database URL from env in a wrong place", "http:\n  listen: ${DB_URL}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), getenv)
			if err == nil {
				t.Fatal("no error")
			}
			noLeak(t, "error", err.Error(), secrets...)
			_, err = loadFile(t, tc.data, getenv)
			noLeak(t, "Load error", err.Error(), secrets...)
		})
	}
}
