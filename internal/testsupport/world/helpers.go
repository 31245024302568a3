package world

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
)

// WriteConfig writes YAML() to a file of tb's and returns its path, for
// running the real program on it. The file holds no secret, but is made
// private as an operator's would be.
func (w *World) WriteConfig(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "syncd.yaml")
	if err := os.WriteFile(path, []byte(w.yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Expected returns the Omni users a correct sync makes of the directory, by
// userName: the active users that map to an email.
func (w *World) Expected() map[string]dirgen.User {
	want := map[string]dirgen.User{}
	for _, u := range w.Dir.Users {
		if mail := w.Dir.ExpectedEmail(u); mail != "" && !u.Disabled {
			want[mail] = u
		}
	}
	return want
}

// Plain returns n ordinary directory users: enabled, with a mail, not
// awkward, so that a test changing them is about its change alone.
func (w *World) Plain(tb testing.TB, n int) []dirgen.User {
	tb.Helper()
	var us []dirgen.User
	for _, u := range w.Dir.Users {
		if u.Awkward == "" && !u.Disabled && u.Mail != "" && len(us) < n {
			us = append(us, u)
		}
	}
	if len(us) < n {
		tb.Fatalf("directory has fewer than %d plain users", n)
	}
	return us
}

// Conn is a connection to the directory as its root DN, closed when tb ends.
func (w *World) Conn(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := w.LDAP.Conn(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Modify changes the entry dn as f says, as a directory admin would.
func (w *World) Modify(tb testing.TB, dn string, f func(*ldap.ModifyRequest)) {
	tb.Helper()
	m := ldap.NewModifyRequest(dn, nil)
	f(m)
	if err := w.Conn(tb).Modify(m); err != nil {
		tb.Fatalf("modify %s: %v", dn, err)
	}
}

// DB connects to the world's database as its owner, for raw queries.
func (w *World) DB(tb testing.TB) *pgx.Conn {
	tb.Helper()
	return Connect(tb, w.DatabaseURL)
}

// Connect connects to the database at url, closed when tb ends.
func Connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// OpenStore opens a state store on the database at url, as syncd does,
// closed when tb ends. It does not migrate.
func OpenStore(tb testing.TB, url string) *state.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := state.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}
