package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/migrations"
)

// checkLines maps each dependency syncd check reports on to its line.
func checkLines(out string) map[string]string {
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			lines[f[1]] = l
		}
	}
	return lines
}

func TestCheck(t *testing.T) {
	w := newWorld(t, true, 10)
	// world.syncd fails the test if a secret is in the output.
	for _, c := range []struct {
		name   string
		before func(t *testing.T)
		code   int
		ok     []string
		failed []string
		says   string
	}{
		{name: "all reachable", code: exitOK, ok: []string{"ldap", "scim", "database"}},
		{
			name: "revoked key",
			before: func(t *testing.T) {
				w.omni.SetToken("another-organisation-key")
				t.Cleanup(func() { w.omni.SetToken(testToken) })
			},
			code: exitFailed, ok: []string{"ldap", "database"}, failed: []string{"scim"}, says: "organisation API key",
		},
		{
			name: "directory stopped",
			before: func(t *testing.T) {
				if err := w.ldap.Stop(); err != nil {
					t.Fatal(err)
				}
			},
			code: exitFailed, ok: []string{"scim", "database"}, failed: []string{"ldap"}, says: "dial " + strings.Trim(strings.TrimPrefix(w.ldap.URL, "ldap://"), "/"),
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before(t)
			}
			code, out, errOut := w.syncd(t, "check")
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, c.code, out, errOut)
			}
			lines := checkLines(out)
			for _, name := range c.ok {
				if !strings.HasPrefix(lines[name], "ok ") {
					t.Errorf("%s: got %q, want an ok line\n%s", name, lines[name], out)
				}
			}
			for _, name := range c.failed {
				if !strings.HasPrefix(lines[name], "FAIL ") {
					t.Errorf("%s: got %q, want a FAIL line\n%s", name, lines[name], out)
				}
				if !strings.Contains(lines[name], c.says) {
					t.Errorf("%s: %q does not say %q", name, lines[name], c.says)
				}
			}
			if len(c.failed) > 0 && !strings.Contains(errOut, fmt.Sprintf("%d check(s) failed", len(c.failed))) {
				t.Errorf("the error does not count the failed checks:\n%s", errOut)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	env := map[string]string{"SYNCD_SCIM_TOKEN": testToken, "SYNCD_LDAP_BIND_PASSWORD": testBindPW, "SYNCD_DATABASE_URL": pgtest.NewDatabase(t)}
	// migrate needs the database only; the directory and Omni addresses
	// are never dialled.
	cfg := `ldap:
  url: ldap://127.0.0.1:1
  bindDN: "cn=syncd,dc=corp,dc=example,dc=com"
  bindPassword: ${SYNCD_LDAP_BIND_PASSWORD}
  users:
    baseDNs: ["ou=people,dc=corp,dc=example,dc=com"]
scim:
  url: http://127.0.0.1:1/api/scim/v2
  token: ${SYNCD_SCIM_TOKEN}
state:
  databaseURL: ${SYNCD_DATABASE_URL}
`
	w := &world{env: env, config: filepath.Join(t.TempDir(), "syncd.yaml")}
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	var want strings.Builder
	for _, f := range files {
		fmt.Fprintf(&want, "applied %s\n", strings.TrimSuffix(f, ".sql"))
	}

	code, out, errOut := w.syncd(t, "migrate")
	if code != exitOK || out != want.String() {
		t.Fatalf("first migrate: exit %d\n%s\nwant:\n%s\n%s", code, out, want.String(), errOut)
	}
	code, out, errOut = w.syncd(t, "migrate")
	if code != exitOK || out != "database is up to date\n" {
		t.Fatalf("second migrate: exit %d\n%s\n%s", code, out, errOut)
	}
	var n int
	if err := w.db(t).QueryRow(t.Context(), "SELECT count(*) FROM sync_runs").Scan(&n); err != nil {
		t.Errorf("the schema is not there after migrate: %v", err)
	}
}
