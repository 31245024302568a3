package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

const (
	suffix = slapdtest.DefaultSuffix
	token  = "syncd-bench-token"
	// The environment the configuration takes its secrets from, as in the
	// deployment docs.
	envBindPassword = "SYNCD_LDAP_BIND_PASSWORD"
	envSCIMToken    = "SYNCD_SCIM_TOKEN"
	envDatabaseURL  = "SYNCD_DATABASE_URL"
)

// world is one size's directory, stand-in and database, with the
// configuration a child syncs with.
type world struct {
	users   int
	dir     *dirgen.Directory
	ldap    *slapdtest.Server
	omni    *omnitest.Server
	http    *http.Server
	cfgPath string
	// groupsCfgPath is the configuration with group sync on.
	groupsCfgPath string
	cfg           *config.Config
	env           []string
	work          string
}

// newWorld generates users plain OpenLDAP-shaped users, loads them offline
// into a fresh slapd, starts an unlimited stand-in and migrates a fresh
// database on pg.
func newWorld(ctx context.Context, pg *pgtest.Server, users int) (*world, error) {
	w := &world{users: users}
	dir := dirgen.Generate(dirgen.Options{Seed: 7, Users: users, Shape: dirgen.OpenLDAP, Suffix: suffix, Groups: max(users/groupSize, 3)})
	w.dir = dir
	var err error
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if w.ldap, err = slapdtest.Start(sctx, slapdtest.Options{Suffix: suffix, LDIF: dir.LDIF(), OnlineLDIF: dir.GroupsLDIF(),
		// As recommended for syncrepl: deletes come as deletes, not as a
		// present phase naming every entry.
		SyncprovSessionlog: 100000}); err != nil {
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			w.stop()
		}
	}()
	dbURL, err := pg.CreateDatabase(ctx)
	if err != nil {
		return nil, err
	}
	store, err := state.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	_, err = store.Migrate(ctx)
	store.Close()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	w.omni = omnitest.New(omnitest.Options{Token: token})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.http = &http.Server{Handler: w.omni, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.http.Serve(ln) }()
	scimURL := "http://" + ln.Addr().String() + "/api/scim/v2"

	if w.work, err = os.MkdirTemp("", "syncd-bench-"); err != nil {
		return nil, err
	}
	yaml := fmt.Sprintf(configTemplate, w.ldap.URL, w.ldap.RootDN, envBindPassword, dir.PeopleDN, scimURL, envSCIMToken, envDatabaseURL)
	w.cfgPath = filepath.Join(w.work, "syncd.yaml")
	if err := os.WriteFile(w.cfgPath, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	// The same with group sync on, for the groups' rows.
	groupsYAML := strings.Replace(yaml, "  omniAttributes:", fmt.Sprintf("  groups:\n    baseDNs: [%q]\n  omniAttributes:", dir.GroupsDN), 1)
	w.groupsCfgPath = filepath.Join(w.work, "syncd-groups.yaml")
	if err := os.WriteFile(w.groupsCfgPath, []byte(groupsYAML), 0o600); err != nil {
		return nil, err
	}
	env := map[string]string{envBindPassword: w.ldap.RootPassword, envSCIMToken: token, envDatabaseURL: dbURL}
	if w.cfg, err = config.Parse([]byte(yaml), func(k string) string { return env[k] }); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	w.env = os.Environ()
	for k, v := range env {
		w.env = append(w.env, k+"="+v)
	}
	ok = true
	return w, nil
}

// configTemplate is the configuration of the test worlds (see
// internal/testsupport/world), at the production page size.
const configTemplate = `ldap:
  url: %s
  bindDN: %q
  bindPassword: ${%s}
  flavor: openldap
  users:
    baseDNs: [%q]
    filter: "(objectClass=inetOrgPerson)"
  omniAttributes:
    department: departmentNumber
scim:
  url: %s
  token: ${%s}
  requestsPerMinute: 10000
  maxAttempts: 2
safety:
  # The deletions row plans its deprovisions rather than holding them.
  maxDeprovisionsPerRun: 1000000
state:
  databaseURL: ${%s}
log:
  level: warn
`

func (w *world) stop() {
	if w.http != nil {
		_ = w.http.Close()
	}
	if w.ldap != nil {
		_ = w.ldap.Stop()
	}
	if w.work != "" {
		_ = os.RemoveAll(w.work)
	}
}

// childRun is one child's report with what the parent measured of it.
type childRun struct {
	childReport
	// MaxRSS is the child's peak resident set, in bytes, as it measured
	// it (see childReport.PeakRSS).
	MaxRSS int64
	// CPU is the child's user plus system time, over its whole life.
	CPU time.Duration
	// Requests is how many SCIM requests the stand-in saw during the run.
	Requests int
}

// child re-executes this binary to run one sync with a.
func (w *world) child(ctx context.Context, a childArgs) (childRun, error) {
	self, err := os.Executable()
	if err != nil {
		return childRun{}, err
	}
	cfg := w.cfgPath
	if a.Config != "" {
		cfg = a.Config
	}
	args := []string{"-" + childFlag, "-config", cfg, "-per-minute", fmt.Sprint(a.PerMinute)}
	if a.ReadOnly {
		args = append(args, "-read-only")
	}
	if a.Full {
		args = append(args, "-full")
	}
	if a.DryRun {
		args = append(args, "-dry-run")
	}
	if a.CPUProfile != "" {
		args = append(args, "-cpuprofile", a.CPUProfile)
	}
	if a.MemProfile != "" {
		args = append(args, "-memprofile", a.MemProfile)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	var out, errOut bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = w.env, &out, &errOut
	before := w.omni.Stats().Total
	if err := cmd.Run(); err != nil {
		return childRun{}, fmt.Errorf("sync child: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	r := childRun{Requests: w.omni.Stats().Total - before}
	if err := json.Unmarshal(out.Bytes(), &r.childReport); err != nil {
		return r, fmt.Errorf("sync child's report %q: %w", out.String(), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return r, errors.New("no rusage for the sync child")
	}
	r.MaxRSS = r.PeakRSS
	r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return r, nil
}

// ldapsearch times /usr/bin/ldapsearch reading what the source reads: the
// same bases, scope, filter and attributes, paged by 1,000, output dropped.
func (w *world) ldapsearch(ctx context.Context) (time.Duration, error) {
	sc := w.cfg.LDAP.Source()
	scope := strings.ToLower(sc.Scope)
	if scope == "" {
		scope = "sub"
	}
	filter := source.Filter(sc)
	attrs := source.NewMapper(sc).Attributes()
	var total time.Duration
	for _, base := range sc.BaseDNs {
		args := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", w.ldap.URL, "-D", w.ldap.RootDN, "-w", w.ldap.RootPassword,
			"-b", base, "-s", scope, "-E", "pr=1000/noprompt", filter}, attrs...)
		cmd := exec.CommandContext(ctx, "/usr/bin/ldapsearch", args...)
		var errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errOut
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("ldapsearch: %v: %s", err, strings.TrimSpace(errOut.String()))
		}
		total += time.Since(start)
	}
	return total, nil
}
