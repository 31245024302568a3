package syncer_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// front puts a handler in front of the world's stand-in: answer decides, per
// request, whether to answer itself (true) or let the stand-in answer. It
// returns how many requests reached the front.
func (e *env) front(tls bool, answer func(w http.ResponseWriter, r *http.Request) bool) *atomic.Int64 {
	e.t.Helper()
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if !answer(w, r) {
			e.omni.ServeHTTP(w, r)
		}
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	e.t.Cleanup(srv.Close)
	e.cfg.SCIM.URL = srv.URL + "/api/scim/v2"
	if tls {
		ca := filepath.Join(e.t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			e.t.Fatal(err)
		}
		e.cfg.SCIM.RootCAFile = ca
	}
	return &n
}

// One 429 asking to wait a day ends the run at once, saying what Omni
// asked, instead of freezing every request for the day.
func TestRetryAfterBeyondTheBudgetEndsTheRun(t *testing.T) {
	e := newEnv(t, envOptions{users: 10})
	n := e.front(false, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "86400")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":"too_many_requests","message":"slow down"}`))
		return true
	})
	rep, _, err := e.run(false)
	if !errors.Is(err, sink.ErrHalt) || !strings.Contains(err.Error(), "omni asked to wait 24h0m0s") {
		t.Fatalf("run: %v", err)
	}
	if got := n.Load(); got != 1 || len(rep.Results) != 1 {
		t.Errorf("%d requests and %d results after Omni asked for a day, want 1 and 1", got, len(rep.Results))
	}
}

// A storm of 5xx answers stops the run's writes with one clear error, not
// after walking every planned user through its whole retry budget.
func TestFailureStormStopsTheWrites(t *testing.T) {
	e := newEnv(t, envOptions{users: 20})
	e.cfg.SCIM.MaxAttempts = 6
	n := e.front(false, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return true
	})
	rep, _, err := e.run(false)
	if !errors.Is(err, sink.ErrHalt) || !strings.Contains(err.Error(), "in a row") {
		t.Fatalf("run: %v", err)
	}
	if got := n.Load(); got > 8 || len(rep.Results) > 2 {
		t.Errorf("%d requests and %d operations against a failing Omni, want at most 8 and 2", got, len(rep.Results))
	}
	// Once Omni answers again, the next run does the work.
	e.front(false, func(http.ResponseWriter, *http.Request) bool { return false })
	e.mustRun()
	if len(e.activeOmni()) != len(e.expected()) {
		t.Errorf("Omni has %d users after recovery, want %d", len(e.activeOmni()), len(e.expected()))
	}
}

// A NUL byte in an Omni error message is cleaned before it is stored, so
// the failure is recorded and no later run fails over it.
func TestNULInOmniErrorIsStored(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	e.front(false, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"bad_request","message":"refused\u0000here"}`))
		return true
	})
	rep, _, err := e.run(false)
	if !errors.Is(err, syncer.ErrOpsFailed) || rep.Counts.Failed == 0 {
		t.Fatalf("first run: %v, counts %+v", err, rep.Counts)
	}
	// Omni judged the values invalid: the next run does not send them
	// again, and does not fail over what was stored.
	rep, n := e.mustRun()
	if n != 0 || len(rep.Plan.Blocked) != rep.Counts.Failed+len(rep.Plan.Blocked) || len(rep.Plan.Blocked) == 0 {
		t.Errorf("second run: %d requests, blocked %d", n, len(rep.Plan.Blocked))
	}
	p, err := e.store.PendingOps(context.Background())
	if err != nil || len(p) != 0 {
		t.Errorf("pending: %v %v", p, err)
	}
	evs, err := e.store.ListAudit(context.Background(), state.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		found = found || (ev.Action == "create" && strings.Contains(ev.Error, "refused"))
	}
	if !found {
		t.Errorf("the refusal is not in the audit log")
	}
}

// scim.rootCAFile lets syncd trust an Omni behind a private CA; without it
// the TLS failure is reported at once, never as an unknown outcome.
func TestSCIMRootCAFile(t *testing.T) {
	e := newEnv(t, envOptions{users: 5})
	n := e.front(true, func(http.ResponseWriter, *http.Request) bool { return false })
	ca := e.cfg.SCIM.RootCAFile
	e.cfg.SCIM.RootCAFile = ""
	rep, _, err := e.run(false)
	if err == nil || errors.Is(err, sink.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "scim.rootCAFile") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if p, _ := e.store.PendingOps(context.Background()); len(p) != 0 || int(n.Load()) > len(rep.Results) {
		t.Errorf("%d pending, %d requests for %d operations", len(p), n.Load(), len(rep.Results))
	}
	e.cfg.SCIM.RootCAFile = ca
	e.mustRun()
	if len(e.activeOmni()) != len(e.expected()) {
		t.Errorf("Omni has %d users with the CA trusted, want %d", len(e.activeOmni()), len(e.expected()))
	}
}
