package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cursor is where incremental reads of one scope resume.
type Cursor struct {
	Name      string
	Mechanism string // syncrepl or usn
	Cookie    []byte
	// FullReadAt is when the last full read was; SourceCount the users in
	// scope then, kept up to date by the incremental runs since.
	FullReadAt  time.Time
	SourceCount int
}

// LoadCursor returns the named cursor; ok is false when there is none.
func (s *Store) LoadCursor(ctx context.Context, name string) (c Cursor, ok bool, err error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	err = s.pool.QueryRow(ctx, `SELECT name, mechanism, cookie, full_read_at, source_count FROM read_cursors WHERE name = $1`, name).
		Scan(&c.Name, &c.Mechanism, &c.Cookie, &c.FullReadAt, &c.SourceCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("load read cursor %s: %w", name, err)
	}
	c.FullReadAt = c.FullReadAt.UTC()
	return c, true, nil
}

// saveCursor stores c in tx (see SavePosition).
func saveCursor(ctx context.Context, tx pgx.Tx, c Cursor) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO read_cursors (name, mechanism, cookie, full_read_at, source_count)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET mechanism = excluded.mechanism, cookie = excluded.cookie,
			full_read_at = excluded.full_read_at, source_count = excluded.source_count, updated_at = now()`,
		c.Name, c.Mechanism, c.Cookie, c.FullReadAt, c.SourceCount)
	if err != nil {
		return fmt.Errorf("save read cursor %s: %w", c.Name, err)
	}
	return nil
}

// DropCursor forgets the named cursor: the next run reads in full.
func (s *Store) DropCursor(ctx context.Context, name string) error {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM read_cursors WHERE name = $1`, name); err != nil {
		return fmt.Errorf("drop read cursor %s: %w", name, err)
	}
	return nil
}

// ActiveUserIDs lists the directory ids of the active linked users: after
// a syncrepl present phase, the ones the server did not name are gone.
func (s *Store) ActiveUserIDs(ctx context.Context) ([]string, error) {
	return s.queryIDs(ctx, "list active users", `SELECT ldap_id FROM users WHERE status = 'active'`)
}

// queryIDs runs a query of one text column (directory ids) and returns its
// values; what names it in errors.
func (s *Store) queryIDs(ctx context.Context, what, q string, args ...any) ([]string, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids, nil
}
