package syncer_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	slapdtest.StopShared()
	pgtest.StopShared()
	os.Exit(code)
}

const (
	suffix = "dc=corp,dc=example,dc=com"
	token  = "syncd-test-token"
)

// env is one isolated world: a directory in its own slapd, an Omni
// stand-in, and a fresh database.
type env struct {
	t     *testing.T
	dir   *dirgen.Directory
	ldap  *slapdtest.Server
	omni  *omnitest.Server
	scim  string
	cfg   *config.Config
	store *state.Store
	dbURL string
}

type envOptions struct {
	shape    dirgen.Shape
	users    int
	groups   int
	awkward  bool
	omniOpts omnitest.Options
	noStore  bool
	// slapd is extra slapd.conf text (limits, access rules).
	slapd string
	// before runs before syncd's configuration is final.
	before func(e *env)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.shape == "" {
		o.shape = dirgen.OpenLDAP
	}
	if o.users == 0 {
		o.users = 30
	}
	e := &env{t: t}
	e.dir = dirgen.Generate(dirgen.Options{Seed: 42, Users: o.users, Shape: o.shape, Suffix: suffix, Groups: o.groups, Awkward: o.awkward})
	e.ldap = slapdtest.New(t, slapdtest.Options{Suffix: suffix, LDIF: e.dir.LDIF(), OnlineLDIF: e.dir.GroupsLDIF(), Config: o.slapd})
	if o.omniOpts.Token == "" {
		o.omniOpts.Token = token
	}
	e.omni, e.scim = omnitest.Start(t, o.omniOpts)

	flavor, dept, filter := "openldap", "departmentNumber", "(objectClass=inetOrgPerson)"
	if o.shape == dirgen.ActiveDirectory {
		// Real AD answers (objectCategory=person) for every user; slapd has
		// no such magic, so the AD-shaped test data is scoped by class.
		flavor, dept, filter = "activedirectory", "department", "(objectClass=user)"
	}
	yml := fmt.Sprintf(`ldap:
  url: %s
  bindDN: %q
  bindPassword: ${BIND_PASSWORD}
  flavor: %s
  pageSize: 10
  users:
    baseDNs: [%q]
    filter: %q
  omniAttributes:
    department: %s
scim:
  url: %s
  token: ${SCIM_TOKEN}
  requestsPerMinute: 10000
  maxAttempts: 3
  timeout: 5s
  maxElapsed: 30s
safety:
  maxDeprovisionsPerRun: 1000
  maxDeprovisionPercent: 100
`, e.ldap.URL, e.ldap.RootDN, flavor, e.dir.PeopleDN, filter, dept, e.scim)
	secrets := map[string]string{"BIND_PASSWORD": e.ldap.RootPassword, "SCIM_TOKEN": token}
	cfg, err := config.Parse([]byte(yml), func(k string) string { return secrets[k] })
	if err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	e.cfg = cfg
	if o.before != nil {
		o.before(e)
	}
	if err := e.cfg.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	if !o.noStore {
		ctx := context.Background()
		e.dbURL = pgtest.NewDatabase(t)
		st, err := state.Open(ctx, e.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		e.store = st
	}
	return e
}

// syncer builds a Syncer the way cmd/syncd does, from the configuration.
func (e *env) syncer(dryRun bool) *syncer.Syncer {
	e.t.Helper()
	s, err := syncer.Build(e.cfg, syncer.Wiring{Log: zerolog.Nop(), Store: e.store, DryRun: dryRun,
		// Retry at once: these tests are about outcomes, not timing.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// run runs one sync and returns its report and the SCIM requests it spent.
func (e *env) run(dryRun bool) (*syncer.Report, int, error) {
	e.t.Helper()
	before := e.omni.Stats().Total
	rep, err := e.syncer(dryRun).Run(context.Background())
	return rep, e.omni.Stats().Total - before, err
}

// mustRun runs a sync that must succeed.
func (e *env) mustRun() (*syncer.Report, int) {
	e.t.Helper()
	rep, n, err := e.run(false)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	return rep, n
}

// expected returns the Omni users a correct sync makes of the directory:
// userName -> displayName, for active, mappable users.
func (e *env) expected() map[string]dirgen.User {
	want := map[string]dirgen.User{}
	for _, u := range e.dir.Users {
		if mail := e.dir.ExpectedEmail(u); mail != "" && !u.Disabled {
			want[mail] = u
		}
	}
	return want
}

// activeOmni returns the stand-in's active users by userName and fails on a
// duplicate email among them.
func (e *env) activeOmni() map[string]omnitest.User {
	e.t.Helper()
	got := map[string]omnitest.User{}
	for _, u := range e.omni.Users() {
		if !u.Active {
			continue
		}
		key := strings.ToLower(u.UserName)
		if _, dup := got[key]; dup {
			e.t.Fatalf("two active Omni users with email %s", key)
		}
		got[key] = u
	}
	return got
}

// sql runs a statement on the world's database as its owner, as an
// admin (or an intruder) would.
func (e *env) sql(stmt string) {
	e.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, stmt); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

func (e *env) conn() *ldap.Conn {
	e.t.Helper()
	c, err := e.ldap.Conn(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) modify(dn string, f func(*ldap.ModifyRequest)) {
	e.t.Helper()
	m := ldap.NewModifyRequest(dn, nil)
	f(m)
	if err := e.conn().Modify(m); err != nil {
		e.t.Fatalf("modify %s: %v", dn, err)
	}
}

// plain returns n ordinary directory users: enabled, with a mail, not awkward.
func (e *env) plain(n int) []dirgen.User {
	var us []dirgen.User
	for _, u := range e.dir.Users {
		if u.Awkward == "" && !u.Disabled && u.Mail != "" && len(us) < n {
			us = append(us, u)
		}
	}
	if len(us) < n {
		e.t.Fatalf("directory has fewer than %d plain users", n)
	}
	return us
}

func (e *env) linked() map[string]identity.Linked {
	e.t.Helper()
	k, err := e.store.LoadUsers(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func stateFilter() state.AuditFilter { return state.AuditFilter{} }

func secret(s string) config.Secret { return config.Secret(s) }

func duration(d time.Duration) config.Duration { return config.Duration(d) }
