package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

// EnvDatabaseURL names the variable that points tests at an existing server.
// Its user must be allowed to create databases; each test gets its own and
// drops it afterwards.
const EnvDatabaseURL = "SYNCD_TEST_DATABASE_URL"

const howToGet = "install Debian package postgresql (apt-get install -y postgresql), or set " + EnvDatabaseURL

// containerImage is used only where a Docker engine answers and no local
// binaries exist.
const containerImage = "postgres:15-alpine"

// shared is the one server a test binary uses, started by the first test
// that asks and stopped by StopShared.
var shared struct {
	sync.Mutex
	started   bool
	adminURL  string // a URL on the server whose user may create databases
	server    *Server
	container *tcpostgres.PostgresContainer
	err       error // why no server is available
	missing   bool  // err means "not installed" rather than "failed"
}

// NewDatabase returns the URL of a fresh, empty database on the test binary's
// shared server, starting that server on first use, and drops the database
// when the test ends. Packages that call it should call StopShared from
// TestMain after m.Run.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminURL, missing, err := sharedServer(ctx)
	if err != nil {
		if missing {
			testenv.Unavailable(t, "no PostgreSQL for tests", howToGet)
		}
		t.Fatalf("start PostgreSQL for tests: %v", err)
	}
	name, err := createDatabase(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	dbURL, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, adminURL, name); err != nil {
			t.Errorf("%v", err)
		}
	})
	return dbURL
}

func sharedServer(ctx context.Context) (adminURL string, missing bool, err error) {
	shared.Lock()
	defer shared.Unlock()
	if !shared.started {
		shared.started = true
		shared.missing, shared.err = startShared(ctx)
	}
	return shared.adminURL, shared.missing, shared.err
}

// startShared picks the server in order of preference: the one the
// environment names, local binaries, then a container.
func startShared(ctx context.Context) (missing bool, err error) {
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		if _, err := withDatabase(u, "postgres"); err != nil {
			return false, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
		shared.adminURL = u
		return false, nil
	}
	s, err := Start(ctx)
	if err == nil {
		shared.server, shared.adminURL = s, s.URL("postgres")
		return false, nil
	}
	if !errors.Is(err, ErrNoBinaries) {
		return false, err
	}
	if !testenv.DockerAvailable(ctx) {
		return true, err
	}
	c, cerr := tcpostgres.Run(ctx, containerImage,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if cerr != nil {
		if c != nil {
			_ = c.Terminate(context.WithoutCancel(ctx))
		}
		return false, fmt.Errorf("start postgres container: %w", cerr)
	}
	u, cerr := c.ConnectionString(ctx, "sslmode=disable")
	if cerr != nil {
		_ = c.Terminate(context.WithoutCancel(ctx))
		return false, fmt.Errorf("address postgres container: %w", cerr)
	}
	shared.container, shared.adminURL = c, u
	return false, nil
}

// StopShared stops the shared server, if one was started, and returns what
// went wrong stopping it. Call it from TestMain after m.Run (testenv.Main
// does); a later NewDatabase starts a new one.
func StopShared() error {
	shared.Lock()
	defer shared.Unlock()
	var errs []error
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: %w", err))
		}
	}
	if shared.container != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := shared.container.Terminate(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: stop postgres container: %w", err))
		}
	}
	shared.started, shared.adminURL, shared.server, shared.container, shared.err, shared.missing = false, "", nil, nil, nil, false
	return errors.Join(errs...)
}
