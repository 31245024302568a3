package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/migrations"
)

// Advisory lock keys, one namespace per purpose so that migrating never
// waits on a running sync.
const (
	lockKeyRun     int64 = 0x73796e6364_0001 // "syncd", run lock
	lockKeyMigrate int64 = 0x73796e6364_0002 // "syncd", migration lock
	lockKeyAudit   int64 = 0x73796e6364_0003 // "syncd", audit chain head
)

var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// Migrate applies the embedded migrations the database lacks, in name
// order, each in its own transaction together with its schema_migrations
// row, and returns the versions it applied. Processes migrating at once
// serialise on a transaction-scoped advisory lock, so each migration is
// applied exactly once.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	return s.migrate(ctx, migrations.FS)
}

func (s *Store) migrate(ctx context.Context, fsys fs.FS) ([]string, error) {
	files, err := migrationFiles(fsys)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	// A database with every migration needs nothing created or locked, so
	// a daemon whose role may not create tables (docs/database-roles.md)
	// starts against one its owner has migrated.
	_, pending, err := s.migrationStatus(ctx, fsys)
	if errors.Is(err, ErrSchemaNewer) {
		return nil, err
	}
	if err == nil && len(pending) == 0 {
		return nil, nil
	}
	// Even CREATE TABLE IF NOT EXISTS races with itself, so the bookkeeping
	// table is created under the lock too.
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKeyMigrate); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    text        PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var applied []string
	for _, name := range files {
		version := strings.TrimSuffix(name, ".sql")
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, fmt.Errorf("read migration %s: %w", name, err)
		}
		var done bool
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKeyMigrate); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM schema_migrations WHERE version = $1)", version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// Exec without arguments uses the simple protocol, which runs
			// a file of many statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			if step := goSteps[version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("apply migration %s: %w", name, err)
		}
		if !done {
			applied = append(applied, version)
		}
	}
	return applied, nil
}

// goSteps are the parts of migrations SQL cannot do, run after the file of
// the same version in its transaction.
var goSteps = map[string]func(context.Context, pgx.Tx) error{
	"0008_group_changes": backfillDNKeys,
}

// backfillDNKeys fills users.dn_key for the users stored before it existed.
func backfillDNKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT ldap_id, coalesce(pushed->>'dn', '') FROM users`)
	if err != nil {
		return err
	}
	var ids, keys []string
	for rows.Next() {
		var id, dn string
		if err := rows.Scan(&id, &dn); err != nil {
			rows.Close()
			return err
		}
		ids, keys = append(ids, id), append(keys, dnKey(dn))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE users SET dn_key = v.k FROM unnest($1::text[], $2::text[]) AS v(id, k) WHERE ldap_id = v.id`, ids, keys)
	return err
}

// migrationFiles lists the migrations in fsys in the order they apply.
func migrationFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var names []string
	seen := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		if !migrationName.MatchString(e.Name()) {
			return nil, fmt.Errorf("list migrations: %s is not named NNNN_name.sql", e.Name())
		}
		num := e.Name()[:4]
		if other, ok := seen[num]; ok {
			return nil, fmt.Errorf("list migrations: %s and %s share number %s", other, e.Name(), num)
		}
		seen[num] = e.Name()
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// MigrationStatus reports which embedded migrations the database has and
// which it lacks, without changing anything, so that a dry run can plan
// against a database syncd has never written to.
func (s *Store) MigrationStatus(ctx context.Context) (applied, pending []string, err error) {
	return s.migrationStatus(ctx, migrations.FS)
}

func (s *Store) migrationStatus(ctx context.Context, fsys fs.FS) (applied, pending []string, err error) {
	files, err := migrationFiles(fsys)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	have := map[string]bool{}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, nil, fmt.Errorf("read migration status: %w", err)
	}
	if exists {
		rows, err := s.pool.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return nil, nil, fmt.Errorf("read migration status: %w", err)
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, nil, fmt.Errorf("read migration status: %w", err)
		}
		for _, v := range versions {
			have[v] = true
		}
	}
	for _, name := range files {
		v := strings.TrimSuffix(name, ".sql")
		if have[v] {
			applied = append(applied, v)
			delete(have, v)
		} else {
			pending = append(pending, v)
		}
	}
	if len(have) > 0 {
		unknown := make([]string, 0, len(have))
		for v := range have {
			unknown = append(unknown, v)
		}
		sort.Strings(unknown)
		return applied, pending, fmt.Errorf("%w: the schema has %s, unknown to this syncd; upgrade syncd", ErrSchemaNewer, strings.Join(unknown, ", "))
	}
	return applied, pending, nil
}

// ErrSchemaNewer means the database has migrations this binary does not
// know: a newer syncd migrated it, and this one must not write to a schema
// it does not understand.
var ErrSchemaNewer = errors.New("database schema is newer than this syncd")
