package syncer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// With 30% of writes failing — 5xx, 429, connections dropped before or
// after the write applied — runs converge to exactly the directory, with no
// email twice.
func TestFaultsConverge(t *testing.T) {
	e := newEnv(t, envOptions{users: 80})
	e.omni.SetFaults(omnitest.Faults{Seed: 5, Methods: []string{"POST", "PUT", "PATCH", "DELETE"},
		ErrorRate: 0.10, RateLimitRate: 0.10, DropRate: 0.05, LostReplyRate: 0.05})

	converge := func(phase string) {
		t.Helper()
		for i := 0; i < 6; i++ {
			if _, _, err := e.run(false); err == nil {
				return
			}
		}
		t.Fatalf("%s: no clean run in 6 tries", phase)
	}
	converge("initial sync")

	for i, u := range e.plain(20) {
		switch {
		case i < 10:
			e.modify(u.DN, func(m *ldap.ModifyRequest) { m.Replace("displayName", []string{fmt.Sprintf("Renamed %d", i)}) })
		case i < 14:
			if err := e.conn().Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	converge("changes")
	st := e.omni.Stats()
	t.Logf("stand-in: %d requests, %d writes, %d faults injected, %d 429s", st.Total, st.Writes, st.Faults, st.TooMany)
	if st.Faults == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}

	e.omni.SetFaults(omnitest.Faults{})
	if _, n := e.mustRun(); n != 0 {
		t.Errorf("after convergence a clean run sent %d requests", n)
	}
	got := e.activeOmni() // fails on duplicates
	want := map[string]bool{}
	for _, u := range e.dir.Users {
		if m := e.dir.ExpectedEmail(u); m != "" && !u.Disabled {
			want[m] = true
		}
	}
	for _, u := range e.plain(20)[10:14] {
		delete(want, e.dir.ExpectedEmail(u))
	}
	if strings.Join(keys(got), ",") != strings.Join(keys(want), ",") {
		t.Errorf("active Omni users:\n got %v\nwant %v", keys(got), keys(want))
	}
	for _, u := range e.omni.Users() {
		if strings.HasPrefix(u.DisplayName, "Renamed") && !u.Active {
			t.Errorf("renamed user %s deactivated", u.UserName)
		}
	}
}
