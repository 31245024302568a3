package syncer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// bindUser adds a non-root account syncd can bind as, so that slapd's
// limits and access rules apply to it (they never apply to the root DN).
func bindUser(t *testing.T, e *env) (dn, password string) {
	t.Helper()
	dn, password = "cn=syncd,"+suffix, "syncd-bind-secret"
	a := ldap.NewAddRequest(dn, nil)
	a.Attribute("objectClass", []string{"organizationalRole", "simpleSecurityObject"})
	a.Attribute("cn", []string{"syncd"})
	a.Attribute("userPassword", []string{password})
	if err := e.conn().Add(a); err != nil {
		t.Fatal(err)
	}
	return dn, password
}

// assertNoneDeprovisioned checks that every user the first run created is
// still active in Omni and in state.
func assertNoneDeprovisioned(t *testing.T, e *env, rep *syncer.Report, err error) {
	t.Helper()
	if len(rep.Plan.Deprovision) != 0 || rep.Counts.Deprovisioned != 0 {
		t.Errorf("deprovisioned %d (plan %d)", rep.Counts.Deprovisioned, len(rep.Plan.Deprovision))
	}
	for _, u := range e.omni.Users() {
		if !u.Active {
			t.Errorf("Omni user %s was deactivated", u.UserName)
		}
	}
	if err == nil {
		t.Error("the run reported success; a held-back run must exit non-zero")
	}
	if len(rep.GuardTrips) == 0 && rep.Incomplete == "" {
		t.Error("no guard trip recorded")
	}
}

func TestGuards(t *testing.T) {
	tests := []struct {
		name   string
		opts   envOptions
		slapd  string
		change func(t *testing.T, e *env)
		trip   string
	}{
		{
			name: "size limit mid-search",
			change: func(t *testing.T, e *env) {
				dn, pw := bindUser(t, e)
				e.cfg.LDAP.BindDN, e.cfg.LDAP.BindPassword = dn, secret(pw)
			},
			slapd: `limits dn.exact="cn=syncd,` + suffix + `" size.prtotal=12`,
			trip:  "incomplete",
		},
		{
			name: "access rules hide every entry",
			change: func(t *testing.T, e *env) {
				dn, pw := bindUser(t, e)
				e.cfg.LDAP.BindDN, e.cfg.LDAP.BindPassword = dn, secret(pw)
			},
			slapd: "access to dn.children=\"ou=people," + suffix + "\" by dn.exact=\"cn=syncd," + suffix + "\" none by * break",
			trip:  "no users in scope",
		},
		{
			name: "empty base DN",
			change: func(t *testing.T, e *env) {
				ou := "ou=empty," + suffix
				a := ldap.NewAddRequest(ou, nil)
				a.Attribute("objectClass", []string{"organizationalUnit"})
				a.Attribute("ou", []string{"empty"})
				if err := e.conn().Add(a); err != nil {
					t.Fatal(err)
				}
				e.cfg.LDAP.Users.BaseDNs = []string{ou}
			},
			trip: "no users in scope",
		},
		{
			name: "half the directory deleted",
			change: func(t *testing.T, e *env) {
				for i, u := range e.dir.Users {
					if i%2 == 0 {
						if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
							t.Fatal(err)
						}
					}
				}
			},
			trip: "minSourceFraction",
		},
		{
			name: "canary removed",
			opts: envOptions{before: func(e *env) { e.cfg.Safety.CanaryDNs = []string{e.plain(1)[0].DN} }},
			change: func(t *testing.T, e *env) {
				if err := e.conn().Del(ldap.NewDelRequest(e.plain(1)[0].DN, nil)); err != nil {
					t.Fatal(err)
				}
			},
			trip: "canary",
		},
		{
			name: "deprovision cap",
			opts: envOptions{before: func(e *env) { e.cfg.Safety.MaxDeprovisionsPerRun = 2 }},
			change: func(t *testing.T, e *env) {
				for _, u := range e.plain(3) {
					if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
						t.Fatal(err)
					}
				}
			},
			trip: "maxDeprovisionsPerRun",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if tt.slapd != "" {
				opts.slapd = tt.slapd
			}
			e := newEnv(t, opts)
			e.mustRun()
			created := len(e.omni.Users())
			tt.change(t, e)
			rep, _, err := e.run(false)
			assertNoneDeprovisioned(t, e, rep, err)
			if all := strings.Join(append(rep.GuardTrips, rep.Incomplete), "; "); !strings.Contains(all, tt.trip) {
				t.Errorf("guard trips %q, want one mentioning %q", all, tt.trip)
			}
			if len(e.omni.Users()) != created {
				t.Errorf("Omni has %d users, had %d", len(e.omni.Users()), created)
			}
			evs, lerr := e.store.ListAudit(context.Background(), stateFilter())
			if lerr != nil {
				t.Fatal(lerr)
			}
			guards := 0
			for _, ev := range evs {
				if ev.Action == "guard" {
					guards++
				}
			}
			if guards == 0 {
				t.Error("guard trip not audited")
			}
		})
	}
}

