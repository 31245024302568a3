package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// replica is one syncd daemon process.
type replica struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
}

func (w *world) startReplica(t *testing.T) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", w.config)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &replica{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.exited
	})
	return r
}

// runRow is one recorded run.
type runRow struct {
	id                int64
	runner, outcome   string
	started, finished time.Time
}

func (w *world) runs(t *testing.T, db *pgx.Conn) []runRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id, runner, outcome, started_at, coalesce(finished_at, now()) FROM sync_runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.id, &r.runner, &r.outcome, &r.started, &r.finished); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// waitRuns waits, bounded, until cond holds of the recorded runs.
func (w *world) waitRuns(t *testing.T, db *pgx.Conn, what string, cond func([]runRow) bool) []runRow {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rs := w.runs(t, db)
		if cond(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s: runs %+v", what, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two daemons on one database, every 2 s: runs never overlap, whoever holds
// the lock runs and the other skips; kill -9 of one and the other runs the
// next tick.
func TestTwoReplicasFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts syncd processes")
	}
	w := newWorld(t, true, 10)
	if code, out, errOut := w.syncd(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: %d\n%s%s", code, out, errOut)
	}
	w.appendConfig(t, "schedule: \"@every 2s\"\n")
	a, b := w.startReplica(t), w.startReplica(t)
	db := w.db(t) // one connection for all the polling
	rs := w.waitRuns(t, db, "six finished runs", func(rs []runRow) bool {
		n := 0
		for _, r := range rs {
			if r.outcome != "running" {
				n++
			}
		}
		return n >= 6
	})
	for i := range rs {
		for j := range rs {
			if i < j && rs[i].started.Before(rs[j].finished) && rs[j].started.Before(rs[i].finished) && rs[i].runner != rs[j].runner {
				t.Errorf("runs %d (%s) and %d (%s) overlapped", rs[i].id, rs[i].runner, rs[j].id, rs[j].runner)
			}
		}
	}
	for _, r := range rs {
		t.Logf("run %d by %s: %s", r.id, r.runner, r.outcome)
	}
	pidOf := func(r *replica) string { return "/" + itoa(r.cmd.Process.Pid) }
	last := rs[len(rs)-1]
	victim, survivor := a, b
	if hasSuffix(last.runner, pidOf(b)) {
		victim, survivor = b, a
	}
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	killedAt := time.Now()
	after := w.waitRuns(t, db, "a run by the survivor after the kill", func(rs []runRow) bool {
		for _, r := range rs {
			if r.started.After(killedAt) && hasSuffix(r.runner, pidOf(survivor)) && r.outcome != "running" {
				return true
			}
		}
		return false
	})
	for _, r := range after {
		if r.started.After(killedAt) {
			t.Logf("after killing %s: run %d by %s: %s", pidOf(victim), r.id, r.runner, r.outcome)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
