// Package world brings up everything a syncd test or benchmark talks to: a
// generated directory (dirgen) served by its own slapd (slapdtest), the Omni
// stand-in (omnitest), a fresh PostgreSQL database (pgtest) with a migrated
// state store, and syncd's configuration pointing at all of them. The
// configuration is written once, here, as the YAML an operator would write,
// with the secrets as ${VAR} references: cmd/syncd runs the real program on
// that text, the syncer tests and benchmarks use the *config.Config parsed
// from the very same text, so the two can never describe different worlds.
package world

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// Suffix is the naming context of every world's directory.
const Suffix = slapdtest.DefaultSuffix

// Token is the stand-in's bearer token unless Options.Omni.Token names
// another.
const Token = "syncd-test-token"

// The environment variables the configuration takes its secrets from: the
// names the deployment docs use, so the YAML reads like a real one.
const (
	EnvBindPassword = "SYNCD_LDAP_BIND_PASSWORD"
	EnvSCIMToken    = "SYNCD_SCIM_TOKEN"
	EnvDatabaseURL  = "SYNCD_DATABASE_URL"
)

// Options say what world to build. The zero value is an OpenLDAP-shaped
// directory of 30 users, bound as the root DN, with a migrated store.
type Options struct {
	Shape  dirgen.Shape // default dirgen.OpenLDAP
	Seed   int64        // default 42
	Users  int          // default 30
	Groups int
	// GroupClass and GroupCycle shape the groups (see dirgen.Options).
	GroupClass dirgen.GroupClass
	GroupCycle bool
	Awkward    bool
	// Omni configures the stand-in; Token defaults to Token.
	Omni omnitest.Options
	// Slapd is extra slapd.conf text (limits, access rules).
	Slapd string
	// SyncprovSessionlog, when positive, gives syncprov a session log of
	// this many changes, as the README recommends for syncrepl.
	SyncprovSessionlog int
	// SharedSlapd serves the directory from a slapd shared with every other
	// world of the test binary built from the same directory options,
	// because loading a large directory costs more than the benchmark that
	// reads it. Such worlds must leave the directory as they found it.
	SharedSlapd bool
	// BindPassword, when set, adds the service account cn=syncd,<Suffix>
	// with this password and has syncd bind as it, so that slapd's limits
	// and access rules apply (they never apply to the root DN).
	BindPassword string
	// LDAPYAML and SCIMYAML are extra lines for the ldap and scim sections,
	// written unindented; YAML is extra top-level text appended at the end.
	LDAPYAML, SCIMYAML, YAML string
	// Configure, when set, changes the parsed configuration before it is
	// validated; the store is not open yet.
	Configure func(w *World)
	// NoDatabase leaves the world without a database: no state section, no
	// store, as for a dry run.
	NoDatabase bool
	// NoStore creates the database but leaves it unopened and unmigrated,
	// for tests that run syncd's own migrate.
	NoStore bool
}

// World is one isolated world. Its fields are what tests read; changing
// Config after New is how a test points syncd elsewhere (a front server).
type World struct {
	Dir     *dirgen.Directory
	LDAP    *slapdtest.Server
	Omni    *omnitest.Server
	SCIMURL string
	// BindDN and BindPassword are what syncd binds to the directory with.
	BindDN, BindPassword string
	Token                string
	// DatabaseURL is empty with Options.NoDatabase; Store is nil then and
	// with Options.NoStore.
	DatabaseURL string
	Store       *state.Store
	// Config is parsed from YAML() and validated.
	Config *config.Config

	yaml string
	env  map[string]string
}

