package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/state"
)

// syncd check shows the operations Omni refused for good, with what the
// admin must do.
func TestCheckShowsHeldOperations(t *testing.T) {
	w := newWorld(t, true, 5)
	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	code, out, _ := w.syncd(t, "check")
	if code != exitOK || strings.Contains(out, "held") {
		t.Fatalf("check before anything is held: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "ok   changes  syncrepl reads only the users that changed") {
		t.Errorf("check does not say how changes are read:\n%s", out)
	}
	if !strings.Contains(out, "WARN protect  safety.protectedUsers is empty") {
		t.Errorf("check does not warn that no user is protected:\n%s", out)
	}
	w.appendConfig(t, "safety:\n  protectedUsers: [key.creator@corp.example.com]\n")
	if code, out, _ = w.syncd(t, "check"); code != exitOK || strings.Contains(out, "protectedUsers is empty") {
		t.Errorf("check with a protected user: exit %d\n%s", code, out)
	}
	ctx := context.Background()
	st, err := state.Open(ctx, w.env["SYNCD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.HoldOp(ctx, state.HeldOp{LDAPID: "id-1", Kind: "create", UserName: "rehire@corp.example.com", DesiredHash: "h",
		Reason: "omni has an inactive user with this email", Action: "delete the deactivated Omni user"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = w.syncd(t, "check")
	if code != exitOK || !strings.Contains(out, "1 operation(s) need an admin") ||
		!strings.Contains(out, "create rehire@corp.example.com (id-1)") || !strings.Contains(out, "to fix: delete the deactivated Omni user") {
		t.Errorf("check with a held operation: exit %d\n%s", code, out)
	}
}

// Each command takes only its own flags, before or after the command word.
func TestCommandFlags(t *testing.T) {
	w := newWorld(t, true, 3)
	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--once", "--since", "1h"}, exitConfig, "flag provided but not defined: -since"},
		{[]string{"migrate", "--once"}, exitConfig, "flag provided but not defined: -once"},
		{[]string{"audit", "--dry-run"}, exitConfig, "flag provided but not defined: -dry-run"},
		{[]string{"frobnicate"}, exitConfig, `unknown command "frobnicate"`},
		{[]string{"--since", "1h", "audit"}, exitOK, ""},
		{[]string{"--config", w.config, "migrate"}, exitOK, ""},
		{[]string{"audit", "--since", "1h", "--output", "json"}, exitOK, ""},
	} {
		code, out, errOut := w.syncd(t, c.args...)
		if code != c.code {
			t.Errorf("syncd %v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		if c.says != "" && !strings.Contains(errOut, c.says) {
			t.Errorf("syncd %v: %q does not say %q", c.args, errOut, c.says)
		}
	}
}

// syncd check says whether groups too are read only as they change, and
// why not when they are not.
func TestCheckSaysHowGroupsAreRead(t *testing.T) {
	w := newWorldWithGroups(t, true, 5, 2)
	code, out, _ := w.syncd(t, "check")
	if code != exitOK || !strings.Contains(out, "ok   changes  syncrepl reads only the users and groups that changed") {
		t.Errorf("check with groups: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "groups:\n", "groups:\n    memberAttribute: memberUid\n", 1)
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = w.syncd(t, "check")
	if code != exitOK || !strings.Contains(out, "full reads every run: syncrepl would serve the users, but ldap.groups.memberAttribute is memberUid") {
		t.Errorf("check with memberUid groups: exit %d\n%s", code, out)
	}
}
