package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	testworld "github.com/syncd-dev/syncd/internal/testsupport/world"
	"github.com/syncd-dev/syncd/migrations"
)

// secondKey is the second API key of TestCheckEachAPIKey; like the other
// test secrets, it must never appear in any output.
const secondKey = "key2-0b9e55-never-print-me"

// scimLines returns the lines syncd check wrote about the API keys.
func scimLines(out string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == "scim" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// syncd check tries each API key on its own and names a refused one by its
// position, never by its value.
func TestCheckEachAPIKey(t *testing.T) {
	b := testworld.New(t, testworld.Options{Seed: 3, Users: 3, BindPassword: testBindPW, NoDatabase: true,
		Omni:     omnitest.Options{Token: testToken, Tokens: []string{secondKey}},
		SCIMYAML: "tokens: [\"" + secondKey + "\"]\n"})
	_, env := b.YAML()
	w := &world{base: b, dir: b.Dir, ldap: b.LDAP, omni: b.Omni, config: b.WriteConfig(t), env: env}

	code, out, errOut := w.syncd(t, "check")
	lines := scimLines(out)
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "ok ") || !strings.HasSuffix(lines[0], "API key 1 accepted") ||
		!strings.HasPrefix(lines[1], "ok ") || !strings.HasSuffix(lines[1], "API key 2 accepted") {
		t.Fatalf("check with both keys accepted: exit %d\n%s\n%s", code, out, errOut)
	}

	w.omni.SetToken(testToken) // key 2 is revoked
	code, out, errOut = w.syncd(t, "check")
	if code != exitFailed {
		t.Errorf("check with key 2 refused: exit %d, want %d", code, exitFailed)
	}
	lines = scimLines(out)
	if len(lines) != 2 {
		t.Fatalf("want one scim line per key:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "ok ") || !strings.Contains(lines[0], "API key 1 accepted") {
		t.Errorf("key 1: got %q, want it accepted", lines[0])
	}
	if !strings.HasPrefix(lines[1], "FAIL ") || !strings.Contains(lines[1], "API key 2: ") {
		t.Errorf("key 2: got %q, want it named as refused", lines[1])
	}
	if !strings.Contains(errOut, "1 check(s) failed") {
		t.Errorf("the error does not count the refused key:\n%s", errOut)
	}
	if strings.Contains(out+errOut, secondKey) {
		t.Error("the value of key 2 appears in the output")
	}
}

// syncd check lists the migrations a database lacks, as a warning, and says
// when the schema is up to date.
func TestCheckPendingMigrations(t *testing.T) {
	w := newWorld(t, true, 3)
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(f, ".sql")
	}

	code, out, errOut := w.syncd(t, "check")
	want := "WARN schema   database: " + pending(len(names)) + " pending: " + strings.Join(names, ", ") + "; run syncd migrate"
	if code != exitOK || !strings.Contains(out, want) {
		t.Fatalf("check before migrate: exit %d, want %d and %q\n%s\n%s", code, exitOK, want, out, errOut)
	}

	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = w.syncd(t, "check")
	if code != exitOK || !strings.Contains(out, "ok   schema   up to date") || strings.Contains(out, "pending") {
		t.Errorf("check after migrate: exit %d\n%s\n%s", code, out, errOut)
	}
}

// pending is how check counts n migrations.
func pending(n int) string {
	if n == 1 {
		return "1 migration"
	}
	return fmt.Sprintf("%d migrations", n)
}

// With incremental reads on, syncd check warns of each canary that is no
// linked user: only the full reads can find such a canary missing.
func TestCheckWarnsOfUnlinkedCanaries(t *testing.T) {
	w := newWorld(t, true, 5)
	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("first run: %d\n%s%s", code, out, errOut)
	}
	st, err := state.Open(context.Background(), w.env["SYNCD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	known, err := st.LoadUsers(context.Background())
	st.Close()
	if err != nil || len(known) == 0 {
		t.Fatalf("no linked user after the first run: %v", err)
	}
	var linked string
	for _, k := range known {
		linked = k.DN
		break
	}
	nobody := "uid=nobody,ou=people," + testworld.Suffix
	w.appendConfig(t, fmt.Sprintf("safety:\n  canaryDNs: [%q, %q]\n", linked, nobody))
	code, out, _ := w.syncd(t, "check")
	if code != exitOK || !strings.Contains(out, "WARN canary   safety.canaryDNs: "+nobody+" is no linked user") {
		t.Errorf("check with an unlinked canary: exit %d\n%s", code, out)
	}
	if strings.Contains(out, linked+" is no linked user") {
		t.Errorf("check warns of a linked canary:\n%s", out)
	}
}
