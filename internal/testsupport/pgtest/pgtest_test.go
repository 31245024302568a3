package pgtest

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, StopShared) }

// startServer starts a private server for a test, or reports PostgreSQL
// missing.
func startServer(t *testing.T) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx)
	if errors.Is(err, ErrNoBinaries) {
		testenv.Unavailable(t, err.Error(), howToGet)
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// processUID reads the real uid of a running process from /proc.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("parse uid: %v", err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line for process %d", pid)
	return -1
}

// TestStartStop is also what TestStartAsUnprivilegedUser runs in a child
// process as the postgres user.
func TestStartStop(t *testing.T) {
	s := startServer(t)

	wantUID := os.Getuid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("look up postgres user: %v", err)
		}
		wantUID, _ = strconv.Atoi(u.Uid)
	}
	if got := processUID(t, s.PID()); got != wantUID {
		t.Errorf("postmaster runs as uid %d, want %d", got, wantUID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var fsync string
	if err := connect(t, s.URL("postgres")).QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatalf("show fsync: %v", err)
	}
	if fsync != "off" {
		t.Errorf("fsync = %q, want off", fsync)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s still there after stop (stat: %v)", s.dir, err)
	}
	if _, err := pgx.Connect(ctx, s.URL("postgres")); err == nil {
		t.Error("connected after stop")
	}
}

// TestStartAsUnprivilegedUser proves the path taken when not root. Run as
// root, it runs TestStartStop in a copy of this test binary as the postgres
// user.
func TestStartAsUnprivilegedUser(t *testing.T) {
	if !testenv.RerunAs(t, "postgres", "^TestStartStop$") {
		TestStartStop(t)
	}
}

func TestCreateDatabase(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two databases share URL %s", a)
	}
	var nameA, nameB string
	if err := connect(t, a).QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, b).QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	if nameA == nameB || nameA == "postgres" || nameB == "postgres" {
		t.Errorf("databases %q and %q are not fresh and distinct", nameA, nameB)
	}
}

// databaseExists asks adminURL's server whether name exists.
func databaseExists(t *testing.T, adminURL, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var exists bool
	err := connect(t, adminURL).QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

func TestNewDatabaseDropsOnCleanup(t *testing.T) {
	var first, second string
	t.Run("use", func(t *testing.T) {
		first, second = NewDatabase(t), NewDatabase(t)
		if first == second {
			t.Fatalf("NewDatabase returned %s twice", first)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var tables int
		if err := connect(t, first).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("fresh database has %d tables", tables)
		}
	})
	adminURL, _, err := sharedServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{first, second} {
		if name := databaseName(t, u); databaseExists(t, adminURL, name) {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

// TestNewDatabaseFromEnvironment checks that SYNCD_TEST_DATABASE_URL wins
// over starting a server: the database appears on the named server.
func TestNewDatabaseFromEnvironment(t *testing.T) {
	other := startServer(t)
	if err := StopShared(); err != nil {
		t.Fatal(err)
	}
	// Forget the environment's server for later tests.
	t.Cleanup(func() {
		if err := StopShared(); err != nil {
			t.Error(err)
		}
	})
	t.Setenv(EnvDatabaseURL, other.URL("postgres"))

	var name string
	t.Run("use", func(t *testing.T) {
		name = databaseName(t, NewDatabase(t))
		if !databaseExists(t, other.URL("postgres"), name) {
			t.Errorf("database %s is not on the server %s names", name, EnvDatabaseURL)
		}
	})
	if databaseExists(t, other.URL("postgres"), name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
	shared.Lock()
	started := shared.server != nil
	shared.Unlock()
	if started {
		t.Error("a local server was started although the environment named one")
	}
}

func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		s, err := Start(ctx)
		if errors.Is(err, ErrNoBinaries) {
			testenv.Unavailable(b, err.Error(), howToGet)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
