package main

import (
	"context"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// SIGHUP re-reads the configuration: a valid one is taken from the next
// run on, an invalid one is refused with its bad field named, the old one
// stays, and the metrics count both.
func TestDaemonReloadsOnSIGHUP(t *testing.T) {
	w := newWorld(t, true, 5)
	d := w.startDaemon(t)
	eventually(t, d, "the first run", func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_runs_total{outcome="success"}`] == 1
	})
	good, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	// From a yearly schedule to every second: a second run shows the new
	// schedule is the one the daemon keeps.
	if err := os.WriteFile(w.config, []byte(strings.Replace(string(good), `schedule: "@yearly"`, `schedule: "@every 1s"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	eventually(t, d, "the valid configuration is taken", func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_config_reloads_total{outcome="ok"}`] == 1 && strings.Contains(d.stderr.String(), reloaded) &&
			m[`syncd_runs_total{outcome="success"}`] >= 2
	})
	if err := os.WriteFile(w.config, []byte(string(good)+"scim:\n  requestsPerMinute: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	eventually(t, d, "the invalid configuration is refused", func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_config_reloads_total{outcome="failed"}`] == 1 && strings.Contains(d.stderr.String(), "configuration reload refused")
	})
	if !strings.Contains(d.stderr.String(), "scim") {
		t.Errorf("the refusal does not name the bad field:\n%s", d.stderr)
	}
	if code, _ := d.get(t, "/healthz"); code != 200 {
		t.Errorf("the daemon is not serving after a refused reload: %d", code)
	}
}

// A tick whose run cannot start (the database refuses connections) is
// logged once and counted with its own outcome; its recovery is logged once.
func TestDaemonLogsADownDatabaseOnce(t *testing.T) {
	w := newWorld(t, true, 5)
	d := w.startDaemonOn(t, "@every 1s")
	eventually(t, d, "the first run", func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_runs_total{outcome="success"}`] >= 1
	})
	db := w.db(t)
	var name string
	if err := db.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	admin := w.adminDB(t)
	exec := func(q string) {
		t.Helper()
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER DATABASE "` + name + `" WITH ALLOW_CONNECTIONS false`)
	exec(`SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity WHERE datname = '` + name + `' AND pid <> pg_backend_pid()`)
	eventually(t, d, "three ticks that could not start", func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_runs_total{outcome="not_started"}`] >= 3
	})
	exec(`ALTER DATABASE "` + name + `" WITH ALLOW_CONNECTIONS true`)
	eventually(t, d, "runs start again", func() bool {
		return strings.Contains(d.stderr.String(), "sync runs start again")
	})
	if n := strings.Count(d.stderr.String(), "sync run could not start"); n != 1 {
		t.Errorf("the failure to start was logged %d times, want once", n)
	}
}

// adminDB connects to the world's PostgreSQL server outside syncd's
// database, to change that database as an admin would.
func (w *world) adminDB(t *testing.T) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(w.env["SYNCD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// /readyz turns unready once runs have failed for longer than
// http.staleAfter (three schedule intervals unless set), and ready again
// after a success.
func TestReadyzTurnsUnreadyWhenRunsKeepFailing(t *testing.T) {
	w := newWorld(t, true, 5)
	w.omni.SetToken("a-revoked-key")
	d := w.startDaemonOn(t, "@every 1s")
	eventually(t, d, "/readyz unready after failing runs", func() bool {
		code, _ := d.get(t, "/readyz")
		return code == 503
	})
	w.omni.SetToken(testToken)
	eventually(t, d, "/readyz ready after a success", func() bool {
		code, _ := d.get(t, "/readyz")
		return code == 200
	})
}
