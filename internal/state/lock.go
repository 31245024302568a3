package state

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TryLock takes the run lock without waiting (see TakeLock) and returns its
// release.
func (s *Store) TryLock(ctx context.Context) (release func(), ok bool, err error) {
	l, ok, err := s.TakeLock(ctx)
	if !ok || err != nil {
		return nil, ok, err
	}
	return l.Release, true, nil
}

// ErrLockLost means the run lock's session is gone (a network blip,
// pg_terminate_backend, a database restart): another replica may hold the
// lock now, so this one must not write.
var ErrLockLost = errors.New("the run lock's database session is gone; another syncd may run now")

// Lock is the held run lock: a session-level advisory lock on a connection
// set aside for the whole run, so it lasts until Release or until that
// session dies.
type Lock struct {
	mu       sync.Mutex
	conn     *pgxpool.Conn
	released bool
}

// TakeLock takes the run lock without waiting. ok is false when another
// process holds it.
func (s *Store) TakeLock(ctx context.Context) (*Lock, bool, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire connection for run lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKeyRun).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("take run lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Lock{conn: conn}, true, nil
}

// Alive checks that the lock's session still answers: while it does, the
// lock is held (no other session can take it); once it does not, the lock
// may be anyone's. A run checks before each write.
func (l *Lock) Alive(ctx context.Context) error {
	if l == nil {
		return nil // no lock to lose: a dry run takes none
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return ErrLockLost
	}
	ctx, cancel := withTimeout(ctx, connectTimeout)
	defer cancel()
	var one int
	if err := l.conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	return nil
}

// Release unlocks and returns the connection to the pool; it is safe to call
// more than once.
func (l *Lock) Release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	// The run's context may be cancelled by now; unlocking must still
	// happen.
	ctx, cancel := withTimeout(context.Background(), queryTimeout)
	defer cancel()
	var unlocked bool
	if err := l.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", lockKeyRun).Scan(&unlocked); err != nil || !unlocked {
		// Closing the session is the other way to drop its lock; the pool
		// discards a closed connection on release.
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