// New brings up a world for tb; everything in it stops when tb ends.
func New(tb testing.TB, o Options) *World {
	tb.Helper()
	if o.Shape == "" {
		o.Shape = dirgen.OpenLDAP
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.Users == 0 {
		o.Users = 30
	}
	if o.Omni.Token == "" {
		o.Omni.Token = Token
	}
	w := &World{Token: o.Omni.Token}
	w.Dir = dirgen.Generate(dirgen.Options{Seed: o.Seed, Users: o.Users, Shape: o.Shape, Suffix: Suffix, Groups: o.Groups,
		GroupClass: o.GroupClass, GroupCycle: o.GroupCycle, Awkward: o.Awkward})
	w.LDAP = startSlapd(tb, o, w.Dir)
	w.BindDN, w.BindPassword = w.LDAP.RootDN, w.LDAP.RootPassword
	if o.BindPassword != "" {
		w.BindDN, w.BindPassword = serviceDN, o.BindPassword
	}
	w.Omni, w.SCIMURL = omnitest.Start(tb, o.Omni)
	w.env = map[string]string{EnvBindPassword: w.BindPassword, EnvSCIMToken: w.Token}
	if !o.NoDatabase {
		w.DatabaseURL = pgtest.NewDatabase(tb)
		w.env[EnvDatabaseURL] = w.DatabaseURL
	}
	w.yaml = w.writeYAML(o)
	cfg, err := config.Parse([]byte(w.yaml), w.Getenv)
	if err != nil {
		tb.Fatalf("test configuration: %v\n%s", err, w.yaml)
	}
	w.Config = cfg
	if o.Configure != nil {
		o.Configure(w)
	}
	if err := w.Config.Validate(); err != nil {
		tb.Fatalf("test configuration: %v", err)
	}
	if !o.NoDatabase && !o.NoStore {
		w.Store = OpenStore(tb, w.DatabaseURL)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := w.Store.Migrate(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return w
}

// serviceDN is the account Options.BindPassword adds.
const serviceDN = "cn=syncd," + Suffix

// startSlapd serves dir, with the service account when the options ask.
func startSlapd(tb testing.TB, o Options, dir *dirgen.Directory) *slapdtest.Server {
	tb.Helper()
	opts := func() slapdtest.Options {
		ldif := dir.LDIF()
		if o.BindPassword != "" {
			ldif = fmt.Appendf(ldif, "\ndn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: syncd\nuserPassword: %s\n\n", serviceDN, o.BindPassword)
		}
		return slapdtest.Options{Suffix: Suffix, LDIF: ldif, OnlineLDIF: dir.GroupsLDIF(), Config: o.Slapd, SyncprovSessionlog: o.SyncprovSessionlog}
	}
	if !o.SharedSlapd {
		return slapdtest.New(tb, opts())
	}
	// The key is everything the directory is made from, so two worlds
	// share a server only when they would have loaded the same one.
	key := fmt.Sprintf("world %s seed=%d users=%d groups=%d class=%v cycle=%t awkward=%t bind=%q slapd=%q sessionlog=%d",
		o.Shape, o.Seed, o.Users, o.Groups, o.GroupClass, o.GroupCycle, o.Awkward, o.BindPassword, o.Slapd, o.SyncprovSessionlog)
	return slapdtest.Shared(tb, key, opts)
}

// writeYAML is the one place the test configuration is written.
func (w *World) writeYAML(o Options) string {
	flavor, dept, filter := config.FlavorOpenLDAP, "departmentNumber", "(objectClass=inetOrgPerson)"
	if o.Shape == dirgen.ActiveDirectory {
		// Real AD answers (objectCategory=person) for every user; slapd has
		// no such magic, so the AD-shaped test data is scoped by class.
		flavor, dept, filter = config.FlavorActiveDirectory, "department", "(objectClass=user)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `ldap:
  url: %s
  bindDN: %q
  bindPassword: ${%s}
  flavor: %s
%s  users:
    baseDNs: [%q]
    filter: %q
  omniAttributes:
    department: %s
scim:
  url: %s
  token: ${%s}
  requestsPerMinute: 10000
%s`, w.LDAP.URL, w.BindDN, EnvBindPassword, flavor, indent(o.LDAPYAML), w.Dir.PeopleDN, filter, dept,
		w.SCIMURL, EnvSCIMToken, indent(o.SCIMYAML))
	if w.DatabaseURL != "" {
		fmt.Fprintf(&b, "state:\n  databaseURL: ${%s}\n", EnvDatabaseURL)
	}
	b.WriteString(o.YAML)
	return b.String()
}

// indent puts the lines of s inside a section.
func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("  " + line)
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

// YAML returns the configuration as text, secrets as ${VAR} references, and
// the environment that resolves them; the map is the caller's to change.
func (w *World) YAML() (text string, env map[string]string) {
	return w.yaml, maps.Clone(w.env)
}

// Getenv resolves the configuration's secret references.
func (w *World) Getenv(k string) string { return w.env[k] }
