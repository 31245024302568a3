package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/state"
)

// wrongBindPW is a bind password the directory refuses; it is a secret all
// the same.
const wrongBindPW = "wrongpw-3c9e51-never-print-me"

var secrets = []string{testToken, testBindPW, wrongBindPW}

// noSecret fails if text holds any secret, naming where it was found.
func noSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %.10s… appears in %s", s, where)
		}
	}
}

// onceWithError runs syncd --once in-process and returns what main would
// print for its error, the output, and the error itself.
func (w *world) onceWithError(t *testing.T) (printed, stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"--once", "--config", w.config}, w.getenv, &out, &errb)
	f, ferr := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if ferr != nil {
		t.Fatal(ferr)
	}
	defer f.Close()
	report(f, err)
	b, ferr := os.ReadFile(f.Name())
	if ferr != nil {
		t.Fatal(ferr)
	}
	return string(b), out.String(), errb.String(), err
}

// dumpState returns every row syncd keeps, each table's rows cast to text.
func (w *world) dumpState(t *testing.T) string {
	t.Helper()
	conn := w.db(t)
	var all strings.Builder
	for _, table := range []string{"users", "sync_runs", "operations", "audit_events", "schema_migrations"} {
		rows, err := conn.Query(context.Background(), "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		n := 0
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			all.WriteString(table + ": " + row + "\n")
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		if n == 0 && table != "schema_migrations" {
			t.Errorf("table %s is empty; the scan proves nothing", table)
		}
	}
	return all.String()
}

// Neither the SCIM token nor the bind password (right or wrong) reaches a
// log line at debug level, stdout, an error, the database or /metrics, on
// success or failure.
func TestSecretsNeverLeak(t *testing.T) {
	w := newWorld(t, true, 30)

	t.Run("daemon", func(t *testing.T) {
		d := w.startDaemon(t)
		eventually(t, d, "the first run succeeds", func() bool {
			m, _ := d.metrics(t)
			return m[`syncd_runs_total{outcome="success"}`] == 1
		})
		_, text := d.metrics(t)
		noSecret(t, "/metrics", text)
		for _, path := range []string{"/healthz", "/readyz"} {
			_, body := d.get(t, path)
			noSecret(t, path, body)
		}
		if err := d.stop(t); err != nil {
			t.Fatalf("stop: %v", err)
		}
		noSecret(t, "stdout", d.stdout.String())
		noSecret(t, "the log", d.stderr.String())
		// The check has teeth only if the log is verbose: one debug line per
		// SCIM request.
		debug := 0
		for _, l := range logLines(t, d.stderr.String()) {
			if l["level"] == "debug" && l["component"] == "scim" {
				debug++
			}
		}
		if want := len(w.wantedEmails()); debug < want {
			t.Errorf("%d debug lines from the SCIM client, want at least %d", debug, want)
		}
	})

	t.Run("audit command", func(t *testing.T) {
		// world.syncd fails the test if a secret is in the output.
		for _, args := range [][]string{{"audit"}, {"audit", "--output", "json"}} {
			if code, out, errOut := w.syncd(t, args...); code != exitOK || !strings.Contains(out, "create") {
				t.Errorf("syncd %v: exit %d\n%s\n%s", args, code, out, errOut)
			}
		}
	})

	t.Run("wrong bind password", func(t *testing.T) {
		w.env["SYNCD_LDAP_BIND_PASSWORD"] = wrongBindPW
		defer func() { w.env["SYNCD_LDAP_BIND_PASSWORD"] = testBindPW }()
		printed, out, errOut, err := w.onceWithError(t)
		if exitCode(err) != exitFailed {
			t.Fatalf("exit %d, want %d: %v", exitCode(err), exitFailed, err)
		}
		if !strings.Contains(printed, "invalid credentials") {
			t.Errorf("the error does not say the directory refused the bind:\n%s", printed)
		}
		noSecret(t, "the error", printed)
		noSecret(t, "stdout", out)
		noSecret(t, "the log", errOut)
	})

	t.Run("revoked key", func(t *testing.T) {
		// Five users change, so a run that ignored the 401 would send five
		// writes.
		c, err := w.ldap.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		changed := 0
		for _, u := range w.dir.Users {
			if changed == 5 {
				break
			}
			if u.Awkward != "" || u.Disabled || w.dir.ExpectedEmail(u) == "" {
				continue
			}
			m := ldap.NewModifyRequest(u.DN, nil)
			m.Replace("displayName", []string{"Renamed " + u.UID})
			if err := c.Modify(m); err != nil {
				t.Fatal(err)
			}
			changed++
		}
		w.omni.SetToken("another-organisation-key")
		defer w.omni.SetToken(testToken)
		w.omni.ResetStats()

		printed, out, errOut, err := w.onceWithError(t)
		if exitCode(err) != exitFailed {
			t.Fatalf("exit %d, want %d: %v", exitCode(err), exitFailed, err)
		}
		var ee *exitError
		if !errors.As(err, &ee) || !strings.Contains(ee.hint, "organisation API key") {
			t.Errorf("no hint about the organisation API key:\n%s", printed)
		}
		if !strings.Contains(printed, "hint: ") || !strings.Contains(printed, "organisation API key") {
			t.Errorf("main would not print the hint:\n%s", printed)
		}
		if st := w.omni.Stats(); st.Total != 1 || st.ByMethodStatus["PATCH 401"] != 1 {
			t.Errorf("the run sent %d requests %v; want it to stop at the first 401", st.Total, st.ByMethodStatus)
		}
		noSecret(t, "the error", printed)
		noSecret(t, "stdout", out)
		noSecret(t, "the log", errOut)
	})

	t.Run("state", func(t *testing.T) {
		store := w.store(t)
		evs, err := store.ListAudit(context.Background(), state.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, ev := range evs {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			noSecret(t, "an audit event", string(b)+" "+ev.Error+" "+ev.Detail)
			if ev.Outcome == "failed" {
				failed++
			}
		}
		if failed == 0 {
			t.Error("no failed audit event recorded for the 401; the scan proves less than it should")
		}
		dump := w.dumpState(t)
		noSecret(t, "the database", dump)
		for _, want := range []string{"invalid credentials", "401"} {
			if !strings.Contains(dump, want) {
				t.Errorf("the database does not record %q; the failing runs left no trace", want)
			}
		}
	})
}
