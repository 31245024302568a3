package state

import (
	"context"
	"fmt"
	"sync"
)

// TryLock takes the run lock without waiting. The lock is a session-level
// advisory lock on a connection set aside for the whole run, so it lasts
// until release is called or the connection dies with the process. ok is
// false when another process holds it. release unlocks and returns the
// connection to the pool; it is safe to call more than once.
func (s *Store) TryLock(ctx context.Context) (release func(), ok bool, err error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire connection for run lock: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKeyRun).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("take run lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			// The run's context may be cancelled by now; unlocking must
			// still happen.
			ctx, cancel := withTimeout(context.Background(), queryTimeout)
			defer cancel()
			var unlocked bool
			if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", lockKeyRun).Scan(&unlocked); err != nil || !unlocked {
				// Closing the session is the other way to drop its lock;
				// the pool discards a closed connection on release.
				_ = conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}
	return release, true, nil
}
