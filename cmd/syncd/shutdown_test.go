package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startSyncd starts syncd --once as a process of its own on the world's
// configuration, with the SCIM URL replaced by front's.
func (w *world) startSyncd(t *testing.T, front *httptest.Server) *proc {
	t.Helper()
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  url: http://127.0.0.1") && i > 0 && strings.Contains(strings.Join(lines[:i], "\n"), "scim:") {
			lines[i] = "  url: " + front.URL + "/api/scim/v2"
		}
	}
	lines = append(lines, "")
	if err := os.WriteFile(w.config, bytes.ReplaceAll([]byte(strings.Join(lines, "\n")), []byte("requestsPerMinute: 10000"), []byte("requestsPerMinute: 10000\n  maxAttempts: 6\n  timeout: 20s")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--once", "--config", w.config)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &stderr, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// proc is syncd running as a process of its own.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// waitArrival waits until arrived says a request reached Omni, failing the
// test if syncd exits first.
func (p *proc) waitArrival(t *testing.T, arrived <-chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-p.exited:
		t.Fatalf("syncd exited before its first request: %v\n%s", p.err, p.stderr)
	}
}

// waitExit waits for the process, failing the test if it is still running
// when Omni's Retry-After (60 s) would have let it retry: the bound only
// catches a process that sat out the wait.
func (p *proc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(45 * time.Second):
		t.Fatalf("syncd still running after SIGTERM\n%s", p.stderr)
		return nil
	}
}

// With Omni answering 503 and Retry-After: 60, SIGTERM ends syncd without
// another attempt: the answer in flight is recorded and the run ends as
// interrupted, instead of retrying for minutes past the unit's stop timeout.
func TestSIGTERMMakesNoNewAttempt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts syncd as a process")
	}
	w := newWorld(t, true, 5)
	var requests atomic.Int64
	arrived := make(chan struct{}, 16)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		arrived <- struct{}{}
		rw.Header().Set("Retry-After", "60")
		rw.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer front.Close()
	p := w.startSyncd(t, front)
	p.waitArrival(t, arrived)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.waitExit(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("syncd ended with %v, want exit %d\n%s", err, exitFailed, p.stderr)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests reached Omni, want only the one before the signal", n)
	}
	var outcome string
	if err := w.db(t).QueryRow(t.Context(), "SELECT outcome FROM sync_runs ORDER BY id DESC LIMIT 1").Scan(&outcome); err != nil || outcome != "interrupted" {
		t.Errorf("run recorded as %q (%v), want interrupted", outcome, err)
	}
}

// A second signal ends syncd at once, even while a request hangs.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts syncd as a process")
	}
	w := newWorld(t, true, 5)
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		rw.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer front.Close()
	defer close(release)
	p := w.startSyncd(t, front)
	p.waitArrival(t, arrived)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Signals of one kind do not queue: the second is sent once syncd says
	// it heard the first.
	for !strings.Contains(p.stderr.String(), stopRequested) {
		select {
		case <-p.exited:
			t.Fatalf("syncd exited on the first signal: %v\n%s", p.err, p.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.waitExit(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed || !strings.Contains(p.stderr.String(), "second signal") {
		t.Fatalf("syncd ended with %v\n%s", err, p.stderr)
	}
}
