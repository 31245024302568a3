package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
	testworld "github.com/syncd-dev/syncd/internal/testsupport/world"
)

func TestMain(m *testing.M) { testenv.Main(m, slapdtest.StopShared, pgtest.StopShared) }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// world is a world of package world with its configuration in a file, for
// running the whole program on. config and env are the file and the
// environment syncd is given; a test may change either.
type world struct {
	base   *testworld.World // nil for a world a test puts together itself
	dir    *dirgen.Directory
	ldap   *slapdtest.Server
	omni   *omnitest.Server
	config string
	env    map[string]string
}

const (
	// Unique strings that must never appear in any output.
	testToken  = "tok-4f1d9c0a-never-print-me"
	testBindPW = "bindpw-77e2b1-never-print-me"
)

// newWorld brings up a world of users, with a database (not yet migrated)
// if database is set. syncd binds as a service account, as in production,
// and logs JSON at debug level, which the tests read.
func newWorld(t *testing.T, database bool, users int) *world {
	t.Helper()
	return newWorldWithGroups(t, database, users, 0)
}

// newWorldWithGroups is newWorld with groups in the directory and, when
// there are any, group sync on.
func newWorldWithGroups(t *testing.T, database bool, users, groups int) *world {
	t.Helper()
	o := testworld.Options{Seed: 3, Users: users, Awkward: true, Groups: groups,
		Omni: omnitest.Options{Token: testToken}, BindPassword: testBindPW,
		NoDatabase: !database, NoStore: true,
		YAML: "log:\n  level: debug\n  format: json\n"}
	if groups > 0 {
		o.LDAPYAML = "groups:\n  baseDNs: [\"ou=groups," + testworld.Suffix + "\"]\n"
	}
	b := testworld.New(t, o)
	_, env := b.YAML()
	return &world{base: b, dir: b.Dir, ldap: b.LDAP, omni: b.Omni, config: b.WriteConfig(t), env: env}
}

func (w *world) getenv(k string) string { return w.env[k] }

// syncd runs the whole program and returns its exit code and output.
func (w *world) syncd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append(args, "--config", w.config), w.getenv, &out, &errb)
	if err != nil {
		fmt.Fprintf(&errb, "syncd: %v\n", err)
	}
	for _, secret := range []string{testToken, testBindPW} {
		if strings.Contains(out.String(), secret) || strings.Contains(errb.String(), secret) {
			t.Errorf("a secret appears in the output of syncd %v", args)
		}
	}
	return exitCode(err), out.String(), errb.String()
}

func TestOnceAndDryRunExitCodes(t *testing.T) {
	w := newWorld(t, true, 20)
	if code, out, errOut := w.syncd(t, "--once", "--dry-run"); code != exitPending || !strings.Contains(out, "+ create ") {
		t.Fatalf("dry run before the first sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(w.omni.Users()); n != 0 {
		t.Fatalf("dry run created %d users", n)
	}
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := w.syncd(t, "--once", "--dry-run"); code != exitOK || !strings.Contains(out, "Nothing to change.") {
		t.Fatalf("dry run after the sync: exit %d\n%s", code, out)
	}
	target := w.base.Plain(t, 1)[0]
	w.base.Modify(t, target.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Changed Name"}) })
	code, out, _ := w.syncd(t, "--once", "--dry-run", "--output", "json")
	if code != exitPending || !strings.Contains(out, `"Changed Name"`) {
		t.Fatalf("json dry run: exit %d\n%s", code, out)
	}
	if code, out, _ := w.syncd(t, "--since", "1h", "audit"); code != exitOK || !strings.Contains(out, "create") {
		t.Fatalf("audit: exit %d\n%s", code, out)
	}
}

func TestDryRunWithoutDatabase(t *testing.T) {
	w := newWorld(t, false, 20)
	if code, out, errOut := w.syncd(t, "--once", "--dry-run"); code != exitPending || !strings.Contains(out, "+ create ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := w.syncd(t, "--once"); code != exitConfig || !strings.Contains(errOut, "state.databaseURL") {
		t.Fatalf("a real run without a database: exit %d\n%s", code, errOut)
	}
}

// A bad configuration exits 3, names every bad field, and makes no network
// call at all.
func TestBadConfigFailsBeforeAnyNetworkCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	cfg := fmt.Sprintf(`ldap:
  url: ldap://%s
  bindDN: "cn=syncd,dc=corp,dc=example,dc=com"
  bindPassword: ${SYNCD_LDAP_BIND_PASSWORD}
  pageSize: -1
  users:
    baseDNs: ["not a dn"]
scim:
  url: http://omni.example.com/api/scim/v2
  token: ${SYNCD_SCIM_TOKEN}
state:
  databaseURL: postgres://syncd@%s/syncd
unknownKey: 1
`, ln.Addr(), ln.Addr())
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"--once", "--config", path}, func(k string) string {
		return map[string]string{"SYNCD_SCIM_TOKEN": testToken, "SYNCD_LDAP_BIND_PASSWORD": testBindPW}[k]
	}, &out, &errb)
	if exitCode(err) != exitConfig {
		t.Fatalf("exit %d, want %d: %v", exitCode(err), exitConfig, err)
	}
	msg := err.Error()
	for _, field := range []string{"unknownKey", "ldap.pageSize", "ldap.users.baseDNs[0]", "scim.url: must be https unless the host is loopback"} {
		if !strings.Contains(msg, field) {
			t.Errorf("error does not name %s:\n%s", field, msg)
		}
	}
	if accepted.Load() != 0 {
		t.Errorf("%d connections made before the configuration was rejected", accepted.Load())
	}
	if strings.Contains(msg, testToken) || strings.Contains(msg, testBindPW) {
		t.Error("error shows a secret")
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &out); err != nil || !strings.HasPrefix(out.String(), "syncd ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}
