package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
	testworld "github.com/syncd-dev/syncd/internal/testsupport/world"
)

// syncBuffer is written by the daemon from its goroutines while the test
// reads it.
type syncBuffer = testenv.Buffer

// daemon is syncd running as a daemon inside the test process.
type daemon struct {
	url            string // http://host:port of /healthz, /readyz, /metrics
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	exited         chan struct{}
	err            error // run's result, once exited is closed
}

// appendConfig adds YAML to the world's configuration file.
func (w *world) appendConfig(t *testing.T, yaml string) {
	t.Helper()
	f, err := os.OpenFile(w.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, yaml); err != nil {
		t.Fatal(err)
	}
}

// startDaemon runs syncd without --once, serving HTTP on a port the kernel
// picks (read back from the log, so no other process can take it in
// between), and on a schedule that will not tick during the test, so the
// only run is the one at start.
func (w *world) startDaemon(t *testing.T) *daemon {
	t.Helper()
	return w.startDaemonOn(t, "@yearly")
}

// startDaemonOn is startDaemon on the given schedule.
func (w *world) startDaemonOn(t *testing.T, schedule string) *daemon {
	t.Helper()
	w.appendConfig(t, "schedule: \""+schedule+"\"\nhttp:\n  listen: 127.0.0.1:0\n")
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(d.exited)
		d.err = run(ctx, []string{"--config", w.config}, w.getenv, d.stdout, d.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.exited:
		case <-time.After(time.Minute):
			t.Error("syncd did not stop within a minute of its context being cancelled")
		}
	})
	eventually(t, d, "syncd logs its HTTP address", func() bool {
		for _, l := range logLines(t, d.stderr.String()) {
			if addr, ok := l["addr"].(string); ok && strings.HasPrefix(fmt.Sprint(l["message"]), "serving ") {
				d.url = "http://" + addr
				return true
			}
		}
		return false
	})
	return d
}

// stop cancels the daemon's context and waits, bounded, for run to return.
func (d *daemon) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case <-d.exited:
		return d.err
	case <-time.After(30 * time.Second):
		t.Fatalf("syncd did not stop within 30s of its context being cancelled\n%s", d.stderr)
		return nil
	}
}

// eventually polls cond until it holds, failing the test if the daemon exits
// first or a minute passes. The minute only bounds a hung test; nothing is
// asserted about how long cond takes.
func eventually(t *testing.T, d *daemon, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case <-d.exited:
			t.Fatalf("syncd exited before %s: %v\n%s", what, d.err, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s\n%s", what, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get fetches path from the daemon and returns the status and body.
func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// metrics scrapes /metrics into series name{labels} -> value.
func (d *daemon) metrics(t *testing.T) (map[string]float64, string) {
	t.Helper()
	code, body := d.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d\n%s", code, body)
	}
	return parseMetrics(t, body), body
}

func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("metrics line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// logLines decodes the JSON log lines syncd wrote.
func logLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			// run's own error, printed after the log by world.syncd.
			continue
		}
		out = append(out, m)
	}
	return out
}

// store opens the world's state store for assertions.
func (w *world) store(t *testing.T) *state.Store {
	t.Helper()
	return testworld.OpenStore(t, w.env[testworld.EnvDatabaseURL])
}

// wantedEmails are the users the world's directory should put in Omni.
func (w *world) wantedEmails() map[string]bool {
	want := map[string]bool{}
	for mail := range w.base.Expected() {
		want[mail] = true
	}
	return want
}

// checkOmniHasExactly fails unless Omni holds each wanted user once and no
// other.
func (w *world) checkOmniHasExactly(t *testing.T, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, u := range w.omni.Users() {
		seen[strings.ToLower(u.UserName)]++
	}
	for mail, n := range seen {
		if n > 1 {
			t.Errorf("%s exists %d times in Omni", mail, n)
		}
		if !want[mail] {
			t.Errorf("%s is in Omni but not wanted", mail)
		}
	}
	for mail := range want {
		if seen[mail] == 0 {
			t.Errorf("%s missing from Omni", mail)
		}
	}
}

// db connects to the world's database for raw queries.
func (w *world) db(t *testing.T) *pgx.Conn {
	t.Helper()
	return testworld.Connect(t, w.env[testworld.EnvDatabaseURL])
}

func TestDaemonServesHealthAndMetrics(t *testing.T) {
	w := newWorld(t, true, 30)
	d := w.startDaemon(t)

	eventually(t, d, `/metrics shows syncd_runs_total{outcome="success"} 1`, func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_runs_total{outcome="success"}`] == 1
	})
	if code, body := d.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: status %d %q", code, body)
	}
	if code, body := d.get(t, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: status %d %q", code, body)
	}
	want := w.wantedEmails()
	w.checkOmniHasExactly(t, want)

	m, text := d.metrics(t)
	creates := len(want)
	var sourceCount int
	var finished time.Time
	if err := w.db(t).QueryRow(context.Background(),
		`SELECT source_count, finished_at FROM sync_runs ORDER BY id DESC LIMIT 1`).Scan(&sourceCount, &finished); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`syncd_scim_requests_total{method="POST",status="201"}`, float64(creates)},
		{`syncd_operations_total{kind="create",outcome="ok"}`, float64(creates)},
		{`syncd_directory_users`, float64(sourceCount)},
		{`syncd_last_success_timestamp_seconds`, float64(finished.Unix())},
		{`syncd_runs_total{outcome="success"}`, 1},
		{`syncd_run_duration_seconds_count`, 1},
	} {
		got, ok := m[c.series]
		switch {
		case !ok:
			t.Errorf("/metrics lacks %s", c.series)
		case c.series == `syncd_last_success_timestamp_seconds`:
			// The gauge is the run's start plus its duration, the row's
			// finish time is taken a moment later: compare to the second
			// they share or the one before.
			if got != c.want && got != c.want-1 {
				t.Errorf("%s = %v, want %v (the run's finish time)", c.series, got, c.want)
			}
		case got != c.want:
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
	if sourceCount == 0 {
		t.Error("the run read no users from the directory")
	}
	for _, name := range []string{"syncd_guard_trips_total", "syncd_scim_request_duration_seconds", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	if err := d.stop(t); err != nil {
		t.Fatalf("syncd returned %v after its context was cancelled, want nil\n%s", err, d.stderr)
	}
	// Cancelling the context stopped the HTTP server too.
	client := &http.Client{Timeout: 10 * time.Second}
	if resp, err := client.Get(d.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("/healthz still answers after syncd returned")
	}
}
