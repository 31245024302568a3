package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/state"
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
	// The stand-in holds the third create: two are answered before it, so
	// the signal lands mid-run with users already made and more to make.
	// Holds catch successive POSTs; the first two are released already and
	// let their request straight through.
	const before = 2
	for range before {
		w.omni.Hold(http.MethodPost).Release()
	}
	held := w.omni.Hold(http.MethodPost)

	cmd := exec.Command(os.Args[0], "--once", "--config", w.config)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout syncBuffer
	stderr := &watchBuffer{want: stopRequested, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
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

	// The timeouts below only bound a hung test; nothing is asserted about
	// how long anything takes.
	select {
	case <-held.Arrived():
	case err := <-done:
		waited = true
		t.Fatalf("syncd exited before its third create: %v\n%s", err, stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("syncd sent no third create in a minute\n%s", stderr.String())
	}
	// Requests go one at a time, so the held create is the one in flight,
	// and the ones answered so far are all there are until it is let go.
	atSignal := w.omni.Stats().Total
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Let the create go only once syncd has said it heard the signal, so
	// that the run is certain to know it is stopping when the answer lands.
	select {
	case <-stderr.seen:
	case err := <-done:
		waited = true
		t.Fatalf("syncd exited with its create still held: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("syncd did not log %q within 30s of SIGTERM\n%s", stopRequested, stderr.String())
	}
	held.Release()
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
	// Exactly the creates before the signal and the one in flight reached
	// Omni; the held one was answered, not abandoned, and no other request
	// was sent after the signal.
	omniUsers := w.omni.Users()
	if len(omniUsers) != before+1 || len(omniUsers) >= len(want) {
		t.Fatalf("Omni has %d of %d users, want %d: the two before the signal and the one in flight", len(omniUsers), len(want), before+1)
	}
	if st := w.omni.Stats(); st.Total != atSignal+1 || st.ByMethodStatus["POST 201"] != before+1 || st.ByMethodStatus["POST canceled"] != 0 {
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

// watchBuffer is a syncBuffer that closes seen once what was written to it
// contains want, so a test can wait for a log line instead of polling. The
// whole buffer is searched because a pipe may split a line across writes.
type watchBuffer struct {
	syncBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (b *watchBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	if strings.Contains(b.String(), b.want) {
		b.once.Do(func() { close(b.seen) })
	}
	return n, err
}
