package main

import (
	"context"
	"strings"
	"testing"
)

// A tick skipped because another replica holds the run lock is counted in
// the metrics, and said once in the log.
func TestDaemonCountsSkippedTicks(t *testing.T) {
	w := newWorld(t, true, 5)
	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	// Another replica: the run lock held on a session of its own.
	var ok bool
	if err := w.db(t).QueryRow(context.Background(), "SELECT pg_try_advisory_lock(x'73796e63640001'::bigint)").Scan(&ok); err != nil || !ok {
		t.Fatalf("take the run lock: %v %t", err, ok)
	}
	d := w.startDaemon(t)
	eventually(t, d, `/metrics shows syncd_runs_total{outcome="skipped"} 1`, func() bool {
		m, _ := d.metrics(t)
		return m[`syncd_runs_total{outcome="skipped"}`] == 1
	})
	if !strings.Contains(d.stderr.String(), "another replica holds the run lock") {
		t.Errorf("the skipped tick is not in the log:\n%s", d.stderr)
	}
}

// The hint --once prints for a refused key reaches the daemon's log too.
func TestDaemonLogsTheHint(t *testing.T) {
	w := newWorld(t, true, 5)
	w.omni.SetToken("another-organisation-key")
	d := w.startDaemon(t)
	eventually(t, d, "the log carries the hint for a refused key", func() bool {
		for _, l := range logLines(t, d.stderr.String()) {
			if h, _ := l["hint"].(string); strings.Contains(h, "organisation API key") {
				return true
			}
		}
		return false
	})
}
