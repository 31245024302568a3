// Package testenv holds the few helpers that every server fixture needs: a free
// loopback port, finding server binaries that Debian keeps off PATH, noticing
// whether a Docker engine answers, and one policy for a missing server. The
// policy is that a missing server fails the test with a hint on how to get it,
// except under `go test -short`, where it skips, so a quick run on a bare
// machine stays green while a full run never silently tests less.
package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Unavailable reports that a server the test needs is missing. what names the
// missing piece ("slapd not found"), howToGet tells the reader how to fix it.
func Unavailable(t testing.TB, what, howToGet string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: %s", what, howToGet)
	}
	t.Fatalf("%s: %s (run with -short to skip instead)", what, howToGet)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// server started on it may still race with another process; fixtures retry.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen for a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LookPath finds name on PATH, then in extraDirs, which may be glob patterns
// such as /usr/lib/postgresql/*/bin. Globs are tried newest-looking last
// match first, so the highest installed version wins.
func LookPath(name string, extraDirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, pattern := range extraDirs {
		dirs, err := filepath.Glob(pattern)
		if err != nil {
			return "", fmt.Errorf("look for %s in %s: %w", name, pattern, err)
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			p := filepath.Join(dirs[i], name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("look for %s: %w", name, exec.ErrNotFound)
}

// DockerAvailable reports whether a Docker engine answers a ping within a
// second, so fixtures reach for testcontainers only when it can work instead
// of waiting on its own, much longer, failure. It looks where testcontainers
// looks: DOCKER_HOST, then the usual root and rootless sockets.
func DockerAvailable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		u, err := url.Parse(host)
		if err != nil {
			return false
		}
		switch {
		case u.Scheme == "unix":
			return ping(ctx, "unix", u.Path)
		case u.Scheme == "tcp" && os.Getenv("DOCKER_TLS_VERIFY") != "":
			// A TLS engine needs client certificates to ping; an open
			// port is as far as a cheap check can go.
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", u.Host)
			if err != nil {
				return false
			}
			conn.Close()
			return true
		case u.Scheme == "tcp" || u.Scheme == "http":
			return ping(ctx, "tcp", u.Host)
		default:
			// ssh:// and npipe:// need more than a dial; let testcontainers decide.
			return true
		}
	}
	sockets := []string{"/var/run/docker.sock"}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		sockets = append(sockets, filepath.Join(dir, "docker.sock"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		sockets = append(sockets, filepath.Join(home, ".docker", "run", "docker.sock"))
	}
	for _, s := range sockets {
		if ping(ctx, "unix", s) {
			return true
		}
	}
	return false
}

// ping asks the engine at network/addr for GET /_ping, which answers "OK".
func ping(ctx context.Context, network, addr string) bool {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "OK"
}

// RerunAs runs the tests matching pattern again, in a copy of the current
// test binary, as the unprivileged user name, and fails t unless each of
// them passes there. Fixtures use it to prove that they work both as root
// (which PostgreSQL refuses, so the fixture drops privileges) and as an
// ordinary user. Run as a non-root user it returns false and does nothing:
// the caller then runs the tests directly.
func RerunAs(t *testing.T, name, pattern string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	runuser, err := LookPath("runuser", "/usr/sbin", "/sbin")
	if err != nil {
		Unavailable(t, "runuser not found", "install Debian package util-linux")
	}
	// The go build directory is private to root; copy the binary where the
	// other user can run it.
	dir, err := os.MkdirTemp("", "syncd-rerun-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	if err := copyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runuser, "-u", name, "--", bin, "-test.run", pattern, "-test.count", "1", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=/tmp", "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as %s: %v\n%s", pattern, name, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: ") || strings.Contains(string(out), "--- FAIL") || strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("%s as %s did not pass:\n%s", pattern, name, out)
	}
	t.Logf("%s passed as %s", pattern, name)
	return true
}

func copyExecutable(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Main is every package's TestMain: it runs the tests, then calls stops
// (the fixtures' StopShared) so that no shared slapd or PostgreSQL outlives
// the test binary, and exits. A stop that fails is printed and fails a run
// that passed, because a server left behind is a leak the next run meets.
func Main(m *testing.M, stops ...func() error) {
	// Parsed here, not left to m.Run, so that the package's own flags
	// (-update) are set by the time anything reads them.
	flag.Parse()
	code := m.Run()
	for _, stop := range stops {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
