// Command demo runs a real sync end to end on local stand-ins: a generated
// directory in a private slapd, a private PostgreSQL, and the Omni SCIM
// stand-in. It builds syncd, shows the plan, applies it, shows that a second
// run changes nothing, then changes the directory and syncs again. It is the
// `make demo` target.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

const token = "demo-organisation-api-key"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n\033[1m==> %s\033[0m\n", fmt.Sprintf(format, args...))
}

func demo(ctx context.Context) error {
	users := 120
	step("generating a directory of %d users (with awkward entries) and starting slapd", users)
	suffix := "dc=corp,dc=example,dc=com"
	dir := dirgen.Generate(dirgen.Options{Seed: 7, Users: users, Shape: dirgen.OpenLDAP, Suffix: suffix, Groups: 4, Awkward: true})
	ldapSrv, err := slapdtest.Start(ctx, slapdtest.Options{Suffix: suffix, LDIF: dir.LDIF(), OnlineLDIF: dir.GroupsLDIF()})
	if err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	defer ldapSrv.Stop()
	fmt.Printf("slapd at %s\n", ldapSrv.URL)

	step("starting PostgreSQL")
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer pg.Stop()
	dbURL, err := pg.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	fmt.Println("PostgreSQL ready")

	step("starting the Omni SCIM stand-in, with one hand-made Omni admin syncd must leave alone")
	omni := omnitest.New(omnitest.Options{Token: token, RequestsPerMinute: 6000})
	omni.AddUser(omnitest.User{UserName: "admin@corp.example.com", DisplayName: "Omni Admin", Active: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: omni, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	scimURL := "http://" + ln.Addr().String() + "/api/scim/v2"
	fmt.Printf("stand-in at %s (6000 requests/minute, so the demo is quick; Omni allows 60)\n", scimURL)

	work, err := os.MkdirTemp("", "syncd-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "syncd")
	step("building syncd")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/syncd").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(work, "syncd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(configTemplate, ldapSrv.URL, ldapSrv.RootDN, dir.PeopleDN, dir.GroupsDN, scimURL)), 0o600); err != nil {
		return err
	}
	env := append(os.Environ(),
		"SYNCD_LDAP_BIND_PASSWORD="+ldapSrv.RootPassword,
		"SYNCD_SCIM_TOKEN="+token,
		"SYNCD_DATABASE_URL="+dbURL,
	)
	syncd := func(args ...string) (int, error) {
		fmt.Printf("$ syncd %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfgPath}, args...)...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			fmt.Printf("(exit %d)\n", ee.ExitCode())
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	requests := func() int { return omni.Stats().Total }

	step("dry run: the plan, with nothing sent and nothing stored")
	if _, err := syncd("--once", "--dry-run"); err != nil {
		return err
	}
	step("first sync: apply the plan")
	before := requests()
	if _, err := syncd("--once"); err != nil {
		return err
	}
	fmt.Printf("SCIM requests sent: %d; Omni users now: %d; Omni groups now: %d\n", requests()-before, len(omni.Users()), len(omni.Groups()))
	for _, g := range omni.Groups() {
		fmt.Printf("  group %-16s %d members\n", g.DisplayName, len(g.Members))
	}

	step("second sync: nothing changed in the directory, so nothing is sent")
	before = requests()
	if _, err := syncd("--once"); err != nil {
		return err
	}
	fmt.Printf("SCIM requests sent: %d\n", requests()-before)

	step("changing the directory: one display name, one departure, one new group member")
	conn, err := ldapSrv.Conn(ctx)
	if err != nil {
		return err
	}
	var renamed, departed string
	for _, u := range dir.Users {
		if u.Awkward != "" || u.Disabled || u.Mail == "" {
			continue
		}
		if renamed == "" {
			renamed = u.DN
			continue
		}
		departed = u.DN
		break
	}
	mod := ldap.NewModifyRequest(renamed, nil)
	mod.Replace("displayName", []string{"Renamed In Directory"})
	if err := conn.Modify(mod); err != nil {
		return fmt.Errorf("modify %s: %w", renamed, err)
	}
	if err := conn.Del(ldap.NewDelRequest(departed, nil)); err != nil {
		return fmt.Errorf("delete %s: %w", departed, err)
	}
	if g, joiner := joinable(dir); joiner != "" {
		add := ldap.NewModifyRequest(g, nil)
		add.Add("member", []string{joiner})
		if err := conn.Modify(add); err != nil {
			return fmt.Errorf("add a member to %s: %w", g, err)
		}
	}
	conn.Close()
	if _, err := syncd("--once", "--dry-run"); err != nil {
		return err
	}
	before = requests()
	if _, err := syncd("--once"); err != nil {
		return err
	}
	fmt.Printf("SCIM requests sent: %d\n", requests()-before)

	step("the audit log of the last hour")
	if _, err := syncd("audit", "--since", "1h"); err != nil {
		return err
	}
	stats, _ := json.Marshal(omni.Stats().ByMethodStatus)
	step("done: stand-in requests by method and status: %s", stats)
	return nil
}

// joinable finds a group and a plain user who is not in it yet.
func joinable(dir *dirgen.Directory) (group, user string) {
	if len(dir.Groups) == 0 {
		return "", ""
	}
	g := dir.Groups[0]
	in := map[string]bool{}
	for _, m := range dir.ExpectedMembers(g, true) {
		in[strings.ToLower(m)] = true
	}
	for _, u := range dir.Users {
		if u.Awkward == "" && !u.Disabled && u.Mail != "" && !in[strings.ToLower(u.DN)] {
			return g.DN, u.DN
		}
	}
	return "", ""
}

const configTemplate = `# generated by make demo
schedule: "*/15 * * * *"
ldap:
  url: %s
  bindDN: %q
  bindPassword: ${SYNCD_LDAP_BIND_PASSWORD}
  flavor: openldap
  pageSize: 50
  users:
    baseDNs: [%q]
  groups:
    baseDNs: [%q]
  omniAttributes:
    department: departmentNumber
scim:
  url: %s
  token: ${SYNCD_SCIM_TOKEN}
  requestsPerMinute: 6000
safety:
  protectedUsers: [admin@corp.example.com]
state:
  databaseURL: ${SYNCD_DATABASE_URL}
log:
  level: warn
  format: console
`
