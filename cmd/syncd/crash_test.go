package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// runMainEnv makes the test binary act as syncd itself, so the crash test
// can kill a real syncd process.
const runMainEnv = "SYNCD_TEST_RUN_MAIN"

func init() {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
}

// Kill -9 syncd at random points of a provisioning run, again and again,
// then let one run finish: Omni ends with exactly the desired users, no
// email twice, and every user that reached Omni has its audit row.
func TestCrashAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts many processes")
	}
	w := newWorld(t, true, 100)
	crashLoop(t, w, 24, 8)

	want := w.wantedEmails()
	w.checkOmniHasExactly(t, want)

	store := w.store(t)
	evs, audited := w.audited(t)
	for _, u := range w.omni.Users() {
		if !audited[u.ID] {
			t.Errorf("Omni user %s (%s) has no audit row", u.UserName, u.ID)
		}
	}
	// Every user was created by syncd: an interrupted create is settled from
	// the journal (looked up and linked), never mistaken for someone else's
	// account and adopted.
	linked, err := store.LoadUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range linked {
		if l.Origin != identity.OriginCreated {
			t.Errorf("%s linked as %s after a crash, want created", l.UserName, l.Origin)
		}
	}
	if len(linked) != len(want) {
		t.Errorf("%d users linked, want %d", len(linked), len(want))
	}
	if t.Failed() {
		for _, ev := range evs {
			t.Logf("%+v", ev)
		}
	}
}

// crashLoop runs syncd --once again and again, each time SIGKILLed after
// 1 to maxK requests plus up to 3 ms, then lets one run finish.
func crashLoop(t *testing.T, w *world, runs, maxK int) {
	t.Helper()
	w.omni.SetFaults(omnitest.Faults{Seed: 1, Latency: 2 * time.Millisecond})
	rng := rand.New(rand.NewPCG(7, 7))
	kills, requests := 0, 0
	for i := 0; i < runs; i++ {
		before := w.omni.Stats().Total
		cmd := exec.Command(os.Args[0], "--once", "--config", w.config)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		for k, v := range w.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill once the run has sent k requests, plus a little: the kill
		// lands in flight, between an answer and its commit, or between
		// operations.
		k := 1 + rng.IntN(maxK)
		extra := time.Duration(rng.IntN(3000)) * time.Microsecond
		killed := false
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-time.After(200 * time.Microsecond):
				if !killed && w.omni.Stats().Total-before >= k {
					time.Sleep(extra)
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					kills++
				}
			}
		}
		requests += w.omni.Stats().Total - before
	}
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("final run: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("%d runs killed, %d SCIM requests before the final run", kills, requests)
	if kills < runs*5/6 {
		t.Errorf("only %d of %d runs were killed mid-way; the test proves little", kills, runs)
	}

}

// Kill -9 syncd again and again while it writes users and groups: no group is made
// twice, every group write that reached Omni has its audit row, and every
// group ends with exactly its members.
func TestCrashDuringGroupWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts many processes")
	}
	w := newWorldWithGroups(t, true, 20, 16)
	// The users first, with group sync off, so that every kill lands
	// among the group writes.
	withGroups := w.config
	w.config = w.withoutGroups(t)
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("users' run: exit %d\n%s\n%s", code, out, errOut)
	}
	w.config = withGroups
	crashLoop(t, w, 10, 3)

	names := map[string]int{}
	for _, g := range w.omni.Groups() {
		names[strings.ToLower(g.DisplayName)]++
	}
	for _, g := range w.dir.Groups {
		if names[strings.ToLower(g.Name)] != 1 {
			t.Errorf("group %s is in Omni %d times", g.Name, names[strings.ToLower(g.Name)])
		}
	}
	_, audited := w.audited(t)
	for _, g := range w.omni.Groups() {
		if !audited[g.ID] {
			t.Errorf("Omni group %s (%s) has no audit row", g.DisplayName, g.ID)
		}
	}
	groups, err := w.store(t).LoadGroups(context.Background())
	if err != nil || len(groups) != len(w.dir.Groups) {
		t.Fatalf("%d groups linked (%v), want %d", len(groups), err, len(w.dir.Groups))
	}
	for _, g := range groups {
		if g.Origin != identity.OriginCreated {
			t.Errorf("group %s linked as %s after a crash, want created", g.Name, g.Origin)
		}
	}
}

// withoutGroups writes the world's configuration without group sync and
// returns its path.
func (w *world) withoutGroups(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "groups:" {
			i++ // and its baseDNs line
			continue
		}
		kept = append(kept, lines[i])
	}
	path := filepath.Join(t.TempDir(), "syncd.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// audited returns the audit log and the Omni ids that have an ok row.
func (w *world) audited(t *testing.T) ([]state.AuditEvent, map[string]bool) {
	t.Helper()
	evs, err := w.store(t).ListAudit(context.Background(), state.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Outcome == state.AuditOK && ev.SCIMID != "" {
			ids[ev.SCIMID] = true
		}
	}
	return evs, ids
}
