// Package state keeps syncd's memory in PostgreSQL: the users it has linked
// to Omni and the values it last pushed, the runs and their outcomes, the
// journal of writes sent to Omni, the append-only audit log, and the advisory
// lock that lets only one replica run at a time. A write to Omni is journaled
// before it is sent and completed, together with the user's new state and its
// audit event, in one transaction after the answer, so a crash never leaves
// state that disagrees with the journal. Every query runs under a timeout.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncd-dev/syncd/internal/textutil"
)

const (
	// queryTimeout bounds one ordinary query or transaction.
	queryTimeout = 30 * time.Second
	// bulkTimeout bounds loading every user and applying migrations.
	bulkTimeout = 5 * time.Minute
	// connectTimeout bounds establishing one connection.
	connectTimeout = 10 * time.Second
	// maxText bounds error and detail text before it is stored: enough for
	// any useful message, small enough that a misbehaving server's HTML page
	// cannot bloat the audit log.
	maxText = 2048
)

// Store is syncd's state in one PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at databaseURL and checks that it answers.
// Errors never contain the URL's password.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, scrub(fmt.Errorf("parse database URL: %w", err), databaseURL, "")
	}
	password := cfg.ConnConfig.Password
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "syncd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("open database: %w", err), databaseURL, password)
	}
	s := &Store{pool: pool}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, scrub(err, databaseURL, password)
	}
	return s, nil
}

// Close closes every connection. A held TryLock must be released first.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// scrub removes every form of the password, and the URL itself, from err's
// message. pgx redacts what it recognises, but the standard library's URL
// errors quote the whole input, so nothing is left to chance. The scrubbed
// error keeps err in its chain only when err's own text was clean.
func scrub(err error, databaseURL, password string) error {
	msg := err.Error()
	clean := msg
	secrets := []string{databaseURL}
	if password == "" {
		if u, perr := url.Parse(databaseURL); perr == nil && u.User != nil {
			password, _ = u.User.Password()
		}
	}
	if password != "" {
		secrets = append(secrets, password, url.QueryEscape(password), url.PathEscape(password),
			url.UserPassword("u", password).String()[2:])
	}
	for _, sec := range secrets {
		if sec != "" {
			clean = strings.ReplaceAll(clean, sec, textutil.Redacted)
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean}
}

// scrubbedError is an error whose original text held a secret; it
// deliberately does not unwrap to it.
type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

// withTimeout bounds one call. A deadline the caller set earlier still wins.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// bound cuts s to at most maxText bytes on a rune boundary, marking the cut.
func bound(s string) string {
	// PostgreSQL refuses NUL in text: a message quoting one must not make
	// the row it belongs to unstorable.
	const mark = "…[truncated]"
	return textutil.Clip(textutil.Clean(s), maxText-len(mark), mark)
}

// ErrUserNameTaken means another active linked user already has the
// userName: Omni allows one user per email, so two directory entries cannot
// both be linked to it.
var ErrUserNameTaken = errors.New("user name already linked to another active user")

// classify maps constraint violations callers act on to sentinel errors.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_active_user_name" {
		return fmt.Errorf("%w: %w", ErrUserNameTaken, err)
	}
	return err
}

// inTx runs fn in one transaction under timeout d, committing when fn
// succeeds.
func (s *Store) inTx(ctx context.Context, d time.Duration, fn func(pgx.Tx) error) error {
	ctx, cancel := withTimeout(ctx, d)
	defer cancel()
	return pgx.BeginFunc(ctx, s.pool, fn)
}