// Creates and updates still apply when a guard holds back deprovisions, and
// --allow-mass-deprovision lets a person override the cap once, audited.
func TestCapOverride(t *testing.T) {
	e := newEnv(t, envOptions{before: func(e *env) { e.cfg.Safety.MaxDeprovisionsPerRun = 1 }})
	e.mustRun()
	gone := e.plain(3)[1:]
	for _, u := range gone {
		if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
			t.Fatal(err)
		}
	}
	renamed := e.plain(1)[0]
	e.modify(renamed.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Still Updated"}) })
	rep, _, err := e.run(false)
	if err == nil || !errors.Is(err, syncer.ErrGuard) || rep.Counts.Updated != 1 || rep.Counts.Deprovisioned != 0 {
		t.Fatalf("capped run: err=%v counts=%+v", err, rep.Counts)
	}

	s := e.syncer(false)
	s.Options.Policy.AllowMassDeprovision = true
	rep, err = s.Run(context.Background())
	if err != nil || rep.Counts.Deprovisioned != 2 {
		t.Fatalf("override run: err=%v counts=%+v", err, rep.Counts)
	}
	evs, _ := e.store.ListAudit(context.Background(), stateFilter())
	found := false
	for _, ev := range evs {
		found = found || ev.Action == "guard_override"
	}
	if !found {
		t.Error("override not audited")
	}
}

// A missing user waits out the grace period, and is deprovisioned only by a
// later good run that still misses it.
func TestGracePeriod(t *testing.T) {
	e := newEnv(t, envOptions{before: func(e *env) { e.cfg.Safety.DeprovisionAfter = duration(time.Hour) }})
	e.mustRun()
	u := e.plain(1)[0]
	if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	at := func(d time.Duration) *syncer.Report {
		t.Helper()
		s := e.syncer(false)
		s.Now = func() time.Time { return now.Add(d) }
		rep, err := s.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := at(0); len(rep.Plan.Waiting) != 1 || rep.Counts.Deprovisioned != 0 {
		t.Fatalf("first miss: waiting %d, deprovisioned %d", len(rep.Plan.Waiting), rep.Counts.Deprovisioned)
	}
	if rep := at(59 * time.Minute); rep.Counts.Deprovisioned != 0 {
		t.Fatalf("inside grace: deprovisioned %d", rep.Counts.Deprovisioned)
	}
	if rep := at(61 * time.Minute); rep.Counts.Deprovisioned != 1 {
		t.Fatalf("after grace: deprovisioned %d", rep.Counts.Deprovisioned)
	}
	if l := e.linked()[u.ID]; l.Status != identity.StatusDeprovisioned {
		t.Errorf("state: %s", l.Status)
	}
}

// A directory that cannot be reached fails the run before anything is
// planned: nothing is deprovisioned, and the run is recorded as failed.
func TestDirectoryUnreachable(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.mustRun()
	created := len(e.omni.Users())
	if err := e.ldap.Stop(); err != nil {
		t.Fatal(err)
	}
	rep, n, err := e.run(false)
	if err == nil || rep.Outcome != syncer.OutcomeFailed || n != 0 {
		t.Fatalf("run against a stopped directory: err=%v outcome=%s requests=%d", err, rep.Outcome, n)
	}
	for _, u := range e.omni.Users() {
		if !u.Active {
			t.Errorf("%s deactivated", u.UserName)
		}
	}
	if len(e.omni.Users()) != created {
		t.Errorf("Omni users changed")
	}
	last, ok, lerr := e.store.LastGoodRun(context.Background())
	if lerr != nil || !ok || last.ID == rep.RunID {
		t.Errorf("the failed run counts as the last good run: %+v %v %v", last, ok, lerr)
	}
}

// A revoked API key stops the run at the first refusal instead of failing
// every user in turn.
func TestRevokedKeyStopsTheRun(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.omni.SetToken("another-key")
	rep, n, err := e.run(false)
	if !errors.Is(err, sink.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if n != 1 || len(rep.Results) != 1 {
		t.Errorf("%d requests and %d operations after a 401, want 1", n, len(rep.Results))
	}
}

// A run a guard tripped is never the baseline of the next: a drop in the
// directory trips every run until it is explained, even when the tripped
// run applied other changes.
func TestGuardTrippedRunIsNoBaseline(t *testing.T) {
	e := newEnv(t, envOptions{users: 20, before: func(e *env) {
		e.cfg.Safety.MinSourceFraction = 0.9
		e.cfg.Safety.MaxDeprovisionPercent = 100
		e.cfg.Safety.MaxDeprovisionsPerRun = 100
	}})
	e.mustRun()
	us := e.plain(4)
	for _, u := range us[:3] {
		e.deleteEntry(u.DN)
	}
	e.modify(us[3].DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{"Still Here"}) })
	for run := 2; run <= 3; run++ {
		rep, _, err := e.run(false)
		if !errors.Is(err, syncer.ErrGuard) || !strings.Contains(strings.Join(rep.GuardTrips, "; "), "safety.minSourceFraction") {
			t.Fatalf("run %d: %v, trips %v; want the fraction guard", run, err, rep.GuardTrips)
		}
		if rep.Counts.Deprovisioned != 0 {
			t.Fatalf("run %d deprovisioned %d", run, rep.Counts.Deprovisioned)
		}
		if run == 2 && rep.Counts.Updated != 1 {
			t.Fatalf("run 2 applied %d updates, want the rename (a partial run)", rep.Counts.Updated)
		}
	}
}
