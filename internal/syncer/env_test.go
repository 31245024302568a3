package syncer_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
	"github.com/syncd-dev/syncd/internal/testsupport/world"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) { testenv.Main(m, slapdtest.StopShared, pgtest.StopShared) }

const (
	suffix = world.Suffix
	token  = world.Token
)

// quickRetries is the SCIM client's budget in the tests and benchmarks:
// a failing request gives up within seconds rather than minutes.
const quickRetries = "maxAttempts: 3\ntimeout: 5s\nmaxElapsed: 30s\n"

// env is one isolated world (see package world), with the fields and
// helpers these tests were written against.
type env struct {
	*world.World
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
	shape  dirgen.Shape
	users  int
	groups int
	// groupClass and groupCycle shape the groups; syncGroups turns group
	// sync on for the directory's groups OU.
	groupClass dirgen.GroupClass
	groupCycle bool
	syncGroups bool
	awkward    bool
	omniOpts   omnitest.Options
	noStore    bool
	// slapd is extra slapd.conf text (limits, access rules).
	slapd string
	// sessionlog gives syncprov a session log, so that a refresh names
	// each deleted entry instead of ending in a present phase.
	sessionlog int
	// before runs before syncd's configuration is final.
	before func(e *env)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t}
	wo := world.Options{Shape: o.shape, Users: o.users, Groups: o.groups, GroupClass: o.groupClass, GroupCycle: o.groupCycle,
		Awkward: o.awkward, Omni: o.omniOpts,
		Slapd: o.slapd, NoDatabase: o.noStore, SyncprovSessionlog: o.sessionlog,
		// Small pages, so that every test reads the directory in several;
		// no caps on deprovisions unless a test sets its own.
		// Full reads unless a test asks for incremental ones.
		LDAPYAML: "pageSize: 10\nincremental: \"off\"\n", SCIMYAML: quickRetries,
		YAML: "safety:\n  maxDeprovisionsPerRun: 1000\n  maxDeprovisionPercent: 100\n"}
	if o.before != nil || o.syncGroups {
		wo.Configure = func(w *world.World) {
			e.fill(w)
			if o.syncGroups {
				e.cfg.LDAP.Groups.BaseDNs = []string{e.dir.GroupsDN}
				if o.groupClass == dirgen.PosixGroup {
					e.cfg.LDAP.Groups.MemberAttribute = "memberUid"
					e.cfg.LDAP.Groups.Filter = "(objectClass=posixGroup)"
				}
				if o.groupClass == dirgen.GroupOfUniqueNames {
					e.cfg.LDAP.Groups.MemberAttribute = "uniqueMember"
					e.cfg.LDAP.Groups.Filter = "(objectClass=groupOfUniqueNames)"
				}
			}
			if o.before != nil {
				o.before(e)
			}
		}
	}
	e.fill(world.New(t, wo))
	return e
}

// fill points the short fields at the world's.
func (e *env) fill(w *world.World) {
	e.World, e.dir, e.ldap, e.omni, e.scim, e.cfg, e.store, e.dbURL = w, w.Dir, w.LDAP, w.Omni, w.SCIMURL, w.Config, w.Store, w.DatabaseURL
}

// build builds a Syncer the way cmd/syncd does, from the configuration.
func build(tb testing.TB, cfg *config.Config, w syncer.Wiring) *syncer.Syncer {
	tb.Helper()
	w.Log = zerolog.Nop()
	s, err := syncer.Build(cfg, w)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (e *env) syncer(dryRun bool) *syncer.Syncer {
	e.t.Helper()
	return build(e.t, e.cfg, syncer.Wiring{Store: e.store, DryRun: dryRun,
		// Retry at once: these tests are about outcomes, not timing.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
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

// expected returns the Omni users a correct sync makes of the directory.
func (e *env) expected() map[string]dirgen.User { return e.Expected() }

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
	if _, err := e.DB(e.t).Exec(context.Background(), stmt); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

func (e *env) conn() *ldap.Conn { e.t.Helper(); return e.Conn(e.t) }

func (e *env) modify(dn string, f func(*ldap.ModifyRequest)) { e.t.Helper(); e.Modify(e.t, dn, f) }

// plain returns n ordinary directory users: enabled, with a mail, not awkward.
func (e *env) plain(n int) []dirgen.User { e.t.Helper(); return e.Plain(e.t, n) }

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
