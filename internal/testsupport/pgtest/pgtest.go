// Package pgtest starts a real PostgreSQL for tests: initdb and postgres from
// the machine's binaries in a temporary directory, tuned for speed over
// durability, so that state code is tested against the server that decides
// its behaviour rather than a mock. Tests share one server per test binary and
// get a fresh database each; SYNCD_TEST_DATABASE_URL points them at an
// existing server instead, and testcontainers-go is the fallback on machines
// that have a Docker engine but no PostgreSQL binaries. PostgreSQL refuses to
// run as root, so as root the server runs as the postgres user.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

// binDirs is where Debian keeps the server binaries, off PATH.
var binDirs = []string{"/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin"}

// ErrNoBinaries means initdb or postgres is not installed here.
var ErrNoBinaries = errors.New("postgresql server binaries not found")

const (
	superuser    = "postgres"
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	startTries   = 3
)

// Server is one running PostgreSQL owned by the test process.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	log  *limitedBuffer
	done chan struct{} // closed when the postmaster has exited
	werr error         // the postmaster's exit status, valid after done

	stopOnce sync.Once
	stopErr  error
}

// Start initialises a cluster in a new temporary directory and starts
// postgres on a free loopback port, returning once a connection works. The
// caller must Stop it.
func Start(ctx context.Context) (*Server, error) {
	initdb, err := testenv.LookPath("initdb", binDirs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBinaries, err)
	}
	postgres, err := testenv.LookPath("postgres", filepath.Dir(initdb))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBinaries, err)
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and the postgres user
	// must reach the data directory.
	dir, err := os.MkdirTemp("", "syncd-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create postgres directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("hand postgres directory to the postgres user: %w", err)
		}
	}
	s, err := start(ctx, initdb, postgres, dir, cred)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// credential returns who initdb and postgres run as: nil for the current
// user, the postgres user when running as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres refuses to run as root and there is no postgres user to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid of the postgres user: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid of the postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func command(ctx context.Context, dir string, cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// A fixed, small environment: the caller's locale, PGDATA or PGPORT
	// must not change what the server does.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir}
	// Pdeathsig kills the server when the test binary dies, so that an
	// interrupted test run leaves no postgres behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func start(ctx context.Context, initdb, postgres, dir string, cred *syscall.Credential) (*Server, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	data := filepath.Join(dir, "data")
	out, err := command(ctx, dir, cred, initdb,
		"-D", data, "-U", superuser, "--auth=trust", "--no-sync", "-E", "UTF8", "--no-locale", "--no-instructions",
	).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, tail(out))
	}
	var lastErr error
	for range startTries {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, err
		}
		s := &Server{dir: dir, port: port, log: &limitedBuffer{max: 64 << 10}, done: make(chan struct{})}
		// Not CommandContext: the server must outlive ctx, which only
		// bounds the start.
		s.cmd = command(context.Background(), dir, cred, postgres,
			"-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200", "-c", "log_min_messages=warning",
		)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		go func() {
			s.werr = s.cmd.Wait()
			close(s.done)
		}()
		err = s.waitReady(ctx)
		if err == nil {
			return s, nil
		}
		lastErr = err
		s.kill()
		if ctx.Err() != nil || !strings.Contains(s.log.String(), "could not bind") {
			break
		}
		// Another process took the port between FreePort and bind: retry.
	}
	return nil, lastErr
}

// waitReady polls until a connection succeeds, the postmaster exits, or ctx
// ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.URL("postgres"))
		if err == nil {
			err = conn.Ping(cctx)
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited while starting: %v: %s", s.werr, tail(s.log.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres to accept connections: %w: %s", ctx.Err(), tail(s.log.Bytes()))
		case <-tick.C:
		}
	}
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// URL is the connection URL of database on this server, as the superuser.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, url.PathEscape(database))
}

// PID is the postmaster's process id, for tests of the fixture itself.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// CreateDatabase creates a database with a fresh, unique name and returns
// its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name, err := createDatabase(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	return s.URL(name), nil
}

// Stop shuts the server down (SIGQUIT: immediate, no checkpoint, which is
// all a throwaway cluster needs) and removes its directory. It is safe to
// call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.kill()
			s.stopErr = fmt.Errorf("stop postgres: no exit %s after SIGQUIT; killed", stopTimeout)
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("remove postgres directory: %w", err)
		}
	})
	return s.stopErr
}

var dbSeq struct {
	sync.Mutex
	n int
}

// createDatabase creates a uniquely named database through adminURL and
// returns its name. The name carries the process id and a random part, so
// that test binaries sharing one server never collide.
func createDatabase(ctx context.Context, adminURL string) (string, error) {
	dbSeq.Lock()
	dbSeq.n++
	n := dbSeq.n
	dbSeq.Unlock()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("name test database: %w", err)
	}
	name := fmt.Sprintf("syncd_test_%d_%d_%s", os.Getpid(), n, hex.EncodeToString(rnd[:]))
	err := adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil {
		return "", fmt.Errorf("create test database: %w", err)
	}
	return name, nil
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	err := adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("drop test database: %w", err)
	}
	return nil
}

func adminExec(ctx context.Context, adminURL, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns serverURL with its database replaced by name.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// url.Parse errors quote the URL, password included.
		return "", errors.New("database URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// tail keeps error messages short: the end of a server log says why it
// failed.
func tail(b []byte) string {
	const n = 2048
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// limitedBuffer collects a process's output from exec's copying goroutine
// while other goroutines read it, keeping only the last max bytes.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

func (b *limitedBuffer) String() string { return string(b.Bytes()) }
