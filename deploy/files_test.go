package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/syncd-dev/syncd/internal/config"
)

// repoFile reads a file by its path from the repository's root.
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tool returns the path of an external checker, or "" after logging that
// the check it would run is not run here. The Go checks of the same files
// run either way.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Logf("NOT RUN: %s is not on PATH; only the Go checks of these files ran", name)
		return ""
	}
	return path
}

// runTool runs an external checker and fails t with its output when it
// fails, or, with quiet set, when it prints anything (systemd-analyze
// verify exits 0 on an unknown key, and only says so).
func runTool(t *testing.T, dir string, quiet bool, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Errorf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	case quiet && len(bytes.TrimSpace(out)) > 0:
		t.Errorf("%s %v warns:\n%s", filepath.Base(name), args, out)
	default:
		t.Logf("ran %s %v: ok\n%s", filepath.Base(name), args, out)
	}
}

// The paths and names syncd and its deployment files share.
const (
	binaryPath  = "/usr/local/bin/syncd"
	configPath  = "/etc/syncd/syncd.yaml"
	secretsDir  = "/run/secrets/syncd"
	nonrootUser = 65532 // distroless's nonroot
)

// scheduleInterval is the time between two ticks of a cron schedule.
func scheduleInterval(t *testing.T, schedule string) time.Duration {
	t.Helper()
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		t.Fatalf("schedule %q: %v", schedule, err)
	}
	first := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	return s.Next(first).Sub(first)
}

// defaultSCIMTimeout is how long syncd waits for one SCIM request when the
// configuration does not say.
func defaultSCIMTimeout() time.Duration { return config.Default().SCIM.Timeout.D() }
