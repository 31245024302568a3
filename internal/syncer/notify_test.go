package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/notify"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/syncer"
)

const notifyToken = "omni-token-S3CRET-77aa"

// webhook is a stand-in that hands each message it receives to the channel.
func webhook(t *testing.T) (string, <-chan notify.Message) {
	t.Helper()
	got := make(chan notify.Message, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- m
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook/path-S3CRET", got
}

func notifyConfig(t *testing.T, hook string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`ldap:
  url: ldap://127.0.0.1:1
  users:
    baseDNs: [ "ou=people,dc=example,dc=com" ]
scim:
  url: http://127.0.0.1:1/scim/v2
  token: %s
notify:
  webhookURL: %q
`, notifyToken, hook)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBuildTellsTheWebhookOfProblemsAndRecovery(t *testing.T) {
	hook, got := webhook(t)
	var told []int64
	s, err := syncer.Build(notifyConfig(t, hook), syncer.Wiring{Log: zerolog.Nop(),
		OnRun: func(rep *syncer.Report, _ error) { told = append(told, rep.RunID) }})
	if err != nil {
		t.Fatal(err)
	}
	runErr := fmt.Errorf("scim: key %s: %w", notifyToken, sink.ErrUnauthorized)
	s.OnRun(&syncer.Report{RunID: 1, Outcome: syncer.OutcomeFailed, Error: runErr.Error()}, runErr)
	m := <-got
	if m.Event != notify.EventKeyRefused || m.RunID != 1 {
		t.Errorf("got %+v, want key_refused for run 1", m)
	}
	body, _ := json.Marshal(m)
	if strings.Contains(string(body), notifyToken) || strings.Contains(string(body), "path-S3CRET") {
		t.Errorf("message holds a secret: %s", body)
	}
	s.OnRun(&syncer.Report{RunID: 2, Outcome: syncer.OutcomeSuccess}, nil)
	if m := <-got; m.Event != notify.EventRecovered || m.RunID != 2 {
		t.Errorf("got %+v, want recovered for run 2", m)
	}
	if len(told) != 2 {
		t.Errorf("the Wiring's OnRun was told of %v, want both runs", told)
	}
}

func TestBuildWithoutWebhookSetsNoHook(t *testing.T) {
	cfg := notifyConfig(t, "https://hooks.example.com/x")
	cfg.Notify.WebhookURL = ""
	s, err := syncer.Build(cfg, syncer.Wiring{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if s.OnRun != nil {
		t.Error("OnRun set without a webhook")
	}
}

func TestBuildUsesTheNotifierGiven(t *testing.T) {
	hook, got := webhook(t)
	cfg := notifyConfig(t, "https://hooks.example.com/unused")
	n, err := notify.New(notify.Config{URL: hook})
	if err != nil {
		t.Fatal(err)
	}
	s, err := syncer.Build(cfg, syncer.Wiring{Log: zerolog.Nop(), Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	s.OnRun(&syncer.Report{RunID: 3, Outcome: syncer.OutcomePartial, GuardTrips: []string{"canary missing"}},
		fmt.Errorf("%w: canary missing", syncer.ErrGuard))
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.Event != notify.EventGuardTripped {
		t.Errorf("got %+v, want guard_tripped", m)
	}
}

func TestNotifyRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  syncer.Report
		err  error
		want func(notify.Run) bool
	}{
		{"a refused key is named by position", syncer.Report{KeysRefused: []syncer.KeyRefusal{{Position: 2, Error: "401"}}},
			fmt.Errorf("%w: key 2", syncer.ErrKeyRefused),
			func(r notify.Run) bool { return r.Failed && len(r.KeysRefused) == 1 && r.KeysRefused[0] == 2 }},
		{"unauthorized", syncer.Report{}, fmt.Errorf("x: %w", sink.ErrUnauthorized),
			func(r notify.Run) bool { return r.Unauthorized && r.Failed }},
		{"the lock held elsewhere", syncer.Report{Outcome: syncer.OutcomeSkipped}, syncer.ErrLocked,
			func(r notify.Run) bool { return r.Inconclusive }},
		{"interrupted", syncer.Report{Outcome: syncer.OutcomeInterrupted}, context.Canceled,
			func(r notify.Run) bool { return r.Inconclusive }},
		{"the error is kept", syncer.Report{}, errors.New("ldap down"),
			func(r notify.Run) bool { return r.Failed && !r.Inconclusive && r.Error == "ldap down" }},
		{"a dry run", syncer.Report{DryRun: true, Outcome: syncer.OutcomeSuccess}, nil,
			func(r notify.Run) bool { return r.DryRun && !r.Failed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := syncer.NotifyRun(&tc.rep, tc.err); !tc.want(r) {
				t.Errorf("got %+v", r)
			}
		})
	}
}
