package syncer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
)

const secondKey = "second-key-never-print-me"

func twoKeys(users int) envOptions {
	o := envOptions{users: users, before: func(e *env) { e.cfg.SCIM.Tokens = []config.Secret{secondKey} }}
	o.omniOpts.Tokens = []string{token, secondKey}
	return o
}

// With two keys the run provisions everyone; when Omni refuses one, the
// other carries on, and the refusal is audited and reported by position,
// never by value.
func TestRefusedKeyTakesItselfOut(t *testing.T) {
	e := newEnv(t, twoKeys(20))
	e.omni.SetToken(token) // the second key is revoked
	rep, _, err := e.run(false)
	if !errors.Is(err, syncer.ErrKeyRefused) || errors.Is(err, sink.ErrUnauthorized) {
		t.Fatalf("run with one key revoked: %v", err)
	}
	if len(rep.KeysRefused) != 1 || rep.KeysRefused[0].Position != 2 {
		t.Errorf("keys refused %+v, want key 2", rep.KeysRefused)
	}
	if len(e.activeOmni()) != len(e.expected()) || rep.Counts.Failed != 0 {
		t.Errorf("Omni has %d of %d users, %d failed", len(e.activeOmni()), len(e.expected()), rep.Counts.Failed)
	}
	evs, _ := e.store.ListAudit(context.Background(), state.AuditFilter{RunID: rep.RunID})
	audited := false
	for _, ev := range evs {
		audited = audited || (ev.Action == "key_refused" && strings.Contains(ev.Detail, "API key 2"))
		if strings.Contains(ev.Detail+ev.Error, secondKey) {
			t.Errorf("the key's value is in the audit log: %+v", ev)
		}
	}
	if !audited || strings.Contains(err.Error(), secondKey) {
		t.Errorf("audited %t; error %v", audited, err)
	}
}

// With every key refused the run stops at the first refusal, as with one.
func TestEveryKeyRefusedStopsTheRun(t *testing.T) {
	e := newEnv(t, twoKeys(10))
	e.omni.SetToken("neither-of-them")
	_, n, err := e.run(false)
	// Two operations in flight, each tried on both keys, at the most.
	if !errors.Is(err, sink.ErrUnauthorized) || n > 4 {
		t.Fatalf("every key refused: %v after %d requests", err, n)
	}
}
