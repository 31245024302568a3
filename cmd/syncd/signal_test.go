package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// SIGTERM in the middle of a run lets the request in flight finish, records
// it and the run as interrupted, and exits non-zero; the next run does the
// rest and the one after has nothing to send.
func TestSIGTERMFinishesTheRequestInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts syncd as a process")
	}
	w := newWorld(t, true, 40)
	want := w.wantedEmails()
	// Slow answers keep the run in the middle of its creates for long
	// enough to be stopped there.
	const latency = 200 * time.Millisecond
	w.omni.SetFaults(omnitest.Faults{Latency: latency})

	cmd := exec.Command(os.Args[0], "--once", "--config", w.config)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	// The deadlines below only bound a hung test; nothing is asserted about
	// how long anything takes.
	deadline := time.Now().Add(time.Minute)
	for w.omni.Stats().Total < 3 {
		select {
		case err := <-done:
			waited = true
			t.Fatalf("syncd exited before it was signalled: %v\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("syncd sent fewer than 3 requests in a minute")
		}
	}
	// Requests go one at a time: the next one is now waiting out its
	// latency, and the signal lands while it is in flight.
	time.Sleep(latency / 4)
	atSignal := w.omni.Stats().Total
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
		waited = true
	case <-time.After(30 * time.Second):
		t.Fatalf("syncd still running 30s after SIGTERM\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("syncd ended with %v after SIGTERM, want exit status %d\n%s", err, exitFailed, stderr.String())
	}
	noSecret(t, "stdout", stdout.String())
	noSecret(t, "the log", stderr.String())
	summary := false
	for _, l := range logLines(t, stderr.String()) {
		if l["message"] == "sync run finished" && l["outcome"] == "interrupted" {
			summary = true
		}
	}
	if !summary {
		t.Errorf("no summary line logs the run as interrupted:\n%s", stderr.String())
	}
	omniUsers := w.omni.Users()
	if len(omniUsers) == 0 || len(omniUsers) >= len(want) {
		t.Fatalf("Omni has %d of %d users; the signal did not land mid-run", len(omniUsers), len(want))
	}
	// The request in flight was answered, not abandoned, and no other was
	// sent after the signal.
	if st := w.omni.Stats(); st.Total != atSignal+1 || st.ByMethodStatus["POST canceled"] != 0 {
		t.Errorf("%d requests answered when signalled, %d at exit, want one more (the one in flight): %v",
			atSignal, st.Total, st.ByMethodStatus)
	}

	conn := w.db(t)
	ctx := context.Background()
	var outcome string
	var finished *time.Time
	if err := conn.QueryRow(ctx, `SELECT outcome, finished_at FROM sync_runs ORDER BY id DESC LIMIT 1`).Scan(&outcome, &finished); err != nil {
		t.Fatal(err)
	}
	if outcome != "interrupted" || finished == nil {
		t.Errorf("last run recorded as %q, finished at %v; want interrupted with a finish time", outcome, finished)
	}
	var pending int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE status = 'pending'`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d operations left pending", pending)
	}
	evs, err := w.store(t).ListAudit(ctx, state.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, ev := range evs {
		if ev.Outcome == "ok" && ev.Action == "create" && ev.SCIMID != "" {
			audited[ev.SCIMID] = true
		}
	}
	for _, u := range omniUsers {
		if !audited[u.ID] {
			t.Errorf("Omni user %s (%s) has no ok audit row", u.UserName, u.ID)
		}
	}
	if len(audited) != len(omniUsers) {
		t.Errorf("%d creates audited, %d users in Omni", len(audited), len(omniUsers))
	}

	w.omni.SetFaults(omnitest.Faults{})
	w.omni.ResetStats()
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("the run after the interrupted one: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := w.omni.Stats(); st.ByMethodStatus["POST 201"] != len(want)-len(omniUsers) {
		t.Errorf("the next run created %d users, want the %d left: %v", st.ByMethodStatus["POST 201"], len(want)-len(omniUsers), st.ByMethodStatus)
	}
	w.checkOmniHasExactly(t, want)
	w.omni.ResetStats()
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("a run with nothing to do: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := w.omni.Stats(); st.Total != 0 {
		t.Errorf("a run with nothing to do sent %d requests: %v", st.Total, st.ByMethodStatus)
	}
}
