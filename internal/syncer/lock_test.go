package syncer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/syncd-dev/syncd/internal/state"
)

// A run whose lock session is terminated mid-run (pg_terminate_backend, as a
// database failover or an admin would) writes nothing after it: the write in
// flight is answered, the next one is never sent, and the run says why.
func TestLockLostStopsTheWrites(t *testing.T) {
	e := newEnv(t, envOptions{users: 20})
	hold := e.omni.Hold("POST")
	type result struct {
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, err := e.syncer(false).Run(context.Background())
		done <- result{err}
	}()
	<-hold.Arrived()
	// With a timeout, pg_terminate_backend waits for the backend to end,
	// and with it the advisory lock, before it answers.
	e.sql(`SELECT pg_terminate_backend(pid, 30000) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`)
	// The held request is counted once it is let go.
	before := e.omni.Stats().Total + 1
	hold.Release()
	r := <-done
	if !errors.Is(r.err, state.ErrLockLost) {
		t.Fatalf("run after its lock session was terminated: %v", r.err)
	}
	if after := e.omni.Stats().Total; after != before {
		t.Errorf("%d requests after the lock was lost, want none but the one in flight", after-before)
	}
	// The next run takes the lock afresh and finishes the work.
	e.mustRun()
	if len(e.activeOmni()) != len(e.expected()) {
		t.Errorf("Omni has %d users, want %d", len(e.activeOmni()), len(e.expected()))
	}
}
